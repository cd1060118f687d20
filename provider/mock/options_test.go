package mock

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		raw    string
		header map[string]string
		want   Options
	}{
		{name: "none"},
		{name: "null", raw: "null"},
		{name: "empty object", raw: "{}"},
		{
			name: "all body options",
			raw: `{"latency":"250ms","chunk_delay":"10ms","words":5,"status":429,"retry_after":3,
				"stall_after":2,"fail_after":4,"content":"hi there","malformed":true}`,
			want: Options{
				Latency: new(250 * time.Millisecond), ChunkDelay: 10 * time.Millisecond, Words: 5,
				Status: 429, RetryAfter: 3 * time.Second, StallAfter: new(2), FailAfter: new(4),
				Content: new("hi there"), Malformed: true,
			},
		},
		{name: "numbers as strings", raw: `{"words":"7","status":"503"}`, want: Options{Words: 7, Status: 503}},
		{name: "integral float", raw: `{"words":2.0}`, want: Options{Words: 2}},
		{name: "zero latency overrides the default", raw: `{"latency":"0s"}`, want: Options{Latency: new(time.Duration(0))}},
		{name: "stall after zero", raw: `{"stall_after":0}`, want: Options{StallAfter: new(0)}},
		{
			name: "headers",
			header: map[string]string{
				"X-Mock-Latency": "1s", "X-Mock-Chunk-Delay": "5ms", "x-mock-retry_after": "2",
				"X-Mock-Malformed": "1", "X-Mock-Content": "fixed", "X-Other": "ignored",
			},
			want: Options{Latency: new(time.Second), ChunkDelay: 5 * time.Millisecond, RetryAfter: 2 * time.Second, Malformed: true, Content: new("fixed")},
		},
		{
			name:   "header wins over body",
			raw:    `{"words":3,"status":500}`,
			header: map[string]string{"X-Mock-Words": "9"},
			want:   Options{Words: 9, Status: 500},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseOptions(json.RawMessage(tc.raw), header(tc.header))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("options mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOptionsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		raw       string
		header    map[string]string
		wantParam string
	}{
		{"not an object", `[1]`, nil, "mock"},
		{"string", `"fast"`, nil, "mock"},
		{"unknown option", `{"speed":1}`, nil, "mock"},
		{"unknown header", ``, map[string]string{"X-Mock-Speed": "1"}, "mock"},
		{"bad duration", `{"latency":"soon"}`, nil, "mock.latency"},
		{"duration as number", `{"latency":100}`, nil, "mock.latency"},
		{"negative duration", `{"chunk_delay":"-1s"}`, nil, "mock.chunk_delay"},
		{"huge duration", `{"latency":"100h"}`, nil, "mock.latency"},
		{"words not int", `{"words":"many"}`, nil, "mock.words"},
		{"words fraction", `{"words":1.5}`, nil, "mock.words"},
		{"words too many", `{"words":100001}`, nil, "mock.words"},
		{"negative words", `{"words":-1}`, nil, "mock.words"},
		{"status 302", `{"status":302}`, nil, "mock.status"},
		{"status 600", `{"status":600}`, nil, "mock.status"},
		{"status header", ``, map[string]string{"X-Mock-Status": "abc"}, "mock.status"},
		{"negative retry", `{"retry_after":-2}`, nil, "mock.retry_after"},
		{"negative stall", `{"stall_after":-1}`, nil, "mock.stall_after"},
		{"fail huge", `{"fail_after":1e20}`, nil, "mock.fail_after"},
		{"content not string", `{"content":5}`, nil, "mock.content"},
		{"malformed not bool", `{"malformed":"maybe"}`, nil, "mock.malformed"},
		{"bad header value", `{"words":1}`, map[string]string{"X-Mock-Words": "x"}, "mock.words"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseOptions(json.RawMessage(tc.raw), header(tc.header))
			var e *switchboard.Error
			if !errors.As(err, &e) {
				t.Fatalf("got error %v, want a *switchboard.Error", err)
			}
			if e.Code != switchboard.CodeInvalidRequest || e.Param != tc.wantParam {
				t.Errorf("got code %s param %q, want %s param %q", e.Code, e.Param, switchboard.CodeInvalidRequest, tc.wantParam)
			}
		})
	}
}

func header(m map[string]string) http.Header {
	if m == nil {
		return nil
	}
	h := http.Header{}
	for k, v := range m {
		h[k] = []string{v} // as sent, not canonicalised: ParseOptions must cope
	}
	return h
}

func FuzzParseOptions(f *testing.F) {
	f.Add(`{"latency":"10ms","words":3}`, "X-Mock-Status", "429")
	f.Add(`{"stall_after":0,"content":"x"}`, "x-mock-chunk-delay", "1s")
	f.Add(`null`, "", "")
	f.Add(`{"malformed":true}`, "X-Mock-Malformed", "false")
	f.Fuzz(func(t *testing.T, raw, key, value string) {
		h := http.Header{}
		if key != "" {
			h[key] = []string{value}
		}
		o, err := ParseOptions(json.RawMessage(raw), h)
		if err != nil {
			var e *switchboard.Error
			if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest {
				t.Fatalf("got error %v, want a CodeInvalidRequest *switchboard.Error", err)
			}
			return
		}
		switch {
		case o.Latency != nil && (*o.Latency < 0 || *o.Latency > MaxDelay),
			o.ChunkDelay < 0 || o.ChunkDelay > MaxDelay,
			o.Words < 0 || o.Words > MaxWords,
			o.Status != 0 && o.Status != 200 && (o.Status < 400 || o.Status > 599),
			o.RetryAfter < 0,
			o.StallAfter != nil && *o.StallAfter < 0,
			o.FailAfter != nil && *o.FailAfter < 0:
			t.Fatalf("ParseOptions(%q, %q: %q) accepted out-of-range options %+v", raw, key, value, o)
		}
	})
}
