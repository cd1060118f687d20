package huggingface

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

const token = "hf_test"

// mustClient returns a client for the fake: cfg with the fake's URL (plus
// suffix, to check both forms of base_url) and the test token.
func mustClient(tb testing.TB, f *sbtest.FakeUpstream, suffix string, cfg Config, to switchboard.Timeouts) *Client {
	tb.Helper()
	cfg.BaseURL, cfg.APIKey = f.URL+suffix, token
	c, err := New(cfg, switchboard.Deps{Timeouts: to})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func newFake(tb testing.TB) *sbtest.FakeUpstream {
	return sbtest.NewFakeUpstream(tb, fakeupstream.Options{RequireKey: token})
}

func mustChatRequest(tb testing.TB, body string) *switchboard.ChatRequest {
	tb.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// collect reads a stream until io.EOF (nil error) or another error.
func collect(s switchboard.ChatStream) ([]*switchboard.Chunk, error) {
	defer s.Close()
	var out []*switchboard.Chunk
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
}

// text joins the content deltas of chunks.
func text(tb testing.TB, chunks []*switchboard.Chunk) string {
	tb.Helper()
	var b strings.Builder
	for _, ch := range chunks {
		for _, c := range ch.Choices {
			if len(c.Delta.Content) > 0 && string(c.Delta.Content) != "null" {
				var s string
				if err := json.Unmarshal(c.Delta.Content, &s); err != nil {
					tb.Fatalf("delta content %s: %v", c.Delta.Content, err)
				}
				b.WriteString(s)
			}
		}
	}
	return b.String()
}

// lastBody decodes the body of the fake's last request.
func lastBody(tb testing.TB, f *sbtest.FakeUpstream) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(f.LastRequest().Body, &m); err != nil {
		tb.Fatalf("request body %s: %v", f.LastRequest().Body, err)
	}
	return m
}

// modes are the two chat APIs, with the base_url form each test uses.
var modes = []struct {
	api, suffix, path string
}{
	{APIMessages, "", "/v1/chat/completions"},
	{APITGI, "/v1/", "/generate"},
}

func TestChat(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.api, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			c := mustClient(t, f, m.suffix, Config{API: m.api}, switchboard.Timeouts{})
			resp, err := c.Chat(t.Context(), "mock-echo", mustChatRequest(t,
				`{"model":"hf","temperature":0.5,"max_tokens":50,"messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hello there"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Text(); got != "hello there" {
				t.Errorf("got reply %q, want hello there", got)
			}
			if resp.Choices[0].FinishReason != "stop" || resp.Model != "mock-echo" || !strings.HasPrefix(resp.ID, "chatcmpl-") {
				t.Errorf("got finish %q model %q id %q", resp.Choices[0].FinishReason, resp.Model, resp.ID)
			}
			if u := resp.Usage; u == nil || u.PromptTokens == 0 || u.CompletionTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Errorf("got usage %+v", u)
			}
			rec := f.LastRequest()
			if rec.Path != m.path || rec.Header.Get("Authorization") != "Bearer "+token {
				t.Errorf("got %s with auth %q, want %s with the token", rec.Path, rec.Header.Get("Authorization"), m.path)
			}
			if m.api == APITGI {
				params := lastBody(t, f)["parameters"].(map[string]any)
				want := map[string]any{"max_new_tokens": 50.0, "temperature": 0.5, "details": true, "do_sample": true, "return_full_text": false}
				if diff := cmp.Diff(want, params); diff != "" {
					t.Errorf("parameters (-want +got):\n%s", diff)
				}
				// 2 words and the end-of-sequence token.
				if resp.Usage.CompletionTokens != 3 {
					t.Errorf("got %d completion tokens, want generated_tokens 3", resp.Usage.CompletionTokens)
				}
			}
		})
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.api, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			c := mustClient(t, f, m.suffix, Config{API: m.api}, switchboard.Timeouts{Idle: 5 * time.Second})
			s, err := c.ChatStream(t.Context(), "mock-echo", mustChatRequest(t,
				`{"model":"hf","stream":true,"messages":[{"role":"user","content":"one two three four"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := collect(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := text(t, chunks); got != "one two three four" {
				t.Errorf("got text %q", got)
			}
			var finish string
			var usage *switchboard.Usage
			for _, ch := range chunks {
				for _, cc := range ch.Choices {
					if cc.FinishReason != nil {
						finish = *cc.FinishReason
					}
				}
				if ch.Usage != nil {
					usage = ch.Usage
				}
			}
			if finish != "stop" || usage == nil || usage.PromptTokens == 0 || usage.CompletionTokens == 0 {
				t.Errorf("got finish %q usage %+v, want stop and usage", finish, usage)
			}
			if m.api == APITGI {
				if p := f.LastRequest().Path; p != "/generate_stream" {
					t.Errorf("got path %s, want /generate_stream", p)
				}
				// role, 4 words, finish, usage: the end-of-sequence token adds no text.
				if len(chunks) != 7 || usage.CompletionTokens != 5 {
					t.Errorf("got %d chunks and %d completion tokens, want 7 and 5", len(chunks), usage.CompletionTokens)
				}
			}
		})
	}
}

const weatherTool = `{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}`

// TestTools: the messages API passes tools through; TGI's native API
// cannot take them, which is a clear invalid_request error.
func TestTools(t *testing.T) {
	t.Parallel()
	body := `{"model":"hf","tools":[` + weatherTool + `],"messages":[{"role":"user","content":"weather?"}]}`
	t.Run("messages", func(t *testing.T) {
		t.Parallel()
		c := mustClient(t, newFake(t), "", Config{}, switchboard.Timeouts{})
		resp, err := c.Chat(t.Context(), "mock-tools", mustChatRequest(t, body))
		if err != nil {
			t.Fatal(err)
		}
		tc := resp.Choices[0].Message.ToolCalls
		if len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"test"}` || resp.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("got %+v, want a get_weather call", resp.Choices[0])
		}
	})
	t.Run("tgi", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		c := mustClient(t, f, "", Config{API: APITGI}, switchboard.Timeouts{})
		_, chatErr := c.Chat(t.Context(), "m", mustChatRequest(t, body))
		_, streamErr := c.ChatStream(t.Context(), "m", mustChatRequest(t, body))
		for _, err := range []error{chatErr, streamErr} {
			var e *switchboard.Error
			if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || e.Param != "tools" || !strings.Contains(e.Message, "use api: messages") {
				t.Errorf("got %v, want invalid_request on tools pointing to api: messages", err)
			}
		}
		if f.Requests() != 0 {
			t.Error("a request was sent upstream")
		}
	})
}

// TestImages: the messages API passes images through; TGI's native API
// cannot take them, which is a clear invalid_request error.
func TestImages(t *testing.T) {
	t.Parallel()
	body := `{"model":"hf","messages":[{"role":"user","content":[{"type":"text","text":"what is it"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`
	t.Run("messages", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		c := mustClient(t, f, "", Config{}, switchboard.Timeouts{})
		resp, err := c.Chat(t.Context(), "mock-echo", mustChatRequest(t, body))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Text(); got != "what is it" {
			t.Errorf("got %q", got)
		}
		if !strings.Contains(string(f.LastRequest().Body), `"image_url":{"url":"https://example.com/cat.png"}`) {
			t.Errorf("the image was not passed through: %s", f.LastRequest().Body)
		}
	})
	t.Run("tgi", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		c := mustClient(t, f, "", Config{API: APITGI}, switchboard.Timeouts{})
		_, err := c.Chat(t.Context(), "m", mustChatRequest(t, body))
		var e *switchboard.Error
		if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || e.Param != "messages[0].content[1]" || !strings.Contains(e.Message, "does not support images") {
			t.Errorf("got %v, want invalid_request: does not support images", err)
		}
		if f.Requests() != 0 {
			t.Error("a request was sent upstream")
		}
	})
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ api, path string }{{EmbeddingsOpenAI, "/v1/embeddings"}, {EmbeddingsTEI, "/embed"}} {
		t.Run(tc.api, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			c := mustClient(t, f, "", Config{EmbeddingsAPI: tc.api}, switchboard.Timeouts{})
			req, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":["the sky is blue","grass"],"dimensions":8}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Embed(t.Context(), "bge-small", req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != 2 || len(resp.Data[0].Embedding) != 8 || resp.Data[1].Index != 1 || resp.Model != "bge-small" {
				t.Fatalf("got %+v, want two 8-dimension vectors", resp)
			}
			if resp.Usage == nil || resp.Usage.PromptTokens != 6 {
				t.Errorf("got usage %+v, want 6 prompt tokens", resp.Usage)
			}
			if p := f.LastRequest().Path; p != tc.path {
				t.Errorf("got path %s, want %s", p, tc.path)
			}
		})
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		api  string
		want []string
	}{{APIMessages, []string{"mock-echo", "mock-lorem", "mock-tools"}}, {APITGI, []string{fakeupstream.TGIModel}}} {
		t.Run(tc.api, func(t *testing.T) {
			t.Parallel()
			c := mustClient(t, newFake(t), "", Config{API: tc.api}, switchboard.Timeouts{})
			ms, err := c.Models(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("models (-want +got):\n%s", diff)
			}
		})
	}
}

// TestErrorMapping scripts the fake's native routes with x-mock-status
// (a header, through the config) and checks the code, status and retry
// hint of Chat, ChatStream and Embed errors.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter string
		wantCode   switchboard.ErrorCode
		wantStatus int
		wantVendor string
		wantMsg    string
		wantRetry  time.Duration
	}{
		{400, "", switchboard.CodeInvalidRequest, 400, "validation", "Input validation error", 0},
		{401, "", switchboard.CodeUpstream, 502, "upstream_auth_failed", "rejected the gateway's token (401): Invalid credentials", 0},
		{403, "", switchboard.CodeUpstream, 502, "upstream_auth_failed", "token (403)", 0},
		{404, "", switchboard.CodeNotFound, 404, "", "does not exist", 0},
		{422, "", switchboard.CodeInvalidRequest, 422, "validation", "Input validation error", 0},
		{424, "", switchboard.CodeUnavailable, 424, "generation", "Request failed during generation", 0},
		{429, "4", switchboard.CodeRateLimited, 429, "overloaded", "Model is overloaded", 4 * time.Second},
		{500, "", switchboard.CodeUnavailable, 500, "incomplete_generation", "Incomplete generation", 0},
		{503, "", switchboard.CodeUnavailable, 503, "model_loading", "is currently loading", 20 * time.Second},
		{503, "5", switchboard.CodeUnavailable, 503, "model_loading", "is currently loading", 5 * time.Second},
	}
	calls := map[string]func(*Client, context.Context) error{
		"chat": func(c *Client, ctx context.Context) error {
			_, err := c.Chat(ctx, "m", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
			return err
		},
		"stream": func(c *Client, ctx context.Context) error {
			_, err := c.ChatStream(ctx, "m", mustChatRequest(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
			return err
		},
		"embed": func(c *Client, ctx context.Context) error {
			req, _ := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x"}`))
			_, err := c.Embed(ctx, "e", req)
			return err
		},
	}
	for _, tc := range tests {
		for name, call := range calls {
			t.Run(fmt.Sprintf("%d/%s/retry=%s", tc.status, name, tc.retryAfter), func(t *testing.T) {
				t.Parallel()
				h := map[string]string{"X-Mock-Status": fmt.Sprint(tc.status)}
				if tc.retryAfter != "" {
					h["X-Mock-Retry-After"] = tc.retryAfter
				}
				c := mustClient(t, newFake(t), "", Config{API: APITGI, EmbeddingsAPI: EmbeddingsTEI, Headers: h}, switchboard.Timeouts{})
				err := call(c, t.Context())
				var e *switchboard.Error
				if !errors.As(err, &e) {
					t.Fatalf("got %v, want *switchboard.Error", err)
				}
				if e.Code != tc.wantCode || e.Status != tc.wantStatus || e.VendorCode != tc.wantVendor || !strings.Contains(e.Message, tc.wantMsg) || e.RetryAfter != tc.wantRetry {
					t.Errorf("got code %s status %d vendor code %q message %q retry-after %v, want %s %d %q containing %q, %v",
						e.Code, e.Status, e.VendorCode, e.Message, e.RetryAfter, tc.wantCode, tc.wantStatus, tc.wantVendor, tc.wantMsg, tc.wantRetry)
				}
			})
		}
	}
	t.Run("plain text", func(t *testing.T) {
		t.Parallel()
		// axum's own rejections are plain text.
		e := upstreamError(422, http.Header{}, []byte("Failed to deserialize the JSON body into the target type: missing field `inputs`"))
		if e.Code != switchboard.CodeInvalidRequest || !strings.HasPrefix(e.Message, "Failed to deserialize") {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("array message", func(t *testing.T) {
		t.Parallel()
		e := upstreamError(400, http.Header{}, []byte(`{"error":["Input should be a valid string","too long"]}`))
		if e.Code != switchboard.CodeInvalidRequest || e.Message != "Input should be a valid string; too long" {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("messages api", func(t *testing.T) {
		t.Parallel()
		c := mustClient(t, newFake(t), "", Config{Headers: map[string]string{"X-Mock-Status": "503", "X-Mock-Retry-After": "2"}}, switchboard.Timeouts{})
		_, err := c.Chat(t.Context(), "m", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
		var e *switchboard.Error
		if !errors.As(err, &e) || e.Code != switchboard.CodeUnavailable || e.RetryAfter != 2*time.Second || !switchboard.Retryable(err) {
			t.Errorf("got %v, want retryable unavailable with retry-after 2s", err)
		}
	})
}

// TestBrokenStream covers TGI streams that end badly: cut, malformed,
// stalled (idle timeout), an in-band error, and the client going away.
func TestBrokenStream(t *testing.T) {
	t.Parallel()
	inBand := func(typ string) func(http.ResponseWriter, *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, `data:{"index":1,"token":{"id":1,"text":"Hi","logprob":-0.1,"special":false},"generated_text":null,"details":null}`+"\n\n")
			io.WriteString(w, `data:{"error":"Model is overloaded","error_type":"`+typ+`"}`+"\n\n")
			return true
		}
	}
	tests := []struct {
		name     string
		headers  map[string]string
		hook     func(http.ResponseWriter, *http.Request) bool
		idle     time.Duration
		wantN    int
		wantCode switchboard.ErrorCode
	}{
		{"cut", map[string]string{"X-Mock-Fail-After": "2"}, nil, 0, 3, switchboard.CodeUpstream},
		{"malformed", map[string]string{"X-Mock-Malformed": "true"}, nil, 0, 2, switchboard.CodeUpstream},
		{"stalled", map[string]string{"X-Mock-Stall-After": "1"}, nil, 100 * time.Millisecond, 2, switchboard.CodeTimeout},
		{"overloaded", nil, inBand("overloaded"), 0, 2, switchboard.CodeRateLimited},
		{"generation", nil, inBand("generation"), 0, 2, switchboard.CodeUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.Handle(tc.hook)
			c := mustClient(t, f, "", Config{API: APITGI, Headers: tc.headers}, switchboard.Timeouts{Idle: tc.idle})
			s, err := c.ChatStream(t.Context(), "m", mustChatRequest(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c d"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := collect(s)
			if switchboard.ErrorCodeOf(err) != tc.wantCode {
				t.Fatalf("got %v, want code %s", err, tc.wantCode)
			}
			if len(chunks) != tc.wantN {
				t.Errorf("got %d chunks before the error, want %d", len(chunks), tc.wantN)
			}
		})
	}
	t.Run("client leaves", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		c := mustClient(t, f, "", Config{API: APITGI, Headers: map[string]string{"X-Mock-Stall-After": "1"}}, switchboard.Timeouts{})
		ctx, cancel := context.WithCancel(t.Context())
		s, err := c.ChatStream(ctx, "m", mustChatRequest(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := collect(s); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer wcancel()
		if err := f.WaitDisconnect(wctx); err != nil {
			t.Errorf("the upstream did not see the client leave: %v", err)
		}
	})
}

func TestMalformedBody(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	c := mustClient(t, f, "", Config{API: APITGI, EmbeddingsAPI: EmbeddingsTEI, Headers: map[string]string{"X-Mock-Malformed": "true"}}, switchboard.Timeouts{})
	_, err := c.Chat(t.Context(), "m", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Fatalf("chat: got %v, want upstream_error (502)", err)
	}
	req, _ := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x"}`))
	if _, err := c.Embed(t.Context(), "e", req); switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Errorf("embed: got %v, want upstream_error", err)
	}
	if _, err := c.Models(t.Context()); switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Errorf("models: got %v, want upstream_error", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, api := range []string{APIMessages, APITGI} {
		c, err := New(Config{BaseURL: "http://" + addr, API: api}, switchboard.Deps{Timeouts: switchboard.Timeouts{Connect: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Chat(t.Context(), "m", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
		if switchboard.ErrorCodeOf(err) != switchboard.CodeUnavailable || !switchboard.Retryable(err) {
			t.Errorf("%s: got %v, want retryable unavailable", api, err)
		}
	}
}

// TestChatTemplate renders a custom (Llama 3) template and checks the prompt TGI receives.
func TestChatTemplate(t *testing.T) {
	t.Parallel()
	const llama3 = `<|begin_of_text|>{{range .Messages}}<|start_header_id|>{{.Role}}<|end_header_id|>

{{.Content}}<|eot_id|>{{end}}<|start_header_id|>assistant<|end_header_id|>

`
	f := newFake(t)
	c := mustClient(t, f, "", Config{API: APITGI, ChatTemplate: llama3}, switchboard.Timeouts{})
	if _, err := c.Chat(t.Context(), "m", mustChatRequest(t, `{"model":"m","messages":[{"role":"developer","content":"S"},{"role":"user","content":"U"}]}`)); err != nil {
		t.Fatal(err)
	}
	want := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	if got := lastBody(t, f)["inputs"]; got != want {
		t.Errorf("got prompt %q, want %q", got, want)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      Config
		want     string // "" = valid
		wantRoot string
	}{
		{"default router", Config{}, "", "https://router.huggingface.co"},
		{"endpoint", Config{BaseURL: "https://x.endpoints.huggingface.cloud", API: APITGI, EmbeddingsAPI: EmbeddingsTEI}, "", "https://x.endpoints.huggingface.cloud"},
		{"endpoint /v1/", Config{BaseURL: "http://tgi:8080/v1/"}, "", "http://tgi:8080"},
		{"bad base_url", Config{BaseURL: "tgi:8080"}, "base_url: must be an absolute http(s) URL", ""},
		{"unknown api", Config{API: "completions"}, `api: must be "messages" or "tgi", got "completions"`, ""},
		{"unknown embeddings_api", Config{EmbeddingsAPI: "sentence-transformers"}, `embeddings_api: must be "openai" or "tei"`, ""},
		{"tgi needs base_url", Config{API: APITGI}, "base_url: required with api: tgi", ""},
		{"tei needs base_url", Config{EmbeddingsAPI: EmbeddingsTEI}, "base_url: required with embeddings_api: tei", ""},
		{"template syntax", Config{BaseURL: "http://tgi", API: APITGI, ChatTemplate: "{{range .Messages}"}, "chat_template: template: chat_template:1:", ""},
		{"template field", Config{BaseURL: "http://tgi", API: APITGI, ChatTemplate: "{{range .Turns}}{{end}}"}, "chat_template: fails on a sample conversation", ""},
		{"template without tgi", Config{ChatTemplate: "{{.Messages}}"}, "chat_template: only used with api: tgi", ""},
		{"max_conns", Config{MaxConns: -1}, "max_conns: must not be negative", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tc.cfg, switchboard.Deps{})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			case tc.want == "" && c.root != tc.wantRoot:
				t.Errorf("got root %q, want %q", c.root, tc.wantRoot)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	dec := func(v any) error {
		*v.(*Config) = Config{BaseURL: "http://tgi:8080", API: APITGI}
		return nil
	}
	p, err := switchboard.Providers.New(t.Context(), "huggingface", dec, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := p.(*Client); !ok || c.api != APITGI || c.root != "http://tgi:8080" {
		t.Errorf("got %T %+v, want *huggingface.Client for the decoded config", p, p)
	}
	bad := func(v any) error { v.(*Config).API = "x"; return nil }
	if _, err := switchboard.Providers.New(t.Context(), "huggingface", bad, switchboard.Deps{}); err == nil || !strings.Contains(err.Error(), "api:") {
		t.Errorf("got %v, want an api error", err)
	}
}
