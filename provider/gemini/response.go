package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/upstream"
)

// decoder translates Gemini responses into OpenAI's.
type decoder struct {
	// model names the response when Gemini's modelVersion is absent.
	model string
	// created is the Unix time the response reports.
	created int64
	// newID returns prefix and a random suffix (ids of completions and tool calls).
	newID func(prefix string) string
	// keep, when set, is given the thought signature of each tool call.
	keep func(callID, signature string)
}

// response translates a :generateContent body. A prompt Gemini blocked is a
// CodeInvalidRequest error with VendorCode content_filter.
func (d *decoder) response(body []byte) (*switchboard.ChatResponse, error) {
	var g generateResponse
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, upstream.Malformed("upstream", err)
	}
	if len(g.Candidates) == 0 {
		return nil, noCandidates(&g)
	}
	resp := &switchboard.ChatResponse{
		ID:      d.id(g.ResponseID),
		Object:  "chat.completion",
		Created: d.created,
		Model:   d.modelOf(&g),
		Choices: make([]switchboard.Choice, 0, len(g.Candidates)),
		Usage:   usageOf(g.UsageMetadata),
	}
	for i := range g.Candidates {
		c := &g.Candidates[i]
		text, calls := d.parts(c.Content)
		msg := switchboard.Message{Role: "assistant", Content: switchboard.TextContent(text), ToolCalls: calls}
		if text == "" && len(calls) > 0 {
			msg.Content = json.RawMessage("null")
		}
		index := c.Index
		if index == 0 {
			index = i // protobuf JSON omits a zero index
		}
		resp.Choices = append(resp.Choices, switchboard.Choice{
			Index:        index,
			Message:      msg,
			FinishReason: finishReason(c.FinishReason, len(calls) > 0),
		})
	}
	return resp, nil
}

func (d *decoder) id(responseID string) string {
	if responseID != "" {
		return "chatcmpl-" + responseID
	}
	return d.newID("chatcmpl-")
}

func (d *decoder) modelOf(g *generateResponse) string {
	if g.ModelVersion != "" {
		return g.ModelVersion
	}
	return d.model
}

// parts returns a content's text (thoughts left out) and its function calls
// as tool calls with fresh ids.
func (d *decoder) parts(c *content) (string, []switchboard.ToolCall) {
	if c == nil {
		return "", nil
	}
	var text []byte
	var calls []switchboard.ToolCall
	for i := range c.Parts {
		p := &c.Parts[i]
		switch {
		case p.FunctionCall != nil:
			args := []byte("{}")
			var buf bytes.Buffer
			if a := bytes.TrimSpace(p.FunctionCall.Args); len(a) > 0 && a[0] == '{' && json.Compact(&buf, a) == nil {
				args = buf.Bytes()
			}
			tc := switchboard.ToolCall{
				ID:       d.newID("call_"),
				Type:     "function",
				Function: switchboard.FunctionCall{Name: p.FunctionCall.Name, Arguments: string(args)},
			}
			if p.ThoughtSignature != "" && d.keep != nil {
				d.keep(tc.ID, p.ThoughtSignature)
			}
			calls = append(calls, tc)
		case p.Text != nil && !p.Thought:
			text = append(text, *p.Text...)
		}
	}
	return string(text), calls
}

// finishReason maps Gemini's finishReason to OpenAI's finish_reason.
func finishReason(reason string, calls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		return "content_filter"
	}
	if calls {
		return "tool_calls"
	}
	return "stop"
}

// usageOf maps usageMetadata: thoughts count as completion (reasoning)
// tokens, tool-use prompts as prompt tokens.
func usageOf(u *usageMetadata) *switchboard.Usage {
	if u == nil {
		return nil
	}
	prompt := u.PromptTokenCount + u.ToolUsePromptTokenCount
	completion := u.CandidatesTokenCount + u.ThoughtsTokenCount
	total := u.TotalTokenCount
	if total < prompt+completion {
		total = prompt + completion
	}
	return &switchboard.Usage{
		PromptTokens:            prompt,
		CompletionTokens:        completion,
		TotalTokens:             total,
		PromptTokensDetails:     &switchboard.PromptTokensDetails{CachedTokens: u.CachedContentTokenCount},
		CompletionTokensDetails: &switchboard.CompletionTokensDetails{ReasoningTokens: u.ThoughtsTokenCount},
	}
}

// noCandidates is the error for a response without candidates: the prompt
// was blocked, or the upstream misbehaved.
func noCandidates(g *generateResponse) error {
	if g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
		return &switchboard.Error{
			Code:       switchboard.CodeInvalidRequest,
			Status:     http.StatusBadRequest,
			Message:    "gemini blocked the prompt (blockReason " + g.PromptFeedback.BlockReason + ")",
			VendorCode: "content_filter",
		}
	}
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream returned no candidates"}
}

// streamDecoder translates the events of :streamGenerateContent into
// OpenAI chunks: per candidate a role chunk first, then text deltas and
// complete tool calls, then a finish chunk; at the end a usage chunk with no
// choices.
type streamDecoder struct {
	decoder
	id, modelName string
	started       map[int]bool
	finished      map[int]bool
	calls         map[int]int // tool calls so far, per candidate
	usage         *switchboard.Usage
	out           []*switchboard.Chunk // translated, not yet returned
}

func newStreamDecoder(d decoder) *streamDecoder {
	return &streamDecoder{decoder: d, started: map[int]bool{}, finished: map[int]bool{}, calls: map[int]int{}}
}

// event translates one event's data, queueing its chunks.
func (s *streamDecoder) event(data []byte) error {
	var g generateResponse
	if err := json.Unmarshal(data, &g); err != nil {
		return upstream.Malformed("upstream", err)
	}
	if s.id == "" {
		s.id, s.modelName = s.decoder.id(g.ResponseID), s.modelOf(&g)
	}
	if g.UsageMetadata != nil {
		s.usage = usageOf(g.UsageMetadata)
	}
	if len(g.Candidates) == 0 && g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
		return noCandidates(&g)
	}
	for i := range g.Candidates {
		c := &g.Candidates[i]
		idx := c.Index
		if s.finished[idx] {
			continue
		}
		if !s.started[idx] {
			s.started[idx] = true
			s.emit(idx, switchboard.Message{Role: "assistant", Content: json.RawMessage(`""`)}, nil)
		}
		text, calls := s.parts(c.Content)
		if text != "" {
			s.emit(idx, switchboard.Message{Content: switchboard.TextContent(text)}, nil)
		}
		for _, tc := range calls {
			tc.Index = new(s.calls[idx])
			s.calls[idx]++
			s.emit(idx, switchboard.Message{ToolCalls: []switchboard.ToolCall{tc}}, nil)
		}
		if c.FinishReason != "" {
			s.finished[idx] = true
			s.emit(idx, switchboard.Message{}, new(finishReason(c.FinishReason, s.calls[idx] > 0)))
		}
	}
	return nil
}

// end is called when the stream ended cleanly: it queues the usage chunk,
// or reports a stream cut before any candidate finished.
func (s *streamDecoder) end() error {
	if len(s.finished) == 0 {
		return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream ended before completion"}
	}
	if s.usage != nil {
		c := s.chunk()
		c.Choices, c.Usage = []switchboard.ChunkChoice{}, s.usage
		s.out = append(s.out, c)
	}
	return nil
}

func (s *streamDecoder) emit(idx int, delta switchboard.Message, finish *string) {
	c := s.chunk()
	c.Choices = []switchboard.ChunkChoice{{Index: idx, Delta: delta, FinishReason: finish}}
	s.out = append(s.out, c)
}

func (s *streamDecoder) chunk() *switchboard.Chunk {
	return &switchboard.Chunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.modelName}
}

// next pops the oldest queued chunk, nil when none is queued.
func (s *streamDecoder) next() *switchboard.Chunk {
	if len(s.out) == 0 {
		return nil
	}
	c := s.out[0]
	s.out[0] = nil
	s.out = s.out[1:]
	if len(s.out) == 0 {
		s.out = s.out[:0:0]
	}
	return c
}
