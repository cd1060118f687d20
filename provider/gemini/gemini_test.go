package gemini

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/provider/mock"
	"github.com/switchboard-ai/switchboard/sbtest"
)

const testKey = "g-test-key"

// newFake starts a fake Gemini API and a client for it.
func newFake(t *testing.T, to switchboard.Timeouts) (*sbtest.FakeUpstream, *Client) {
	t.Helper()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	return f, mustClient(t, f.URL, to)
}

func mustClient(t *testing.T, base string, to switchboard.Timeouts) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: base, APIKey: testKey}, switchboard.Deps{Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustChatReq(t *testing.T, body string) *switchboard.ChatRequest {
	t.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// collect reads a stream to its end, returning the chunks and the error
// that ended it (nil for io.EOF).
func collect(t *testing.T, s switchboard.ChatStream) ([]*switchboard.Chunk, error) {
	t.Helper()
	defer s.Close()
	var out []*switchboard.Chunk
	for {
		c, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

// lastBody decodes the last request the fake received.
func lastBody(t *testing.T, f *sbtest.FakeUpstream) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(f.LastRequest().Body, &m); err != nil {
		t.Fatalf("recorded body: %v", err)
	}
	return m
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	if !switchboard.Providers.Has("gemini") {
		t.Fatal("provider gemini is not registered")
	}
	p, err := switchboard.Providers.New(t.Context(), "gemini", func(v any) error {
		v.(*Config).APIKey = "k"
		return nil
	}, switchboard.Deps{})
	if err != nil || p == nil {
		t.Fatalf("got %v, %v; want a provider", p, err)
	}
}

func TestChat(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"alias","messages":[
		{"role":"system","content":"Be brief."},
		{"role":"user","content":"Hello Gemini"}],"max_tokens":50,"temperature":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "Hello Gemini" {
		t.Errorf("got content %q, want the echo", got)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Model != "mock-echo" || !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Object != "chat.completion" {
		t.Errorf("got finish %q model %q id %q object %q", resp.Choices[0].FinishReason, resp.Model, resp.ID, resp.Object)
	}
	if u := resp.Usage; u == nil || u.PromptTokens == 0 || u.CompletionTokens != 2 || u.TotalTokens != u.PromptTokens+2 {
		t.Errorf("got usage %+v, want 2 completion tokens", u)
	}
	rec := f.LastRequest()
	if rec.Path != "/v1beta/models/mock-echo:generateContent" {
		t.Errorf("got path %q", rec.Path)
	}
	if got := rec.Header.Get("X-Goog-Api-Key"); got != testKey {
		t.Errorf("got x-goog-api-key %q, want the key", got)
	}
	body := lastBody(t, f)
	if _, ok := body["systemInstruction"]; !ok {
		t.Errorf("got body %v, want a systemInstruction", body)
	}
	if gc, _ := body["generationConfig"].(map[string]any); gc["maxOutputTokens"] != 50.0 || gc["temperature"] != 0.5 {
		t.Errorf("got generationConfig %v", gc)
	}
}

func TestChatCandidates(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "mock-lorem", mustChatReq(t, `{"model":"m","n":2,"max_tokens":3,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 || resp.Choices[1].Index != 1 || resp.Choices[0].FinishReason != "length" {
		t.Fatalf("got %+v, want 2 choices cut by max_tokens", resp.Choices)
	}
	if got := resp.Choices[0].Message.Text(); got != "Lorem ipsum dolor" {
		t.Errorf("got %q", got)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	s, err := c.ChatStream(t.Context(), "mock-lorem", mustChatReq(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"mock":{"words":5}}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 8 {
		t.Fatalf("got %d chunks, want role + 5 words + finish + usage", len(chunks))
	}
	if d := chunks[0].Choices[0].Delta; d.Role != "assistant" {
		t.Errorf("got first delta %+v, want the role", d)
	}
	var text strings.Builder
	for _, ch := range chunks[1:6] {
		text.WriteString(ch.Choices[0].Delta.Text())
	}
	if got := text.String(); got != "Lorem ipsum dolor sit amet" {
		t.Errorf("got text %q", got)
	}
	if fr := chunks[6].Choices[0].FinishReason; fr == nil || *fr != "stop" {
		t.Errorf("got finish %v, want stop", fr)
	}
	last := chunks[7]
	if last.Choices == nil || len(last.Choices) != 0 || last.Usage == nil || last.Usage.CompletionTokens != 5 {
		t.Errorf("got last chunk %+v, want the usage with no choices", last)
	}
	for _, ch := range chunks {
		if ch.ID != chunks[0].ID || ch.Object != "chat.completion.chunk" || ch.Model != "mock-lorem" {
			t.Errorf("got chunk id %q object %q model %q", ch.ID, ch.Object, ch.Model)
		}
	}
	if p := f.LastRequest().Path; p != "/v1beta/models/mock-lorem:streamGenerateContent" {
		t.Errorf("got path %q", p)
	}
}

const weatherTool = `{"type":"function","function":{"name":"get_weather","strict":true,"parameters":{
	"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
	"properties":{"city":{"type":"string"},"days":{"type":["integer","null"]}},"required":["city","days"]}}}`

func TestTools(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	ctx := t.Context()
	resp, err := c.Chat(ctx, "mock-tools", mustChatReq(t, `{"model":"m","tools":[`+weatherTool+`],"messages":[{"role":"user","content":"Weather in Paris?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(f.LastRequest().Body), "additionalProperties") || strings.Contains(string(f.LastRequest().Body), "$schema") {
		t.Errorf("got body %s, want the schema cleaned", f.LastRequest().Body)
	}
	ch := resp.Choices[0]
	if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
		t.Fatalf("got %+v, want one tool call", ch)
	}
	tc := ch.Message.ToolCalls[0]
	if !strings.HasPrefix(tc.ID, "call_") || tc.Type != "function" || tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"test","days":1}` {
		t.Errorf("got tool call %+v", tc)
	}
	if string(ch.Message.Content) != "null" {
		t.Errorf("got content %s, want null", ch.Message.Content)
	}

	// The second turn replays the call with the signature the fake sent;
	// a client that never saw the call sends the documented placeholder.
	assistant, _ := json.Marshal(ch.Message)
	turn2 := `{"model":"m","tools":[` + weatherTool + `],"messages":[{"role":"user","content":"Weather in Paris?"},` +
		string(assistant) + `,{"role":"tool","tool_call_id":"` + tc.ID + `","content":"sunny"}]}`
	for _, tt := range []struct {
		name    string
		c       *Client
		wantSig string
	}{
		{"kept signature", c, "bW9jay"},
		{"unknown signature", mustClient(t, f.URL, switchboard.Timeouts{}), skipSignature},
	} {
		resp, err = tt.c.Chat(ctx, "mock-tools", mustChatReq(t, turn2))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := resp.Choices[0].Message.Text(); got != "sunny" {
			t.Errorf("%s: got %q, want the tool result echoed", tt.name, got)
		}
		if body := string(f.LastRequest().Body); !strings.Contains(body, `"thoughtSignature":"`+tt.wantSig) || !strings.Contains(body, `"functionResponse":{"name":"get_weather","response":{"content":"sunny"}}`) {
			t.Errorf("%s: got body %s", tt.name, body)
		}
	}

	s, err := c.ChatStream(ctx, "mock-tools", mustChatReq(t, `{"model":"m","stream":true,"tools":[`+weatherTool+`],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	var calls []switchboard.ToolCall
	var finish string
	for _, c := range chunks {
		for _, cc := range c.Choices {
			calls = append(calls, cc.Delta.ToolCalls...)
			if cc.FinishReason != nil {
				finish = *cc.FinishReason
			}
		}
	}
	if len(calls) != 1 || *calls[0].Index != 0 || calls[0].Function.Arguments != `{"city":"test","days":1}` || !strings.HasPrefix(calls[0].ID, "call_") || finish != "tool_calls" {
		t.Errorf("got calls %+v finish %q", calls, finish)
	}

	_, err = c.Chat(ctx, "mock-tools", mustChatReq(t, `{"model":"m","tools":[`+weatherTool+`],"tool_choice":{"type":"function","function":{"name":"nope"}},"messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("got %v, want invalid_request for an unknown tool_choice function", err)
	}
	resp, err = c.Chat(ctx, "mock-tools", mustChatReq(t, `{"model":"m","tools":[`+weatherTool+`],"tool_choice":"none","messages":[{"role":"user","content":"no tools"}]}`))
	if err != nil || resp.Choices[0].Message.Text() != "no tools" {
		t.Errorf("got %v, %v; want text with tool_choice none", resp, err)
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":[
		{"type":"text","text":"What is this?"},
		{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
		{"type":"image_url","image_url":{"url":"https://example.com/cat.webp"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "What is this?" {
		t.Errorf("got %q", got)
	}
	var body generateRequest
	if err := json.Unmarshal(f.LastRequest().Body, &body); err != nil {
		t.Fatal(err)
	}
	want := []part{
		textPart("What is this?"),
		{InlineData: &blob{MimeType: "image/png", Data: "iVBORw0KGgo="}},
		{FileData: &fileData{MimeType: "image/webp", FileURI: "https://example.com/cat.webp"}},
	}
	if diff := cmp.Diff(want, body.Contents[0].Parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}

	n := f.Requests()
	_, err = c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://example.com/a.png"}}]}]}`))
	var e *switchboard.Error
	if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || e.Param != "messages[0].content[0].image_url.url" || f.Requests() != n {
		t.Errorf("got %v, want invalid_request naming the URL, without a request upstream", err)
	}
	_, err = c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]}]}`))
	if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || !strings.Contains(e.Message, "Base64 decoding failed") {
		t.Errorf("got %v, want Gemini's invalid_request for bad base64", err)
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	req, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"alias","input":["hello world","bye"],"dimensions":8}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Embed(t.Context(), "mock-embed", req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || resp.Object != "list" || resp.Model != "mock-embed" {
		t.Fatalf("got %+v", resp)
	}
	for i, text := range []string{"hello world", "bye"} {
		if diff := cmp.Diff(mock.Vector(text, 8), resp.Data[i].Embedding); diff != "" || resp.Data[i].Index != i {
			t.Errorf("vector %d (-want +got):\n%s", i, diff)
		}
	}
	if u := resp.Usage; u == nil || u.PromptTokens != 4 || u.TotalTokens != 4 {
		t.Errorf("got usage %+v, want 4 estimated tokens", u)
	}
	if p := f.LastRequest().Path; p != "/v1beta/models/mock-embed:batchEmbedContents" {
		t.Errorf("got path %q", p)
	}

	inputs := make([]string, 150)
	for i := range inputs {
		inputs[i] = "text"
	}
	b, _ := json.Marshal(map[string]any{"model": "e", "input": inputs})
	req, _ = switchboard.DecodeEmbeddingRequest(b)
	f.Reset()
	if resp, err = c.Embed(t.Context(), "mock-embed", req); err != nil || len(resp.Data) != 150 || resp.Data[149].Index != 149 {
		t.Fatalf("got %v, want 150 vectors", err)
	}
	if n := f.Requests(); n != 2 {
		t.Errorf("got %d requests, want 2 batches", n)
	}

	req, _ = switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":[1,2,3]}`))
	if _, err := c.Embed(t.Context(), "mock-embed", req); switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("got %v, want invalid_request for token ids", err)
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, switchboard.Timeouts{})
	ms, err := c.Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	if want := []string{"mock-echo", "mock-lorem", "mock-tools"}; !slices.Equal(ids, want) {
		t.Errorf("got %v, want %v", ids, want)
	}
}

func TestModelPath(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]string{
		"gemini-2.5-flash":        "models/gemini-2.5-flash",
		"models/gemini-2.5-flash": "models/gemini-2.5-flash",
		"tunedModels/my-model":    "tunedModels/my-model",
		"":                        "error",
		"a/b/c":                   "error",
		"gemini:x":                "error",
	} {
		got, err := modelPath(model)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("modelPath(%q): got %q, want %q", model, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "api_key: required"},
		{Config{APIKey: "  "}, "api_key"},
		{Config{APIKey: "k", BaseURL: "ftp://x"}, "base_url"},
		{Config{APIKey: "k", BaseURL: "not a url"}, "base_url"},
		{Config{APIKey: "k", BaseURL: "/relative"}, "base_url"},
		{Config{APIKey: "k", BaseURL: "https://x?key=1"}, "base_url"},
		{Config{APIKey: "k", APIVersion: "v1/x"}, "api_version"},
		{Config{APIKey: "k", MaxConns: -1}, "max_conns"},
	}
	for _, tc := range tests {
		_, err := New(tc.cfg, switchboard.Deps{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "gemini: ") {
			t.Errorf("New(%+v): got %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
	c, err := New(Config{APIKey: "k"}, switchboard.Deps{})
	if err != nil || c.root != "https://generativelanguage.googleapis.com/v1beta" {
		t.Errorf("got %v, root %q; want the defaults", err, c.root)
	}
}

func TestCancelStream(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	s, err := c.ChatStream(t.Context(), "mock-lorem", mustChatReq(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"mock":{"words":50,"chunk_delay":"20ms"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := f.WaitDisconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err == nil {
		t.Error("got a chunk after Close, want an error")
	}
}

func TestFirstByteTimeout(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, switchboard.Timeouts{FirstByte: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"mock":{"latency":"2s"}}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeTimeout || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v, want a timeout after about 100ms", err, time.Since(start))
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	c := mustClient(t, "http://127.0.0.1:1", switchboard.Timeouts{Connect: time.Second})
	_, err := c.Chat(t.Context(), "m", mustChatReq(t, `{"model":"a","messages":[{"role":"user","content":"x"}]}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeUnavailable || !switchboard.Retryable(err) {
		t.Fatalf("got %v, want retryable unavailable", err)
	}
}

// handler answers every request of the fake with status and body.
func handler(status int, header, body string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if k, v, ok := strings.Cut(header, ": "); ok {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		return true
	}
}
