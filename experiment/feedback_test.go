package experiment

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

func TestParseFeedbackValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want float64
		ok   bool
	}{
		{"true", 1, true}, {"false", 0, true}, {" true ", 1, true},
		{"1", 1, true}, {"0", 0, true}, {"4.5", 4.5, true}, {"-1", -1, true}, {"1e3", 1000, true}, {"-0.25E-2", -0.0025, true},
		{"", 0, false}, {"null", 0, false}, {`"true"`, 0, false}, {`"1"`, 0, false}, {"[1]", 0, false}, {"{}", 0, false},
		{"1e400", 0, false}, {"NaN", 0, false}, {"Infinity", 0, false}, {"0x10", 0, false}, {"1_000", 0, false},
		{"01", 0, false}, {"+1", 0, false}, {".5", 0, false}, {"TRUE", 0, false}, {"1 2", 0, false},
	} {
		got, err := ParseFeedbackValue(json.RawMessage(tc.raw))
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseFeedbackValue(%q) = %v, %v; want %v, ok=%v", tc.raw, got, err, tc.want, tc.ok)
		}
		var se *switchboard.Error
		if err != nil && (!errors.As(err, &se) || se.Param != "value") {
			t.Errorf("ParseFeedbackValue(%q): error %v does not name the value", tc.raw, err)
		}
	}
}

func TestParseFeedback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body  string
		want  switchboard.Feedback
		param string // "" and a zero want: any invalid_request
	}{
		{`{"inference_id": "0199-abc", "metric": "thumbs_up", "value": true}`,
			switchboard.Feedback{InferenceID: "0199-abc", Metric: "thumbs_up", Value: 1}, ""},
		{`{"inference_id": "x", "metric": "judge.score", "value": 3.5}`,
			switchboard.Feedback{InferenceID: "x", Metric: "judge.score", Value: 3.5}, ""},
		{`{"inference_id": "x", "metric": "m"}`, switchboard.Feedback{}, "value"},
		{`{"inference_id": "x", "metric": "m", "value": -1e13}`, switchboard.Feedback{}, "value"},
		{`{"inference_id": "", "metric": "m", "value": 1}`, switchboard.Feedback{}, "inference_id"},
		{`{"inference_id": "a\u0000b", "metric": "m", "value": 1}`, switchboard.Feedback{}, "inference_id"},
		{`{"inference_id": "x", "metric": "Thumbs", "value": 1}`, switchboard.Feedback{}, "metric"},
		{`{"inference_id": "x", "metric": "latency", "value": 1}`, switchboard.Feedback{}, "metric"},
		{`{"inference_id": "x", "metric": "m", "value": 1, "comment": "hi"}`, switchboard.Feedback{}, ""},
		{`{"inference_id": "x", "metric": "m", "value": 1} {}`, switchboard.Feedback{}, ""},
		{`[]`, switchboard.Feedback{}, ""},
		{`{"inference_id": "` + strings.Repeat("x", MaxFeedbackBytes) + `"}`, switchboard.Feedback{}, ""},
	} {
		got, err := ParseFeedback([]byte(tc.body))
		if tc.want.InferenceID != "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseFeedback(%s) = %+v, %v; want %+v", tc.body, got, err, tc.want)
			}
			continue
		}
		var se *switchboard.Error
		if !errors.As(err, &se) || se.Code != switchboard.CodeInvalidRequest || (tc.param != "" && se.Param != tc.param) {
			t.Errorf("ParseFeedback(%.80s): got %v, want invalid_request on %q", tc.body, err, tc.param)
		}
	}
}

// TestParseFeedbackErrorParams: decoding errors name the field, never a Go
// type.
func TestParseFeedbackErrorParams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, param string }{
		{`{"inference_id": "x", "metric": "m", "value": 1, "comment": "hi"}`, "comment"},
		{`{"inference_id": 1, "metric": "m", "value": 1}`, "inference_id"},
		{`{"inference_id": "x", "metric": ["m"], "value": 1}`, "metric"},
		{`[]`, ""},
		{`"x"`, ""},
		{`{"inference_id": "x", "metric": "m", "value": {"a": 1}}`, "value"},
	} {
		_, err := ParseFeedback([]byte(tc.body))
		var se *switchboard.Error
		if !errors.As(err, &se) || se.Code != switchboard.CodeInvalidRequest || se.Param != tc.param {
			t.Errorf("ParseFeedback(%s): got %v (param %q), want invalid_request on %q", tc.body, err, paramOf(se), tc.param)
			continue
		}
		checkNoGoTypes(t, se.Message)
	}
}

func paramOf(e *switchboard.Error) string {
	if e == nil {
		return ""
	}
	return e.Param
}
