package mock

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/switchboard-ai/switchboard"
)

// This file renders a Completion in OpenAI's Chat Completions wire format,
// by hand: the fake upstream's hot path must not pay for reflection. Each
// encoder has a twin that builds the switchboard struct a client would decode
// from the same bytes (the tests check they agree).

// rawNull and rawDefault are the JSON values of fields the mock always sends.
var (
	rawNull    = json.RawMessage("null")
	rawDefault = json.RawMessage(`"default"`)
	rawEmpty   = json.RawMessage("[]")
)

// AppendJSON appends the completion as an OpenAI chat.completion object.
func (c *Completion) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, c.Model)
	b = append(b, `,"choices":[`...)
	for i := range c.Choices {
		o := &c.Choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"message":{"role":"assistant","content":`...)
		if tc := o.ToolCall; tc != nil {
			b = append(b, `null,"tool_calls":[{"id":`...)
			b = appendString(b, tc.ID)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = appendString(b, tc.Name)
			b = append(b, `,"arguments":`...)
			b = appendStrings(b, tc.Pieces)
			b = append(b, `}}]`...)
		} else {
			b = appendStrings(b, o.Pieces)
		}
		b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":`...)
		b = appendString(b, o.FinishReason)
		b = append(b, '}')
	}
	b = append(b, `],"usage":`...)
	b = c.appendUsage(b)
	b = append(b, `,"service_tier":"default","system_fingerprint":"`+SystemFingerprint+`"}`...)
	return b
}

// Response returns the completion as the struct a client decodes from AppendJSON's bytes.
func (c *Completion) Response() *switchboard.ChatResponse {
	r := &switchboard.ChatResponse{
		ID:                c.ID,
		Object:            "chat.completion",
		Created:           c.Created,
		Model:             c.Model,
		Choices:           make([]switchboard.Choice, len(c.Choices)),
		Usage:             c.Usage(),
		SystemFingerprint: SystemFingerprint,
		ServiceTier:       rawDefault,
	}
	for i := range c.Choices {
		o := &c.Choices[i]
		m := switchboard.Message{
			Role:  "assistant",
			Extra: map[string]json.RawMessage{"annotations": rawEmpty},
		}
		if tc := o.ToolCall; tc != nil {
			m.ToolCalls = []switchboard.ToolCall{{
				ID:       tc.ID,
				Type:     "function",
				Function: switchboard.FunctionCall{Name: tc.Name, Arguments: tc.Arguments()},
			}}
		} else {
			m.Content = appendStrings(nil, o.Pieces)
		}
		r.Choices[i] = switchboard.Choice{Index: i, Message: m, FinishReason: o.FinishReason, Logprobs: rawNull}
	}
	return r
}

// appendUsage appends the usage object, with every detail OpenAI sends.
func (c *Completion) appendUsage(b []byte) []byte {
	out := c.CompletionTokens()
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(c.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(out), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(c.PromptTokens+out), 10)
	return append(b, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// Chunks is the plan of a streamed completion: the chat.completion.chunk
// objects OpenAI would send, in order. For each choice: a first chunk with the
// role (and, for a tool call, the call's id, type, name and empty arguments),
// one chunk per piece, and a chunk with an empty delta and the finish reason;
// choices are interleaved. With include_usage, every chunk carries
// "usage":null and a last chunk with no choices carries the usage.
type Chunks struct {
	c      *Completion
	usage  bool
	prefix []byte
	steps  []step
}

type stepKind uint8

const (
	stepRole stepKind = iota
	stepPiece
	stepFinish
	stepUsage
)

type step struct {
	kind   stepKind
	choice int32
	piece  int32
}

// Chunks returns the completion's stream plan. includeUsage is the request's
// stream_options.include_usage.
func (c *Completion) Chunks(includeUsage bool) *Chunks {
	p := &Chunks{c: c, usage: includeUsage}
	longest, total := 0, 0
	for i := range c.Choices {
		n := len(c.Choices[i].Pieces)
		if tc := c.Choices[i].ToolCall; tc != nil {
			n = len(tc.Pieces)
		}
		longest = max(longest, n)
		total += n + 2
	}
	p.steps = make([]step, 0, total+1)
	for i := range c.Choices {
		p.steps = append(p.steps, step{kind: stepRole, choice: int32(i)})
	}
	for k := range longest {
		for i := range c.Choices {
			n := len(c.Choices[i].Pieces)
			if tc := c.Choices[i].ToolCall; tc != nil {
				n = len(tc.Pieces)
			}
			if k < n {
				p.steps = append(p.steps, step{kind: stepPiece, choice: int32(i), piece: int32(k)})
			}
		}
	}
	for i := range c.Choices {
		p.steps = append(p.steps, step{kind: stepFinish, choice: int32(i)})
	}
	if includeUsage {
		p.steps = append(p.steps, step{kind: stepUsage})
	}

	b := make([]byte, 0, 160+len(c.ID)+len(c.Model))
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, c.Created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, c.Model)
	p.prefix = append(b, `,"service_tier":"default","system_fingerprint":"`+SystemFingerprint+`","choices":[`...)
	return p
}

// Len returns the number of chunks.
func (p *Chunks) Len() int { return len(p.steps) }

// Append appends chunk i's JSON (the data of one SSE event) to b.
func (p *Chunks) Append(b []byte, i int) []byte {
	s := p.steps[i]
	b = append(b, p.prefix...)
	if s.kind == stepUsage {
		b = append(b, `],"usage":`...)
		b = p.c.appendUsage(b)
		return append(b, '}')
	}
	o := &p.c.Choices[s.choice]
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(s.choice), 10)
	b = append(b, `,"delta":`...)
	switch {
	case s.kind == stepRole && o.ToolCall != nil:
		b = append(b, `{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":`...)
		b = appendString(b, o.ToolCall.ID)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendString(b, o.ToolCall.Name)
		b = append(b, `,"arguments":""}}],"refusal":null}`...)
	case s.kind == stepRole:
		b = append(b, `{"role":"assistant","content":"","refusal":null}`...)
	case s.kind == stepPiece && o.ToolCall != nil:
		b = append(b, `{"tool_calls":[{"index":0,"function":{"arguments":`...)
		b = appendString(b, o.ToolCall.Pieces[s.piece])
		b = append(b, `}}]}`...)
	case s.kind == stepPiece:
		b = append(b, `{"content":`...)
		b = appendString(b, o.Pieces[s.piece])
		b = append(b, '}')
	default:
		b = append(b, `{}`...)
	}
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if s.kind == stepFinish {
		b = appendString(b, o.FinishReason)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, "}]"...)
	if p.usage {
		b = append(b, `,"usage":null`...)
	}
	return append(b, '}')
}

// Chunk returns chunk i as the struct a client decodes from Append's bytes,
// with Raw set to those bytes.
func (p *Chunks) Chunk(i int) *switchboard.Chunk {
	c := p.c
	ch := &switchboard.Chunk{
		ID:                c.ID,
		Object:            "chat.completion.chunk",
		Created:           c.Created,
		Model:             c.Model,
		SystemFingerprint: SystemFingerprint,
		ServiceTier:       rawDefault,
		Raw:               p.Append(nil, i),
	}
	s := p.steps[i]
	if s.kind == stepUsage {
		ch.Choices = []switchboard.ChunkChoice{}
		ch.Usage = c.Usage()
		return ch
	}
	o := &c.Choices[s.choice]
	cc := switchboard.ChunkChoice{Index: int(s.choice), Logprobs: rawNull}
	switch {
	case s.kind == stepRole && o.ToolCall != nil:
		cc.Delta = switchboard.Message{Role: "assistant", ToolCalls: []switchboard.ToolCall{{
			Index: new(0), ID: o.ToolCall.ID, Type: "function",
			Function: switchboard.FunctionCall{Name: o.ToolCall.Name},
		}}}
	case s.kind == stepRole:
		cc.Delta = switchboard.Message{Role: "assistant", Content: json.RawMessage(`""`)}
	case s.kind == stepPiece && o.ToolCall != nil:
		cc.Delta = switchboard.Message{ToolCalls: []switchboard.ToolCall{{
			Index: new(0), Function: switchboard.FunctionCall{Arguments: o.ToolCall.Pieces[s.piece]},
		}}}
	case s.kind == stepPiece:
		cc.Delta = switchboard.Message{Content: appendString(nil, o.Pieces[s.piece])}
	case s.kind == stepFinish:
		cc.FinishReason = new(o.FinishReason)
	}
	ch.Choices = []switchboard.ChunkChoice{cc}
	return ch
}

// appendStrings appends the concatenation of parts as one JSON string.
func appendStrings(b []byte, parts []string) []byte {
	if len(parts) == 1 {
		return appendString(b, parts[0])
	}
	n := 2
	for _, s := range parts {
		n += len(s)
	}
	if cap(b)-len(b) < n {
		b = append(make([]byte, 0, len(b)+n+8), b...)
	}
	b = append(b, '"')
	for _, s := range parts {
		b = appendStringBody(b, s)
	}
	return append(b, '"')
}

// appendString appends s as a JSON string, escaped as encoding/json does it
// but without HTML escaping (as OpenAI's API does).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

func appendStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
