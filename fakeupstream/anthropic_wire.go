package fakeupstream

import (
	"encoding/json"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/provider/mock"
)

// This file holds the Anthropic Messages API wire types the fake reads and
// writes (https://docs.anthropic.com/en/api/messages), and their translation
// to and from the mock's OpenAI-shaped core.

// anthropicRequest is a POST /v1/messages (or count_tokens) body. Fields the
// fake does not act on are ignored.
type anthropicRequest struct {
	Model       string               `json:"model"`
	MaxTokens   *int                 `json:"max_tokens"`
	Messages    []anthropicMessage   `json:"messages"`
	System      json.RawMessage      `json:"system"`
	Stream      bool                 `json:"stream"`
	Tools       []anthropicTool      `json:"tools"`
	ToolChoice  *anthropicToolChoice `json:"tool_choice"`
	Temperature *float64             `json:"temperature"`
	StopSeqs    []string             `json:"stop_sequences"`
	Mock        json.RawMessage      `json:"mock"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"` // a string or an array of blocks
}

// anthropicBlock is a request content block: text, image, tool_use, tool_result, ….
type anthropicBlock struct {
	Type      string           `json:"type"`
	Text      *string          `json:"text"`
	Source    *anthropicSource `json:"source"`
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Input     json.RawMessage  `json:"input"`
	ToolUseID string           `json:"tool_use_id"`
	Content   json.RawMessage  `json:"content"` // tool_result: a string or blocks
}

// anthropicSource is the source of an image block.
type anthropicSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type anthropicTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anthropicToolChoice struct {
	Type string `json:"type"` // auto, any, tool, none
	Name string `json:"name"`
}

// anthropicResponse is a message: the non-streamed body, and the message of
// a message_start event.
type anthropicResponse struct {
	ID           string             `json:"id"`
	Type         string             `json:"type"`
	Role         string             `json:"role"`
	Model        string             `json:"model"`
	Content      []anthropicContent `json:"content"`
	StopReason   *string            `json:"stop_reason"`
	StopSequence *string            `json:"stop_sequence"`
	Usage        anthropicUsage     `json:"usage"`
}

// anthropicContent is a response content block.
type anthropicContent struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type anthropicUsage struct {
	InputTokens              int    `json:"input_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	ServiceTier              string `json:"service_tier,omitempty"`
}

// The streaming events.
type (
	anthropicMessageStart struct {
		Type    string            `json:"type"`
		Message anthropicResponse `json:"message"`
	}
	anthropicBlockStart struct {
		Type         string           `json:"type"`
		Index        int              `json:"index"`
		ContentBlock anthropicContent `json:"content_block"`
	}
	anthropicBlockDelta struct {
		Type  string         `json:"type"`
		Index int            `json:"index"`
		Delta anthropicDelta `json:"delta"`
	}
	anthropicDelta struct {
		Type        string  `json:"type"`
		Text        *string `json:"text,omitempty"`
		PartialJSON *string `json:"partial_json,omitempty"`
	}
	anthropicBlockStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	anthropicMessageDelta struct {
		Type  string                   `json:"type"`
		Delta anthropicStop            `json:"delta"`
		Usage anthropicMessageDeltaUse `json:"usage"`
	}
	anthropicStop struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	anthropicMessageDeltaUse struct {
		OutputTokens int `json:"output_tokens"`
	}
	anthropicType struct {
		Type string `json:"type"`
	}
)

// anthropicPing is the ping event's data, byte for byte as Anthropic sends it.
var anthropicPing = []byte(`{"type": "ping"}`)

type anthropicErrorBody struct {
	Type      string         `json:"type"`
	Error     anthropicError `json:"error"`
	RequestID string         `json:"request_id,omitempty"`
}

type anthropicError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type anthropicModels struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

func anthropicModelList(models []switchboard.Model) anthropicModels {
	out := anthropicModels{Data: make([]anthropicModel, len(models))}
	for i, m := range models {
		out.Data[i] = anthropicModel{
			Type:        "model",
			ID:          m.ID,
			DisplayName: m.ID,
			CreatedAt:   time.Unix(m.Created, 0).UTC().Format(time.RFC3339),
		}
	}
	if len(models) > 0 {
		out.FirstID, out.LastID = &out.Data[0].ID, &out.Data[len(out.Data)-1].ID
	}
	return out
}

// chatRequest translates the request to the mock's OpenAI-shaped input:
// the system prompt becomes a system message, tool_result blocks become tool
// messages, tool_use blocks become tool calls, tools become functions.
func (a *anthropicRequest) chatRequest() *switchboard.ChatRequest {
	req := &switchboard.ChatRequest{Model: a.Model, MaxTokens: a.MaxTokens}
	if len(a.StopSeqs) > 0 {
		req.Stop, _ = json.Marshal(a.StopSeqs)
	}
	if sys := anthropicText(a.System); sys != "" {
		req.Messages = append(req.Messages, switchboard.Message{Role: "system", Content: switchboard.TextContent(sys)})
	}
	for _, m := range a.Messages {
		var blocks []anthropicBlock
		if json.Unmarshal(m.Content, &blocks) != nil {
			req.Messages = append(req.Messages, switchboard.Message{Role: m.Role, Content: m.Content})
			continue
		}
		msg := switchboard.Message{Role: m.Role}
		var text []byte
		for _, b := range blocks {
			switch b.Type {
			case "text":
				if b.Text != nil {
					text = append(text, *b.Text...)
				}
			case "tool_use":
				msg.ToolCalls = append(msg.ToolCalls, switchboard.ToolCall{
					ID: b.ID, Type: "function",
					Function: switchboard.FunctionCall{Name: b.Name, Arguments: string(b.Input)},
				})
			case "tool_result":
				req.Messages = append(req.Messages, switchboard.Message{
					Role: "tool", ToolCallID: b.ToolUseID, Content: switchboard.TextContent(anthropicText(b.Content)),
				})
			}
		}
		if len(text) > 0 || len(msg.ToolCalls) > 0 {
			msg.Content = switchboard.TextContent(string(text))
			req.Messages = append(req.Messages, msg)
		}
	}
	for _, t := range a.Tools {
		req.Tools = append(req.Tools, switchboard.ToolDef{
			Type:     "function",
			Function: switchboard.FunctionDef{Name: t.Name, Description: t.Description, Parameters: t.InputSchema},
		})
	}
	if tc := a.ToolChoice; tc != nil {
		switch tc.Type {
		case "any":
			req.ToolChoice = json.RawMessage(`"required"`)
		case "none":
			req.ToolChoice = json.RawMessage(`"none"`)
		case "tool":
			req.ToolChoice = marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		}
	}
	return req
}

// anthropicText returns the text of a string or of an array of text blocks.
func anthropicText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []anthropicBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	var text []byte
	for _, b := range blocks {
		if b.Type == "text" && b.Text != nil {
			text = append(text, *b.Text...)
		}
	}
	return string(text)
}

// anthropicStopOf is the stop_reason (and stop_sequence, when one matched) of o.
func anthropicStopOf(o *mock.Output) anthropicStop {
	if o.StopSequence != "" {
		return anthropicStop{StopReason: "stop_sequence", StopSequence: &o.StopSequence}
	}
	return anthropicStop{StopReason: stopReason(o.FinishReason)}
}

// stopReason maps an OpenAI finish reason to Anthropic's stop_reason.
func stopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls":
		return "tool_use"
	}
	return "end_turn"
}
