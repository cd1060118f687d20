package experiment

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

func TestRenderReportHTML(t *testing.T) {
	t.Parallel()
	e := abExp("b", "c")
	e.Description = `<script>alert("x")</script>`
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600), "error": binarySums(3000, 30),
			"latency": numericSums(2990, 812.5, 90000)}),
		variantStats("b", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 750), "error": binarySums(3000, 31),
			"latency": numericSums(2995, 790, 80000)}),
		variantStats("c", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 630)}),
	}}
	r := mustAnalyze(t, e, st, nil)
	var b bytes.Buffer
	if err := RenderReportHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"<!DOCTYPE html>", `class="badge ship"`, "ship: b",
		"thumbs", "latency", "always-valid CS", "Holm", "&lt;script&gt;", "primary", "guard",
		MethodTwoProportion, "better",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "http://", "https://", "NaN", "%!"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if strings.Contains(page, "Sample ratio mismatch") {
		t.Error("page warns of a sample ratio mismatch at 3000/3000/3000")
	}

	st.Variants[2] = variantStats("c", 2000, st.Variants[2].Metrics) // a broken split
	b.Reset()
	if err := RenderReportHTML(&b, mustAnalyze(t, e, st, nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Sample ratio mismatch") || !strings.Contains(b.String(), `class="badge stop"`) {
		t.Error("page of a broken split lacks the SRM warning or the stop badge")
	}
	// The JSON form carries the same report.
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("json.Marshal(report): %v", err)
	}
}

func TestRenderReportHTMLEmpty(t *testing.T) {
	t.Parallel()
	c := Canary("c", "rag", "production", "1", "2", 10, 1000)
	r := mustAnalyze(t, &c, switchboard.ExperimentStats{}, nil)
	var b bytes.Buffer
	if err := RenderReportHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "keep running") || !strings.Contains(b.String(), "no exposures yet") {
		t.Errorf("empty canary page:\n%s", b.String())
	}
	// An ended experiment's badge is how it ended; the analysis of the data
	// now is shown apart from it.
	r.Status, r.Ended = switchboard.ExperimentShipped, &switchboard.ExperimentDecision{Action: switchboard.DecisionShip, Variant: "canary",
		Actor: "cli", Reason: "looks fine", Time: time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC)}
	b.Reset()
	if err := RenderReportHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<span class="badge ship">ended: ship canary</span>`, "by cli at 2025-09-01 12:00 UTC: looks fine", "Analysis of the data now:</b> keep running"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("ended canary page lacks %q", want)
		}
	}
}

// TestRenderReportHTMLWording: an A/B test whose guardrail is breached is
// stopped, and the page says so in the experiment's words: no "rollback".
// A canary's page says rollback.
func TestRenderReportHTMLWording(t *testing.T) {
	t.Parallel()
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600), "error": binarySums(3000, 30)}),
		variantStats("b", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 750), "error": binarySums(3000, 150)}),
	}}
	r := mustAnalyze(t, abExp("b"), st, nil)
	if r.Decision.Action != switchboard.DecisionStop || r.Guardrails.Action != switchboard.DecisionStop {
		t.Fatalf("decision %s, guardrails %s; want stop, stop", r.Decision.Action, r.Guardrails.Action)
	}
	var b bytes.Buffer
	if err := RenderReportHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	body := b.String()[strings.Index(b.String(), "<body>"):] // past the CSS, which styles every badge
	if strings.Contains(strings.ToLower(body), "rollback") || !strings.Contains(body, "Guardrails: <b>stop</b>") {
		t.Errorf("A/B page speaks of rollback, or lacks \"Guardrails: stop\":\n%s", body)
	}

	c := Canary("c", "rag", "production", "1", "2", 10, 1000)
	st = switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("stable", 1800, map[string]switchboard.MetricSums{"error": binarySums(1800, 36)}),
		variantStats("canary", 200, map[string]switchboard.MetricSums{"error": binarySums(200, 30)}),
	}}
	r = mustAnalyze(t, &c, st, nil)
	b.Reset()
	if err := RenderReportHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if r.Guardrails.Action != switchboard.DecisionRollback || !strings.Contains(b.String(), "Guardrails: <b>rollback</b>") {
		t.Errorf("canary guardrails %s; page lacks \"Guardrails: rollback\"", r.Guardrails.Action)
	}
}
