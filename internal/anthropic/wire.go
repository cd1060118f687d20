// Package anthropic holds the wire types of Anthropic's Messages API
// (https://docs.anthropic.com/en/api/messages) and every translation between
// them and Switchboard's OpenAI-shaped types, in both directions:
//
//   - FromChat, ToChatResponse and ChunkTranslator serve the anthropic
//     provider (an OpenAI-shaped request sent to Anthropic);
//   - DecodeRequest, ToChat, FromChatResponse and EventEncoder serve the
//     inbound POST /v1/messages endpoint (an Anthropic client served by any
//     provider).
//
// The translations are pure functions of their input (plus the state of a
// stream), so they are tested with golden files.
package anthropic

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Request is a Messages API request body: POST /v1/messages, or with
// CountTokensBody, POST /v1/messages/count_tokens.
type Request struct {
	Model         string      `json:"model"`
	MaxTokens     int         `json:"max_tokens,omitempty"`
	System        Blocks      `json:"system,omitempty"`
	Messages      []Message   `json:"messages"`
	Tools         []Tool      `json:"tools,omitempty"`
	ToolChoice    *ToolChoice `json:"tool_choice,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TopP          *float64    `json:"top_p,omitempty"`
	Metadata      *Metadata   `json:"metadata,omitempty"`
	Stream        bool        `json:"stream,omitempty"`

	// Extra holds further fields, sent verbatim after the others (top_k,
	// thinking, …) and, decoding, the fields the gateway keeps but does not
	// translate.
	Extra map[string]json.RawMessage `json:"-"`
}

// MarshalJSON encodes the request with its Extra fields, sorted by key.
func (r Request) MarshalJSON() ([]byte, error) {
	type plain Request
	b, err := marshal(plain(r))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, r.Extra), nil
}

// CountTokensBody returns the body of a count_tokens request for r: the
// fields that endpoint accepts (model, system, messages, tools, tool_choice,
// thinking, and the fake upstream's mock options), without max_tokens,
// sampling and streaming.
func (r *Request) CountTokensBody() ([]byte, error) {
	c := Request{Model: r.Model, System: r.System, Messages: r.Messages, Tools: r.Tools, ToolChoice: r.ToolChoice}
	if t, ok := r.Extra["thinking"]; ok {
		c.Extra = map[string]json.RawMessage{"thinking": t}
	}
	if m, ok := r.Extra["mock"]; ok {
		if c.Extra == nil {
			c.Extra = map[string]json.RawMessage{}
		}
		c.Extra["mock"] = m
	}
	return c.MarshalJSON()
}

// Metadata is the request's metadata object.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Message is one conversational turn: role "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content Blocks `json:"content"`
}

// Blocks is a content value: a list of content blocks. It encodes as a plain
// string when it is one text block with nothing else, as clients write it.
type Blocks []Block

// MarshalJSON implements json.Marshaler.
func (bs Blocks) MarshalJSON() ([]byte, error) {
	if len(bs) == 1 && bs[0].Type == "text" && len(bs[0].CacheControl) == 0 && len(bs[0].Citations) == 0 {
		return marshal(bs[0].Text)
	}
	if bs == nil {
		return []byte("[]"), nil
	}
	return marshal([]Block(bs))
}

// UnmarshalJSON accepts a string (one text block) or an array of blocks.
func (bs *Blocks) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*bs = Blocks{{Type: "text", Text: s}}
		return nil
	}
	var list []Block
	if err := json.Unmarshal(data, &list); err != nil {
		return err
	}
	*bs = list
	return nil
}

// Block is a content block. Type decides which fields are set: text (Text),
// image (Source), tool_use (ID, Name, Input), tool_result
// (ToolUseID, Content, IsError), thinking (Thinking, Signature),
// redacted_thinking (Data). A block of any other type keeps its JSON in Raw.
type Block struct {
	Type         string
	Text         string
	Source       *Source
	ID           string
	Name         string
	Input        json.RawMessage
	ToolUseID    string
	Content      Blocks
	IsError      bool
	Thinking     string
	Signature    string
	Data         string
	CacheControl json.RawMessage
	Citations    json.RawMessage
	// Raw is the block as received; it is what a block of an unknown type encodes as.
	Raw json.RawMessage
}

// blockJSON is the union of the fields of every block type, for decoding.
type blockJSON struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	Source       *Source         `json:"source"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      bool            `json:"is_error"`
	Thinking     string          `json:"thinking"`
	Signature    string          `json:"signature"`
	Data         string          `json:"data"`
	CacheControl json.RawMessage `json:"cache_control"`
	Citations    json.RawMessage `json:"citations"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (b *Block) UnmarshalJSON(data []byte) error {
	var j blockJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*b = Block{
		Type: j.Type, Source: j.Source, ID: j.ID, Name: j.Name, Input: j.Input,
		ToolUseID: j.ToolUseID, IsError: j.IsError, Thinking: j.Thinking, Signature: j.Signature,
		Data: j.Data, CacheControl: nullToNil(j.CacheControl), Citations: nullToNil(j.Citations),
	}
	switch j.Type {
	case "text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking":
	default:
		b.Raw = bytes.Clone(data)
	}
	if j.Text != nil {
		b.Text = *j.Text
	}
	if c := nullToNil(j.Content); c != nil {
		if err := b.Content.UnmarshalJSON(c); err != nil {
			return err
		}
	}
	return nil
}

// MarshalJSON encodes the fields of the block's type, in Anthropic's order.
func (b Block) MarshalJSON() ([]byte, error) {
	switch b.Type {
	case "text":
		return marshal(struct {
			Type         string          `json:"type"`
			Text         string          `json:"text"`
			Citations    json.RawMessage `json:"citations,omitempty"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.Text, b.Citations, b.CacheControl})
	case "image":
		return marshal(struct {
			Type         string          `json:"type"`
			Source       *Source         `json:"source"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.Source, b.CacheControl})
	case "tool_use":
		input := b.Input
		if len(bytes.TrimSpace(input)) == 0 {
			input = json.RawMessage("{}")
		}
		return marshal(struct {
			Type         string          `json:"type"`
			ID           string          `json:"id"`
			Name         string          `json:"name"`
			Input        json.RawMessage `json:"input"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.ID, b.Name, input, b.CacheControl})
	case "tool_result":
		var content Blocks
		if len(b.Content) > 0 {
			content = b.Content
		}
		return marshal(struct {
			Type         string          `json:"type"`
			ToolUseID    string          `json:"tool_use_id"`
			Content      Blocks          `json:"content,omitempty"`
			IsError      bool            `json:"is_error,omitempty"`
			CacheControl json.RawMessage `json:"cache_control,omitempty"`
		}{b.Type, b.ToolUseID, content, b.IsError, b.CacheControl})
	case "thinking":
		return marshal(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	case "redacted_thinking":
		return marshal(struct {
			Type string `json:"type"`
			Data string `json:"data"`
		}{b.Type, b.Data})
	}
	if len(b.Raw) > 0 {
		return b.Raw, nil
	}
	return marshal(struct {
		Type string `json:"type"`
	}{b.Type})
}

// Source is where an image or document block's data comes from: inline
// base64 data ("base64") or a URL ("url").
type Source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// Tool is a client tool the model may call. Server tools (web search, code
// execution, …) have a Type and are not translated.
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ToolChoice is the request's tool_choice: type auto, any, tool (with Name)
// or none.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Response is a message: the body of a non-streamed response, and the
// message of a message_start event.
type Response struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage counts a message's tokens. The whole prompt is InputTokens +
// CacheCreationInputTokens + CacheReadInputTokens.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

// Event is one streaming event's data, decoded: the union of the fields of
// message_start, content_block_start/delta/stop, message_delta,
// message_stop, ping and error.
type Event struct {
	Type         string       `json:"type"`
	Message      *Response    `json:"message"`
	Index        int          `json:"index"`
	ContentBlock *Block       `json:"content_block"`
	Delta        *Delta       `json:"delta"`
	Usage        *Usage       `json:"usage"`
	Error        *ErrorDetail `json:"error"`
}

// Delta is the delta of a content_block_delta (text_delta, input_json_delta,
// thinking_delta, signature_delta, …) or of a message_delta (StopReason).
type Delta struct {
	Type         string  `json:"type"`
	Text         string  `json:"text"`
	PartialJSON  string  `json:"partial_json"`
	Thinking     string  `json:"thinking"`
	Signature    string  `json:"signature"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// ErrorBody is Anthropic's error envelope:
// {"type":"error","error":{"type":…,"message":…}}.
type ErrorBody struct {
	Type      string      `json:"type"`
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorDetail is the error object of an ErrorBody.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ModelList is a page of GET /v1/models.
type ModelList struct {
	Data    []ModelInfo `json:"data"`
	HasMore bool        `json:"has_more"`
	FirstID string      `json:"first_id"`
	LastID  string      `json:"last_id"`
}

// ModelInfo is one model of a ModelList.
type ModelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// TokenCount is the answer of count_tokens.
type TokenCount struct {
	InputTokens int `json:"input_tokens"`
}

// marshal encodes v as JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// appendExtra splices extra fields, sorted by key, into the encoded object b.
func appendExtra(b []byte, extra map[string]json.RawMessage) []byte {
	if len(extra) == 0 {
		return b
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = b[:len(b)-1]
	for _, k := range keys {
		if len(b) > 1 {
			b = append(b, ',')
		}
		kb, _ := marshal(k)
		b = append(b, kb...)
		b = append(b, ':')
		b = append(b, extra[k]...)
	}
	return append(b, '}')
}

// nullToNil returns nil for an absent or null JSON value.
func nullToNil(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}
