package fakeupstream

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// The top-level fields Anthropic accepts; any other is rejected, as
// Anthropic does ("Extra inputs are not permitted"). "mock" is the fake's own.
var (
	anthropicMessageFields = []string{"model", "messages", "max_tokens", "system", "stream", "temperature", "top_p", "top_k",
		"stop_sequences", "tools", "tool_choice", "metadata", "thinking", "service_tier", "container", "mcp_servers",
		"context_management", "mock"}
	anthropicCountFields = []string{"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers",
		"context_management", "mock"}
	anthropicImageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}
)

// checkAnthropic validates a decoded Messages request the way Anthropic
// does beyond the required fields: no unknown top-level fields, well-formed
// content blocks (non-empty text, images with a supported media type and
// valid base64 or an http(s) URL, tool_use only from the assistant,
// tool_result only from the user), every tool_use answered by a tool_result
// in the next message and every tool_result answering a tool_use of the
// previous one, tools with a name and an input_schema, a known tool_choice
// and temperature within [0, 1]. It returns Anthropic's error message, or "".
func checkAnthropic(body []byte, req *anthropicRequest, counting bool) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return "There was an error parsing the body of your request"
	}
	allowed := anthropicMessageFields
	if counting {
		allowed = anthropicCountFields
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return k + ": Extra inputs are not permitted"
		}
	}
	blocks := make([][]anthropicBlock, len(req.Messages))
	for i, m := range req.Messages {
		p := "messages." + strconv.Itoa(i)
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			if s == "" && i < len(req.Messages)-1 {
				return p + ": all messages must have non-empty content except for the optional final assistant message"
			}
			continue
		}
		if json.Unmarshal(m.Content, &blocks[i]) != nil {
			return p + ".content: Input should be a valid string or a list of content blocks"
		}
		for j, b := range blocks[i] {
			if msg := checkAnthropicBlock(b, m.Role, p+".content."+strconv.Itoa(j)); msg != "" {
				return msg
			}
		}
	}
	if msg := checkToolPairs(req.Messages, blocks); msg != "" {
		return msg
	}
	for i, t := range req.Tools {
		switch {
		case t.Name == "":
			return "tools." + strconv.Itoa(i) + ".name: Field required"
		case len(t.InputSchema) == 0:
			return "tools." + strconv.Itoa(i) + ".input_schema: Field required"
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch {
		case tc.Type != "auto" && tc.Type != "any" && tc.Type != "tool" && tc.Type != "none":
			return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
		case tc.Type == "tool" && tc.Name == "":
			return "tool_choice.name: Field required"
		case len(req.Tools) == 0:
			return "tool_choice: tool_choice may only be specified while providing tools"
		}
	}
	if req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1) {
		return "temperature: Input should be less than or equal to 1"
	}
	return ""
}

// checkAnthropicBlock validates one content block of a role's message.
func checkAnthropicBlock(b anthropicBlock, role, p string) string {
	switch b.Type {
	case "text":
		if b.Text == nil || *b.Text == "" {
			return "messages: text content blocks must be non-empty"
		}
	case "image":
		return checkAnthropicImage(b.Source, p+".source")
	case "tool_use":
		switch {
		case role != "assistant":
			return p + ".type: tool_use blocks may only appear in assistant messages"
		case b.ID == "" || b.Name == "":
			return p + ": tool_use blocks need an id and a name"
		case len(b.Input) == 0 || b.Input[0] != '{':
			return p + ".input: Input should be a valid dictionary"
		}
	case "tool_result":
		if role != "user" {
			return p + ".type: tool_result blocks may only appear in user messages"
		}
		var inner []anthropicBlock
		if json.Unmarshal(b.Content, &inner) == nil {
			for k, c := range inner {
				if msg := checkAnthropicBlock(c, role, p+".content."+strconv.Itoa(k)); msg != "" {
					return msg
				}
			}
		}
	case "thinking", "redacted_thinking", "document":
	case "":
		return p + ".type: Field required"
	default:
		return p + ".type: Input tag '" + b.Type + "' found using 'type' does not match any of the expected tags"
	}
	return ""
}

func checkAnthropicImage(s *anthropicSource, p string) string {
	if s == nil {
		return p + ": Field required"
	}
	switch s.Type {
	case "base64":
		if !slices.Contains(anthropicImageTypes, s.MediaType) {
			return p + ".media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
		}
		if _, err := base64.StdEncoding.DecodeString(s.Data); err != nil || s.Data == "" {
			return p + ".data: Input should be valid base64 data"
		}
	case "url":
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return p + ".url: Input should be a valid URL"
		}
	default:
		return p + ".type: Input tag '" + s.Type + "' found using 'type' does not match any of the expected tags: 'base64', 'url'"
	}
	return ""
}

// checkToolPairs checks that the tool_use blocks of every assistant message
// are answered by tool_result blocks in the next message, and that every
// tool_result answers a tool_use of the previous message.
func checkToolPairs(msgs []anthropicMessage, blocks [][]anthropicBlock) string {
	for i := range msgs {
		var uses []string
		if msgs[i].Role == "assistant" {
			for _, b := range blocks[i] {
				if b.Type == "tool_use" {
					uses = append(uses, b.ID)
				}
			}
		}
		var prev []string
		if i > 0 && msgs[i-1].Role == "assistant" {
			for _, b := range blocks[i-1] {
				if b.Type == "tool_use" {
					prev = append(prev, b.ID)
				}
			}
		}
		for j, b := range blocks[i] {
			if b.Type == "tool_result" && !slices.Contains(prev, b.ToolUseID) {
				return "messages." + strconv.Itoa(i) + ".content." + strconv.Itoa(j) + ": unexpected `tool_use_id` found in `tool_result` blocks: " +
					b.ToolUseID + ". Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
			}
		}
		if len(uses) == 0 {
			continue
		}
		var answered []string
		if i+1 < len(msgs) {
			for _, b := range blocks[i+1] {
				if b.Type == "tool_result" {
					answered = append(answered, b.ToolUseID)
				}
			}
		}
		for _, id := range uses {
			if !slices.Contains(answered, id) {
				return "messages." + strconv.Itoa(i) + ": `tool_use` ids were found without `tool_result` blocks immediately after: " + id +
					". Each `tool_use` block must have a corresponding `tool_result` block in the next message."
			}
		}
	}
	return ""
}
