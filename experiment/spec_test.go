package experiment

import (
	"errors"
	"strings"
	"testing"
	"time"

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
		Canary("c", "rag", "production", "3", "4", 10, 500),   // 50 canary units < min_samples
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

// TestValidateCanaryPlan: a canary's planned sample must give its arm at
// least min_samples units; the error names the smallest valid size.
func TestValidateCanaryPlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		percent  float64
		planned  int64
		smallest string // "" when valid
	}{
		{10, 1000, ""},
		{10, 999, "1000"},
		{5, 300, "2000"},
		{5, 2000, ""},
		{20, 499, "500"},
		{30, 333, "334"}, // 333 × 0.3 = 99.9
		{1, 9999, "10000"},
	} {
		e := Canary("c", "rag", "production", "3", "4", tc.percent, tc.planned)
		err := Validate(e)
		if tc.smallest == "" {
			if err != nil {
				t.Errorf("%g %%, planned %d: %v", tc.percent, tc.planned, err)
			}
			continue
		}
		var se *switchboard.Error
		if !errors.As(err, &se) || se.Param != "planned_sample_size" || !strings.Contains(se.Message, "at least "+tc.smallest) {
			t.Errorf("%g %%, planned %d: got %v, want invalid planned_sample_size naming %s", tc.percent, tc.planned, err, tc.smallest)
		}
	}
	// A spec written by hand is held to the same rule.
	e, err := DecodeSpec([]byte(`{"name":"c","kind":"canary","prompt":"p","label":"l","variants":[{"name":"s","prompt_version":"1","weight":9},{"name":"c","prompt_version":"2","weight":1}],"control":"s","metrics":[{"name":"error","guard":true}],"planned_sample_size":100}`))
	if se := (*switchboard.Error)(nil); !errors.As(err, &se) || se.Param != "planned_sample_size" {
		t.Errorf("DecodeSpec of a canary with 10 planned canary units: %+v, %v", e, err)
	}
}

// TestCanaryDefaults: Canary fills in a zero percent and planned size with
// valid defaults, whatever the share.
func TestCanaryDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		percent float64
		planned int64
		share   float64
		want    int64
	}{
		{0, 0, 10, DefaultCanaryPlannedUnits},
		{10, 0, 10, DefaultCanaryPlannedUnits},
		{1, 0, 1, 10000},
		{2.5, 0, 2.5, 4000},
		{50, 0, 50, DefaultCanaryPlannedUnits},
	} {
		e := Canary("c", "rag", "production", "3", "4", tc.percent, tc.planned)
		if err := Validate(e); err != nil {
			t.Errorf("Canary(%g %%, %d): %v", tc.percent, tc.planned, err)
		}
		if e.Variants[1].Weight != tc.share || e.PlannedSampleSize != tc.want {
			t.Errorf("Canary(%g %%, %d): weight %g, planned %d; want %g, %d", tc.percent, tc.planned, e.Variants[1].Weight, e.PlannedSampleSize, tc.share, tc.want)
		}
	}
}

// TestNameLimits: experiment names and prompt IDs take what the prompt
// registry takes (1–128 letters, digits, _ . -, not starting with . or -);
// labels what a label may be (1–64).
func TestNameLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", 128)
	for _, tc := range []struct {
		name, prompt, label string
		param               string
	}{
		{long, long, "production", ""},
		{"_private", "_private", "_staging", ""},
		{"a.b-c_d", "a.b-c_d", "l.1", ""},
		{long + "x", "p", "l", "name"},
		{".x", "p", "l", "name"},
		{"-x", "p", "l", "name"},
		{"a/b", "p", "l", "name"},
		{"x", long + "x", "l", "prompt"},
		{"x", ".p", "l", "prompt"},
		{"x", "p", strings.Repeat("l", 65), "label"},
		{"x", "p", "-l", "label"},
	} {
		e := Canary(tc.name, tc.prompt, tc.label, "1", "2", 10, 1000)
		err := Validate(e)
		var se *switchboard.Error
		switch {
		case tc.param == "" && err != nil:
			t.Errorf("Validate(name %.10q…, prompt %.10q…, label %q): %v", tc.name, tc.prompt, tc.label, err)
		case tc.param != "" && (!errors.As(err, &se) || se.Param != tc.param):
			t.Errorf("Validate(name %.10q…, prompt %.10q…, label %q): got %v, want invalid %s", tc.name, tc.prompt, tc.label, err, tc.param)
		}
	}
}

// TestCanaryName: the default name is <prompt>-<label>-canary-<UTC time>,
// shortened deterministically when the prompt ID and label make it longer
// than MaxNameLen; distinct prompts keep distinct names.
func TestCanaryName(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := CanaryName("rag", "production", at); got != "rag-production-canary-20260102T030405" {
		t.Errorf("CanaryName: got %q", got)
	}
	p1, p2 := strings.Repeat("a", 128), strings.Repeat("a", 127)+"b"
	label := strings.Repeat("l", 64)
	n1, n2 := CanaryName(p1, label, at), CanaryName(p2, label, at)
	for _, n := range []string{n1, n2} {
		if len(n) != MaxNameLen || !strings.HasSuffix(n, "-canary-20260102T030405") || !strings.HasPrefix(n, "aaaa") {
			t.Errorf("long CanaryName: %q (%d bytes)", n, len(n))
		}
	}
	if n1 == n2 {
		t.Errorf("two prompts share the name %q", n1)
	}
	if again := CanaryName(p1, label, at); again != n1 {
		t.Errorf("CanaryName is not deterministic: %q then %q", n1, again)
	}
	// Canary with no name uses the default; a name of the default form
	// built by a caller is shortened the same way.
	e := Canary("", p1, label, "1", "2", 10, 1000)
	if err := Validate(e); err != nil || !strings.Contains(e.Name, "-canary-") {
		t.Errorf("Canary without a name: %q, %v", e.Name, err)
	}
	full := p1 + "-" + label + "-canary-" + at.Format("20060102T150405")
	if e := Canary(full, p1, label, "1", "2", 10, 1000); e.Name != n1 || Validate(e) != nil {
		t.Errorf("Canary(%d-byte default name): %q, want %q", len(full), e.Name, n1)
	}
	// Any other name is the caller's: too long is an error, not shortened.
	if err := Validate(Canary(strings.Repeat("x", 129), "p", "l", "1", "2", 10, 1000)); err == nil {
		t.Error("Validate accepted a 129-byte name")
	}
}

// TestDecodeSpecErrorParams: decoding errors name the JSON path the user
// wrote, with array indexes, and never a Go type.
func TestDecodeSpecErrorParams(t *testing.T) {
	t.Parallel()
	edit := func(old, new string) string { return strings.Replace(validSpec, old, new, 1) }
	for _, tc := range []struct{ name, spec, param string }{
		{"numeric version", edit(`"prompt_version": "3"`, `"prompt_version": 3`), "variants[1].prompt_version"},
		{"string weight", edit(`"weight": 50}
  ]`, `"weight": "50"}
  ]`), "variants[1].weight"},
		{"string margin", edit(`"margin": 0.2`, `"margin": "0.2"`), "metrics[2].margin"},
		{"huge margin", edit(`"margin": 0.2`, `"margin": 1e999`), "metrics[2].margin"},
		{"variants object", edit(`"variants": [`, `"variants": {"a": 1}, "x": [`), "variants"},
		{"fractional planned size", edit(`5000`, `5000.5`), "planned_sample_size"},
		{"bool guard as string", edit(`"guard": true}`, `"guard": "yes"}`), "metrics[1].guard"},
		{"unknown top-level field", edit(`"kind": "ab",`, `"kind": "ab", "colour": "red",`), "colour"},
		{"unknown variant field", edit(`"name": "v3",`, `"name": "v3", "colour": "red",`), "variants[1].colour"},
		{"unknown metric field", edit(`{"name": "error", "guard": true}`, `{"name": "error", "guard": true, "min": 1}`), "metrics[1].min"},
		{"array", `[]`, ""},
		{"string", `"spec"`, ""},
		{"decision", edit(`"kind": "ab",`, `"kind": "ab", "decision": {"action": 5},`), "decision.action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeSpec([]byte(tc.spec))
			var se *switchboard.Error
			if !errors.As(err, &se) || se.Code != switchboard.CodeInvalidRequest {
				t.Fatalf("DecodeSpec: got %v, want an invalid_request error", err)
			}
			if se.Param != tc.param {
				t.Errorf("param %q, want %q (%s)", se.Param, tc.param, se.Message)
			}
			if tc.param != "" && !strings.Contains(se.Message, tc.param) {
				t.Errorf("message %q does not name %q", se.Message, tc.param)
			}
			checkNoGoTypes(t, se.Message)
		})
	}
}

// checkNoGoTypes fails if msg names a Go type or a Go-ism of encoding/json.
func checkNoGoTypes(t *testing.T, msg string) {
	t.Helper()
	for _, bad := range []string{"switchboard.", "experiment.", "[]", "float64", "int64", "json:", "Go value", "want "} {
		if strings.Contains(msg, bad) {
			t.Errorf("message %q contains %q", msg, bad)
		}
	}
}
