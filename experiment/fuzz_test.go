package experiment

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// FuzzParseFeedback: go test -run '^$' -fuzz FuzzParseFeedback ./experiment/
// (seeds in testdata/fuzz/FuzzParseFeedback). ParseFeedback never panics;
// what it accepts is valid and finite, and every error is invalid_request.
func FuzzParseFeedback(f *testing.F) {
	for _, s := range []string{
		`{"inference_id": "0199-abc", "metric": "thumbs_up", "value": true}`,
		`{"inference_id": "x", "metric": "score", "value": -1.5e3}`,
		`{"inference_id": "x", "metric": "score", "value": 1e999}`,
		`{"inference_id": "x", "metric": "score", "value": "1"}`,
		`{"value": null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fb, err := ParseFeedback(data)
		if err != nil {
			if switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
				t.Fatalf("error %v is not invalid_request", err)
			}
			return
		}
		if err := ValidateFeedback(fb); err != nil || math.IsNaN(fb.Value) || math.IsInf(fb.Value, 0) {
			t.Fatalf("accepted %+v: %v", fb, err)
		}
	})
}

// FuzzDecodeSpec: go test -run '^$' -fuzz FuzzDecodeSpec ./experiment/
// (seeds in testdata/fuzz/FuzzDecodeSpec). DecodeSpec never panics; what
// it accepts validates, survives a JSON round trip, can be assigned and
// analysed with no data.
func FuzzDecodeSpec(f *testing.F) {
	f.Add([]byte(validSpec))
	f.Add([]byte(`{"name":"m","kind":"ab","model":"gpt","variants":[{"name":"a","model":"x","weight":1},{"name":"b","model":"y","weight":0}],"control":"a","metrics":[{"name":"cost"}]}`))
	f.Add([]byte(`{"name":"c","kind":"canary","prompt":"p","label":"l","variants":[{"name":"s","prompt_version":"1","weight":9},{"name":"c","prompt_version":"2","weight":1}],"control":"s","metrics":[{"name":"error","guard":true}],"planned_sample_size":1000}`))
	f.Add([]byte(`{"name":"x","variants":[{"weight":1e308},{"weight":1e308}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeSpec(data)
		if err != nil {
			if switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
				t.Fatalf("error %v is not invalid_request", err)
			}
			return
		}
		if err := Validate(e); err != nil {
			t.Fatalf("accepted an invalid spec: %v", err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back switchboard.Experiment
		if err := json.Unmarshal(b, &back); err != nil || Validate(back) != nil {
			t.Fatalf("round trip: %v, %v", err, Validate(back))
		}
		a := Assign(&e, "unit")
		if a.Index < 0 || a.Index >= len(e.Variants) || e.Variants[a.Index].Weight <= 0 {
			t.Fatalf("Assign picked %+v", a)
		}
		if _, err := Analyze(&e, switchboard.ExperimentStats{}, nil, e.CreatedAt); err != nil {
			t.Fatalf("Analyze: %v", err)
		}
	})
}
