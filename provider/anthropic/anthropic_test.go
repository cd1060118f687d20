package anthropic

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

const testKey = "sk-ant-test"

// newClient returns a client for a FakeUpstream that requires testKey.
func newClient(t *testing.T, cfg Config, to switchboard.Timeouts) (*Client, *sbtest.FakeUpstream) {
	t.Helper()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{RequireKey: testKey})
	cfg.BaseURL = up.AnthropicBaseURL()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	c, err := New(cfg, switchboard.Deps{Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, up
}

func mustRequest(t *testing.T, body string) *switchboard.ChatRequest {
	t.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// drain reads a stream to its end and returns its chunks and final error.
func drain(t *testing.T, s switchboard.ChatStream) ([]*switchboard.Chunk, error) {
	t.Helper()
	defer s.Close()
	var out []*switchboard.Chunk
	for {
		c, err := s.Recv()
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

// accumulate joins a stream's chunks as an OpenAI client does.
func accumulate(chunks []*switchboard.Chunk) (content, finish string, calls []switchboard.ToolCall, usage *switchboard.Usage) {
	for _, c := range chunks {
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			content += ch.Delta.Text()
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
			for _, tc := range ch.Delta.ToolCalls {
				i := *tc.Index
				for len(calls) <= i {
					calls = append(calls, switchboard.ToolCall{})
				}
				if tc.ID != "" {
					calls[i].ID, calls[i].Function.Name = tc.ID, tc.Function.Name
				}
				calls[i].Function.Arguments += tc.Function.Arguments
			}
		}
	}
	return content, finish, calls, usage
}

func TestChat(t *testing.T) {
	t.Parallel()
	c, up := newClient(t, Config{Beta: []string{"prompt-caching-2024-07-31", "token-efficient-tools-2025-02-19"}}, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "mock-echo", mustRequest(t,
		`{"model":"alias","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello gateway"}],"seed":7,"user":"u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "hello gateway" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("got %q finish %q, want the echo and stop", got, resp.Choices[0].FinishReason)
	}
	if !strings.HasPrefix(resp.ID, "msg_") || resp.Model != "mock-echo" || resp.Object != "chat.completion" || resp.Created == 0 {
		t.Errorf("got id %q model %q object %q created %d", resp.ID, resp.Model, resp.Object, resp.Created)
	}
	if u := resp.Usage; u == nil || u.PromptTokens == 0 || u.CompletionTokens != 2 || u.TotalTokens != u.PromptTokens+2 {
		t.Errorf("got usage %+v", resp.Usage)
	}
	rec := up.LastRequest()
	if rec.Path != "/v1/messages" || rec.Header.Get("X-Api-Key") != testKey || rec.Header.Get("Anthropic-Version") != DefaultVersion ||
		rec.Header.Get("Anthropic-Beta") != "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19" || rec.Header.Get("Authorization") != "" {
		t.Errorf("upstream got %s %v", rec.Path, rec.Header)
	}
	want := `{"model":"mock-echo","max_tokens":4096,"system":"be brief","messages":[{"role":"user","content":"hello gateway"}],"metadata":{"user_id":"u1"}}`
	if string(rec.Body) != want {
		t.Errorf("upstream got body %s, want %s", rec.Body, want)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	c, up := newClient(t, Config{MaxTokens: 64}, switchboard.Timeouts{Idle: time.Second})
	s, err := c.ChatStream(t.Context(), "mock-echo", mustRequest(t, `{"model":"a","stream":true,"messages":[{"role":"user","content":"one two three"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, s)
	if err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
	content, finish, _, usage := accumulate(chunks)
	if content != "one two three" || finish != "stop" {
		t.Errorf("got %q finish %q", content, finish)
	}
	if first := chunks[0].Choices[0].Delta; first.Role != "assistant" {
		t.Errorf("got first delta %+v, want the assistant role", first)
	}
	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 || usage == nil || usage.CompletionTokens != 3 || usage.PromptTokens == 0 {
		t.Errorf("got last chunk %+v usage %+v, want the usage chunk", last, usage)
	}
	var sent map[string]any
	_ = json.Unmarshal(up.LastRequest().Body, &sent)
	if sent["stream"] != true || sent["max_tokens"] != 64.0 || up.LastRequest().Header.Get("Accept") != "text/event-stream" {
		t.Errorf("upstream got %s", up.LastRequest().Body)
	}
	// Recv after the end keeps answering io.EOF.
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("got %v after the end, want io.EOF", err)
	}
}

const weatherTool = `"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather",
	"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`

func TestTools(t *testing.T) {
	t.Parallel()
	c, up := newClient(t, Config{}, switchboard.Timeouts{})
	ask := `{"model":"a","messages":[{"role":"user","content":"weather in Paris?"}],` + weatherTool + `,"tool_choice":"required","parallel_tool_calls":false}`

	resp, err := c.Chat(t.Context(), "mock-tools", mustRequest(t, ask))
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 || string(ch.Message.Content) != "null" {
		t.Fatalf("got %+v", ch)
	}
	call := ch.Message.ToolCalls[0]
	if call.Function.Name != "get_weather" || !json.Valid([]byte(call.Function.Arguments)) || !strings.HasPrefix(call.ID, "toolu_") || call.Type != "function" {
		t.Errorf("got call %+v", call)
	}
	if !strings.Contains(string(up.LastRequest().Body), `"tool_choice":{"type":"any","disable_parallel_tool_use":true}`) {
		t.Errorf("upstream got %s", up.LastRequest().Body)
	}

	s, err := c.ChatStream(t.Context(), "mock-tools", mustRequest(t, strings.Replace(ask, `"model":"a"`, `"model":"a","stream":true`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, s)
	if err != io.EOF {
		t.Fatal(err)
	}
	_, finish, calls, _ := accumulate(chunks)
	if finish != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "get_weather" || !json.Valid([]byte(calls[0].Function.Arguments)) {
		t.Errorf("streamed: got finish %q calls %+v", finish, calls)
	}

	// The second turn: the call and its result go back; the fake checks
	// every tool_use is answered by a tool_result in the next user turn.
	argsJSON, _ := json.Marshal(call.Function.Arguments)
	turn := `{"model":"a","messages":[{"role":"user","content":"weather in Paris?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"` + call.ID + `","type":"function","function":{"name":"get_weather","arguments":` + string(argsJSON) + `}}]},
		{"role":"tool","tool_call_id":"` + call.ID + `","content":"18C and sunny"}],` + weatherTool + `}`
	resp, err = c.Chat(t.Context(), "mock-tools", mustRequest(t, turn))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "18C and sunny" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("got %q %q, want the mock to answer the tool result", got, resp.Choices[0].FinishReason)
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	c, up := newClient(t, Config{}, switchboard.Timeouts{})
	img := func(url string) string {
		return `{"model":"a","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"` + url + `","detail":"low"}}]}]}`
	}
	resp, err := c.Chat(t.Context(), "mock-echo", mustRequest(t, img("data:image/png;base64,iVBORw0KGgo=")))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "what is this?" {
		t.Errorf("got %q", got)
	}
	if want := `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}`; !strings.Contains(string(up.LastRequest().Body), want) {
		t.Errorf("upstream got %s, want %s", up.LastRequest().Body, want)
	}
	if _, err := c.Chat(t.Context(), "mock-echo", mustRequest(t, img("https://example.com/cat.jpg"))); err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}`; !strings.Contains(string(up.LastRequest().Body), want) {
		t.Errorf("upstream got %s, want %s", up.LastRequest().Body, want)
	}
	// Anthropic rejects media types it does not take: a 400 the client sees.
	_, err = c.Chat(t.Context(), "mock-echo", mustRequest(t, img("data:image/bmp;base64,Qk0=")))
	var e *switchboard.Error
	if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || !strings.Contains(e.Message, "media_type") {
		t.Errorf("got %v, want invalid_request about the media type", err)
	}
	// URLs that are neither data: nor http(s) fail before any upstream call.
	n := up.Requests()
	_, err = c.Chat(t.Context(), "mock-echo", mustRequest(t, img("file:///etc/passwd")))
	if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || e.Param != "messages[0].content[1].image_url.url" || up.Requests() != n {
		t.Errorf("got %v, want invalid_request naming the part, without an upstream call", err)
	}
}

func TestUpstreamErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		mock       string // the fake's mock options
		hook       string // or a raw error body the fake answers with
		hookStatus int
		wantCode   switchboard.ErrorCode
		wantStatus int
		wantType   string
		wantVendor string
		retryable  bool
		wantRetry  time.Duration
	}{
		{name: "400", mock: `{"status":400}`, wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "400 context length", hookStatus: 400, hook: `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}`,
			wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantType: "invalid_request_error", wantVendor: "context_length_exceeded"},
		{name: "401", mock: `{"status":401}`, wantCode: switchboard.CodeUpstream, wantStatus: 502, wantType: "upstream_error", wantVendor: "upstream_auth_failed", retryable: true},
		{name: "403", mock: `{"status":403}`, wantCode: switchboard.CodeUpstream, wantStatus: 502, wantType: "upstream_error", wantVendor: "upstream_auth_failed", retryable: true},
		{name: "404", mock: `{"status":404}`, wantCode: switchboard.CodeNotFound, wantStatus: 404, wantType: "not_found_error"},
		{name: "413", mock: `{"status":413}`, wantCode: switchboard.CodeTooLarge, wantStatus: 413, wantType: "request_too_large"},
		{name: "429", mock: `{"status":429,"retry_after":3}`, wantCode: switchboard.CodeRateLimited, wantStatus: 429, wantType: "rate_limit_error", retryable: true, wantRetry: 3 * time.Second},
		{name: "500", mock: `{"status":500}`, wantCode: switchboard.CodeUnavailable, wantStatus: 500, wantType: "api_error", retryable: true},
		{name: "529", mock: `{"status":529,"retry_after":2}`, wantCode: switchboard.CodeUnavailable, wantStatus: 503, wantType: "overloaded_error", wantVendor: "overloaded", retryable: true, wantRetry: 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, up := newClient(t, Config{}, switchboard.Timeouts{})
			if tc.hook != "" {
				up.Handle(func(w http.ResponseWriter, r *http.Request) bool {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tc.hookStatus)
					_, _ = io.WriteString(w, tc.hook)
					return true
				})
			}
			body := `{"model":"a","messages":[{"role":"user","content":"x"}]`
			if tc.mock != "" {
				body += `,"mock":` + tc.mock
			}
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					_, err = c.ChatStream(t.Context(), "mock-echo", mustRequest(t, body+`,"stream":true}`))
				} else {
					_, err = c.Chat(t.Context(), "mock-echo", mustRequest(t, body+"}"))
				}
				var e *switchboard.Error
				if !errors.As(err, &e) {
					t.Fatalf("stream %v: got %v, want *switchboard.Error", stream, err)
				}
				if e.Code != tc.wantCode || e.Status != tc.wantStatus || e.Type != tc.wantType || e.VendorCode != tc.wantVendor || e.Message == "" {
					t.Errorf("stream %v: got code %s status %d type %q vendor %q message %q, want %s %d %q %q",
						stream, e.Code, e.Status, e.Type, e.VendorCode, e.Message, tc.wantCode, tc.wantStatus, tc.wantType, tc.wantVendor)
				}
				if got := switchboard.Retryable(err); got != tc.retryable {
					t.Errorf("stream %v: got retryable %v, want %v", stream, got, tc.retryable)
				}
				if e.RetryAfter != tc.wantRetry {
					t.Errorf("stream %v: got retry-after %v, want %v", stream, e.RetryAfter, tc.wantRetry)
				}
			}
		})
	}
}

// sseHook answers every request with the given Anthropic events, then
// stalls until the client leaves when stall is set.
func sseHook(events []string, stall bool) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for _, ev := range events {
			var typed struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal([]byte(ev), &typed)
			_, _ = io.WriteString(w, "event: "+typed.Type+"\ndata: "+ev+"\n\n")
			_ = rc.Flush()
		}
		if stall {
			<-r.Context().Done()
		}
		return true
	}
}

func TestBrokenStream(t *testing.T) {
	t.Parallel()
	start := `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}`
	block := `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	delta := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`
	tests := []struct {
		name     string
		mock     string
		hook     func(http.ResponseWriter, *http.Request) bool
		to       switchboard.Timeouts
		wantMin  int // chunks received before the error, at least
		wantCode switchboard.ErrorCode
		wantType string
	}{
		{name: "connection cut", mock: `{"fail_after":3}`, wantMin: 1, wantCode: switchboard.CodeUpstream},
		{name: "malformed event", mock: `{"malformed":true}`, wantMin: 1, wantCode: switchboard.CodeUpstream},
		{name: "stalled", mock: `{"stall_after":3}`, to: switchboard.Timeouts{Idle: 100 * time.Millisecond}, wantMin: 1, wantCode: switchboard.CodeTimeout},
		{name: "truncated", hook: sseHook([]string{start, block, delta}, false), wantMin: 2, wantCode: switchboard.CodeUpstream},
		{name: "overloaded mid-stream", hook: sseHook([]string{start, block, delta, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`}, false),
			wantMin: 2, wantCode: switchboard.CodeUnavailable, wantType: "overloaded_error"},
		{name: "not an event", hook: sseHook([]string{start, `[1,2]`}, false), wantMin: 1, wantCode: switchboard.CodeUpstream},
		{name: "pings do not keep a dead stream alive", hook: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: message_start\ndata: "+start+"\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return true
		}, to: switchboard.Timeouts{Idle: 100 * time.Millisecond}, wantMin: 1, wantCode: switchboard.CodeTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, up := newClient(t, Config{}, tc.to)
			if tc.hook != nil {
				up.Handle(tc.hook)
			}
			body := `{"model":"a","stream":true,"messages":[{"role":"user","content":"a b c d e f"}]`
			if tc.mock != "" {
				body += `,"mock":` + tc.mock
			}
			s, err := c.ChatStream(t.Context(), "mock-echo", mustRequest(t, body+"}"))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			chunks, err := drain(t, s)
			var e *switchboard.Error
			if !errors.As(err, &e) || e.Code != tc.wantCode || (tc.wantType != "" && e.Type != tc.wantType) {
				t.Fatalf("got %v, want code %s type %q", err, tc.wantCode, tc.wantType)
			}
			if len(chunks) < tc.wantMin {
				t.Errorf("got %d chunks before the error, want at least %d", len(chunks), tc.wantMin)
			}
			if _, again := s.Recv(); again != err {
				t.Errorf("got %v on the next Recv, want the same error", again)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestMalformedBody(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"id":`, `not json`, `[]`, `{}`, `{"type":"message","content":"text"}`, `null`} {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			c, up := newClient(t, Config{}, switchboard.Timeouts{})
			up.Handle(func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, body)
				return true
			})
			_, err := c.Chat(t.Context(), "mock-echo", mustRequest(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`))
			var e *switchboard.Error
			if !errors.As(err, &e) || e.Code != switchboard.CodeUpstream || e.Message != "upstream returned a malformed response" {
				t.Errorf("got %v, want upstream_error (502)", err)
			}
		})
	}
	// The fake's own malformed option: a body cut in half.
	c, _ := newClient(t, Config{}, switchboard.Timeouts{})
	_, err := c.Chat(t.Context(), "mock-echo", mustRequest(t, `{"model":"a","messages":[{"role":"user","content":"x"}],"mock":{"malformed":true}}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Errorf("got %v, want upstream_error", err)
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	c, up := newClient(t, Config{}, switchboard.Timeouts{})
	models, err := c.Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 3 || models[0].ID != "mock-echo" || models[0].OwnedBy != "anthropic" || models[0].Created != 1700000000 || models[0].Object != "model" {
		t.Errorf("got %+v", models)
	}
	if rec := up.LastRequest(); rec.Path != "/v1/models" || rec.Header.Get("Anthropic-Version") == "" {
		t.Errorf("upstream got %s %v", rec.Path, rec.Header)
	}
	// Pages are followed with after_id.
	page := 0
	up.Handle(func(w http.ResponseWriter, r *http.Request) bool {
		page++
		if page == 1 {
			_, _ = io.WriteString(w, `{"data":[{"type":"model","id":"a","display_name":"A","created_at":"2025-01-01T00:00:00Z"}],"has_more":true,"first_id":"a","last_id":"a"}`)
		} else if r.URL.Query().Get("after_id") == "a" {
			_, _ = io.WriteString(w, `{"data":[{"type":"model","id":"b","display_name":"B","created_at":"2025-01-02T00:00:00Z"}],"has_more":false,"first_id":"b","last_id":"b"}`)
		}
		return true
	})
	models, err = c.Models(t.Context())
	if err != nil || len(models) != 2 || models[1].ID != "b" || models[1].Created != 1735776000 {
		t.Errorf("got %+v, %v", models, err)
	}
}

func TestCountTokens(t *testing.T) {
	t.Parallel()
	c, up := newClient(t, Config{}, switchboard.Timeouts{})
	n, err := c.CountTokens(t.Context(), "mock-echo", mustRequest(t,
		`{"model":"a","max_tokens":10,"temperature":0.3,"messages":[{"role":"system","content":"12345678"},{"role":"user","content":"1234"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// The fake counts ceil(bytes/4)+3 per message, plus 3.
	if n != 12 {
		t.Errorf("got %d input tokens, want 12", n)
	}
	rec := up.LastRequest()
	if want := `{"model":"mock-echo","system":"12345678","messages":[{"role":"user","content":"1234"}]}`; rec.Path != "/v1/messages/count_tokens" || string(rec.Body) != want {
		t.Errorf("upstream got %s %s, want %s", rec.Path, rec.Body, want)
	}
	if _, err := c.CountTokens(t.Context(), "mock-echo", mustRequest(t, `{"model":"a","messages":[{"role":"user","content":"x"}],"mock":{"status":429}}`)); switchboard.ErrorCodeOf(err) != switchboard.CodeRateLimited {
		t.Errorf("got %v, want rate_limited", err)
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t, Config{}, switchboard.Timeouts{FirstByte: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.Chat(t.Context(), "mock-echo", mustRequest(t, `{"model":"a","messages":[{"role":"user","content":"x"}],"mock":{"latency":"3s"}}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeTimeout {
		t.Fatalf("got %v, want timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v, want about 100ms", d)
	}
	u, _ := New(Config{BaseURL: "http://127.0.0.1:1"}, switchboard.Deps{Timeouts: switchboard.Timeouts{Connect: time.Second}})
	if _, err := u.Chat(t.Context(), "m", mustRequest(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`)); switchboard.ErrorCodeOf(err) != switchboard.CodeUnavailable || !switchboard.Retryable(err) {
		t.Errorf("unreachable: got %v, want retryable unavailable", err)
	}
}

func TestTranslationErrorsAreInvalidRequests(t *testing.T) {
	t.Parallel()
	c, up := newClient(t, Config{}, switchboard.Timeouts{})
	_, err := c.Chat(t.Context(), "m", mustRequest(t, `{"model":"a","n":2,"messages":[{"role":"user","content":"x"}]}`))
	if e := (*switchboard.Error)(nil); !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || e.Param != "n" {
		t.Errorf("got %v, want invalid_request naming n", err)
	}
	if _, err := c.ChatStream(t.Context(), "m", mustRequest(t, `{"model":"a","n":3,"stream":true,"messages":[{"role":"user","content":"x"}]}`)); switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("stream: got %v, want invalid_request", err)
	}
	if up.Requests() != 0 {
		t.Errorf("got %d upstream requests, want none", up.Requests())
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	c, err := New(Config{}, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.BaseURL != DefaultBaseURL || c.cfg.Version != DefaultVersion || c.cfg.MaxTokens != DefaultMaxTokens || c.base != DefaultBaseURL+"/v1" {
		t.Errorf("got %+v %s, want the defaults", c.cfg, c.base)
	}
	bad := []struct {
		cfg  Config
		want string
	}{
		{Config{BaseURL: "ftp://x"}, "base_url"},
		{Config{BaseURL: "/relative"}, "base_url"},
		{Config{BaseURL: "https://api.anthropic.com/v1"}, "base_url: must not end in /v1"},
		{Config{MaxTokens: -1}, "max_tokens"},
		{Config{Beta: []string{"a,b"}}, "beta[0]"},
		{Config{Beta: []string{""}}, "beta[0]"},
		{Config{MaxConns: -1}, "max_conns"},
		{Config{Version: " "}, "anthropic_version"},
	}
	for _, tc := range bad {
		if _, err := New(tc.cfg, switchboard.Deps{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
	// The registered factory decodes its block strictly through the Decoder.
	dec := func(v any) error {
		d := json.NewDecoder(strings.NewReader(`{"api_key":"k","anthropic_version":"2023-01-01","max_tokens":10,"beta":["b1"],"headers":{"X-Extra":"1"}}`))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	p, err := switchboard.Providers.New(t.Context(), "anthropic", dec, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	cl := p.(*Client)
	if cl.header.Get("X-Api-Key") != "k" || cl.header.Get("Anthropic-Version") != "2023-01-01" || cl.header.Get("Anthropic-Beta") != "b1" ||
		cl.header.Get("X-Extra") != "1" || cl.cfg.MaxTokens != 10 {
		t.Errorf("got %v %+v", cl.header, cl.cfg)
	}
	if _, ok := p.(switchboard.Embedder); ok {
		t.Error("the anthropic provider must not claim to serve embeddings")
	}
}
