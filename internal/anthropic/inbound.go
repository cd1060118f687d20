package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// invalid returns a CodeInvalidRequest error naming param, with a message in
// Anthropic's style: "param: what is wrong".
func invalid(param, format string, args ...any) *switchboard.Error {
	msg := fmt.Sprintf(format, args...)
	if param != "" {
		msg = param + ": " + msg
	}
	return &switchboard.Error{Code: switchboard.CodeInvalidRequest, Param: param, Message: msg, Type: TypeInvalidRequest}
}

// DecodeRequest decodes and validates the body of POST /v1/messages. Errors
// are *switchboard.Error values with CodeInvalidRequest whose Param and
// message name the field at fault as Anthropic does ("messages.0.content").
// Fields the gateway does not translate are kept in Extra.
func DecodeRequest(body []byte) (*Request, error) {
	return decodeRequest(body, true)
}

// DecodeCountTokensRequest decodes and validates the body of POST
// /v1/messages/count_tokens: like DecodeRequest, without max_tokens.
func DecodeCountTokensRequest(body []byte) (*Request, error) {
	return decodeRequest(body, false)
}

// requestFields are the fields DecodeRequest translates, in the order it
// checks them.
var requestFields = []string{"model", "max_tokens", "messages", "system", "tools", "tool_choice",
	"stop_sequences", "temperature", "top_p", "stream", "metadata"}

func decodeRequest(body []byte, needMaxTokens bool) (*Request, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		return nil, invalid("", "There was an error parsing the body of your request: it must be a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, invalid("", "There was an error parsing the body of your request: it must be a JSON object")
	}
	r := &Request{}
	for k, v := range fields {
		if !slices.Contains(requestFields, k) && string(v) != "null" {
			if r.Extra == nil {
				r.Extra = make(map[string]json.RawMessage, 2)
			}
			r.Extra[k] = v
		}
	}
	for _, key := range requestFields {
		v, ok := fields[key]
		if !ok || string(v) == "null" {
			continue
		}
		var err error
		switch key {
		case "model":
			err = decodeField(v, key, "a valid string", &r.Model)
		case "max_tokens":
			err = decodeField(v, key, "a valid integer", &r.MaxTokens)
		case "system":
			err = decodeSystem(v, r)
		case "messages":
			err = decodeMessages(v, r)
		case "tools":
			err = decodeTools(v, r)
		case "tool_choice":
			err = decodeToolChoice(v, r)
		case "stop_sequences":
			err = decodeField(v, key, "a valid list of strings", &r.StopSequences)
		case "temperature":
			err = decodeField(v, key, "a valid number", &r.Temperature)
		case "top_p":
			err = decodeField(v, key, "a valid number", &r.TopP)
		case "stream":
			err = decodeField(v, key, "a valid boolean", &r.Stream)
		case "metadata":
			r.Metadata = new(Metadata)
			err = decodeField(v, key, "a valid dictionary with a string user_id", r.Metadata)
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case r.Model == "":
		return nil, invalid("model", "Field required")
	case fields["messages"] == nil || string(fields["messages"]) == "null":
		return nil, invalid("messages", "Field required")
	case len(r.Messages) == 0:
		return nil, invalid("messages", "at least one message is required")
	case needMaxTokens && fields["max_tokens"] == nil:
		return nil, invalid("max_tokens", "Field required")
	case needMaxTokens && r.MaxTokens < 1:
		return nil, invalid("max_tokens", "Input should be greater than or equal to 1")
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 1):
		return nil, invalid("temperature", "Input should be between 0 and 1")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return nil, invalid("top_p", "Input should be between 0 and 1")
	case r.ToolChoice != nil && r.ToolChoice.Type == "tool" && !hasTool(r.Tools, r.ToolChoice.Name):
		return nil, invalid("tool_choice.name", "tool %q is not in tools", r.ToolChoice.Name)
	}
	return r, nil
}

// decodeField decodes v into dst, or fails naming param and what it should be.
func decodeField(v json.RawMessage, param, want string, dst any) error {
	if err := json.Unmarshal(v, dst); err != nil {
		return invalid(param, "Input should be %s", want)
	}
	return nil
}

func hasTool(tools []Tool, name string) bool {
	for _, t := range tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

func decodeSystem(v json.RawMessage, r *Request) error {
	var blocks Blocks
	if err := blocks.UnmarshalJSON(v); err != nil {
		return invalid("system", "Input should be a valid string or a list of text blocks")
	}
	for i, b := range blocks {
		if b.Type != "text" {
			return invalid("system."+strconv.Itoa(i)+".type", "Input should be 'text'")
		}
	}
	r.System = blocks
	return nil
}

func decodeMessages(v json.RawMessage, r *Request) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return invalid("messages", "Input should be a valid list")
	}
	r.Messages = make([]Message, 0, len(raw))
	for i, m := range raw {
		p := "messages." + strconv.Itoa(i)
		var msg struct {
			Role    *string         `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			return invalid(p, "Input should be a valid dictionary with a role and content")
		}
		switch {
		case msg.Role == nil:
			return invalid(p+".role", "Field required")
		case *msg.Role != "user" && *msg.Role != "assistant":
			return invalid(p+".role", "Input should be 'user' or 'assistant'")
		case len(nullToNil(msg.Content)) == 0:
			return invalid(p+".content", "Field required")
		}
		content, err := decodeContent(msg.Content, p+".content", *msg.Role)
		if err != nil {
			return err
		}
		r.Messages = append(r.Messages, Message{Role: *msg.Role, Content: content})
	}
	return nil
}

// decodeContent decodes a message's content (a string or blocks) and checks
// every block is one the gateway translates for role.
func decodeContent(v json.RawMessage, param, role string) (Blocks, error) {
	v = bytes.TrimSpace(v)
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, invalid(param, "Input should be a valid string")
		}
		return Blocks{{Type: "text", Text: s}}, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, invalid(param, "Input should be a valid string or a list of content blocks")
	}
	blocks := make(Blocks, 0, len(raw))
	for i, rb := range raw {
		p := param + "." + strconv.Itoa(i)
		var b Block
		if err := b.UnmarshalJSON(rb); err != nil || rb[0] != '{' {
			return nil, invalid(p, "Input should be a valid content block")
		}
		if err := checkBlock(&b, p, role); err != nil {
			return nil, err
		}
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// checkBlock validates one content block of a role's message.
func checkBlock(b *Block, p, role string) error {
	switch b.Type {
	case "":
		return invalid(p+".type", "Field required")
	case "text":
		return nil
	case "image":
		if role != "user" {
			return invalid(p+".type", "image blocks are only allowed in user messages")
		}
		return checkImage(b.Source, p+".source")
	case "tool_use":
		switch {
		case role != "assistant":
			return invalid(p+".type", "tool_use blocks are only allowed in assistant messages")
		case b.ID == "":
			return invalid(p+".id", "Field required")
		case b.Name == "":
			return invalid(p+".name", "Field required")
		case len(nullToNil(b.Input)) > 0 && bytes.TrimSpace(b.Input)[0] != '{':
			return invalid(p+".input", "Input should be a valid dictionary")
		}
		return nil
	case "tool_result":
		if role != "user" {
			return invalid(p+".type", "tool_result blocks are only allowed in user messages")
		}
		if b.ToolUseID == "" {
			return invalid(p+".tool_use_id", "Field required")
		}
		for i, c := range b.Content {
			cp := p + ".content." + strconv.Itoa(i)
			switch c.Type {
			case "text":
			case "image":
				if err := checkImage(c.Source, cp+".source"); err != nil {
					return err
				}
			default:
				return invalid(cp+".type", "content block type %q in a tool result is not supported by this gateway: use text or image", c.Type)
			}
		}
		return nil
	case "thinking", "redacted_thinking":
		if role != "assistant" {
			return invalid(p+".type", "%s blocks are only allowed in assistant messages", b.Type)
		}
		return nil
	}
	return invalid(p+".type", "content block type %q is not supported by this gateway: use text, image, tool_use or tool_result", b.Type)
}

func checkImage(s *Source, p string) error {
	if s == nil {
		return invalid(p, "Field required")
	}
	switch s.Type {
	case "base64":
		switch {
		case s.MediaType == "":
			return invalid(p+".media_type", "Field required")
		case !strings.HasPrefix(s.MediaType, "image/"):
			return invalid(p+".media_type", "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
		case s.Data == "":
			return invalid(p+".data", "Field required")
		}
	case "url":
		if !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			return invalid(p+".url", "Input should be an http(s) URL")
		}
	case "":
		return invalid(p+".type", "Field required")
	default:
		return invalid(p+".type", "image source type %q is not supported by this gateway: use base64 or url", s.Type)
	}
	return nil
}

func decodeTools(v json.RawMessage, r *Request) error {
	if err := json.Unmarshal(v, &r.Tools); err != nil {
		return invalid("tools", "Input should be a valid list of tools")
	}
	for i, t := range r.Tools {
		p := "tools." + strconv.Itoa(i)
		switch {
		case t.Type != "" && t.Type != "custom":
			return invalid(p+".type", "server tool %q is not supported by this gateway: only client tools (name, description, input_schema) are", t.Type)
		case t.Name == "":
			return invalid(p+".name", "Field required")
		case len(nullToNil(t.InputSchema)) == 0:
			return invalid(p+".input_schema", "Field required")
		case bytes.TrimSpace(t.InputSchema)[0] != '{':
			return invalid(p+".input_schema", "Input should be a valid dictionary")
		}
	}
	return nil
}

func decodeToolChoice(v json.RawMessage, r *Request) error {
	var c ToolChoice
	if err := json.Unmarshal(v, &c); err != nil {
		return invalid("tool_choice", "Input should be a valid dictionary with a type")
	}
	switch c.Type {
	case "auto", "any", "none":
	case "tool":
		if c.Name == "" {
			return invalid("tool_choice.name", "Field required")
		}
	case "":
		return invalid("tool_choice.type", "Field required")
	default:
		return invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
	}
	r.ToolChoice = &c
	return nil
}

// ToChat translates a decoded Messages request to an OpenAI chat request
// (Raw nil: it is built, not received). The system prompt becomes a system
// message (blocks joined by blank lines); tool_result blocks become tool
// messages, placed before the rest of their user turn (images in a tool
// result move to that user message); tool_use blocks become tool calls;
// thinking blocks are dropped. A stream asks for the usage chunk.
// stop_sequences, tools, tool_choice (any → required, disable_parallel_tool_use
// → parallel_tool_calls: false), max_tokens, temperature, top_p and
// metadata.user_id (→ user) are translated; the mock test options are kept;
// other fields (top_k, thinking, …) are dropped.
func ToChat(r *Request) (*switchboard.ChatRequest, error) {
	out := &switchboard.ChatRequest{Model: r.Model, Stream: r.Stream, Temperature: r.Temperature, TopP: r.TopP}
	if r.MaxTokens > 0 {
		out.MaxTokens = new(r.MaxTokens)
	}
	if r.Stream {
		out.StreamOptions = &switchboard.StreamOptions{IncludeUsage: true}
	}
	if r.Metadata != nil {
		out.User = r.Metadata.UserID
	}
	if len(r.StopSequences) > 0 {
		b, err := json.Marshal(r.StopSequences)
		if err != nil {
			return nil, errorf("encode stop: %w", err)
		}
		out.Stop = b
	}
	if len(r.System) > 0 {
		texts := make([]string, 0, len(r.System))
		for _, b := range r.System {
			texts = append(texts, b.Text)
		}
		out.Messages = append(out.Messages, switchboard.Message{Role: "system", Content: switchboard.TextContent(strings.Join(texts, "\n\n"))})
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Role == "assistant" {
			if msg, ok := assistantMessage(m.Content); ok {
				out.Messages = append(out.Messages, msg)
			}
			continue
		}
		out.Messages = append(out.Messages, userMessages(m.Content)...)
	}
	for _, t := range r.Tools {
		out.Tools = append(out.Tools, switchboard.ToolDef{Type: "function",
			Function: switchboard.FunctionDef{Name: t.Name, Description: t.Description, Parameters: t.InputSchema}})
	}
	if c := r.ToolChoice; c != nil && len(r.Tools) > 0 {
		switch c.Type {
		case "auto":
			out.ToolChoice = json.RawMessage(`"auto"`)
		case "any":
			out.ToolChoice = json.RawMessage(`"required"`)
		case "none":
			out.ToolChoice = json.RawMessage(`"none"`)
		case "tool":
			b, err := marshal(namedChoice{Type: "function", Function: namedFunction{Name: c.Name}})
			if err != nil {
				return nil, errorf("encode tool_choice: %w", err)
			}
			out.ToolChoice = b
		}
		if c.DisableParallelToolUse && c.Type != "none" {
			out.Extra = map[string]json.RawMessage{"parallel_tool_calls": json.RawMessage("false")}
		}
	}
	if m, ok := r.Extra["mock"]; ok {
		if out.Extra == nil {
			out.Extra = make(map[string]json.RawMessage, 1)
		}
		out.Extra["mock"] = m
	}
	return out, nil
}

// namedChoice is OpenAI's tool_choice naming one function.
type namedChoice struct {
	Type     string        `json:"type"`
	Function namedFunction `json:"function"`
}

type namedFunction struct {
	Name string `json:"name"`
}

// assistantMessage translates an assistant turn; ok is false for a turn
// with nothing to send (only thinking blocks).
func assistantMessage(blocks Blocks) (switchboard.Message, bool) {
	msg := switchboard.Message{Role: "assistant"}
	var text strings.Builder
	for _, b := range blocks {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			args := compactInput(b.Input)
			msg.ToolCalls = append(msg.ToolCalls, switchboard.ToolCall{ID: b.ID, Type: "function",
				Function: switchboard.FunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	if text.Len() > 0 {
		msg.Content = switchboard.TextContent(text.String())
	}
	return msg, text.Len() > 0 || len(msg.ToolCalls) > 0
}

// userMessages translates a user turn: one tool message per tool_result
// block, then a user message with the other blocks (and the images of the
// tool results, which OpenAI's tool messages cannot hold).
func userMessages(blocks Blocks) []switchboard.Message {
	var out []switchboard.Message
	var parts []part
	for _, b := range blocks {
		switch b.Type {
		case "tool_result":
			var text strings.Builder
			for _, c := range b.Content {
				switch c.Type {
				case "text":
					if text.Len() > 0 {
						text.WriteByte('\n')
					}
					text.WriteString(c.Text)
				case "image":
					parts = append(parts, imagePart(c.Source))
				}
			}
			out = append(out, switchboard.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: switchboard.TextContent(text.String())})
		case "text":
			parts = append(parts, part{Type: "text", Text: b.Text})
		case "image":
			parts = append(parts, imagePart(b.Source))
		}
	}
	switch {
	case len(parts) == 0:
	case len(parts) == 1 && parts[0].Type == "text":
		out = append(out, switchboard.Message{Role: "user", Content: switchboard.TextContent(parts[0].Text)})
	default:
		content, _ := marshal(parts)
		out = append(out, switchboard.Message{Role: "user", Content: content})
	}
	return out
}

// part is an OpenAI content part as ToChat writes it.
type part struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

// imagePart returns an image_url part for an image source: base64 data as a
// data: URL, a url source as its URL.
func imagePart(s *Source) part {
	if s == nil {
		return part{Type: "image_url", ImageURL: &imageURL{}}
	}
	if s.Type == "base64" {
		return part{Type: "image_url", ImageURL: &imageURL{URL: "data:" + s.MediaType + ";base64," + s.Data}}
	}
	return part{Type: "image_url", ImageURL: &imageURL{URL: s.URL}}
}
