package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// cliABSpec splits greet's production label between versions 1 and 2.
const cliABSpec = `{
  "name": "greet-ab",
  "prompt": "greet",
  "label": "production",
  "control": "v1",
  "variants": [
    {"name": "v1", "prompt_version": "1", "weight": 50},
    {"name": "v2", "prompt_version": "2", "weight": 50}
  ],
  "metrics": [
    {"name": "thumbs_up", "kind": "binary"},
    {"name": "error", "guard": true}
  ]
}`

// writeSpec writes an experiment spec into the test's directory.
func (c *cliPrompts) writeSpec(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// seedExposures writes what the gateway would have recorded for n units
// calling greet under the named experiment, one call each, with thumbs_up
// feedback: liked[variant] of every 10 units like their answer.
func (c *cliPrompts) seedExposures(t *testing.T, name string, n int, liked map[string]int) {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.New(ctx, c.dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := st.GetExperiment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	batch := make([]switchboard.Inference, 0, n)
	var feedback []switchboard.Feedback
	for i := range n {
		a := experiment.Assign(&e, experiment.Unit("", "", fmt.Sprintf("user-%d", i)))
		inf := switchboard.Inference{ID: switchboard.NewID(), Time: now.Add(time.Duration(i) * time.Millisecond),
			Endpoint: "chat", Model: "mock-echo", Provider: "demo", UpstreamModel: "mock-echo", Status: 200,
			Latency: time.Duration(20+i%7) * time.Millisecond, InputTokens: 20, OutputTokens: 5, Attempts: 1,
			PromptID: e.Prompt, PromptVersion: a.PromptVersion, PromptLabel: e.Label}
		a.Record(&inf)
		batch = append(batch, inf)
		v := 0.0
		if i%10 < liked[a.Variant] {
			v = 1
		}
		feedback = append(feedback, switchboard.Feedback{InferenceID: inf.ID, Metric: "thumbs_up", Value: v, Time: now})
	}
	if err := st.InsertInferences(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, f := range feedback {
		if _, err := st.UpsertFeedback(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

// promptVersionOf returns the version greet's production label serves.
func (c *cliPrompts) promptVersionOf(t *testing.T, id string) string {
	t.Helper()
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(c.mustRun(t, "prompt", "show", id)), &v); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

func TestExperimentCmdABTest(t *testing.T) {
	c := newCLIPrompts(t, cliPromptFiles)
	spec := c.writeSpec(t, "ab.json", cliABSpec)

	if out := c.mustRun(t, "experiment", "create", "--file", spec); out != "greet-ab: running (ab)\n" {
		t.Errorf("create: got %q", out)
	}
	c.mustFail(t, []string{"experiment", "create", "--file", spec}, `experiment "greet-ab": the name is taken, or a running experiment already splits this traffic`)

	out := c.mustRun(t, "experiment", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") ||
		strings.Join(strings.Fields(lines[1])[:5], " ") != "greet-ab ab running greet/production v1=50,v2=50" {
		t.Errorf("list: got\n%s", out)
	}
	if out := c.mustRun(t, "experiment", "list", "--status", "stopped"); strings.Count(out, "\n") != 1 {
		t.Errorf("list --status stopped: got\n%s, want the header only", out)
	}
	var es []switchboard.Experiment
	if err := json.Unmarshal([]byte(c.mustRun(t, "experiment", "list", "--format", "json")), &es); err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Status != "running" || es[0].Kind != "ab" || es[0].CreatedBy != "cli" || es[0].Salt == "" ||
		es[0].MinSamples != experiment.DefaultMinSamples || es[0].Metrics[1].Margin == nil {
		t.Errorf("list --format json: got %+v, want the normalized spec", es)
	}

	// No traffic yet.
	out = c.mustRun(t, "experiment", "report", "greet-ab")
	for _, want := range []string{"experiment greet-ab (ab, running)  units 0  requests 0", "decision: keep_running — no exposures yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("empty report lacks %q:\n%s", want, out)
		}
	}

	// 400 users: version 2 is liked by 7 in 10, version 1 by 3 in 10.
	c.seedExposures(t, "greet-ab", 400, map[string]int{"v1": 3, "v2": 7})
	out = c.mustRun(t, "experiment", "report", "greet-ab")
	for _, want := range []string{"units 400  requests 400", "sample ratio: ok", "METRIC", "P (always valid)", "thumbs_up", "(control)", "better", "decision: ship — v2 beats v1 on thumbs_up"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var rep experiment.Report
	if err := json.Unmarshal([]byte(c.mustRun(t, "experiment", "report", "greet-ab", "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Units != 400 || rep.Decision.Action != "ship" || rep.Decision.Variant != "v2" || len(rep.Metrics) != 2 || !rep.Metrics[0].Primary {
		t.Errorf("report --format json: units %d decision %+v metrics %d", rep.Units, rep.Decision, len(rep.Metrics))
	}
	html := c.mustRun(t, "experiment", "report", "greet-ab", "--format", "html")
	for _, want := range []string{"<!DOCTYPE html>", "<title>Experiment greet-ab", "thumbs_up", "v2"} {
		if !strings.Contains(html, want) {
			t.Errorf("report --format html lacks %q", want)
		}
	}

	// One experiment per label at a time.
	c.mustFail(t, []string{"experiment", "canary", "greet", "2", "--name", "too-soon"}, "already splits this traffic")

	c.mustFail(t, []string{"experiment", "ship", "greet-ab", "v3"}, `experiment "greet-ab" has no variant "v3"`)
	c.mustFail(t, []string{"experiment", "rollback", "greet-ab"}, `experiment "greet-ab" is not a canary; stop it instead`)
	if out := c.mustRun(t, "experiment", "ship", "greet-ab", "v2", "--reason", "liked more"); out != "greet-ab: shipped (ab)\n" {
		t.Errorf("ship: got %q", out)
	}
	// Shipping points the label at the winner's version.
	if v := c.promptVersionOf(t, "greet"); v != "2" {
		t.Errorf("after ship, production serves version %q, want 2", v)
	}
	if out := c.mustRun(t, "prompt", "history", "greet", "production"); !strings.Contains(strings.Split(out, "\n")[1], "liked more") {
		t.Errorf("the label's history does not show the ship:\n%s", out)
	}
	c.mustFail(t, []string{"experiment", "stop", "greet-ab"}, `experiment "greet-ab" is not running`)
	if err := json.Unmarshal([]byte(c.mustRun(t, "experiment", "list", "--status", "shipped", "--format", "json")), &es); err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Decision == nil || es[0].Decision.Action != "ship" || es[0].Decision.Actor != "cli" || es[0].Decision.Reason != "liked more" || es[0].StoppedAt.IsZero() {
		t.Errorf("the shipped experiment: got %+v", es)
	}
}

func TestExperimentCmdCanary(t *testing.T) {
	c := newCLIPrompts(t, cliPromptFiles)

	if out := c.mustRun(t, "experiment", "canary", "greet", "2", "--percent", "20", "--planned-units", "500", "--name", "greet-canary"); out != "greet-canary: running (canary)\n" {
		t.Errorf("canary: got %q", out)
	}
	var es []switchboard.Experiment
	if err := json.Unmarshal([]byte(c.mustRun(t, "experiment", "list", "--format", "json")), &es); err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("list: got %d experiments, want 1", len(es))
	}
	e := es[0]
	if e.Kind != "canary" || e.Prompt != "greet" || e.Label != "production" || e.Control != "stable" || e.PlannedSampleSize != 500 ||
		len(e.Variants) != 2 || e.Variants[0] != (switchboard.Variant{Name: "stable", PromptVersion: "1", Weight: 80}) ||
		e.Variants[1] != (switchboard.Variant{Name: "canary", PromptVersion: "2", Weight: 20}) {
		t.Errorf("canary spec: got %+v", e)
	}
	guards := map[string]bool{}
	for _, m := range e.Metrics {
		guards[m.Name] = m.Guard
	}
	if !guards["error"] || !guards["latency"] {
		t.Errorf("canary guards: got %+v, want error and latency", e.Metrics)
	}
	out := c.mustRun(t, "experiment", "report", "greet-canary")
	if !strings.Contains(out, "experiment greet-canary (canary, running)") || !strings.Contains(out, "decision: keep_running") {
		t.Errorf("canary report:\n%s", out)
	}
	// The canary runs while the label still points at the stable version,
	// and nobody moves the label under it.
	if v := c.promptVersionOf(t, "greet"); v != "1" {
		t.Errorf("during the canary, production serves %q, want 1", v)
	}
	c.mustFail(t, []string{"prompt", "promote", "greet", "production", "2"}, `experiment "greet-canary" splits greet/production`)
	c.mustFail(t, []string{"prompt", "rollback", "greet", "production"}, `experiment "greet-canary" splits greet/production`)
	c.mustRun(t, "prompt", "promote", "greet", "staging", "2") // another label is free
	if out := c.mustRun(t, "experiment", "rollback", "greet-canary", "--reason", "not today"); out != "greet-canary: rolled_back (canary)\n" {
		t.Errorf("rollback: got %q", out)
	}
	if v := c.promptVersionOf(t, "greet"); v != "1" {
		t.Errorf("after the rollback, production serves %q, want 1", v)
	}
	c.mustFail(t, []string{"experiment", "rollback", "greet-canary"}, `experiment "greet-canary" is not running`)

	// A second canary, stopped: no winner, the label stays on stable.
	out = c.mustRun(t, "experiment", "canary", "greet", "2", "--name", "greet-canary-2", "--format", "json")
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.Status != "running" || e.Variants[1].Weight != 10 || e.PlannedSampleSize != 1000 {
		t.Errorf("canary --format json with the defaults: got %+v (%v)", e, err)
	}
	if out := c.mustRun(t, "experiment", "stop", "greet-canary-2", "--reason", "later"); out != "greet-canary-2: stopped (canary)\n" {
		t.Errorf("stop: got %q", out)
	}
	if v := c.promptVersionOf(t, "greet"); v != "1" {
		t.Errorf("after the stop, production serves %q, want 1", v)
	}

	// A canary that is shipped by hand promotes its version.
	c.mustRun(t, "experiment", "canary", "greet", "2", "--name", "greet-canary-3")
	if out := c.mustRun(t, "experiment", "ship", "greet-canary-3", "canary"); out != "greet-canary-3: shipped (canary)\n" {
		t.Errorf("ship a canary: got %q", out)
	}
	if v := c.promptVersionOf(t, "greet"); v != "2" {
		t.Errorf("after shipping the canary, production serves %q, want 2", v)
	}
	out = c.mustRun(t, "experiment", "list", "--status", "rolled_back")
	if !strings.Contains(out, "greet-canary ") || strings.Contains(out, "greet-canary-2") {
		t.Errorf("list --status rolled_back:\n%s", out)
	}

	// Guards chosen on the command line.
	c.mustRun(t, "experiment", "canary", "greet", "1", "--name", "greet-canary-4", "--guards", "error,cost", "--alpha", "0.01", "--min-samples", "50")
	var es4 []switchboard.Experiment
	if err := json.Unmarshal([]byte(c.mustRun(t, "experiment", "list", "--status", "running", "--format", "json")), &es4); err != nil {
		t.Fatal(err)
	}
	if len(es4) != 1 || len(es4[0].Metrics) != 2 || es4[0].Metrics[0].Name != "error" || es4[0].Metrics[1].Name != "cost" || !es4[0].Metrics[1].Guard ||
		es4[0].Alpha != 0.01 || es4[0].MinSamples != 50 {
		t.Errorf("canary --guards error,cost --alpha 0.01 --min-samples 50: got %+v", es4)
	}
	c.mustRun(t, "experiment", "stop", "greet-canary-4")
	c.mustFail(t, []string{"experiment", "canary", "greet", "1", "--guards", "error,thumbs_up"}, `--guards: unknown metric "thumbs_up"`)

	c.mustFail(t, []string{"experiment", "canary", "nope", "2"}, `no prompt "nope"`)
	c.mustFail(t, []string{"experiment", "canary", "greet", "9"}, `no version "9"`)
	c.mustFail(t, []string{"experiment", "canary", "greet", "1", "--label", "qa"}, `no label "qa"`)
	c.mustFail(t, []string{"experiment", "canary", "greet", "1", "--name", "bad name!"}, "experiment name must be")
}

func TestExperimentCmdErrors(t *testing.T) {
	c := newCLIPrompts(t, cliPromptFiles)
	for _, verb := range [][]string{{"report", "nope"}, {"stop", "nope"}, {"ship", "nope", "v1"}, {"rollback", "nope"}} {
		c.mustFail(t, append([]string{"experiment"}, verb...), `no experiment "nope"`)
	}

	// A bad spec is refused with the field at fault.
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"bad kind", strings.Replace(cliABSpec, `"prompt": "greet"`, `"kind": "abc", "prompt": "greet"`, 1), []string{"kind must be", `"abc"`}},
		{"unknown field", strings.Replace(cliABSpec, `"prompt": "greet"`, `"colour": "red", "prompt": "greet"`, 1), []string{`unknown field "colour"`}},
		{"feedback metric without kind", strings.Replace(cliABSpec, `"kind": "binary"`, `"direction": "higher"`, 1), []string{`metric "thumbs_up"`, "kind"}},
		{"control not a variant", strings.Replace(cliABSpec, `"control": "v1"`, `"control": "v9"`, 1), []string{"control", `"v9"`}},
		{"unknown prompt version", strings.Replace(cliABSpec, `"prompt_version": "2"`, `"prompt_version": "9"`, 1), []string{`no version "9"`}},
		{"bad JSON", `{"name": "x",`, []string{"invalid experiment spec"}},
		{"bad name", strings.Replace(cliABSpec, `"greet-ab"`, `"greet ab"`, 1), []string{"experiment name must be"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.mustFail(t, []string{"experiment", "create", "--file", c.writeSpec(t, "spec.json", tc.spec)}, tc.want...)
		})
	}
	c.mustFail(t, []string{"experiment", "create"}, "experiment create needs --file SPEC.json")
	c.mustFail(t, []string{"experiment", "create", "--file", filepath.Join(c.dir, "missing.json")}, "missing.json")
	if out := c.mustRun(t, "experiment", "list"); strings.Count(out, "\n") != 1 {
		t.Errorf("a refused spec was stored:\n%s", out)
	}
	for _, args := range [][]string{{"experiment"}, {"experiment", "frob"}, {"experiment", "report"}, {"experiment", "ship", "x"}, {"experiment", "canary", "greet"}} {
		if code, _, errb := c.run(t, args...); code != 1 || !strings.Contains(errb, "usage: switchboard experiment list") {
			t.Errorf("%v: got exit %d, want 1 and the usage: %s", args, code, lastLine(errb))
		}
	}
}
