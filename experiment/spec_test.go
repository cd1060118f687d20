package experiment

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

const validSpec = `{
  "name": "rag-prompt-v3",
  "kind": "ab",
  "prompt": "rag_query",
  "label": "production",
  "variants": [
    {"name": "control", "prompt_version": "2", "weight": 50},
    {"name": "v3", "prompt_version": "3", "weight": 50}
  ],
  "control": "control",
  "metrics": [
    {"name": "thumbs_up", "kind": "binary"},
    {"name": "error", "guard": true},
    {"name": "latency", "guard": true, "margin": 0.2, "margin_type": "relative", "cap": 60000}
  ],
  "planned_sample_size": 5000,
  "auto_stop": true
}`

func TestDecodeSpec(t *testing.T) {
	t.Parallel()
	e, err := DecodeSpec([]byte(validSpec))
	if err != nil {
		t.Fatalf("DecodeSpec: %v", err)
	}
	switch {
	case e.Status != switchboard.ExperimentRunning, e.Alpha != 0.05, e.TuningS != 5000, e.MinSamples != 100, len(e.Salt) != 24:
		t.Errorf("defaults: %+v", e)
	case e.Metrics[0].Direction != switchboard.HigherIsBetter || *e.Metrics[0].Margin != 0.02 || e.Metrics[0].MarginType != switchboard.MarginAbsolute:
		t.Errorf("thumbs_up defaults: %+v", e.Metrics[0])
	case e.Metrics[1].Kind != switchboard.MetricBinary || e.Metrics[1].Direction != switchboard.LowerIsBetter || *e.Metrics[1].Margin != 0.005:
		t.Errorf("error defaults: %+v", e.Metrics[1])
	case *e.Metrics[2].Margin != 0.2 || e.Metrics[2].Cap != 60000:
		t.Errorf("latency as given: %+v", e.Metrics[2])
	}
	if p, ok := Primary(&e); !ok || p.Name != "thumbs_up" {
		t.Errorf("Primary: %v, %v", p, ok)
	}
}

func TestDecodeSpecErrors(t *testing.T) {
	t.Parallel()
	edit := func(old, new string) string { return strings.Replace(validSpec, old, new, 1) }
	for _, tc := range []struct{ name, spec, param string }{
		{"not JSON", `{`, ""},
		{"trailing data", validSpec + `{}`, ""},
		{"unknown field", edit(`"kind": "ab",`, `"kind": "ab", "colour": "red",`), ""},
		{"wrong type", edit(`"weight": 50}`, `"weight": "50"}`), ""},
		{"numeric version", edit(`"prompt_version": "3"`, `"prompt_version": 3`), ""},
		{"status", edit(`"kind": "ab",`, `"kind": "ab", "status": "shipped",`), "status"},
		{"created_at", edit(`"kind": "ab",`, `"kind": "ab", "created_at": "2025-01-01T00:00:00Z",`), ""},
		{"bad name", edit(`"rag-prompt-v3"`, `"../etc"`), "name"},
		{"kind", edit(`"ab"`, `"bandit"`), "kind"},
		{"prompt and model", edit(`"kind": "ab",`, `"kind": "ab", "model": "gpt-4o",`), "prompt"},
		{"no label", edit(`"label": "production",`, ``), "label"},
		{"one variant", edit(`,
    {"name": "v3", "prompt_version": "3", "weight": 50}`, ``), "variants"},
		{"duplicate variant", edit(`"name": "v3"`, `"name": "control"`), "variants[1].name"},
		{"negative weight", edit(`"weight": 50}
  ]`, `"weight": -1}
  ]`), "variants[1].weight"},
		{"no version", edit(`"prompt_version": "3", `, ``), "variants[1].prompt_version"},
		{"unknown control", edit(`"control": "control"`, `"control": "x"`), "control"},
		{"zero-weight control", edit(`"prompt_version": "2", "weight": 50`, `"prompt_version": "2", "weight": 0`), "control"},
		{"feedback metric without kind", edit(`, "kind": "binary"`, ``), "metrics[0].kind"},
		{"automatic metric kind", edit(`{"name": "error", "guard": true}`, `{"name": "error", "kind": "numeric", "guard": true}`), "metrics[1].kind"},
		{"negative margin", edit(`"margin": 0.2`, `"margin": -0.2`), "metrics[2].margin"},
		{"margin type", edit(`"margin_type": "relative"`, `"margin_type": "percent"`), "metrics[2].margin_type"},
		{"bad metric name", edit(`"thumbs_up"`, `"Thumbs Up"`), "metrics[0].name"},
		{"duplicate metric", edit(`"thumbs_up"`, `"error"`), "metrics[1].name"},
		{"only guards", edit(`{"name": "thumbs_up", "kind": "binary"}`, `{"name": "thumbs_up", "kind": "binary", "guard": true}`), "metrics"},
		{"alpha", edit(`"auto_stop": true`, `"auto_stop": true, "alpha": 0.9`), "alpha"},
		{"min_samples", edit(`"auto_stop": true`, `"auto_stop": true, "min_samples": 1`), "min_samples"},
		{"too large", `{"name": "` + strings.Repeat("x", MaxSpecBytes) + `"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeSpec([]byte(tc.spec))
			var se *switchboard.Error
			if !errors.As(err, &se) || se.Code != switchboard.CodeInvalidRequest {
				t.Fatalf("DecodeSpec: got %v, want an invalid_request error", err)
			}
			if tc.param != "" && se.Param != tc.param {
				t.Errorf("param %q, want %q (%s)", se.Param, tc.param, se.Message)
			}
		})
	}
}

func TestCanarySpec(t *testing.T) {
	t.Parallel()
	e := Canary("rag-v4", "rag", "production", "3", "4", 10, 5000)
	if err := Validate(e); err != nil {
		t.Fatalf("Validate(Canary(...)): %v", err)
	}
	if e.Kind != switchboard.ExperimentCanary || e.Variants[1].Weight != 10 || e.Variants[0].Weight != 90 || len(e.Metrics) != 2 ||
		!e.Metrics[0].Guard || !e.Metrics[1].Guard || e.TuningS != 5000 {
		t.Errorf("Canary: %+v", e)
	}
	custom := Canary("c", "rag", "production", "3", "4", 5, 5000, switchboard.MetricSpec{Name: "thumbs_up", Kind: switchboard.MetricBinary})
	if err := Validate(custom); err != nil || !custom.Metrics[0].Guard || *custom.Metrics[0].Margin != 0.02 {
		t.Errorf("Canary with a feedback guard: %+v, %v", custom.Metrics, err)
	}
	for _, bad := range []switchboard.Experiment{
		Canary("c", "rag", "production", "3", "4", 100, 5000), // control gets weight 0
		Canary("c", "rag", "production", "3", "4", 10, 0),     // no planned sample
		Canary("c", "", "", "3", "4", 10, 100),                // no prompt
	} {
		if err := Validate(bad); err == nil {
			t.Errorf("Validate(%+v): got nil error", bad)
		}
	}
}

func TestNormalizeCopies(t *testing.T) {
	t.Parallel()
	in := switchboard.Experiment{Metrics: []switchboard.MetricSpec{{Name: "error"}}, Variants: []switchboard.Variant{{Name: "a"}}}
	out := Normalize(in)
	if in.Metrics[0].Kind != "" || in.Metrics[0].Margin != nil || in.Salt != "" {
		t.Errorf("Normalize changed its argument: %+v", in)
	}
	out.Variants[0].Name = "changed"
	if in.Variants[0].Name != "a" {
		t.Error("Normalize shares the variants slice")
	}
}
