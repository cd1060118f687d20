package tokenize

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// Message framing, from OpenAI's cookbook ("How to count tokens with
// tiktoken", num_tokens_from_messages), whose counts equal the API's
// prompt_tokens for gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4o-mini.
const (
	tokensPerMessage = 3 // <|start|>{role}<|message|>…<|end|> around each message
	tokensPerName    = 1 // a message's name field, on top of its own tokens
	replyPriming     = 3 // <|start|>assistant<|message|> after the last message
)

// Image tokens, from OpenAI's vision pricing: a low-detail image costs 85
// tokens; a high-detail one 85 plus 170 per 512-pixel tile of the image
// scaled to fit 2048×2048 with its short side at most 768. The gateway
// doesn't know the image's size, so high and auto count as a 1024×1024
// image (2×2 tiles), OpenAI's own worked example.
const (
	imageLowTokens  = 85
	imageHighTokens = 85 + 4*170
)

// toolFraming holds the constants of the cookbook's num_tokens_for_tools,
// whose counts equal the API's for the cookbook's example tool. OpenAI
// renders tool definitions into the prompt in an unpublished format; these
// constants model it for flat JSON-schema parameters.
type toolFraming struct {
	funcInit, propInit, propKey, enumInit, enumItem, funcEnd int
}

var (
	// o200kTools is measured on gpt-4o and gpt-4o-mini.
	o200kTools = toolFraming{funcInit: 7, propInit: 3, propKey: 3, enumInit: -3, enumItem: 3, funcEnd: 12}
	// cl100kTools is measured on gpt-3.5-turbo and gpt-4.
	cl100kTools = toolFraming{funcInit: 10, propInit: 3, propKey: 3, enumInit: -3, enumItem: 3, funcEnd: 12}
)

// CountChat returns the prompt tokens req takes on model (req.Model if model
// is ""), counted as OpenAI does:
//
//   - each message: 3 tokens of framing, plus its role, content and refusal,
//     plus its name and 1 more if it has one; 3 more prime the reply;
//   - array content: each text and refusal part; each image_url part as 85
//     tokens at detail "low" and 765 at "high" or "auto" (a 1024×1024
//     image, since the size isn't known here); audio and file parts count 0;
//   - tool calls in assistant messages (and the legacy function_call): the
//     function's name and its arguments; the call's id is not counted;
//   - tool definitions (req.Tools and the legacy "functions" field): the
//     cookbook's num_tokens_for_tools, which models flat parameters
//     (properties with a type, a description and an enum) and matched the
//     API on the cookbook's example; anything else in a schema (nested
//     objects, arrays, anyOf, $defs) is counted as its compact JSON, which
//     is likely more than OpenAI's unpublished rendering of it.
//
// For models outside OpenAI's families (see EncodingFor) the result is an
// estimate, framing included. response_format schemas and tool_choice are
// not counted.
func CountChat(model string, req *switchboard.ChatRequest) int {
	if req == nil {
		return 0
	}
	if model == "" {
		model = req.Model
	}
	e := encodingOf(model)
	n := replyPriming
	for i := range req.Messages {
		n += e.message(&req.Messages[i])
	}
	return n + e.toolDefs(req)
}

// message counts one message with its framing.
func (e *encoding) message(m *switchboard.Message) int {
	n := tokensPerMessage + e.count(m.Role)
	if m.Name != "" {
		n += tokensPerName + e.count(m.Name)
	}
	n += e.content(m)
	if m.Refusal != nil {
		n += e.count(*m.Refusal)
	}
	for i := range m.ToolCalls {
		n += e.call(&m.ToolCalls[i].Function)
	}
	if raw, ok := m.Extra["function_call"]; ok {
		var fc switchboard.FunctionCall
		if json.Unmarshal(raw, &fc) == nil {
			n += e.call(&fc)
		}
	}
	return n
}

// call counts a function call's name and arguments.
func (e *encoding) call(fc *switchboard.FunctionCall) int {
	return e.count(fc.Name) + e.count(fc.Arguments)
}

// contentPart is the part of a content element CountChat reads.
type contentPart struct {
	Type     string   `json:"type"`
	Text     string   `json:"text"`
	Refusal  string   `json:"refusal"`
	ImageURL imageURL `json:"image_url"`
}

// imageURL keeps only an image_url's detail, so the URL, often a data URL
// of megabytes, is never copied.
type imageURL struct{ Detail string }

// UnmarshalJSON reads {"url":…,"detail":…}; a bare URL string (which some
// clients send) has the default detail, auto.
func (u *imageURL) UnmarshalJSON(b []byte) error {
	if first(b) != '{' {
		return nil
	}
	var v struct {
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	u.Detail = v.Detail
	return nil
}

// content counts a message's content: a string, or an array of parts.
func (e *encoding) content(m *switchboard.Message) int {
	switch first(m.Content) {
	case '"':
		return e.count(m.Text())
	case '[':
	default:
		return 0
	}
	var parts []contentPart
	if json.Unmarshal(m.Content, &parts) != nil {
		return 0
	}
	n := 0
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case "text":
			n += e.count(p.Text)
		case "refusal":
			n += e.count(p.Refusal)
		case "image_url":
			if strings.EqualFold(p.ImageURL.Detail, "low") {
				n += imageLowTokens
			} else {
				n += imageHighTokens
			}
		}
	}
	return n
}

// toolDefs counts the tool definitions of req, with the cookbook's
// num_tokens_for_tools.
func (e *encoding) toolDefs(req *switchboard.ChatRequest) int {
	legacy, hasLegacy := req.Extra["functions"]
	if len(req.Tools) == 0 && !hasLegacy {
		return 0
	}
	defs := make([]switchboard.FunctionDef, 0, len(req.Tools))
	for _, t := range req.Tools {
		if t.Type == "" || t.Type == "function" {
			defs = append(defs, t.Function)
		}
	}
	if hasLegacy {
		var fs []switchboard.FunctionDef
		if json.Unmarshal(legacy, &fs) == nil {
			defs = append(defs, fs...)
		}
	}
	if len(defs) == 0 {
		return 0
	}
	n := e.tools.funcEnd
	for i := range defs {
		n += e.function(&defs[i])
	}
	return n
}

// function counts one function definition.
func (e *encoding) function(f *switchboard.FunctionDef) int {
	n := e.tools.funcInit + e.count(f.Name+":"+strings.TrimSuffix(f.Description, "."))
	if len(f.Parameters) == 0 || first(f.Parameters) == 'n' {
		return n
	}
	var schema map[string]json.RawMessage
	if json.Unmarshal(f.Parameters, &schema) != nil {
		return n + e.countJSON(f.Parameters)
	}
	var props map[string]json.RawMessage
	for k, v := range schema {
		switch k {
		case "properties":
			if json.Unmarshal(v, &props) != nil {
				n += e.countJSON(v)
			}
		case "type", "required", "additionalProperties":
			// Part of the framing the constants model.
		default:
			n += e.count(k) + e.countJSON(v)
		}
	}
	if len(props) > 0 {
		n += e.tools.propInit
		for name, v := range props {
			n += e.tools.propKey + e.property(name, v)
		}
	}
	return n
}

// property counts one property of a function's parameters: as the cookbook
// does ("name:type:description", plus its enum values) when it has only a
// type, a description and an enum of strings, else as its name and JSON.
func (e *encoding) property(name string, raw json.RawMessage) int {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return e.count(name) + e.countJSON(raw)
	}
	var typ, desc string
	var enum []string
	for k, v := range fields {
		var err error
		switch k {
		case "type":
			err = json.Unmarshal(v, &typ)
		case "description":
			err = json.Unmarshal(v, &desc)
		case "enum":
			err = json.Unmarshal(v, &enum)
		default:
			return e.count(name) + e.countJSON(raw)
		}
		if err != nil {
			return e.count(name) + e.countJSON(raw)
		}
	}
	n := 0
	if _, ok := fields["enum"]; ok {
		n += e.tools.enumInit
		for _, item := range enum {
			n += e.tools.enumItem + e.count(item)
		}
	}
	return n + e.count(name+":"+typ+":"+strings.TrimSuffix(desc, "."))
}

// countJSON counts the compact form of the JSON value raw.
func (e *encoding) countJSON(raw json.RawMessage) int {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return e.count(string(raw))
	}
	return e.count(b.String())
}

// first returns the first non-space byte of b, or 0.
func first(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}
