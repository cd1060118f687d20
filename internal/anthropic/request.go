package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// JSONObjectInstruction is the system instruction that stands in for
// response_format {"type":"json_object"}: Anthropic has no JSON mode.
const JSONObjectInstruction = "Respond with a single valid JSON object and nothing else: no prose, no code fences."

// JSONSchemaInstruction starts the system instruction that stands in for
// response_format {"type":"json_schema"}; the schema follows it.
const JSONSchemaInstruction = "Respond with a single valid JSON object and nothing else (no prose, no code fences) that conforms to this JSON Schema:\n"

// passThrough are the request fields outside OpenAI's API that FromChat
// copies from ChatRequest.Extra to the Anthropic request as they are, so an
// OpenAI client can use them: top_k, thinking, and mock (the fake upstream's
// test options).
var passThrough = []string{"top_k", "thinking", "mock"}

// FromChat translates an OpenAI chat request to a Messages API request for
// model. maxTokens is the max_tokens sent when the request sets neither
// max_tokens nor max_completion_tokens (Anthropic requires one).
//
// System and developer messages become the system prompt (in order,
// wherever they appear); tool results become tool_result blocks in a user
// turn; consecutive turns of one role are merged, tool results first.
// Image parts become image blocks (a data: URL inline as base64, an http(s)
// URL as a url source). response_format json_object and json_schema become
// a system instruction. temperature is capped at 1, Anthropic's maximum.
// The extra fields top_k, thinking and mock pass through. Fields Anthropic
// has no equivalent for (n above 1 aside, which is an error) are dropped:
// seed, logprobs, penalties, logit_bias, … Errors are *switchboard.Error
// values with CodeInvalidRequest naming the field.
func FromChat(req *switchboard.ChatRequest, model string, maxTokens int) (*Request, error) {
	if req.N != nil && *req.N > 1 {
		return nil, switchboard.InvalidParam("n", "Anthropic models return one choice: 'n' must be 1, got %d", *req.N)
	}
	out := &Request{Model: model, MaxTokens: req.MaxOutputTokens(), Stream: req.Stream}
	if out.MaxTokens <= 0 {
		out.MaxTokens = maxTokens
	}
	if t := req.Temperature; t != nil {
		out.Temperature = new(min(max(*t, 0), 1))
	}
	out.TopP = req.TopP
	if req.User != "" {
		out.Metadata = &Metadata{UserID: req.User}
	}
	stops, err := stopSequences(req.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stops

	for i := range req.Messages {
		if err := addMessage(out, &req.Messages[i], "messages["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	for i := range out.Messages {
		if out.Messages[i].Role == "user" {
			toolResultsFirst(out.Messages[i].Content)
		}
	}
	if inst, err := formatInstruction(req.ResponseFormat); err != nil {
		return nil, err
	} else if inst != "" {
		out.System = append(out.System, Block{Type: "text", Text: inst})
	}
	if err := addTools(out, req); err != nil {
		return nil, err
	}
	for _, k := range passThrough {
		if v, ok := req.Extra[k]; ok {
			if out.Extra == nil {
				out.Extra = make(map[string]json.RawMessage, 2)
			}
			out.Extra[k] = v
		}
	}
	return out, nil
}

// addMessage appends m's translation to out.
func addMessage(out *Request, m *switchboard.Message, param string) error {
	switch m.Role {
	case "system", "developer":
		blocks, err := contentBlocks(m.Content, param+".content", false)
		if err != nil {
			return err
		}
		for _, b := range blocks {
			if b.Type != "text" {
				return switchboard.InvalidParam(param+".content", "'%s.content' of a %s message may only hold text", param, m.Role)
			}
		}
		out.System = append(out.System, blocks...)
	case "user":
		blocks, err := contentBlocks(m.Content, param+".content", true)
		if err != nil {
			return err
		}
		appendTurn(out, "user", blocks)
	case "assistant":
		blocks, err := contentBlocks(m.Content, param+".content", false)
		if err != nil {
			return err
		}
		if m.Refusal != nil && *m.Refusal != "" && len(blocks) == 0 {
			blocks = append(blocks, Block{Type: "text", Text: *m.Refusal})
		}
		for j, tc := range m.ToolCalls {
			input, err := toolInput(tc.Function.Arguments, param+".tool_calls["+strconv.Itoa(j)+"].function.arguments")
			if err != nil {
				return err
			}
			blocks = append(blocks, Block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
		}
		appendTurn(out, "assistant", blocks)
	case "tool":
		content, err := contentBlocks(m.Content, param+".content", true)
		if err != nil {
			return err
		}
		appendTurn(out, "user", []Block{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: content}})
	default:
		return switchboard.InvalidParam(param+".role", "role %q is not supported by Anthropic models: use system, developer, user, assistant or tool", m.Role)
	}
	return nil
}

// appendTurn adds blocks as a turn of role, merged into the previous turn
// when it has the same role (Anthropic wants alternating turns). A turn
// without blocks is left out.
func appendTurn(out *Request, role string, blocks []Block) {
	if len(blocks) == 0 {
		return
	}
	if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
		out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
		return
	}
	out.Messages = append(out.Messages, Message{Role: role, Content: blocks})
}

// toolResultsFirst moves a user turn's tool_result blocks before its other
// blocks, keeping each group's order: Anthropic wants the results of the
// previous turn's tool calls to open the turn.
func toolResultsFirst(blocks Blocks) {
	results := make([]Block, 0, len(blocks))
	others := make([]Block, 0, len(blocks))
	for _, b := range blocks {
		if b.Type == "tool_result" {
			results = append(results, b)
		} else {
			others = append(others, b)
		}
	}
	if len(results) == 0 || len(others) == 0 {
		return
	}
	copy(blocks, results)
	copy(blocks[len(results):], others)
}

// contentPart is an OpenAI content part, as far as it is translated.
type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
	Refusal  string          `json:"refusal"`
}

// contentBlocks translates an OpenAI message content (a string, an array of
// parts or null) to blocks; empty text is left out (Anthropic rejects empty
// text blocks). images says whether image parts are allowed.
func contentBlocks(content json.RawMessage, param string, images bool) ([]Block, error) {
	content = bytes.TrimSpace(content)
	if len(content) == 0 || string(content) == "null" {
		return nil, nil
	}
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return nil, switchboard.InvalidParam(param, "'%s' is not a valid string", param)
		}
		if s == "" {
			return nil, nil
		}
		return []Block{{Type: "text", Text: s}}, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(content, &parts); err != nil {
		return nil, switchboard.InvalidParam(param, "'%s' must be a string or an array of content parts", param)
	}
	blocks := make([]Block, 0, len(parts))
	for i, p := range parts {
		pp := param + "[" + strconv.Itoa(i) + "]"
		switch p.Type {
		case "text":
			if p.Text != "" {
				blocks = append(blocks, Block{Type: "text", Text: p.Text})
			}
		case "refusal":
			if p.Refusal != "" {
				blocks = append(blocks, Block{Type: "text", Text: p.Refusal})
			}
		case "image_url":
			if !images {
				return nil, switchboard.InvalidParam(pp, "'%s': image parts are only allowed in user and tool messages", pp)
			}
			src, err := imageSource(p.ImageURL, pp+".image_url")
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, Block{Type: "image", Source: src})
		default:
			return nil, switchboard.InvalidParam(pp+".type", "content part type %q is not supported by Anthropic models: use text or image_url", p.Type)
		}
	}
	return blocks, nil
}

// imageSource translates an image_url part's value ({"url":…} or, in old
// clients, the URL string) to an image source: a base64 data: URL inline, an
// http(s) URL by reference.
func imageSource(v json.RawMessage, param string) (*Source, error) {
	var u struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(v, &u); err != nil {
		if json.Unmarshal(v, &u.URL) != nil {
			return nil, switchboard.InvalidParam(param, "'%s' must be an object with a url", param)
		}
	}
	switch {
	case strings.HasPrefix(u.URL, "data:"):
		meta, data, ok := strings.Cut(u.URL[len("data:"):], ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || mediaType == "" || data == "" {
			return nil, switchboard.InvalidParam(param+".url", "'%s.url' must be a base64 data URL (data:image/png;base64,…) or an http(s) URL", param)
		}
		return &Source{Type: "base64", MediaType: mediaType, Data: data}, nil
	case strings.HasPrefix(u.URL, "https://"), strings.HasPrefix(u.URL, "http://"):
		return &Source{Type: "url", URL: u.URL}, nil
	}
	return nil, switchboard.InvalidParam(param+".url", "'%s.url' must be a base64 data URL (data:image/png;base64,…) or an http(s) URL", param)
}

// toolInput returns a tool call's arguments as the tool_use input object;
// empty arguments are {}.
func toolInput(args, param string) (json.RawMessage, error) {
	a := bytes.TrimSpace([]byte(args))
	if len(a) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(a) || a[0] != '{' {
		return nil, switchboard.InvalidParam(param, "'%s' must be a JSON object to send to an Anthropic model", param)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, a); err != nil {
		return nil, switchboard.InvalidParam(param, "'%s' must be a JSON object to send to an Anthropic model", param)
	}
	return buf.Bytes(), nil
}

// stopSequences translates stop (a string or an array of strings); empty
// strings are left out.
func stopSequences(stop json.RawMessage) ([]string, error) {
	stop = bytes.TrimSpace(stop)
	if len(stop) == 0 || string(stop) == "null" {
		return nil, nil
	}
	var list []string
	if stop[0] == '"' {
		var s string
		if err := json.Unmarshal(stop, &s); err != nil {
			return nil, switchboard.InvalidParam("stop", "'stop' must be a string or an array of strings")
		}
		list = []string{s}
	} else if err := json.Unmarshal(stop, &list); err != nil {
		return nil, switchboard.InvalidParam("stop", "'stop' must be a string or an array of strings")
	}
	out := list[:0]
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// formatInstruction returns the system instruction standing in for
// response_format, or "".
func formatInstruction(rf json.RawMessage) (string, error) {
	if len(rf) == 0 {
		return "", nil
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(rf, &f); err != nil {
		return "", switchboard.InvalidParam("response_format", "'response_format' must be an object with a type")
	}
	switch f.Type {
	case "", "text":
		return "", nil
	case "json_object":
		return JSONObjectInstruction, nil
	case "json_schema":
		var schema bytes.Buffer
		if len(f.JSONSchema.Schema) == 0 || json.Compact(&schema, f.JSONSchema.Schema) != nil {
			return "", switchboard.InvalidParam("response_format.json_schema.schema", "'response_format.json_schema.schema' must be a JSON Schema object")
		}
		return JSONSchemaInstruction + schema.String(), nil
	}
	return "", switchboard.InvalidParam("response_format.type", "invalid value %q for 'response_format.type': expected one of text, json_object, json_schema", f.Type)
}

// addTools translates tools, tool_choice and parallel_tool_calls.
func addTools(out *Request, req *switchboard.ChatRequest) error {
	for i, t := range req.Tools {
		if t.Type != "" && t.Type != "function" {
			return switchboard.InvalidParam("tools["+strconv.Itoa(i)+"].type", "tool type %q is not supported by Anthropic models: use function", t.Type)
		}
		schema := t.Function.Parameters
		if len(nullToNil(schema)) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(out.Tools) == 0 {
		return nil // Anthropic rejects a tool_choice without tools.
	}
	var choice *ToolChoice
	if tc := bytes.TrimSpace(req.ToolChoice); len(tc) > 0 && string(tc) != "null" {
		c, err := toolChoice(tc)
		if err != nil {
			return err
		}
		choice = c
	}
	if p, ok := req.Extra["parallel_tool_calls"]; ok && string(bytes.TrimSpace(p)) == "false" {
		if choice == nil {
			choice = &ToolChoice{Type: "auto"}
		}
		if choice.Type != "none" {
			choice.DisableParallelToolUse = true
		}
	}
	out.ToolChoice = choice
	return nil
}

// toolChoice translates an OpenAI tool_choice: auto, none, required (any) or
// a named function (tool).
func toolChoice(tc json.RawMessage) (*ToolChoice, error) {
	if tc[0] == '"' {
		var s string
		_ = json.Unmarshal(tc, &s)
		switch s {
		case "auto":
			return &ToolChoice{Type: "auto"}, nil
		case "none":
			return &ToolChoice{Type: "none"}, nil
		case "required":
			return &ToolChoice{Type: "any"}, nil
		}
		return nil, switchboard.InvalidParam("tool_choice", "invalid value %q for 'tool_choice': expected one of auto, none, required or a function", s)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(tc, &named); err != nil || named.Function.Name == "" {
		return nil, switchboard.InvalidParam("tool_choice", "'tool_choice' must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}")
	}
	return &ToolChoice{Type: "tool", Name: named.Function.Name}, nil
}

// errorf is fmt.Errorf, prefixed with the package name.
func errorf(format string, args ...any) error {
	return fmt.Errorf("anthropic: "+format, args...)
}
