package mock

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// The models the mock serves. Any other model name behaves like ModelEcho.
const (
	// ModelEcho replies with the text of the last user message.
	ModelEcho = "mock-echo"
	// ModelLorem replies with Options.Words words of lorem ipsum.
	ModelLorem = "mock-lorem"
	// ModelTools calls a tool when the request offers tools.
	ModelTools = "mock-tools"
)

// DefaultWords is the length of a mock-lorem reply when the words option is not set.
const DefaultWords = 16

// SystemFingerprint is the system_fingerprint of every mock completion.
const SystemFingerprint = "fp_mock"

// The finish reasons of a choice, as OpenAI spells them.
const (
	FinishStop      = "stop"
	FinishLength    = "length"
	FinishToolCalls = "tool_calls"
)

// Completion is the outcome of a chat request, independent of any wire
// format: the OpenAI encoders in this package and the Anthropic encoder of
// fakeupstream render it. Everything but the IDs and Created is a pure
// function of the request and the options.
type Completion struct {
	// ID is "chatcmpl-" and 24 random hex digits.
	ID string
	// Created is the Unix time of generation.
	Created int64
	// Model is the model name echoed in the response.
	Model string
	// Choices holds one Output per requested choice (the request's n).
	Choices []Output
	// PromptTokens is the deterministic prompt size estimate (EstimatePromptTokens).
	PromptTokens int
}

// Output is one generated choice: either text or a tool call.
type Output struct {
	// Pieces are the text's tokens, as streamed: a word with its leading
	// white space. They concatenate to the reply text.
	Pieces []string
	// ToolCall, when set, replaces the text.
	ToolCall *ToolCallOutput
	// FinishReason is FinishStop, FinishLength or FinishToolCalls.
	FinishReason string
	// StopSequence is the request's stop sequence that ended the text, if one did.
	StopSequence string
}

// ToolCallOutput is a generated call of a function.
type ToolCallOutput struct {
	// ID is "call_" and 24 random hex digits.
	ID string
	// Name is the called function's name.
	Name string
	// Pieces are the JSON arguments' tokens, as streamed. They concatenate to
	// the arguments (which are cut short, so not valid JSON, when the output
	// hit max_tokens).
	Pieces []string
}

// Text returns the reply text: its pieces joined.
func (o *Output) Text() string {
	if len(o.Pieces) == 1 {
		return o.Pieces[0]
	}
	return strings.Join(o.Pieces, "")
}

// Arguments returns the tool call's JSON arguments.
func (t *ToolCallOutput) Arguments() string { return strings.Join(t.Pieces, "") }

// Tokens returns the output's completion tokens: the number of its pieces.
func (o *Output) Tokens() int {
	if o.ToolCall != nil {
		return len(o.ToolCall.Pieces)
	}
	return len(o.Pieces)
}

// CompletionTokens returns the completion tokens of all choices.
func (c *Completion) CompletionTokens() int {
	n := 0
	for i := range c.Choices {
		n += c.Choices[i].Tokens()
	}
	return n
}

// Usage returns the completion's usage in OpenAI's shape.
func (c *Completion) Usage() *switchboard.Usage {
	out := c.CompletionTokens()
	return &switchboard.Usage{
		PromptTokens:            c.PromptTokens,
		CompletionTokens:        out,
		TotalTokens:             c.PromptTokens + out,
		PromptTokensDetails:     &switchboard.PromptTokensDetails{},
		CompletionTokensDetails: &switchboard.CompletionTokensDetails{},
	}
}

// Generate runs the mock model on req. model is the model to act as (the
// upstream model name); empty means req.Model. The only errors are
// CodeInvalidRequest errors for requests a real upstream would reject too
// (n out of range, tool_choice naming an unknown function).
func Generate(model string, req *switchboard.ChatRequest, opts Options) (*Completion, error) {
	if model == "" {
		model = req.Model
	}
	n := 1
	if req.N != nil {
		n = *req.N
		if n < 1 || n > 128 {
			return nil, switchboard.InvalidParam("n", "'n' must be between 1 and 128, got %d", n)
		}
	}
	limit := req.MaxOutputTokens()
	c := &Completion{
		ID:           newID("chatcmpl-"),
		Created:      time.Now().Unix(),
		Model:        model,
		Choices:      make([]Output, n),
		PromptTokens: EstimatePromptTokens(req.Messages),
	}

	var tool *switchboard.FunctionDef
	if model == ModelTools && len(req.Tools) > 0 && !lastIsToolResult(req.Messages) {
		var err error
		if tool, err = chooseTool(req.Tools, req.ToolChoice); err != nil {
			return nil, err
		}
	}
	if tool != nil {
		args := ArgumentsFromSchema(tool.Parameters)
		pieces, finish := cut(splitJSON(args), limit, FinishToolCalls)
		for i := range c.Choices {
			c.Choices[i] = Output{
				ToolCall:     &ToolCallOutput{ID: newID("call_"), Name: tool.Name, Pieces: pieces},
				FinishReason: finish,
			}
		}
		return c, nil
	}

	var pieces []string
	switch {
	case opts.Content != nil:
		pieces = splitWords(replyFormat(*opts.Content, req.ResponseFormat))
	case model == ModelLorem:
		words := opts.Words
		if words == 0 {
			words = DefaultWords
		}
		if limit > 0 && limit < words {
			words = limit + 1 // enough to know it was cut; cut() trims it
		}
		if req.ResponseFormat != nil && formatType(req.ResponseFormat) != "text" {
			pieces = splitWords(replyFormat(strings.Join(lorem(words), ""), req.ResponseFormat))
		} else {
			pieces = lorem(words)
		}
	default:
		pieces = splitWords(replyFormat(replyText(model, req.Messages), req.ResponseFormat))
	}
	pieces, matched := stopAt(pieces, stopSequences(req.Stop))
	pieces, finish := cut(pieces, limit, FinishStop)
	if finish != FinishStop {
		matched = ""
	}
	for i := range c.Choices {
		c.Choices[i] = Output{Pieces: pieces, FinishReason: finish, StopSequence: matched}
	}
	return c, nil
}

// cut keeps at most limit pieces (limit <= 0: all), reporting FinishLength
// when it dropped some and done otherwise.
func cut(pieces []string, limit int, done string) ([]string, string) {
	if limit > 0 && len(pieces) > limit {
		return pieces[:limit], FinishLength
	}
	return pieces, done
}

// stopSequences reads the request's stop: a string or an array of strings
// (empty ones are ignored, as a real upstream matches nothing with them).
func stopSequences(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return slices.DeleteFunc(many, func(s string) bool { return s == "" })
}

// stopAt ends the text before the first occurrence of any stop sequence,
// which is not part of the reply (as with OpenAI and Anthropic), and returns
// the sequence that matched.
func stopAt(pieces []string, stops []string) ([]string, string) {
	if len(stops) == 0 {
		return pieces, ""
	}
	text := strings.Join(pieces, "")
	end, matched := -1, ""
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 && (end < 0 || i < end) {
			end, matched = i, s
		}
	}
	if end < 0 {
		return pieces, ""
	}
	out := make([]string, 0, len(pieces))
	for _, p := range pieces {
		if end <= 0 {
			break
		}
		if len(p) > end {
			p = p[:end]
		}
		out = append(out, p)
		end -= len(p)
	}
	return out, matched
}

// replyText is the echo: the text of the last user message, or, for
// mock-tools answering a tool result, the text of that result.
func replyText(model string, msgs []switchboard.Message) string {
	if model == ModelTools && lastIsToolResult(msgs) {
		if s := msgs[len(msgs)-1].Text(); s != "" {
			return s
		}
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			if s := msgs[i].Text(); s != "" {
				return s
			}
			break
		}
	}
	return "(empty)"
}

func lastIsToolResult(msgs []switchboard.Message) bool {
	return len(msgs) > 0 && (msgs[len(msgs)-1].Role == "tool" || msgs[len(msgs)-1].Role == "function")
}

// formatType returns response_format.type, "" when absent or unreadable.
func formatType(rf json.RawMessage) string {
	if len(rf) == 0 {
		return ""
	}
	var f struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(rf, &f)
	return f.Type
}

// replyFormat applies response_format to a reply: json_object wraps the text
// as {"echo": text}; json_schema fills an object from the schema.
func replyFormat(text string, rf json.RawMessage) string {
	switch formatType(rf) {
	case "json_object":
		b := make([]byte, 0, len(text)+16)
		b = append(b, `{"echo": `...)
		b = appendString(b, text)
		return string(append(b, '}'))
	case "json_schema":
		var f struct {
			JSONSchema struct {
				Schema json.RawMessage `json:"schema"`
			} `json:"json_schema"`
		}
		_ = json.Unmarshal(rf, &f)
		return ArgumentsFromSchema(f.JSONSchema.Schema)
	}
	return text
}

// chooseTool picks the function to call: the one tool_choice names, none for
// tool_choice "none", else the first tool.
func chooseTool(tools []switchboard.ToolDef, choice json.RawMessage) (*switchboard.FunctionDef, error) {
	choice = bytes.TrimSpace(choice)
	if len(choice) > 0 && choice[0] == '"' {
		var s string
		_ = json.Unmarshal(choice, &s)
		if s == "none" {
			return nil, nil
		}
		return &tools[0].Function, nil
	}
	if len(choice) > 0 && choice[0] == '{' {
		var c struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(choice, &c) == nil && c.Function.Name != "" {
			for i := range tools {
				if tools[i].Function.Name == c.Function.Name {
					return &tools[i].Function, nil
				}
			}
			return nil, switchboard.InvalidParam("tool_choice", "Invalid value for 'tool_choice': function %q was not found in 'tools'.", c.Function.Name)
		}
	}
	return &tools[0].Function, nil
}

// ArgumentsFromSchema returns a compact JSON object with one field per
// property of the JSON schema, in the schema's order: strings are "test" (or
// the first enum value), numbers and integers 1, booleans true, anything else
// null. A schema without properties gives {}.
func ArgumentsFromSchema(schema json.RawMessage) string {
	var s struct {
		Properties json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil || len(s.Properties) == 0 {
		return "{}"
	}
	dec := json.NewDecoder(bytes.NewReader(s.Properties))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "{}"
	}
	b := []byte{'{'}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "{}"
		}
		name, _ := tok.(string)
		var prop struct {
			Type json.RawMessage   `json:"type"`
			Enum []json.RawMessage `json:"enum"`
		}
		if err := dec.Decode(&prop); err != nil {
			return "{}"
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		switch {
		case len(prop.Enum) > 0 && json.Valid(prop.Enum[0]):
			var v bytes.Buffer
			if json.Compact(&v, prop.Enum[0]) != nil {
				b = append(b, "null"...)
			} else {
				b = append(b, v.Bytes()...)
			}
		default:
			switch schemaType(prop.Type) {
			case "string":
				b = append(b, `"test"`...)
			case "number", "integer":
				b = append(b, '1')
			case "boolean":
				b = append(b, "true"...)
			default:
				b = append(b, "null"...)
			}
		}
	}
	return string(append(b, '}'))
}

// schemaType returns a JSON schema "type": the string, or the first non-null
// entry of an array of types.
func schemaType(t json.RawMessage) string {
	var one string
	if json.Unmarshal(t, &one) == nil {
		return one
	}
	var many []string
	_ = json.Unmarshal(t, &many)
	for _, s := range many {
		if s != "null" {
			return s
		}
	}
	return ""
}

// EstimatePromptTokens is the mock's deterministic prompt size: for each
// message ceil(bytes/4) of its text (and tool calls) plus 3, plus 3.
func EstimatePromptTokens(msgs []switchboard.Message) int {
	n := 3
	for i := range msgs {
		m := &msgs[i]
		size := len(m.Text())
		for _, tc := range m.ToolCalls {
			size += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
		n += EstimateTokens(size) + 3
	}
	return n
}

// EstimateTokens returns ceil(size/4), the token estimate for size bytes of text.
func EstimateTokens(size int) int { return (size + 3) / 4 }

// isSpace reports whether c is ASCII white space.
func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// splitWords splits s into pieces of leading white space and a word, so that
// they concatenate to s; trailing white space stays with the last word.
func splitWords(s string) []string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) && (i == 0 || isSpace(s[i-1])) {
			n++
		}
	}
	if n == 0 {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	out := make([]string, 0, n)
	start, i := 0, 0
	for i < len(s) {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		for i < len(s) && !isSpace(s[i]) {
			i++
		}
		if len(out) == n { // only trailing white space is left
			out[n-1] = s[start-len(out[n-1]) : i]
			break
		}
		out = append(out, s[start:i])
		start = i
	}
	return out
}

// splitJSON splits JSON text into token-like pieces: runs of word characters
// and runs of everything else, as OpenAI streams function arguments.
func splitJSON(s string) []string {
	var out []string
	start := 0
	for i := 1; i <= len(s); i++ {
		if i == len(s) || isWordByte(s[i]) != isWordByte(s[i-1]) {
			out = append(out, s[start:i])
			start = i
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

var loremWords = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do
	eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis
	nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat`)

// loremPieces holds each lorem word with a leading space; the first piece of
// a reply is "Lorem".
var loremPieces = func() []string {
	out := make([]string, len(loremWords))
	for i, w := range loremWords {
		out[i] = " " + w
	}
	return out
}()

// lorem returns n pieces of lorem ipsum, without allocating the words.
func lorem(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = loremPieces[i%len(loremPieces)]
	}
	if n > 0 {
		out[0] = "Lorem"
	}
	return out
}

// newID returns prefix and 24 random hex digits (not for secrets: IDs only).
func newID(prefix string) string {
	var sb strings.Builder
	sb.Grow(len(prefix) + 24)
	sb.WriteString(prefix)
	x, y := rand.Uint64(), rand.Uint64()
	for i := range 24 {
		if i == 16 {
			x = y
		}
		sb.WriteByte(hexDigits[x&0xf])
		x >>= 4
	}
	return sb.String()
}
