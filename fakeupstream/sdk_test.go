package fakeupstream_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/switchboard-ai/switchboard/fakeupstream"
)

// TestOpenAISDK drives the fake with the official Go SDK, which must find
// nothing to complain about: the fake is faithful where clients look.
func TestOpenAISDK(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{RequireKey: "sk-test"})
	client := openai.NewClient(option.WithBaseURL(url+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	ctx := t.Context()

	t.Run("chat", func(t *testing.T) {
		t.Parallel()
		c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello from the SDK")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Choices[0].Message.Content; got != "hello from the SDK" {
			t.Errorf("got content %q, want the echo", got)
		}
		if c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens || c.Usage.CompletionTokens != 4 {
			t.Errorf("got finish %q usage %+v, want stop and 4 completion tokens", c.Choices[0].FinishReason, c.Usage)
		}
	})

	t.Run("stream with include_usage", func(t *testing.T) {
		t.Parallel()
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "mock-lorem",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		chunks, usageChunks := 0, 0
		for stream.Next() {
			chunk := stream.Current()
			acc.AddChunk(chunk)
			chunks++
			if chunk.JSON.Usage.Valid() && chunk.Usage.TotalTokens > 0 {
				usageChunks++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got, want := acc.Choices[0].Message.Content, "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et"; got != want {
			t.Errorf("got content %q, want %q", got, want)
		}
		if usageChunks != 1 || acc.Usage.CompletionTokens != 16 || chunks != 16+3 {
			t.Errorf("got %d chunks, %d with usage, usage %+v; want 19, 1, 16 completion tokens", chunks, usageChunks, acc.Usage)
		}
	})

	t.Run("stream tool call", func(t *testing.T) {
		t.Parallel()
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-tools",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name:       "get_weather",
				Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
			})},
		})
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		var finished []string
		for stream.Next() {
			acc.AddChunk(stream.Current())
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc.Name+" "+tc.Arguments)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{`get_weather {"city":"test"}`}, finished); diff != "" {
			t.Errorf("finished tool calls mismatch (-want +got):\n%s", diff)
		}
		if got := acc.Choices[0].FinishReason; got != "tool_calls" {
			t.Errorf("got finish_reason %q, want tool_calls", got)
		}
	})

	t.Run("embeddings base64 and float", func(t *testing.T) {
		t.Parallel()
		get := func(format openai.EmbeddingNewParamsEncodingFormat) []float64 {
			resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model:          "text-embedding-3-small",
				Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("embed me")},
				EncodingFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			return resp.Data[0].Embedding
		}
		b64, floats := get(openai.EmbeddingNewParamsEncodingFormatBase64), get(openai.EmbeddingNewParamsEncodingFormatFloat)
		if len(b64) != 256 {
			t.Fatalf("got %d dims, want 256", len(b64))
		}
		if diff := cmp.Diff(floats, b64); diff != "" {
			t.Errorf("base64 and float vectors differ (-float +base64):\n%s", diff)
		}
	})

	t.Run("models", func(t *testing.T) {
		t.Parallel()
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 3 || page.Data[0].ID != "mock-echo" || page.Data[0].OwnedBy != "switchboard" {
			t.Errorf("got models %+v, want the three mock models", page.Data)
		}
	})

	t.Run("rate limit error", func(t *testing.T) {
		t.Parallel()
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "mock-echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		}, option.WithHeader("x-mock-status", "429"), option.WithHeader("x-mock-retry-after", "1"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("got %v, want an *openai.Error", err)
		}
		if apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != "rate_limit_exceeded" || apiErr.Message == "" {
			t.Errorf("got status %d code %q message %q, want 429 rate_limit_exceeded", apiErr.StatusCode, apiErr.Code, apiErr.Message)
		}
	})
}
