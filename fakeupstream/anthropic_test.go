package fakeupstream_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard/fakeupstream"
)

type anthropicErrorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestAnthropicErrors(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	const ok = `{"model":"mock-echo","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name           string
		body           string
		header         map[string]string
		wantStatus     int
		wantType       string
		wantMessage    string
		wantRetryAfter string
	}{
		{name: "no anthropic-version", body: ok, header: map[string]string{}, wantStatus: 400, wantType: "invalid_request_error", wantMessage: "anthropic-version: header is required"},
		{name: "no max_tokens", body: `{"model":"mock-echo","messages":[{"role":"user","content":"hi"}]}`, wantStatus: 400, wantType: "invalid_request_error", wantMessage: "max_tokens: Field required"},
		{name: "no model", body: `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, wantStatus: 400, wantType: "invalid_request_error", wantMessage: "model: Field required"},
		{name: "no messages", body: `{"model":"m","max_tokens":5}`, wantStatus: 400, wantType: "invalid_request_error", wantMessage: "messages: Field required"},
		{name: "system role", body: `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}`, wantStatus: 400, wantType: "invalid_request_error", wantMessage: "messages.0.role: Input should be 'user' or 'assistant'"},
		{name: "bad mock option", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"mock":{"status":"x"}}`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "529 overloaded", body: ok, header: map[string]string{"x-mock-status": "529"}, wantStatus: 529, wantType: "overloaded_error", wantMessage: "Overloaded"},
		{name: "529 overloaded with retry-after", body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"mock":{"status":529,"retry_after":4}}`,
			wantStatus: 529, wantType: "overloaded_error", wantMessage: "Overloaded", wantRetryAfter: "4"},
		{name: "429", body: ok, header: map[string]string{"x-mock-status": "429", "x-mock-retry-after": "2"}, wantStatus: 429, wantType: "rate_limit_error", wantRetryAfter: "2"},
		{name: "500", body: ok, header: map[string]string{"x-mock-status": "500"}, wantStatus: 500, wantType: "api_error"},
		{name: "stream fails before the stream", body: `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"status":529}}`, wantStatus: 529, wantType: "overloaded_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			header := tc.header
			if header == nil {
				header = anthropicHeaders
			} else if len(header) > 0 {
				header = maps.Clone(header)
				maps.Copy(header, anthropicHeaders)
			}
			resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/v1/messages", tc.body, header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			var e anthropicErrorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error.Message == "" {
				t.Fatalf("got body %s (%v), want Anthropic's error envelope", body, err)
			}
			if e.Error.Type != tc.wantType || (tc.wantMessage != "" && e.Error.Message != tc.wantMessage) {
				t.Errorf("got type %q message %q, want %q %q", e.Error.Type, e.Error.Message, tc.wantType, tc.wantMessage)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetryAfter {
				t.Errorf("got retry-after %q, want %q", got, tc.wantRetryAfter)
			}
			if resp.Header.Get("Request-Id") == "" {
				t.Error("missing request-id header")
			}
		})
	}
}

func TestAnthropicToolUse(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	tools := `"tools":[{"name":"lookup","input_schema":{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer"}}}},
		{"name":"other","input_schema":{"type":"object","properties":{"ok":{"type":"boolean"}}}}]`
	type block struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	type message struct {
		Content    []block `json:"content"`
		StopReason string  `json:"stop_reason"`
		Usage      struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	tests := []struct {
		name       string
		body       string
		wantBlock  block
		wantReason string
	}{
		{
			name:       "first tool",
			body:       `{"model":"mock-tools","max_tokens":100,` + tools + `,"messages":[{"role":"user","content":"find"}]}`,
			wantBlock:  block{Type: "tool_use", Name: "lookup", Input: json.RawMessage(`{"q":"test","n":1}`)},
			wantReason: "tool_use",
		},
		{
			name:       "tool_choice tool",
			body:       `{"model":"mock-tools","max_tokens":100,` + tools + `,"tool_choice":{"type":"tool","name":"other"},"messages":[{"role":"user","content":"find"}]}`,
			wantBlock:  block{Type: "tool_use", Name: "other", Input: json.RawMessage(`{"ok":true}`)},
			wantReason: "tool_use",
		},
		{
			name: "answers the tool result",
			body: `{"model":"mock-tools","max_tokens":100,` + tools + `,"messages":[{"role":"user","content":"find"},
				{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x"}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"found it"}]}]}`,
			wantBlock:  block{Type: "text", Text: "found it"},
			wantReason: "end_turn",
		},
		{
			name:       "max_tokens",
			body:       `{"model":"mock-lorem","max_tokens":3,"messages":[{"role":"user","content":"x"}]}`,
			wantBlock:  block{Type: "text", Text: "Lorem ipsum dolor"},
			wantReason: "max_tokens",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/v1/messages", tc.body, anthropicHeaders)
			if resp.StatusCode != 200 {
				t.Fatalf("got %d: %s", resp.StatusCode, body)
			}
			var m message
			if err := json.Unmarshal(body, &m); err != nil || len(m.Content) != 1 {
				t.Fatalf("got %s (%v), want one content block", body, err)
			}
			got := m.Content[0]
			if got.Type == "tool_use" && len(got.ID) != len("toolu_")+24 {
				t.Errorf("got tool_use id %q, want toolu_ and 24 hex digits", got.ID)
			}
			got.ID = ""
			if diff := cmp.Diff(tc.wantBlock, got); diff != "" {
				t.Errorf("content block mismatch (-want +got):\n%s", diff)
			}
			if m.StopReason != tc.wantReason || m.Usage.InputTokens == 0 || m.Usage.OutputTokens == 0 {
				t.Errorf("got stop_reason %q usage %+v, want %q and non-zero usage", m.StopReason, m.Usage, tc.wantReason)
			}
		})
	}
}

func TestAnthropicCountTokensAndModels(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	_, body := mustDo(t, t.Context(), http.MethodPost, url+"/v1/messages/count_tokens",
		`{"model":"mock-echo","system":"12345678","messages":[{"role":"user","content":"1234"}]}`, anthropicHeaders)
	// system (2+3) + user (1+3) + 3
	if got, want := string(body), `{"input_tokens":12}`; got != want {
		t.Errorf("count_tokens: got %s, want %s", got, want)
	}
	_, body = mustDo(t, t.Context(), http.MethodGet, url+"/v1/models", "", anthropicHeaders)
	var list struct {
		Data []struct {
			Type, ID string
		} `json:"data"`
		HasMore bool   `json:"has_more"`
		FirstID string `json:"first_id"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != 3 || list.Data[0].Type != "model" || list.FirstID != "mock-echo" {
		t.Errorf("GET /v1/models with anthropic-version: got %s, want Anthropic's model list", body)
	}
}

// TestAnthropicStopSequences: the reply ends before the first stop sequence
// and the answer names it, streamed or not.
func TestAnthropicStopSequences(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	req := `{"model":"mock-echo","max_tokens":50,"stop_sequences":["END","never"],"messages":[{"role":"user","content":"one two END three"}]}`
	_, body := mustDo(t, t.Context(), http.MethodPost, url+"/v1/messages", req, anthropicHeaders)
	var msg struct {
		Content      []struct{ Text string } `json:"content"`
		StopReason   string                  `json:"stop_reason"`
		StopSequence *string                 `json:"stop_sequence"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || len(msg.Content) != 1 || msg.Content[0].Text != "one two " ||
		msg.StopReason != "stop_sequence" || msg.StopSequence == nil || *msg.StopSequence != "END" {
		t.Errorf("got %s, want the text before END, stop_reason stop_sequence, stop_sequence END", body)
	}
	_, body = mustDo(t, t.Context(), http.MethodPost, url+"/v1/messages", strings.Replace(req, `"max_tokens":50,`, `"max_tokens":50,"stream":true,`, 1), anthropicHeaders)
	if !strings.Contains(string(body), `"stop_reason":"stop_sequence","stop_sequence":"END"`) {
		t.Errorf("stream: no message_delta naming the stop sequence in %s", body)
	}
}

// TestAnthropicValidation checks the fake rejects what Anthropic rejects, so
// that translations into Anthropic's format are tested against its rules.
func TestAnthropicValidation(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	msg := func(content string) string {
		return `{"model":"mock-echo","max_tokens":10,"messages":[{"role":"user","content":` + content + `}]}`
	}
	const toolUse = `{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]}`
	tests := []struct {
		name, path, body, wantMessage string
	}{
		{"unknown field", "/v1/messages", `{"model":"m","max_tokens":5,"n":2,"messages":[{"role":"user","content":"x"}]}`, "n: Extra inputs are not permitted"},
		{"count_tokens takes no max_tokens", "/v1/messages/count_tokens", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "max_tokens: Extra inputs are not permitted"},
		{"empty text block", "/v1/messages", msg(`[{"type":"text","text":""}]`), "messages: text content blocks must be non-empty"},
		{"image media type", "/v1/messages", msg(`[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]`), "messages.0.content.0.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"},
		{"image base64", "/v1/messages", msg(`[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"not base64!"}}]`), "messages.0.content.0.source.data: Input should be valid base64 data"},
		{"image url", "/v1/messages", msg(`[{"type":"image","source":{"type":"url","url":"ftp://x/y.png"}}]`), "messages.0.content.0.source.url: Input should be a valid URL"},
		{"tool_use from the user", "/v1/messages", msg(`[{"type":"tool_use","id":"t","name":"f","input":{}}]`), "messages.0.content.0.type: tool_use blocks may only appear in assistant messages"},
		{"orphan tool_result", "/v1/messages", msg(`[{"type":"tool_result","tool_use_id":"toolu_9","content":"x"}]`), "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"unanswered tool_use", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},` + toolUse + `,{"role":"user","content":"no result"}]}`, "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message."},
		{"tool_choice without tools", "/v1/messages", `{"model":"m","max_tokens":5,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`, "tool_choice: tool_choice may only be specified while providing tools"},
		{"temperature", "/v1/messages", `{"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, "temperature: Input should be less than or equal to 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := mustDo(t, t.Context(), http.MethodPost, url+tc.path, tc.body, anthropicHeaders)
			var e anthropicErrorBody
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil {
				t.Fatalf("got %d %s, want a 400", resp.StatusCode, body)
			}
			if e.Error.Type != "invalid_request_error" || e.Error.Message != tc.wantMessage {
				t.Errorf("got %q %q, want invalid_request_error %q", e.Error.Type, e.Error.Message, tc.wantMessage)
			}
		})
	}
	// A well-formed tool round trip with an image in the result passes.
	ok := `{"model":"mock-echo","max_tokens":10,"messages":[{"role":"user","content":"x"},` + toolUse + `,
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r"},
		{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},{"type":"text","text":"and?"}]}]}`
	if resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/v1/messages", ok, anthropicHeaders); resp.StatusCode != http.StatusOK {
		t.Errorf("got %d %s, want 200", resp.StatusCode, body)
	}
}
