package caching

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// accumulator assembles a streamed answer's chunks into the chat completion
// a non-streaming request would have received.
type accumulator struct {
	resp    switchboard.ChatResponse
	text    map[int]*strings.Builder
	calls   map[int][]switchboard.ToolCall
	choices map[int]*switchboard.Choice
	order   []int
}

func newAccumulator() *accumulator {
	return &accumulator{text: map[int]*strings.Builder{}, calls: map[int][]switchboard.ToolCall{}, choices: map[int]*switchboard.Choice{}}
}

func (a *accumulator) add(c *switchboard.Chunk) {
	if a.resp.ID == "" {
		a.resp.ID, a.resp.Created, a.resp.Model, a.resp.SystemFingerprint = c.ID, c.Created, c.Model, c.SystemFingerprint
		a.resp.ServiceTier = c.ServiceTier
	}
	if c.Usage != nil {
		u := *c.Usage
		a.resp.Usage = &u
	}
	for i := range c.Choices {
		cc := &c.Choices[i]
		ch, ok := a.choices[cc.Index]
		if !ok {
			ch = &switchboard.Choice{Index: cc.Index, Message: switchboard.Message{Role: "assistant"}}
			a.choices[cc.Index] = ch
			a.text[cc.Index] = &strings.Builder{}
			a.order = append(a.order, cc.Index)
		}
		if cc.Delta.Role != "" {
			ch.Message.Role = cc.Delta.Role
		}
		if len(cc.Delta.Content) > 0 {
			var s string
			if json.Unmarshal(cc.Delta.Content, &s) == nil {
				a.text[cc.Index].WriteString(s)
			}
		}
		if cc.Delta.Refusal != nil {
			r := *cc.Delta.Refusal
			if ch.Message.Refusal != nil {
				r = *ch.Message.Refusal + r
			}
			ch.Message.Refusal = &r
		}
		for _, tc := range cc.Delta.ToolCalls {
			idx := 0
			if tc.Index != nil {
				idx = *tc.Index
			}
			calls := a.calls[cc.Index]
			for len(calls) <= idx {
				calls = append(calls, switchboard.ToolCall{})
			}
			cur := &calls[idx]
			if tc.ID != "" {
				cur.ID = tc.ID
			}
			if tc.Type != "" {
				cur.Type = tc.Type
			}
			if tc.Function.Name != "" {
				cur.Function.Name = tc.Function.Name
			}
			cur.Function.Arguments += tc.Function.Arguments
			a.calls[cc.Index] = calls
		}
		if cc.FinishReason != nil {
			ch.FinishReason = *cc.FinishReason
		}
	}
}

// response returns the assembled completion, or nil if a choice never finished.
func (a *accumulator) response() *switchboard.ChatResponse {
	if len(a.order) == 0 {
		return nil
	}
	r := a.resp
	r.Object = "chat.completion"
	r.Choices = make([]switchboard.Choice, 0, len(a.order))
	for _, idx := range a.order {
		ch := *a.choices[idx]
		if ch.FinishReason == "" {
			return nil
		}
		if t := a.text[idx].String(); t != "" || len(a.calls[idx]) == 0 {
			ch.Message.Content = switchboard.TextContent(t)
		}
		ch.Message.ToolCalls = a.calls[idx]
		r.Choices = append(r.Choices, ch)
	}
	return &r
}

// replay turns a cached completion into the chunks of a stream, in OpenAI's
// framing: a role chunk, the content, tool calls, a finish chunk per choice,
// then a usage chunk (httpapi hides it from clients that did not ask).
type replay struct {
	chunks []*switchboard.Chunk
	i      int
}

func newReplay(r *switchboard.ChatResponse) *replay {
	base := func() *switchboard.Chunk {
		return &switchboard.Chunk{ID: r.ID, Object: "chat.completion.chunk", Created: r.Created, Model: r.Model,
			SystemFingerprint: r.SystemFingerprint, ServiceTier: r.ServiceTier}
	}
	var out []*switchboard.Chunk
	for _, ch := range r.Choices {
		first := base()
		first.Choices = []switchboard.ChunkChoice{{Index: ch.Index, Delta: switchboard.Message{Role: "assistant", Content: switchboard.TextContent("")}}}
		out = append(out, first)
		if text := ch.Message.Text(); text != "" {
			// A few words per chunk, like an upstream would stream them.
			for _, piece := range pieces(text, 48) {
				c := base()
				c.Choices = []switchboard.ChunkChoice{{Index: ch.Index, Delta: switchboard.Message{Content: switchboard.TextContent(piece)}}}
				out = append(out, c)
			}
		}
		if ch.Message.Refusal != nil {
			c := base()
			c.Choices = []switchboard.ChunkChoice{{Index: ch.Index, Delta: switchboard.Message{Refusal: ch.Message.Refusal}}}
			out = append(out, c)
		}
		for i, tc := range ch.Message.ToolCalls {
			idx := i
			tc.Index = &idx
			c := base()
			c.Choices = []switchboard.ChunkChoice{{Index: ch.Index, Delta: switchboard.Message{ToolCalls: []switchboard.ToolCall{tc}}}}
			out = append(out, c)
		}
		fr := ch.FinishReason
		last := base()
		last.Choices = []switchboard.ChunkChoice{{Index: ch.Index, Delta: switchboard.Message{}, FinishReason: &fr}}
		out = append(out, last)
	}
	if r.Usage != nil {
		u := base()
		u.Choices = []switchboard.ChunkChoice{}
		u.Usage = r.Usage
		out = append(out, u)
	}
	return &replay{chunks: out}
}

// pieces splits s into chunks of about n bytes at spaces.
func pieces(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := strings.LastIndexByte(s[:n], ' ')
		if cut <= 0 {
			cut = n
			for cut < len(s) && s[cut]&0xC0 == 0x80 { // keep UTF-8 sequences whole
				cut++
			}
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// Recv implements switchboard.ChatStream.
func (r *replay) Recv() (*switchboard.Chunk, error) {
	if r.i >= len(r.chunks) {
		return nil, io.EOF
	}
	r.i++
	return r.chunks[r.i-1], nil
}

// Close implements switchboard.ChatStream.
func (r *replay) Close() error { return nil }
