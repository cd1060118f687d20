package gemini

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

// TestErrorMapping is Gemini's status → code table (STYLE §5): the mock
// status option makes the fake answer with Gemini's own error bodies; a
// hook sends the bodies the mock cannot produce.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		mock       string // the request's mock options
		hook       func(http.ResponseWriter, *http.Request) bool
		ok         string // a 200 body (streamed: the one event)
		wantCode   switchboard.ErrorCode
		wantStatus int
		wantVendor string
		wantMsg    string
		wantRetry  time.Duration
		retryable  bool
	}{
		{name: "400", mock: `{"status":400}`, wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantMsg: "asked to reject"},
		{name: "400 context length", hook: handler(400, "", `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`),
			wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantVendor: "context_length_exceeded", wantMsg: "input token count"},
		{name: "400 API_KEY_INVALID", hook: handler(400, "", `[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}]`),
			wantCode: switchboard.CodeUpstream, wantStatus: 502, wantVendor: "upstream_auth_failed", wantMsg: "API key not valid", retryable: true},
		{name: "400 FAILED_PRECONDITION", hook: handler(400, "", `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`),
			wantCode: switchboard.CodeUpstream, wantStatus: 502, wantVendor: "upstream_precondition_failed", wantMsg: "location", retryable: true},
		{name: "401", mock: `{"status":401}`, wantCode: switchboard.CodeUpstream, wantStatus: 502, wantVendor: "upstream_auth_failed", wantMsg: "credentials", retryable: true},
		{name: "403", mock: `{"status":403}`, wantCode: switchboard.CodeUpstream, wantStatus: 502, wantVendor: "upstream_auth_failed", wantMsg: "permission", retryable: true},
		{name: "404", mock: `{"status":404}`, wantCode: switchboard.CodeNotFound, wantStatus: 404, wantMsg: "not found"},
		{name: "429 RetryInfo", mock: `{"status":429,"retry_after":7}`, wantCode: switchboard.CodeRateLimited, wantStatus: 429, wantMsg: "quota", wantRetry: 7 * time.Second, retryable: true},
		{name: "429 retry-after", hook: handler(429, "Retry-After: 2", `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`),
			wantCode: switchboard.CodeRateLimited, wantStatus: 429, wantMsg: "exhausted", wantRetry: 2 * time.Second, retryable: true},
		{name: "500", mock: `{"status":500}`, wantCode: switchboard.CodeUnavailable, wantStatus: 500, wantMsg: "internal error", retryable: true},
		{name: "502 not JSON", hook: handler(502, "", "<html>Bad Gateway</html>"), wantCode: switchboard.CodeUnavailable, wantStatus: 502, wantMsg: "Bad Gateway", retryable: true},
		{name: "503", mock: `{"status":503}`, wantCode: switchboard.CodeUnavailable, wantStatus: 503, wantMsg: "overloaded", retryable: true},
		{name: "504", mock: `{"status":504}`, wantCode: switchboard.CodeTimeout, wantStatus: 504, wantMsg: "Deadline", retryable: true},
		{name: "prompt blocked", ok: `{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3}}`,
			wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantVendor: "content_filter", wantMsg: "blocked"},
		{name: "no candidates", ok: `{"usageMetadata":{"promptTokenCount":3}}`, wantCode: switchboard.CodeUpstream, wantMsg: "upstream", retryable: true},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.name, stream), func(t *testing.T) {
				t.Parallel()
				f, c := newFake(t, switchboard.Timeouts{})
				switch {
				case tc.hook != nil:
					f.Handle(tc.hook)
				case tc.ok != "" && stream:
					f.Handle(sseEvents(tc.ok))
				case tc.ok != "":
					f.Handle(handler(200, "", tc.ok))
				}
				body := `{"model":"m","messages":[{"role":"user","content":"x"}]`
				if tc.mock != "" {
					body += `,"mock":` + tc.mock
				}
				var err error
				if stream {
					var s switchboard.ChatStream
					if s, err = c.ChatStream(t.Context(), "mock-echo", mustChatReq(t, body+`,"stream":true}`)); err == nil {
						_, err = collect(t, s)
					}
				} else {
					_, err = c.Chat(t.Context(), "mock-echo", mustChatReq(t, body+"}"))
				}
				var e *switchboard.Error
				if !errors.As(err, &e) {
					t.Fatalf("got %v, want *switchboard.Error", err)
				}
				if e.Code != tc.wantCode || e.Status != tc.wantStatus || e.VendorCode != tc.wantVendor || !strings.Contains(e.Message, tc.wantMsg) {
					t.Errorf("got code %s status %d vendor code %q message %q, want %s %d %q containing %q",
						e.Code, e.Status, e.VendorCode, e.Message, tc.wantCode, tc.wantStatus, tc.wantVendor, tc.wantMsg)
				}
				if e.RetryAfter != tc.wantRetry {
					t.Errorf("got retry after %v, want %v", e.RetryAfter, tc.wantRetry)
				}
				if got := switchboard.Retryable(err); got != tc.retryable {
					t.Errorf("got retryable %v, want %v", got, tc.retryable)
				}
			})
		}
	}
}

// sseEvents answers with the events, then closes (or, with stall, waits for the client).
func sseEvents(events ...string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range events {
			io.WriteString(w, "data: "+ev+"\r\n\r\n")
		}
		return true
	}
}

const firstEvent = `{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}]}`

func TestBrokenStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mock     string
		hook     func(http.ResponseWriter, *http.Request) bool
		idle     time.Duration
		wantN    int // chunks before the error
		wantCode switchboard.ErrorCode
		wantMsg  string
	}{
		{name: "cut", mock: `{"fail_after":2}`, wantN: 3, wantCode: switchboard.CodeUpstream},
		{name: "malformed event", mock: `{"malformed":true}`, wantN: 2, wantCode: switchboard.CodeUpstream, wantMsg: "malformed"},
		{name: "stalled", mock: `{"stall_after":1}`, idle: 100 * time.Millisecond, wantN: 2, wantCode: switchboard.CodeTimeout, wantMsg: "stalled"},
		{name: "no finish", hook: sseEvents(firstEvent), wantN: 2, wantCode: switchboard.CodeUpstream, wantMsg: "ended before completion"},
		{name: "cut inside an event", hook: func(w http.ResponseWriter, r *http.Request) bool {
			io.WriteString(w, "data: "+firstEvent+"\n\ndata: {\"cand")
			return true
		}, wantN: 2, wantCode: switchboard.CodeUpstream},
		{name: "in-band error", hook: sseEvents(firstEvent, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`),
			wantN: 2, wantCode: switchboard.CodeUnavailable, wantMsg: "overloaded"},
		{name: "not JSON", hook: sseEvents(firstEvent, `hello`), wantN: 2, wantCode: switchboard.CodeUpstream, wantMsg: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, switchboard.Timeouts{Idle: tc.idle})
			if tc.hook != nil {
				f.Handle(tc.hook)
			}
			body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three four"}]`
			if tc.mock != "" {
				body += `,"mock":` + tc.mock
			}
			s, err := c.ChatStream(t.Context(), "mock-echo", mustChatReq(t, body+"}"))
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := collect(t, s)
			if switchboard.ErrorCodeOf(err) != tc.wantCode || !strings.Contains(fmt.Sprint(err), tc.wantMsg) {
				t.Errorf("got %v, want %s containing %q", err, tc.wantCode, tc.wantMsg)
			}
			if len(chunks) != tc.wantN {
				t.Errorf("got %d chunks, want %d", len(chunks), tc.wantN)
			}
			if _, again := s.Recv(); again == nil {
				t.Error("got a chunk after the error, want the error again")
			}
		})
	}
}

func TestMalformedBody(t *testing.T) {
	t.Parallel()
	for _, h := range []func(http.ResponseWriter, *http.Request) bool{
		nil, // the mock's malformed option
		handler(200, "", `{"candidates":`),
		handler(200, "", `{"candidates":"many"}`),
		handler(200, "", `[1,2,3]`),
		handler(200, "", ``),
	} {
		f, c := newFake(t, switchboard.Timeouts{})
		f.Handle(h)
		_, err := c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"mock":{"malformed":true}}`))
		if switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream || !switchboard.Retryable(err) {
			t.Errorf("got %v, want a retryable upstream_error (502)", err)
		}
		req, _ := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x","mock":{"malformed":true}}`))
		if _, err := c.Embed(t.Context(), "mock-echo", req); switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
			t.Errorf("embed: got %v, want upstream_error", err)
		}
	}
}

// TestNoKey sends no key: Gemini answers 403 PERMISSION_DENIED, which is
// the gateway's fault (502).
func TestNoKey(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c, err := New(Config{BaseURL: f.URL, APIKey: "k", Headers: map[string]string{"X-Goog-Api-Key": ""}}, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream || !strings.Contains(fmt.Sprint(err), "unregistered callers") {
		t.Errorf("got %v, want upstream_error for a request without key", err)
	}
}
