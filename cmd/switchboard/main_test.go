package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// startGateway runs the whole program on 127.0.0.1:0 with the given config
// (storage under t.TempDir()), and closes it at cleanup.
func startGateway(t testing.TB, yaml string, sets ...string) (*Main, string) {
	t.Helper()
	return startGatewayWith(t, nil, yaml, sets...)
}

// startGatewayWith is startGateway with a hook to adjust Main before it runs.
func startGatewayWith(t testing.TB, adjust func(*Main), yaml string, sets ...string) (*Main, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	lw := &syncWriter{w: new(bytes.Buffer)}
	m := NewMain(lw)
	m.Env = func(string) (string, bool) { return "", false }
	sets = append([]string{"server.listen=127.0.0.1:0", "storage.dsn=" + filepath.Join(dir, "sb.db")}, sets...)
	if err := m.Load([]string{file}, sets); err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(m)
	}
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", lw.String())
		}
	})
	return m, "http://" + m.Addr
}

func upstreamConfig(f *sbtest.FakeUpstream, extra string) string {
	return `
providers:
  upstream: {type: openai, base_url: ` + f.OpenAIBaseURL() + `, api_key: sk-upstream, timeouts: {idle: 300ms, first_byte: 2s}}
  demo: {type: mock}
models:
  mock-model: {routes: [{provider: upstream, model: gpt-4o-mini}]}
  mock-echo: {routes: [{provider: demo}]}
  fallback-model: {routes: [{provider: upstream, model: broken}, {provider: demo, model: mock-echo}]}
` + extra
}

func sdk(base string) openai.Client {
	return openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
}

func TestOpenAISDKChat(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	_, base := startGateway(t, upstreamConfig(up, ""))
	client := sdk(base)
	ctx := t.Context()

	t.Run("chat", func(t *testing.T) {
		var hdr http.Header
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-model",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello gateway")},
			Seed:     openai.Int(7),
			N:        openai.Int(2),
		}, option.WithResponseInto(new(*http.Response)), option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			resp, err := next(r)
			if resp != nil {
				hdr = resp.Header
			}
			return resp, err
		}))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 2 || resp.Choices[0].Message.Content != "hello gateway" {
			t.Errorf("got %+v", resp.Choices)
		}
		if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 {
			t.Errorf("got usage %+v", resp.Usage)
		}
		if hdr.Get("X-Switchboard-Inference-Id") == "" || hdr.Get("X-Switchboard-Provider") != "upstream" {
			t.Errorf("got headers %v", hdr)
		}
		var sent map[string]any
		_ = json.Unmarshal(up.LastRequest().Body, &sent)
		if sent["model"] != "gpt-4o-mini" || sent["seed"] != 7.0 || sent["n"] != 2.0 {
			t.Errorf("upstream got %s", up.LastRequest().Body)
		}
		if got := up.LastRequest().Header.Get("Authorization"); got != "Bearer sk-upstream" {
			t.Errorf("upstream got auth %q, want the gateway's key", got)
		}
	})

	t.Run("unknown fields pass through", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:          "mock-model",
			Messages:       []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
		}, option.WithJSONSet("vendor_extension", map[string]any{"a": []int{1, 2}}))
		if err != nil {
			t.Fatal(err)
		}
		body := string(up.LastRequest().Body)
		for _, want := range []string{`"vendor_extension":{"a":[1,2]}`, `"response_format":{"type":"json_object"}`} {
			if !strings.Contains(body, want) {
				t.Errorf("upstream body %s lacks %s", body, want)
			}
		}
	})

	t.Run("image parts", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "mock-model",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("what is this?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64,iVBORw0KGgo=", Detail: "low"}),
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		if body := string(up.LastRequest().Body); !strings.Contains(body, `"image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}`) {
			t.Errorf("upstream body %s lacks the image part", body)
		}
	})

	t.Run("tools", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "demo/mock-tools",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name:       "get_weather",
				Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.Choices[0].Message.ToolCalls
		if resp.Choices[0].FinishReason != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "get_weather" || !strings.Contains(calls[0].Function.Arguments, `"city"`) {
			t.Errorf("got %+v", resp.Choices[0])
		}
	})

	t.Run("stream with usage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "mock-model",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "one two three four" {
			t.Errorf("got content %q", got)
		}
		if acc.Usage.CompletionTokens == 0 || acc.Usage.PromptTokens == 0 {
			t.Errorf("got usage %+v", acc.Usage)
		}
	})

	t.Run("stream without usage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-model",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a b")},
		})
		n := 0
		for stream.Next() {
			if len(stream.Current().Choices) == 0 {
				t.Error("got a chunk without choices (the usage chunk) the client did not ask for")
			}
			n++
		}
		if err := stream.Err(); err != nil || n == 0 {
			t.Fatalf("got %d chunks, %v", n, err)
		}
		if !strings.Contains(string(up.LastRequest().Body), `"include_usage":true`) {
			t.Errorf("gateway did not ask the upstream for usage: %s", up.LastRequest().Body)
		}
	})

	t.Run("other stream options pass through", func(t *testing.T) {
		for _, opts := range []any{map[string]any{"include_obfuscation": false}, nil} {
			stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:    "mock-model",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a b")},
			}, option.WithJSONSet("stream_options", opts))
			for stream.Next() {
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			body := string(up.LastRequest().Body)
			if strings.Count(body, `"stream_options"`) != 1 || !strings.Contains(body, `"include_usage":true`) {
				t.Errorf("stream_options %v: upstream got %s", opts, body)
			}
			if opts != nil && !strings.Contains(body, `"include_obfuscation":false`) {
				t.Errorf("include_obfuscation dropped: %s", body)
			}
		}
	})

	t.Run("stream tools", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-tools",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name: "lookup", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
			})},
		}, option.WithJSONSet("model", "upstream/mock-tools"))
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if tc, ok := acc.JustFinishedToolCall(); !ok && (len(acc.Choices) == 0 || len(acc.Choices[0].Message.ToolCalls) != 1) {
			t.Errorf("got no tool call: %+v %+v", tc, acc.Choices)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
			resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model:          "upstream/text-embedding-3-small",
				Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
				EncodingFormat: format,
				Dimensions:     openai.Int(16),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != 16 || resp.Data[1].Index != 1 {
				t.Errorf("%s: got %d vectors of %d", format, len(resp.Data), len(resp.Data[0].Embedding))
			}
		}
	})

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if strings.Join(ids, ",") != "fallback-model,mock-echo,mock-model" {
			t.Errorf("got %v", ids)
		}
		for _, id := range []string{"mock-model", "demo/mock-lorem", "upstream/gpt-4o-mini"} {
			m, err := client.Models.Get(ctx, id)
			if err != nil || m.ID != id {
				t.Errorf("get %s: %v %+v", id, err, m)
			}
		}
		for _, id := range []string{"nope", "nope/gpt-4o", "demo/"} {
			var apiErr *openai.Error
			if _, err := client.Models.Get(ctx, id); !asErr(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Param != "model" {
				t.Errorf("get %s: got %v, want a 404 on model", id, err)
			}
		}
	})

	t.Run("fallback", func(t *testing.T) {
		up.Handle(func(w http.ResponseWriter, r *http.Request) bool {
			if !bytes.Contains(up.LastRequest().Body, []byte(`"model":"broken"`)) {
				return false
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
			return true
		})
		defer up.Handle(nil)
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "fallback-model",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("still here")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != "still here" {
			t.Errorf("got %+v", resp.Choices)
		}
	})

	t.Run("upstream error preserved", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-model",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		}, option.WithJSONSet("mock", map[string]any{"status": 429, "retry_after": 7}))
		var apiErr *openai.Error
		if !asErr(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Response.Header.Get("Retry-After") != "7" {
			t.Fatalf("got %v", err)
		}
		if h := apiErr.Response.Header; h.Get("X-Switchboard-Attempts") == "" || h.Get("X-Switchboard-Deployment") != "upstream/gpt-4o-mini" {
			t.Errorf("error without the attempt headers: %v", h)
		}
	})
}

func asErr(err error, target **openai.Error) bool {
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	_, base := startGateway(t, upstreamConfig(up, ""))
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(
		`{"model":"mock-model","stream":true,"messages":[{"role":"user","content":"a b c d e f g h i j k l m n o p"}],"mock":{"chunk_delay":"200ms"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	before := up.Disconnects()
	cancel()
	resp.Body.Close()
	wctx, wcancel := context.WithTimeout(t.Context(), time.Second)
	defer wcancel()
	if err := up.WaitDisconnect(wctx); err != nil && up.Disconnects() == before {
		t.Fatalf("upstream saw no disconnect within 1s: %v", err)
	}
}

func TestStalledStreamIsCut(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	_, base := startGateway(t, upstreamConfig(up, ""))
	start := time.Now()
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(
		`{"model":"mock-model","stream":true,"messages":[{"role":"user","content":"a b c d"}],"mock":{"stall_after":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"code":"timeout"`) || strings.Contains(string(body), "[DONE]") {
		t.Errorf("got %s, want an in-band timeout error", body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stall cut after %v, want about the 300ms idle timeout", d)
	}
	// Stalled before the first byte: a plain 504.
	resp, err = http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(
		`{"model":"mock-model","messages":[{"role":"user","content":"a"}],"mock":{"latency":"5s"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("got %d, want 504", resp.StatusCode)
	}
}

func TestInferencesRecorded(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	m, base := startGateway(t, upstreamConfig(up, ""))
	for i := 0; i < 5; i++ {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"mock-model","messages":[{"role":"user","content":"x y"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	dsn := m.Config.Storage.DSN
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.ListInferences(ctx, switchboard.InferenceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d records, want 5", len(got))
	}
	r := got[0]
	if r.Model != "mock-model" || r.Provider != "upstream" || r.UpstreamModel != "gpt-4o-mini" || r.Status != 200 || r.InputTokens == 0 || r.OutputTokens != 2 || r.Latency <= 0 {
		t.Errorf("got %+v", r)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
