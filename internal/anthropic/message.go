package anthropic

import (
	"bytes"
	"encoding/json"

	"github.com/switchboard-ai/switchboard"
)

// FromChatResponse translates an OpenAI chat completion to a message for an
// Anthropic client: the first choice's text becomes a text block (a refusal
// too), its tool calls tool_use blocks (arguments that are not a JSON object
// become {}), finish_reason a stop_reason (StopReason) and usage Anthropic's
// (MessageUsage). fallbackID is the id used when the completion has none.
func FromChatResponse(resp *switchboard.ChatResponse, fallbackID string) *Response {
	id := MessageID(resp.ID)
	if id == "" {
		id = MessageID(fallbackID)
	}
	out := &Response{ID: id, Type: "message", Role: "assistant", Model: resp.Model, Content: []Block{}}
	finish := ""
	if len(resp.Choices) > 0 {
		c := &resp.Choices[0]
		finish = c.FinishReason
		text := c.Message.Text()
		if text == "" && c.Message.Refusal != nil {
			text = *c.Message.Refusal
			if finish == "" || finish == "stop" {
				finish = "content_filter"
			}
		}
		if text != "" {
			out.Content = append(out.Content, Block{Type: "text", Text: text})
		}
		for i, tc := range c.Message.ToolCalls {
			tid := tc.ID
			if tid == "" {
				tid = toolUseID(id, i)
			}
			out.Content = append(out.Content, Block{Type: "tool_use", ID: tid, Name: tc.Function.Name, Input: inputObject(tc.Function.Arguments)})
		}
	}
	out.StopReason = new(StopReason(finish))
	out.Usage = MessageUsage(resp.Usage)
	return out
}

// inputObject returns tool call arguments as a tool_use input: the compacted
// object, or {} for arguments that are not a JSON object (cut short by the
// length limit, say).
func inputObject(args string) json.RawMessage {
	a := bytes.TrimSpace([]byte(args))
	var buf bytes.Buffer
	if len(a) == 0 || a[0] != '{' || json.Compact(&buf, a) != nil {
		return json.RawMessage("{}")
	}
	return buf.Bytes()
}

// StopReason maps an OpenAI finish_reason to Anthropic's stop_reason:
// length → max_tokens, tool_calls and function_call → tool_use,
// content_filter → refusal, anything else → end_turn.
func StopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// MessageUsage counts an OpenAI usage as Anthropic does: cached prompt
// tokens are cache reads, the rest of the prompt is input_tokens. A nil
// usage counts nothing.
func MessageUsage(u *switchboard.Usage) Usage {
	if u == nil {
		return Usage{}
	}
	cached := min(u.CachedTokens(), u.PromptTokens)
	return Usage{InputTokens: u.PromptTokens - cached, CacheReadInputTokens: cached, OutputTokens: u.CompletionTokens}
}

// EncodeResponse returns r's JSON.
func EncodeResponse(r *Response) ([]byte, error) {
	b, err := marshal(r)
	if err != nil {
		return nil, errorf("encode message: %w", err)
	}
	return b, nil
}
