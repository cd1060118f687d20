package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// DecodeResponse decodes a Messages API response body. It fails on a body
// that is not a message object.
func DecodeResponse(body []byte) (*Response, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errorf("decode message: %w", err)
	}
	if r.Type != "message" && r.Type != "" || r.Content == nil && r.ID == "" {
		return nil, errorf("decode message: got an object of type %q without id or content", r.Type)
	}
	return &r, nil
}

// ToChatResponse translates a message to an OpenAI chat completion created
// at created (Unix seconds): text blocks become the content, tool_use blocks
// tool calls (arguments: the input's JSON), thinking blocks the
// reasoning_content field; stop_reason becomes finish_reason
// (FinishReason) and usage is counted as OpenAI does (ChatUsage).
func ToChatResponse(r *Response, created int64) *switchboard.ChatResponse {
	msg := switchboard.Message{Role: "assistant"}
	var text, thinking strings.Builder
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "thinking":
			thinking.WriteString(b.Thinking)
		case "tool_use":
			args := compactInput(b.Input)
			msg.ToolCalls = append(msg.ToolCalls, switchboard.ToolCall{
				ID: b.ID, Type: "function", Function: switchboard.FunctionCall{Name: b.Name, Arguments: args},
			})
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = switchboard.TextContent(text.String())
	} else {
		msg.Content = json.RawMessage("null")
	}
	if thinking.Len() > 0 {
		msg.Extra = map[string]json.RawMessage{"reasoning_content": switchboard.TextContent(thinking.String())}
	}
	stop := ""
	if r.StopReason != nil {
		stop = *r.StopReason
	}
	return &switchboard.ChatResponse{
		ID:      r.ID,
		Object:  "chat.completion",
		Created: created,
		Model:   r.Model,
		Choices: []switchboard.Choice{{Index: 0, Message: msg, FinishReason: FinishReason(stop)}},
		Usage:   ChatUsage(r.Usage),
	}
}

// FinishReason maps a stop_reason to OpenAI's finish_reason: end_turn,
// stop_sequence and pause_turn → stop; max_tokens and
// model_context_window_exceeded → length; tool_use → tool_calls; refusal →
// content_filter. Unknown reasons are stop.
func FinishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

// ChatUsage counts u as OpenAI does: the prompt is every input token, cache
// reads and writes included, and cache reads are the cached tokens.
func ChatUsage(u Usage) *switchboard.Usage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	return &switchboard.Usage{
		PromptTokens:        prompt,
		CompletionTokens:    u.OutputTokens,
		TotalTokens:         prompt + u.OutputTokens,
		PromptTokensDetails: &switchboard.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens},
	}
}

// DecodeModelList decodes a page of GET /v1/models as switchboard models.
func DecodeModelList(body []byte) ([]switchboard.Model, *ModelList, error) {
	var list ModelList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, nil, errorf("decode models: %w", err)
	}
	out := make([]switchboard.Model, 0, len(list.Data))
	for _, m := range list.Data {
		out = append(out, switchboard.Model{ID: m.ID, Object: "model", Created: unixTime(m.CreatedAt), OwnedBy: "anthropic"})
	}
	return out, &list, nil
}

// ModelInfoOf describes m as Anthropic's Models API does (the inverse of
// DecodeModelList): its ID is also its display name.
func ModelInfoOf(m switchboard.Model) ModelInfo {
	return ModelInfo{Type: "model", ID: m.ID, DisplayName: m.ID, CreatedAt: time.Unix(m.Created, 0).UTC().Format(time.RFC3339)}
}

// unixTime parses an RFC 3339 time as Unix seconds; 0 when it does not parse.
func unixTime(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0
	}
	return t.Unix()
}

// compactInput returns a tool_use input as compact JSON arguments; an
// absent or unreadable input is "{}".
func compactInput(in json.RawMessage) string {
	in = nullToNil(in)
	var buf bytes.Buffer
	if len(in) == 0 || json.Compact(&buf, in) != nil {
		return "{}"
	}
	return buf.String()
}

// messageIDPrefix starts every Anthropic message id.
const messageIDPrefix = "msg_"

// MessageID returns an Anthropic-style message id for a completion id:
// "msg_" ids are kept, OpenAI's "chatcmpl-" prefix is replaced.
func MessageID(id string) string {
	if strings.HasPrefix(id, messageIDPrefix) {
		return id
	}
	id = strings.TrimPrefix(id, "chatcmpl-")
	if id == "" {
		return ""
	}
	return messageIDPrefix + id
}

// toolUseID returns the id of a tool call without one: derived from the
// message id and the call's position, so it is stable.
func toolUseID(msgID string, n int) string {
	return "toolu_" + strings.TrimPrefix(msgID, messageIDPrefix) + "_" + strconv.Itoa(n)
}
