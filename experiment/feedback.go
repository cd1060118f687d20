package experiment

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"github.com/switchboard-ai/switchboard"
)

// Limits of a feedback request.
const (
	// MaxFeedbackBytes bounds the body of one feedback request.
	MaxFeedbackBytes = 4 << 10
	// MaxFeedbackValue bounds |value|, so that sums of squares over millions
	// of values stay finite in the database.
	MaxFeedbackValue = 1e12
)

// FeedbackRequest is the body of POST /v1/feedback.
type FeedbackRequest struct {
	InferenceID string `json:"inference_id"`
	Metric      string `json:"metric"`
	// Value is a JSON boolean (stored as 1 or 0) or a finite number.
	Value json.RawMessage `json:"value"`
}

// ParseFeedback strictly decodes the body of POST /v1/feedback,
// {"inference_id", "metric", "value"}, and validates it. The result lacks
// the tenant and the time, which the caller sets. Errors are
// *switchboard.Error with code invalid_request naming the field at fault.
func ParseFeedback(data []byte) (switchboard.Feedback, error) {
	if len(data) > MaxFeedbackBytes {
		return switchboard.Feedback{}, switchboard.InvalidParam("", "feedback body is larger than %d bytes", MaxFeedbackBytes)
	}
	var r FeedbackRequest
	if err := decodeStrict(data, &r, "feedback"); err != nil {
		return switchboard.Feedback{}, err
	}
	v, err := ParseFeedbackValue(r.Value)
	if err != nil {
		return switchboard.Feedback{}, err
	}
	f := switchboard.Feedback{InferenceID: r.InferenceID, Metric: r.Metric, Value: v}
	if err := ValidateFeedback(f); err != nil {
		return switchboard.Feedback{}, err
	}
	return f, nil
}

// ParseFeedbackValue reads a feedback value: true and false are 1 and 0,
// a JSON number must be finite. Anything else (a string, null, an object,
// a missing value) is an invalid_request error for the field "value".
func ParseFeedbackValue(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	case "", "null":
		return 0, switchboard.InvalidParam("value", "value is required: a boolean or a number")
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, switchboard.InvalidParam("value", "value must be a boolean or a number")
	}
	// json.Number's syntax is JSON's; ParseFloat alone would take "0x1p3",
	// "Inf" or "1_000".
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, switchboard.InvalidParam("value", "value must be a boolean or a number")
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, switchboard.InvalidParam("value", "value must be a finite number")
	}
	return v, nil
}

// ValidateFeedback checks the fields a client sets: an inference ID of 1–128
// printable characters, a metric name that is not an automatic metric, and
// a value within ±MaxFeedbackValue.
func ValidateFeedback(f switchboard.Feedback) error {
	switch {
	case f.InferenceID == "" || len(f.InferenceID) > 128 || !printable(f.InferenceID):
		return switchboard.InvalidParam("inference_id", "inference_id must be 1–128 printable characters")
	case !metricRE.MatchString(f.Metric):
		return switchboard.InvalidParam("metric", "metric names are 1–64 lower-case letters, digits, _ . or -, starting with a letter; got %q", f.Metric)
	case IsAutomatic(f.Metric):
		return switchboard.InvalidParam("metric", "%q is measured by the gateway and takes no feedback", f.Metric)
	case math.IsNaN(f.Value) || math.Abs(f.Value) > MaxFeedbackValue:
		return switchboard.InvalidParam("value", "value must be a number between -1e12 and 1e12")
	}
	return nil
}
