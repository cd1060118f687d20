package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

func newClient(t *testing.T, h http.HandlerFunc, to switchboard.Timeouts) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test"}, switchboard.Deps{Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func chatReq(t *testing.T, body string) *switchboard.ChatRequest {
	t.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUpstreamErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		body       string
		header     string
		wantCode   switchboard.ErrorCode
		wantStatus int
		wantMsg    string
		retryable  bool
	}{
		{400, `{"error":{"message":"bad temperature","type":"invalid_request_error","param":"temperature","code":null}}`, "", switchboard.CodeInvalidRequest, 400, "bad temperature", false},
		{401, `{"error":{"message":"Incorrect API key provided: sk-***","type":"invalid_request_error","code":"invalid_api_key"}}`, "", switchboard.CodeUpstream, 502, "credentials", true},
		{403, `{"error":{"message":"forbidden"}}`, "", switchboard.CodeUpstream, 502, "credentials", true},
		{404, `{"error":{"message":"The model x does not exist","code":"model_not_found"}}`, "", switchboard.CodeNotFound, 404, "does not exist", false},
		{429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, "3", switchboard.CodeRateLimited, 429, "Rate limit", true},
		{500, `{"error":{"message":"The server had an error"}}`, "", switchboard.CodeUnavailable, 500, "server had", true},
		{503, `upstream connect error`, "", switchboard.CodeUnavailable, 503, "upstream connect error", true},
		{504, ``, "", switchboard.CodeTimeout, 504, "Gateway Timeout", true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}, switchboard.Timeouts{})
			_, err := c.Chat(t.Context(), "gpt", chatReq(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`))
			var e *switchboard.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *switchboard.Error", err)
			}
			if e.Code != tc.wantCode || e.Status != tc.wantStatus || !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("got code %s status %d message %q, want %s %d containing %q", e.Code, e.Status, e.Message, tc.wantCode, tc.wantStatus, tc.wantMsg)
			}
			if got := switchboard.Retryable(err); got != tc.retryable {
				t.Errorf("got retryable %v, want %v", got, tc.retryable)
			}
			if tc.header != "" && e.RetryAfter != 3*time.Second {
				t.Errorf("got retry-after %v, want 3s", e.RetryAfter)
			}
		})
	}
}

func TestChatForwardsBodyAndKey(t *testing.T) {
	t.Parallel()
	var gotBody, gotAuth string
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotAuth = string(b), r.Header.Get("Authorization")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6,"prompt_tokens_details":{"cached_tokens":2}}}`)
	}, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "gpt-4o", chatReq(t, `{"model":"alias","messages":[{"role":"user","content":"x"}],"logit_bias":{"1":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"logit_bias":{"1":2}}`; gotBody != want {
		t.Errorf("got body %s, want %s", gotBody, want)
	}
	if gotAuth != "Bearer sk-test" {
		t.Errorf("got auth %q", gotAuth)
	}
	if resp.Usage.PromptTokens != 5 || resp.Usage.CachedTokens() != 2 || resp.Raw == nil {
		t.Errorf("got %+v", resp.Usage)
	}
}

func TestMalformedBody(t *testing.T) {
	t.Parallel()
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"id":`) }, switchboard.Timeouts{})
	_, err := c.Chat(t.Context(), "m", chatReq(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Fatalf("got %v, want upstream_error", err)
	}
}

func sseHandler(events []string, delay time.Duration, stall bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for _, ev := range events {
			io.WriteString(w, "data: "+ev+"\n\n")
			rc.Flush()
			time.Sleep(delay)
		}
		if stall {
			<-r.Context().Done()
		}
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	events := []string{
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}],"usage":null}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
		`[DONE]`,
	}
	tests := []struct {
		name     string
		h        http.HandlerFunc
		to       switchboard.Timeouts
		wantN    int
		wantCode switchboard.ErrorCode // "" = io.EOF
	}{
		{"complete", sseHandler(events, 0, false), switchboard.Timeouts{}, 3, ""},
		{"truncated", sseHandler(events[:2], 0, false), switchboard.Timeouts{}, 2, switchboard.CodeUpstream},
		{"stalled", sseHandler(events[:1], 0, true), switchboard.Timeouts{Idle: 100 * time.Millisecond}, 1, switchboard.CodeTimeout},
		{"in-band error", sseHandler([]string{events[0], `{"error":{"message":"overloaded","type":"server_error"}}`}, 0, false), switchboard.Timeouts{}, 1, switchboard.CodeUnavailable},
		{"malformed chunk", sseHandler([]string{events[0], `{"id":`}, 0, false), switchboard.Timeouts{}, 1, switchboard.CodeUpstream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, tc.h, tc.to)
			s, err := c.ChatStream(t.Context(), "m", chatReq(t, `{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n := 0
			for {
				ch, err := s.Recv()
				if err != nil {
					if tc.wantCode == "" && err != io.EOF {
						t.Fatalf("got %v, want io.EOF", err)
					}
					if tc.wantCode != "" && switchboard.ErrorCodeOf(err) != tc.wantCode {
						t.Fatalf("got %v, want code %s", err, tc.wantCode)
					}
					break
				}
				if ch.Raw == nil {
					t.Error("chunk without Raw")
				}
				n++
			}
			if n != tc.wantN {
				t.Errorf("got %d chunks, want %d", n, tc.wantN)
			}
		})
	}
}

func TestFirstByteTimeout(t *testing.T) {
	t.Parallel()
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}, switchboard.Timeouts{FirstByte: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.Chat(t.Context(), "m", chatReq(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeTimeout {
		t.Fatalf("got %v, want timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v, want about 100ms", d)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	c, _ := New(Config{BaseURL: "http://127.0.0.1:1/v1"}, switchboard.Deps{Timeouts: switchboard.Timeouts{Connect: time.Second}})
	_, err := c.Chat(context.Background(), "m", chatReq(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeUnavailable || !switchboard.Retryable(err) {
		t.Fatalf("got %v, want retryable unavailable", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://x", "not a url", "/relative"} {
		if _, err := New(Config{BaseURL: u}, switchboard.Deps{}); err == nil || !strings.Contains(err.Error(), "base_url") {
			t.Errorf("base_url %q: got %v, want a base_url error", u, err)
		}
	}
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add([]byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"hi","tool_calls":[{"index":0,"function":{"arguments":"{"}}]},"finish_reason":null}],"usage":null}`))
	f.Add([]byte(`{"choices":[],"usage":{"prompt_tokens":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = switchboard.DecodeChunk(data)
		_, _ = switchboard.DecodeChatResponse(data)
		_ = UpstreamError(500, http.Header{}, data)
	})
}

func TestOptionsURL(t *testing.T) {
	t.Parallel()
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI())
		switch {
		case strings.HasSuffix(r.URL.Path, "/chat/completions") && r.Header.Get("Accept") == "text/event-stream":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: [DONE]\n\n")
		case strings.HasSuffix(r.URL.Path, "/chat/completions"):
			io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[]}`)
		case strings.HasSuffix(r.URL.Path, "/embeddings"):
			io.WriteString(w, `{"object":"list","data":[],"model":"m"}`)
		default:
			io.WriteString(w, `{"data":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	url := func(op, model string) string { return srv.URL + "/deploy/" + model + "/" + op + "?v=1" }
	c, err := NewWithOptions(Config{BaseURL: srv.URL}, switchboard.Deps{}, Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Chat(ctx, "m1", chatReq(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`)); err != nil {
		t.Fatal(err)
	}
	s, err := c.ChatStream(ctx, "m2", chatReq(t, `{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	er, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Embed(ctx, "m3", er); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Models(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"POST /deploy/m1/chat/completions?v=1",
		"POST /deploy/m2/chat/completions?v=1",
		"POST /deploy/m3/embeddings?v=1",
		"GET /deploy//models?v=1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
