package ollama

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

// mustClient returns a client for the fake with cfg (its BaseURL set to
// the fake's) and the timeouts.
func mustClient(tb testing.TB, f *sbtest.FakeUpstream, cfg Config, to switchboard.Timeouts) *Client {
	tb.Helper()
	cfg.BaseURL = f.URL
	c, err := New(cfg, switchboard.Deps{Timeouts: to})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func mustChatRequest(tb testing.TB, body string) *switchboard.ChatRequest {
	tb.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// mustCollect reads a stream to its end, failing on an error.
func mustCollect(tb testing.TB, s switchboard.ChatStream) []*switchboard.Chunk {
	tb.Helper()
	chunks, err := collect(s)
	if err != nil {
		tb.Fatalf("stream failed after %d chunks: %v", len(chunks), err)
	}
	return chunks
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
			if len(c.Delta.Content) > 0 {
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

func TestChat(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{KeepAlive: "30m", Options: map[string]any{"num_ctx": 4096, "temperature": 0.9}}, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "mock-echo:latest", mustChatRequest(t,
		`{"model":"local","temperature":0.2,"messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hello there"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "hello there" {
		t.Errorf("got reply %q, want hello there", got)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Model != "mock-echo:latest" || !strings.HasPrefix(resp.ID, "chatcmpl-") {
		t.Errorf("got finish %q model %q id %q", resp.Choices[0].FinishReason, resp.Model, resp.ID)
	}
	if u := resp.Usage; u == nil || u.PromptTokens == 0 || u.CompletionTokens != 2 || u.TotalTokens != u.PromptTokens+2 {
		t.Errorf("got usage %+v, want prompt > 0 and 2 completion tokens", u)
	}
	rec := f.LastRequest()
	if rec.Path != "/api/chat" {
		t.Errorf("got path %s, want /api/chat", rec.Path)
	}
	body := lastBody(t, f)
	want := map[string]any{"num_ctx": 4096.0, "temperature": 0.2}
	if diff := cmp.Diff(want, body["options"]); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if body["stream"] != false || body["keep_alive"] != "30m" || body["model"] != "mock-echo:latest" {
		t.Errorf("got stream %v keep_alive %v model %v", body["stream"], body["keep_alive"], body["model"])
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{}, switchboard.Timeouts{Idle: 5 * time.Second})
	s, err := c.ChatStream(t.Context(), "mock-lorem", mustChatRequest(t,
		`{"model":"m","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks := mustCollect(t, s)
	if got := f.LastRequest().Header.Get("Accept"); got != "application/x-ndjson" {
		t.Errorf("got Accept %q, want application/x-ndjson", got)
	}
	if got, want := text(t, chunks), "Lorem ipsum dolor sit amet"; got != want {
		t.Errorf("got text %q, want %q", got, want)
	}
	// role, 5 pieces, finish, usage
	if len(chunks) != 8 {
		t.Fatalf("got %d chunks, want 8", len(chunks))
	}
	if d := chunks[0].Choices[0].Delta; d.Role != "assistant" {
		t.Errorf("got first delta %+v, want the role", d)
	}
	fin := chunks[6].Choices[0].FinishReason
	if fin == nil || *fin != "length" {
		t.Errorf("got finish %v, want length", fin)
	}
	last := chunks[7]
	if last.Choices == nil || len(last.Choices) != 0 || last.Usage == nil || last.Usage.CompletionTokens != 5 {
		t.Errorf("got last chunk %+v, want usage with no choices", last)
	}
	b, _ := json.Marshal(last)
	if !strings.Contains(string(b), `"choices":[]`) {
		t.Errorf("usage chunk encodes as %s, want \"choices\":[]", b)
	}
	for _, ch := range chunks {
		if ch.ID != chunks[0].ID || ch.Object != "chat.completion.chunk" {
			t.Errorf("got chunk id %q object %q, want %q chat.completion.chunk", ch.ID, ch.Object, chunks[0].ID)
		}
	}
}

const weatherTool = `{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}`

func TestTools(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{}, switchboard.Timeouts{})
	ask := `{"model":"m","tools":[` + weatherTool + `],"messages":[{"role":"user","content":"weather?"}]}`

	t.Run("call", func(t *testing.T) {
		resp, err := c.Chat(t.Context(), "mock-tools", mustChatRequest(t, ask))
		if err != nil {
			t.Fatal(err)
		}
		ch := resp.Choices[0]
		if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
			t.Fatalf("got %+v, want one tool call", ch)
		}
		tc := ch.Message.ToolCalls[0]
		if tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"test","days":1}` || !strings.HasPrefix(tc.ID, "call_") || tc.Type != "function" {
			t.Errorf("got tool call %+v", tc)
		}
	})
	t.Run("stream", func(t *testing.T) {
		s, err := c.ChatStream(t.Context(), "mock-tools", mustChatRequest(t, strings.Replace(ask, `"model":"m"`, `"model":"m","stream":true`, 1)))
		if err != nil {
			t.Fatal(err)
		}
		chunks := mustCollect(t, s)
		var calls []switchboard.ToolCall
		var finish string
		for _, ch := range chunks {
			for _, cc := range ch.Choices {
				calls = append(calls, cc.Delta.ToolCalls...)
				if cc.FinishReason != nil {
					finish = *cc.FinishReason
				}
			}
		}
		if len(calls) != 1 || calls[0].Index == nil || *calls[0].Index != 0 || calls[0].Function.Arguments != `{"city":"test","days":1}` || finish != "tool_calls" {
			t.Errorf("got calls %+v finish %q, want one call at index 0 and finish tool_calls", calls, finish)
		}
	})
	t.Run("result", func(t *testing.T) {
		resp, err := c.Chat(t.Context(), "mock-tools", mustChatRequest(t, `{"model":"m","tools":[`+weatherTool+`],"messages":[
			{"role":"user","content":"weather?"},
			{"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
			{"role":"tool","tool_call_id":"call_9","content":"-3C and snow"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Text(); got != "-3C and snow" {
			t.Errorf("got %q, want the tool result echoed", got)
		}
		msgs := lastBody(t, f)["messages"].([]any)
		call := msgs[1].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)["function"].(map[string]any)
		if diff := cmp.Diff(map[string]any{"city": "Oslo"}, call["arguments"]); diff != "" {
			t.Errorf("arguments sent (-want +got):\n%s", diff)
		}
		if got := msgs[2].(map[string]any); got["role"] != "tool" || got["tool_name"] != "get_weather" {
			t.Errorf("got tool message %v, want role tool with tool_name get_weather", got)
		}
	})
}

func TestImages(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{}, switchboard.Timeouts{})
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	resp, err := c.Chat(t.Context(), "llava", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":[
		{"type":"text","text":"what is it"},{"type":"image_url","image_url":{"url":"data:image/png;base64,`+png+`"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "what is it" {
		t.Errorf("got %q", got)
	}
	msg := lastBody(t, f)["messages"].([]any)[0].(map[string]any)
	if diff := cmp.Diff([]any{png}, msg["images"]); diff != "" {
		t.Errorf("images sent (-want +got):\n%s", diff)
	}

	// A link cannot be sent: a clear error, and no request upstream.
	before := f.Requests()
	_, err = c.Chat(t.Context(), "llava", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":[
		{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`))
	var e *switchboard.Error
	if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || !strings.Contains(e.Message, "ollama needs inline images") || e.Param != "messages[0].content[0].image_url.url" {
		t.Errorf("got %v, want invalid_request: ollama needs inline images", err)
	}
	if f.Requests() != before {
		t.Error("a request was sent upstream")
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{}, switchboard.Timeouts{})
	req, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":["the sky is blue","grass"],"dimensions":8}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Embed(t.Context(), "nomic-embed-text", req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || len(resp.Data[0].Embedding) != 8 || resp.Data[1].Index != 1 || resp.Model != "nomic-embed-text" {
		t.Fatalf("got %+v, want two 8-dimension vectors", resp)
	}
	if resp.Usage == nil || resp.Usage.PromptTokens != 6 {
		t.Errorf("got usage %+v, want 6 prompt tokens", resp.Usage)
	}
	if p := f.LastRequest().Path; p != "/api/embed" {
		t.Errorf("got path %s", p)
	}
	ids, _ := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":[1,2,3]}`))
	if _, err := c.Embed(t.Context(), "e", ids); switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("token ids: got %v, want invalid_request", err)
	}
}

func TestModelsAndPing(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{}, switchboard.Timeouts{})
	ms, err := c.Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.OwnedBy != "ollama" || m.Created == 0 {
			t.Errorf("got model %+v", m)
		}
	}
	if diff := cmp.Diff([]string{"mock-echo:latest", "mock-lorem:latest", "mock-tools:latest"}, ids); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Errorf("ping: %v", err)
	}
	if p := f.LastRequest().Path; p != "/api/version" {
		t.Errorf("ping went to %s, want /api/version", p)
	}
}

// TestErrorMapping scripts the fake with x-mock-status (a header, through
// the config) and checks the code, status and message of Chat and
// ChatStream errors.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter string
		wantCode   switchboard.ErrorCode
		wantStatus int
		wantVendor string
		wantMsg    string
		retryable  bool
	}{
		{400, "", switchboard.CodeInvalidRequest, 400, "", "mock upstream answered 400", false},
		{401, "", switchboard.CodeUpstream, 502, "upstream_auth_failed", "credentials", true},
		{403, "", switchboard.CodeUpstream, 502, "upstream_auth_failed", "credentials", true},
		{404, "", switchboard.CodeNotFound, 404, "model_not_found", `model "llama9" not found, try pulling it first`, false},
		{422, "", switchboard.CodeInvalidRequest, 422, "", "422", false},
		{429, "3", switchboard.CodeRateLimited, 429, "", "too many requests", true},
		{500, "", switchboard.CodeUnavailable, 500, "", "llama runner process has terminated", true},
		{503, "2", switchboard.CodeUnavailable, 503, "", "server busy", true},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/stream=%v", tc.status, stream), func(t *testing.T) {
				t.Parallel()
				f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
				h := map[string]string{"X-Mock-Status": fmt.Sprint(tc.status)}
				if tc.retryAfter != "" {
					h["X-Mock-Retry-After"] = tc.retryAfter
				}
				c := mustClient(t, f, Config{Headers: h}, switchboard.Timeouts{})
				r := mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
				var err error
				if stream {
					_, err = c.ChatStream(t.Context(), "llama9", r)
				} else {
					_, err = c.Chat(t.Context(), "llama9", r)
				}
				var e *switchboard.Error
				if !errors.As(err, &e) {
					t.Fatalf("got %v, want *switchboard.Error", err)
				}
				if e.Code != tc.wantCode || e.Status != tc.wantStatus || e.VendorCode != tc.wantVendor || !strings.Contains(e.Message, tc.wantMsg) {
					t.Errorf("got code %s status %d vendor code %q message %q, want %s %d %q containing %q",
						e.Code, e.Status, e.VendorCode, e.Message, tc.wantCode, tc.wantStatus, tc.wantVendor, tc.wantMsg)
				}
				if got := switchboard.Retryable(err); got != tc.retryable {
					t.Errorf("got retryable %v, want %v", got, tc.retryable)
				}
				if tc.retryAfter != "" && e.RetryAfter.String() != tc.retryAfter+"s" {
					t.Errorf("got retry-after %v, want %ss", e.RetryAfter, tc.retryAfter)
				}
			})
		}
	}
	t.Run("not ollama", func(t *testing.T) {
		t.Parallel()
		// A 404 without Ollama's envelope (a wrong base_url) is not a missing model.
		e := upstreamError(404, http.Header{}, []byte("404 page not found"))
		if e.Code != switchboard.CodeNotFound || e.VendorCode != "" || e.Message != "404 page not found" {
			t.Errorf("got %+v", e)
		}
	})
}

// TestBrokenStream covers streams that end badly: cut, malformed, stalled
// (idle timeout), an in-band error line, and the client going away.
func TestBrokenStream(t *testing.T) {
	t.Parallel()
	inBand := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/chat" {
			return false
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"model":"m","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi"},"done":false}`+"\n")
		io.WriteString(w, `{"error":"llama runner process has terminated"}`+"\n")
		return true
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
		{"in-band error", nil, inBand, 0, 2, switchboard.CodeUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
			f.Handle(tc.hook)
			c := mustClient(t, f, Config{Headers: tc.headers}, switchboard.Timeouts{Idle: tc.idle})
			s, err := c.ChatStream(t.Context(), "mock-lorem", mustChatRequest(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
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
			if _, again := s.Recv(); switchboard.ErrorCodeOf(again) != tc.wantCode {
				t.Errorf("Recv after the error: got %v, want the same error", again)
			}
		})
	}
	t.Run("client leaves", func(t *testing.T) {
		t.Parallel()
		f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
		c := mustClient(t, f, Config{Headers: map[string]string{"X-Mock-Stall-After": "2"}}, switchboard.Timeouts{})
		ctx, cancel := context.WithCancel(t.Context())
		s, err := c.ChatStream(ctx, "mock-lorem", mustChatRequest(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
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
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{Headers: map[string]string{"X-Mock-Malformed": "true"}}, switchboard.Timeouts{})
	_, err := c.Chat(t.Context(), "m", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	var e *switchboard.Error
	if !errors.As(err, &e) || e.Code != switchboard.CodeUpstream {
		t.Fatalf("got %v, want upstream_error (502)", err)
	}
	req, _ := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x"}`))
	if _, err := c.Embed(t.Context(), "e", req); switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Errorf("embed: got %v, want upstream_error", err)
	}
	if _, err := c.Models(t.Context()); switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Errorf("models: got %v, want upstream_error", err)
	}
}

// TestOllamaDown: nothing listens at base_url (Ollama not started). Every
// call is a retryable unavailable error, so routes fall back.
func TestOllamaDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(Config{BaseURL: "http://" + addr}, switchboard.Deps{Timeouts: switchboard.Timeouts{Connect: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	r := mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	_, chatErr := c.Chat(t.Context(), "m", r)
	_, streamErr := c.ChatStream(t.Context(), "m", r)
	emb, _ := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x"}`))
	_, embedErr := c.Embed(t.Context(), "e", emb)
	_, modelsErr := c.Models(t.Context())
	for name, err := range map[string]error{"chat": chatErr, "stream": streamErr, "embed": embedErr, "models": modelsErr, "ping": c.Ping(t.Context())} {
		var e *switchboard.Error
		if !errors.As(err, &e) || e.Code != switchboard.CodeUnavailable || !switchboard.Retryable(err) || !strings.Contains(e.Message, "not reachable") {
			t.Errorf("%s: got %v, want retryable unavailable: ollama is not reachable", name, err)
		}
	}
}

func TestFirstByteTimeout(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, f, Config{Headers: map[string]string{"X-Mock-Latency": "2s"}}, switchboard.Timeouts{FirstByte: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.Chat(t.Context(), "m", mustChatRequest(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeTimeout {
		t.Fatalf("got %v, want timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v, want about 100ms", d)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"default", Config{}, ""},
		{"https proxy", Config{BaseURL: "https://ollama.internal:443/", KeepAlive: "-1s", Options: map[string]any{"num_ctx": 8192}}, ""},
		{"no scheme", Config{BaseURL: "127.0.0.1:11434"}, "base_url: must be an absolute http(s) URL"},
		{"relative", Config{BaseURL: "/api"}, "base_url:"},
		{"garbage", Config{BaseURL: "http://[::1"}, "base_url:"},
		{"keep_alive", Config{KeepAlive: "5 minutes"}, `keep_alive: must be a duration such as "10m"`},
		{"options", Config{Options: map[string]any{"f": func() {}}}, "options: cannot be sent as JSON"},
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
			case tc.want == "" && tc.cfg.BaseURL == "" && c.base != DefaultBaseURL:
				t.Errorf("got base %q, want %q", c.base, DefaultBaseURL)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	dec := func(v any) error {
		v.(*Config).BaseURL = "http://ollama:11434"
		return nil
	}
	p, err := switchboard.Providers.New(t.Context(), "ollama", dec, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := p.(*Client); !ok || c.base != "http://ollama:11434" {
		t.Errorf("got %T %+v, want *ollama.Client for the decoded config", p, p)
	}
	bad := func(v any) error { v.(*Config).BaseURL = "nope"; return nil }
	if _, err := switchboard.Providers.New(t.Context(), "ollama", bad, switchboard.Deps{}); err == nil || !strings.Contains(err.Error(), "base_url") {
		t.Errorf("got %v, want a base_url error", err)
	}
}
