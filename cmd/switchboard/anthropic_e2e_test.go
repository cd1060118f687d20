package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// pngPixel is a 1×1 PNG, base64.
const pngPixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

// anthropicConfig is upstreamConfig (an OpenAI upstream and the mock) plus
// an anthropic provider on the same FakeUpstream and models routed to it.
func anthropicConfig(up *sbtest.FakeUpstream) string {
	cfg := upstreamConfig(up, `
  claude-echo: {routes: [{provider: claude, model: mock-echo}]}
  claude-tools: {routes: [{provider: claude, model: mock-tools}]}
  claude-once: {routes: [{provider: claude, model: mock-echo-once}], retry: {attempts: 1}}
`)
	return strings.Replace(cfg, "providers:\n", "providers:\n  claude: {type: anthropic, base_url: "+up.AnthropicBaseURL()+
		", api_key: sk-ant-upstream, beta: [test-beta-1], timeouts: {idle: 2s, first_byte: 2s}}\n", 1)
}

func anthropicSDK(base string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(base), aoption.WithAPIKey("client-key"), aoption.WithMaxRetries(0))
}

// target is a model an Anthropic client asks for, and what serves it.
type target struct {
	name  string
	echo  string // a model that echoes
	tools string // a model that calls tools
}

var anthropicTargets = []target{
	{"mock provider", "mock-echo", "demo/mock-tools"},
	{"anthropic provider", "claude-echo", "claude-tools"},
	{"openai provider", "mock-model", "upstream/mock-tools"},
}

var weatherToolParam = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather"),
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
}}

func TestAnthropicSDK(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	_, base := startGateway(t, anthropicConfig(up))
	client := anthropicSDK(base)
	ctx := t.Context()

	for _, tg := range anthropicTargets {
		t.Run(tg.name, func(t *testing.T) {
			t.Run("messages", func(t *testing.T) {
				var hdr http.Header
				msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
					Model:     anthropic.Model(tg.echo),
					MaxTokens: 100,
					System:    []anthropic.TextBlockParam{{Text: "be brief"}},
					Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello gateway"))},
				}, aoption.WithMiddleware(func(r *http.Request, next aoption.MiddlewareNext) (*http.Response, error) {
					resp, err := next(r)
					if resp != nil {
						hdr = resp.Header
					}
					return resp, err
				}))
				if err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) != 1 || msg.Content[0].Text != "hello gateway" || msg.StopReason != anthropic.StopReasonEndTurn {
					t.Errorf("got %s", msg.RawJSON())
				}
				if !strings.HasPrefix(msg.ID, "msg_") || msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens != 2 {
					t.Errorf("got id %q usage %+v", msg.ID, msg.Usage)
				}
				if hdr.Get("X-Switchboard-Inference-Id") == "" || hdr.Get("X-Switchboard-Provider") == "" || hdr.Get("Request-Id") == "" {
					t.Errorf("got headers %v", hdr)
				}
			})

			t.Run("stream", func(t *testing.T) {
				stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
					Model:     anthropic.Model(tg.echo),
					MaxTokens: 100,
					Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("one two three four"))},
				})
				var msg anthropic.Message
				events := 0
				for stream.Next() {
					if err := msg.Accumulate(stream.Current()); err != nil {
						t.Fatal(err)
					}
					events++
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) != 1 || msg.Content[0].Text != "one two three four" || msg.StopReason != anthropic.StopReasonEndTurn {
					t.Errorf("got %+v after %d events", msg, events)
				}
				if msg.Usage.OutputTokens != 4 || msg.Usage.InputTokens == 0 {
					t.Errorf("got usage %+v", msg.Usage)
				}
			})

			t.Run("tool use", func(t *testing.T) {
				q := anthropic.NewUserMessage(anthropic.NewTextBlock("weather in Paris?"))
				params := anthropic.MessageNewParams{
					Model:      anthropic.Model(tg.tools),
					MaxTokens:  200,
					Tools:      []anthropic.ToolUnionParam{weatherToolParam},
					ToolChoice: anthropic.ToolChoiceParamOfTool("get_weather"),
					Messages:   []anthropic.MessageParam{q},
				}
				msg, err := client.Messages.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) != 1 || msg.StopReason != anthropic.StopReasonToolUse {
					t.Fatalf("got %s", msg.RawJSON())
				}
				use := msg.Content[0].AsToolUse()
				if use.Name != "get_weather" || use.ID == "" || !strings.Contains(string(use.Input), `"city"`) {
					t.Errorf("got tool use %+v", use)
				}

				// Streamed: the tool input arrives as input_json_delta fragments.
				stream := client.Messages.NewStreaming(ctx, params)
				var acc anthropic.Message
				for stream.Next() {
					if err := acc.Accumulate(stream.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				if len(acc.Content) != 1 || acc.Content[0].Type != "tool_use" || !json.Valid(acc.Content[0].Input) ||
					!strings.Contains(string(acc.Content[0].Input), `"city"`) || acc.StopReason != anthropic.StopReasonToolUse {
					t.Errorf("streamed: got %+v", acc)
				}

				// The result goes back as a tool_result; the mock answers it.
				params.ToolChoice = anthropic.ToolChoiceUnionParam{}
				params.Messages = append(params.Messages, msg.ToParam(),
					anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "18C and sunny", false)))
				msg, err = client.Messages.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) != 1 || msg.Content[0].Text != "18C and sunny" || msg.StopReason != anthropic.StopReasonEndTurn {
					t.Errorf("second turn: got %s", msg.RawJSON())
				}
			})

			t.Run("image", func(t *testing.T) {
				msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
					Model:     anthropic.Model(tg.echo),
					MaxTokens: 100,
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
						anthropic.NewTextBlock("what is this?"),
						anthropic.NewImageBlockBase64("image/png", pngPixel),
					)},
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(msg.Content) != 1 || msg.Content[0].Text != "what is this?" {
					t.Errorf("got %s", msg.RawJSON())
				}
			})

			t.Run("count tokens", func(t *testing.T) {
				n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
					Model:    anthropic.Model(tg.echo),
					System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("be brief")},
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))},
				})
				if err != nil {
					t.Fatal(err)
				}
				// An anthropic deployment counts upstream (the fake's own
				// count); others get the gateway's estimate:
				// 3 + 2 messages × 4 + ceil(19 bytes / 4).
				want := int64(16)
				if tg.name == "anthropic provider" {
					want = 14
				}
				if n.InputTokens != want {
					t.Errorf("got %d input tokens, want %d", n.InputTokens, want)
				}
			})
		})
	}

	t.Run("upstream sees Anthropic's wire format", func(t *testing.T) {
		_, err := client.Messages.New(ctx, anthropic.MessageNewParams{
			Model:     "claude-echo",
			MaxTokens: 100,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
				anthropic.NewTextBlock("look"), anthropic.NewImageBlockBase64("image/png", pngPixel))},
		})
		if err != nil {
			t.Fatal(err)
		}
		var rec fakeupstream.Recorded
		for _, r := range up.History() {
			if r.Path == "/v1/messages" && strings.Contains(string(r.Body), `"look"`) {
				rec = r
			}
		}
		if rec.Header.Get("X-Api-Key") != "sk-ant-upstream" || rec.Header.Get("Anthropic-Beta") != "test-beta-1" {
			t.Errorf("upstream got headers %v, want the gateway's key and beta", rec.Header)
		}
		want := `{"model":"mock-echo","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + pngPixel + `"}}]}]}`
		if string(rec.Body) != want {
			t.Errorf("upstream got %s, want %s", rec.Body, want)
		}
	})

	t.Run("errors", func(t *testing.T) {
		// An upstream 529 reaches an Anthropic client as Anthropic's 529.
		_, err := client.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "claude-once", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))},
		}, aoption.WithJSONSet("mock", map[string]any{"status": 529}))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" {
			t.Errorf("got %v, want a 529 overloaded_error", err)
		}
		// A request the gateway rejects names the field, in Anthropic's shape.
		_, err = client.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "claude-echo", MaxTokens: 0,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))},
		})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" || !strings.Contains(apiErr.RawJSON(), "max_tokens") {
			t.Errorf("got %v, want a 400 invalid_request_error about max_tokens", err)
		}
		_, err = client.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "no-such-model", MaxTokens: 10,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x"))},
		})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Type() != "not_found_error" {
			t.Errorf("got %v, want a 404 not_found_error", err)
		}
	})

	t.Run("models", func(t *testing.T) { testAnthropicModels(t, client) })
}

// TestOpenAISDKToAnthropic routes an OpenAI client to the anthropic provider:
// OpenAI SDK → gateway → Anthropic's wire format (the FakeUpstream).
func TestOpenAISDKToAnthropic(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	_, base := startGateway(t, anthropicConfig(up))
	client := sdk(base)
	ctx := t.Context()
	weather := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:       "get_weather",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	})}

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "claude-echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello claude")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != "hello claude" || resp.Choices[0].FinishReason != "stop" || resp.Usage.CompletionTokens != 2 || resp.Usage.PromptTokens == 0 {
			t.Errorf("got %+v", resp)
		}
		if rec := up.LastRequest(); rec.Path != "/v1/messages" || !strings.Contains(string(rec.Body), `"system":"be brief"`) {
			t.Errorf("upstream got %s %s", rec.Path, rec.Body)
		}
	})

	t.Run("stream with usage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "claude-echo",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Choices[0].Message.Content != "one two three" || acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != 3 {
			t.Errorf("got %+v usage %+v", acc.Choices, acc.Usage)
		}
	})

	t.Run("tools", func(t *testing.T) {
		params := openai.ChatCompletionNewParams{
			Model:    "claude-tools",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
			Tools:    weather,
		}
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.Choices[0].Message.ToolCalls
		if resp.Choices[0].FinishReason != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "get_weather" || !json.Valid([]byte(calls[0].Function.Arguments)) {
			t.Fatalf("got %+v", resp.Choices[0])
		}
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.ToolCalls; len(got) != 1 || got[0].Function.Name != "get_weather" || !json.Valid([]byte(got[0].Function.Arguments)) {
			t.Errorf("streamed: got %+v", acc.Choices[0].Message)
		}
		// The call and its result go back; Anthropic's rules (every tool_use
		// answered in the next turn) are checked by the fake.
		params.Messages = append(params.Messages, resp.Choices[0].Message.ToParam(), openai.ToolMessage("18C", calls[0].ID))
		resp, err = client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != "18C" {
			t.Errorf("second turn: got %+v", resp.Choices[0])
		}
	})

	t.Run("image", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "claude-echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("what is this?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + pngPixel}),
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content != "what is this?" {
			t.Errorf("got %+v", resp.Choices[0])
		}
		if !strings.Contains(string(up.LastRequest().Body), `"source":{"type":"base64","media_type":"image/png"`) {
			t.Errorf("upstream got %s", up.LastRequest().Body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "claude-once",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		}, option.WithJSONSet("mock", map[string]any{"status": 529}))
		var apiErr *openai.Error
		if !asErr(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Type != "overloaded_error" {
			t.Errorf("got %v, want a 503 overloaded_error", err)
		}
		_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "claude-echo",
			N:        openai.Int(2),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		if !asErr(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "n" {
			t.Errorf("got %v, want a 400 naming n", err)
		}
	})
}

// TestMessagesRecorded checks /v1/messages requests are inferences like
// chat completions: one record each, with endpoint, model, usage and TTFT.
func TestMessagesRecorded(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	m, base := startGateway(t, anthropicConfig(up))
	client := anthropicSDK(base)
	params := anthropic.MessageNewParams{Model: "claude-echo", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("x y"))}}
	if _, err := client.Messages.New(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	stream := client.Messages.NewStreaming(t.Context(), params)
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
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
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2", len(got))
	}
	streamed := 0
	for _, r := range got {
		if r.Endpoint != "messages" || r.Model != "claude-echo" || r.Provider != "claude" || r.UpstreamModel != "mock-echo" ||
			r.Status != 200 || r.InputTokens == 0 || r.OutputTokens != 2 {
			t.Errorf("got %+v", r)
		}
		if r.Stream {
			streamed++
			if r.TTFT <= 0 {
				t.Errorf("got streamed record without TTFT: %+v", r)
			}
		}
	}
	if streamed != 1 {
		t.Errorf("got %d streamed records, want 1", streamed)
	}
}

// testAnthropicModels: the Anthropic SDK's Models API (the same
// GET /v1/models path as OpenAI's, told apart by anthropic-version) gets
// Anthropic's shapes, pages and errors.
func testAnthropicModels(t *testing.T, client anthropic.Client) {
	ctx := t.Context()

	var ids []string
	iter := client.Models.ListAutoPaging(ctx, anthropic.ModelListParams{Limit: anthropic.Int(2)})
	for iter.Next() {
		m := iter.Current()
		if m.Type != "model" || m.DisplayName == "" || m.CreatedAt.IsZero() {
			t.Errorf("model %+v: want type, display_name and created_at", m)
		}
		ids = append(ids, m.ID)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, ","); got != "claude-echo,claude-once,claude-tools,fallback-model,mock-echo,mock-model" {
		t.Errorf("listed %s", got)
	}
	page, err := client.Models.List(ctx, anthropic.ModelListParams{Limit: anthropic.Int(2), BeforeID: anthropic.String("mock-echo")})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != "claude-tools" || !page.HasMore || page.FirstID != "claude-tools" {
		t.Errorf("page before mock-echo: %+v", page)
	}

	for _, id := range []string{"claude-echo", "demo/mock-lorem"} {
		m, err := client.Models.Get(ctx, id, anthropic.ModelGetParams{})
		if err != nil || m.ID != id || m.Type != "model" {
			t.Errorf("get %s: %v %+v", id, err, m)
		}
	}
	_, err = client.Models.Get(ctx, "nope", anthropic.ModelGetParams{})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Type() != "not_found_error" {
		t.Errorf("get nope: got %v, want Anthropic's not_found_error", err)
	}
	_, err = client.Models.List(ctx, anthropic.ModelListParams{Limit: anthropic.Int(0)})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Errorf("limit 0: got %v, want a 400", err)
	}
}
