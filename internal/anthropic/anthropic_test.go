package anthropic

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

func TestUpstreamError(t *testing.T) {
	t.Parallel()
	body := func(typ, msg string) string {
		return `{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_1"}`
	}
	tests := []struct {
		status     int
		body       string
		retryAfter string
		wantCode   switchboard.ErrorCode
		wantStatus int
		wantType   string
		wantVendor string
		wantMsg    string
		retryable  bool
	}{
		{400, body("invalid_request_error", "max_tokens: Field required"), "", switchboard.CodeInvalidRequest, 400, "invalid_request_error", "", "max_tokens: Field required", false},
		{400, body("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), "", switchboard.CodeInvalidRequest, 400, "invalid_request_error", VendorCodeContextLength, "prompt is too long", false},
		{400, body("invalid_request_error", "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000"), "", switchboard.CodeInvalidRequest, 400, "invalid_request_error", VendorCodeContextLength, "exceed context limit", false},
		{401, body("authentication_error", "invalid x-api-key"), "", switchboard.CodeUpstream, 502, "upstream_error", "upstream_auth_failed", "credentials (401): invalid x-api-key", true},
		{403, body("permission_error", "no access"), "", switchboard.CodeUpstream, 502, "upstream_error", "upstream_auth_failed", "credentials (403)", true},
		{404, body("not_found_error", "model: claude-x"), "", switchboard.CodeNotFound, 404, "not_found_error", "", "model: claude-x", false},
		{413, body("request_too_large", "Request exceeds the maximum allowed number of bytes."), "", switchboard.CodeTooLarge, 413, "request_too_large", "", "maximum allowed", false},
		{429, body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), "7", switchboard.CodeRateLimited, 429, "rate_limit_error", "", "rate limit", true},
		{500, body("api_error", "Internal server error"), "", switchboard.CodeUnavailable, 500, "api_error", "", "Internal server error", true},
		{529, body("overloaded_error", "Overloaded"), "7", switchboard.CodeUnavailable, 503, "overloaded_error", "overloaded", "Overloaded", true},
		{529, ``, "", switchboard.CodeUnavailable, 503, "overloaded_error", "overloaded", "upstream answered 529", true},
		{504, `<html>gateway timeout</html>`, "", switchboard.CodeTimeout, 504, "", "", "<html>gateway timeout</html>", true},
		{502, ``, "", switchboard.CodeUnavailable, 502, "", "", "Bad Gateway", true},
		{422, `not json`, "", switchboard.CodeInvalidRequest, 422, "", "", "not json", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status, "/", tc.wantMsg), func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.retryAfter != "" {
				h.Set("Retry-After", tc.retryAfter)
			}
			e := UpstreamError(tc.status, h, []byte(tc.body))
			if e.Code != tc.wantCode || e.Status != tc.wantStatus || e.Type != tc.wantType || e.VendorCode != tc.wantVendor {
				t.Errorf("got code %s status %d type %q vendor %q, want %s %d %q %q", e.Code, e.Status, e.Type, e.VendorCode, tc.wantCode, tc.wantStatus, tc.wantType, tc.wantVendor)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", e.Message, tc.wantMsg)
			}
			if got := switchboard.Retryable(e); got != tc.retryable {
				t.Errorf("got retryable %v, want %v", got, tc.retryable)
			}
			if tc.retryAfter != "" && e.RetryAfter != 7*time.Second {
				t.Errorf("got retry-after %v, want 7s", e.RetryAfter)
			}
		})
	}
}

func TestStreamError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data     string
		wantCode switchboard.ErrorCode
		wantType string
	}{
		{`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, switchboard.CodeUnavailable, TypeOverloaded},
		{`{"type":"error","error":{"type":"api_error","message":"boom"}}`, switchboard.CodeUnavailable, TypeAPI},
		{`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, switchboard.CodeRateLimited, TypeRateLimit},
		{`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}`, switchboard.CodeInvalidRequest, TypeInvalidRequest},
		{`{"type":"error"}`, switchboard.CodeUpstream, ""},
		{`garbage`, switchboard.CodeUpstream, ""},
	}
	for _, tc := range tests {
		e := StreamError([]byte(tc.data))
		if e.Code != tc.wantCode || e.Type != tc.wantType {
			t.Errorf("%s: got %s %q, want %s %q", tc.data, e.Code, e.Type, tc.wantCode, tc.wantType)
		}
	}
}

// TestRoundTrip checks that an Anthropic request translated to OpenAI's
// shape and back (the path of an Anthropic client routed to the anthropic
// provider) keeps what the gateway translates.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"model":"m","max_tokens":10,"system":"be brief","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"stop_sequences":["X"],"metadata":{"user_id":"u"}}`,
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}`,
		`{"model":"m","max_tokens":10,"tools":[{"name":"f","description":"d","input_schema":{"type":"object","properties":{"a":{"type":"string"}}}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},` +
			`"messages":[{"role":"user","content":"go"},{"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":"b"}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"done"},{"type":"text","text":"next"}]}]}`,
	}
	for i, body := range bodies {
		in, err := DecodeRequest([]byte(body))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		chat, err := ToChat(in)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		out, err := FromChat(chat, in.Model, 4096)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, _ := marshal(in)
		got, _ := marshal(out)
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("case %d: round trip changed the request (-want +got):\n%s", i, diff)
		}
	}
}

func TestCountTokensBody(t *testing.T) {
	t.Parallel()
	req, err := switchboard.DecodeChatRequest([]byte(`{"model":"a","stream":true,"temperature":0.5,"max_tokens":9,"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}],` +
		`"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto","thinking":{"type":"enabled","budget_tokens":1024},"top_k":3}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromChat(req, "claude", 100)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.CountTokensBody()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"claude","system":"s","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto"},"thinking":{"type":"enabled","budget_tokens":1024}}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEstimateInputTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want int
	}{
		// 3 + 1 message × 4 + ceil(5/4).
		{`{"model":"m","messages":[{"role":"user","content":"hello"}]}`, 3 + 4 + 2},
		// 3 + 2 × 4 + ceil((2+4)/4) + one image.
		{`{"model":"m","messages":[{"role":"system","content":"be"},{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, 3 + 8 + 2 + ImageTokens},
		// Tool definitions and calls count: "f" + `{"a":1}` + "f" + "d".
		{`{"model":"m","tools":[{"type":"function","function":{"name":"f","description":"d"}}],"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}]}`, 3 + 8 + 3},
	}
	for _, tc := range tests {
		req, err := switchboard.DecodeChatRequest([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := EstimateInputTokens(req); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.body, got, tc.want)
		}
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"msg_01": "msg_01", "chatcmpl-abc": "msg_abc", "xyz": "msg_xyz", "": "", "chatcmpl-": ""} {
		if got := MessageID(in); got != want {
			t.Errorf("MessageID(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestFinishAndStopReasons(t *testing.T) {
	t.Parallel()
	for stop, finish := range map[string]string{"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter", "": "stop"} {
		if got := FinishReason(stop); got != finish {
			t.Errorf("FinishReason(%q): got %q, want %q", stop, got, finish)
		}
	}
	for finish, stop := range map[string]string{"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
		"content_filter": "refusal", "": "end_turn"} {
		if got := StopReason(finish); got != stop {
			t.Errorf("StopReason(%q): got %q, want %q", finish, got, stop)
		}
	}
}
