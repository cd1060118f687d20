package anthropic

import (
	"encoding/json"

	"github.com/switchboard-ai/switchboard"
)

// ChunkTranslator turns the events of a Messages API stream into OpenAI chat
// completion chunks. It is stateful: feed it every event in order.
//
//	message_start                     → a chunk with the assistant role
//	content_block_start (tool_use)    → a tool call header (index, id, name)
//	content_block_delta text_delta    → content
//	content_block_delta input_json_delta → a tool call arguments fragment
//	content_block_delta thinking_delta → reasoning_content
//	content_block_stop of a tool_use without input → arguments "{}"
//	message_delta                     → a chunk with the finish_reason
//	message_stop                      → the usage chunk (choices: [])
//	error                             → a *switchboard.Error (StreamError)
//
// ping, other content_block_stops, signature and citation deltas and event
// types it does not know yield nothing.
type ChunkTranslator struct {
	created int64
	id      string
	model   string
	usage   Usage
	// tools maps a content block index to its tool call.
	tools map[int]*toolCall
	done  bool
}

// toolCall is a tool_use block being streamed: its OpenAI tool call index,
// and whether any arguments were sent for it.
type toolCall struct {
	n    int
	args bool
}

// NewChunkTranslator returns a translator whose chunks say they were
// created at created (Unix seconds).
func NewChunkTranslator(created int64) *ChunkTranslator {
	return &ChunkTranslator{created: created}
}

// Done reports whether message_stop was seen: the stream is complete.
func (t *ChunkTranslator) Done() bool { return t.done }

// Usage returns the usage counted so far, as OpenAI counts it.
func (t *ChunkTranslator) Usage() *switchboard.Usage { return ChatUsage(t.usage) }

// Next translates the data of one event. It returns nil (and no error) for
// an event that yields no chunk. A malformed event is a plain error; an
// error event is a *switchboard.Error.
func (t *ChunkTranslator) Next(data []byte) (*switchboard.Chunk, error) {
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, errorf("decode stream event: %w", err)
	}
	if t.done {
		return nil, nil
	}
	switch ev.Type {
	case "message_start":
		if ev.Message == nil {
			return nil, errorf("decode stream event: message_start without a message")
		}
		t.id, t.model, t.usage = ev.Message.ID, ev.Message.Model, ev.Message.Usage
		return t.chunk(switchboard.Message{Role: "assistant", Content: json.RawMessage(`""`)}, nil), nil
	case "content_block_start":
		if ev.ContentBlock == nil {
			return nil, errorf("decode stream event: content_block_start without a content_block")
		}
		return t.blockStart(ev.Index, ev.ContentBlock), nil
	case "content_block_delta":
		if ev.Delta == nil {
			return nil, errorf("decode stream event: content_block_delta without a delta")
		}
		return t.blockDelta(ev.Index, ev.Delta), nil
	case "content_block_stop":
		// OpenAI clients parse the arguments: a call without input has "{}".
		if tc, ok := t.tools[ev.Index]; ok && !tc.args {
			tc.args = true
			return t.arguments(tc.n, "{}"), nil
		}
		return nil, nil
	case "message_delta":
		if ev.Usage != nil {
			t.addUsage(ev.Usage)
		}
		if ev.Delta == nil || ev.Delta.StopReason == nil {
			return nil, nil
		}
		finish := FinishReason(*ev.Delta.StopReason)
		return t.chunk(switchboard.Message{}, &finish), nil
	case "message_stop":
		t.done = true
		c := t.chunk(switchboard.Message{}, nil)
		c.Choices = []switchboard.ChunkChoice{}
		c.Usage = t.Usage()
		return c, nil
	case "error":
		return nil, StreamError(data)
	}
	return nil, nil
}

// addUsage takes a message_delta's usage: its counts are totals for the
// whole message, and input counts are only sent when they changed.
func (t *ChunkTranslator) addUsage(u *Usage) {
	t.usage.OutputTokens = u.OutputTokens
	if u.InputTokens > 0 {
		t.usage.InputTokens = u.InputTokens
	}
	if u.CacheCreationInputTokens > 0 {
		t.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens > 0 {
		t.usage.CacheReadInputTokens = u.CacheReadInputTokens
	}
}

func (t *ChunkTranslator) blockStart(index int, b *Block) *switchboard.Chunk {
	switch b.Type {
	case "text":
		if b.Text == "" {
			return nil
		}
		return t.chunk(switchboard.Message{Content: switchboard.TextContent(b.Text)}, nil)
	case "tool_use":
		if t.tools == nil {
			t.tools = make(map[int]*toolCall, 2)
		}
		n := len(t.tools)
		tc := &toolCall{n: n}
		t.tools[index] = tc
		id := b.ID
		if id == "" {
			id = toolUseID(t.id, n)
		}
		args := ""
		if in := compactInput(b.Input); in != "{}" {
			args, tc.args = in, true
		}
		return t.chunk(switchboard.Message{ToolCalls: []switchboard.ToolCall{{
			Index: new(n), ID: id, Type: "function",
			Function: switchboard.FunctionCall{Name: b.Name, Arguments: args},
		}}}, nil)
	case "thinking":
		if b.Thinking == "" {
			return nil
		}
		return t.chunk(reasoning(b.Thinking), nil)
	}
	return nil
}

func (t *ChunkTranslator) blockDelta(index int, d *Delta) *switchboard.Chunk {
	switch d.Type {
	case "text_delta":
		if d.Text == "" {
			return nil
		}
		return t.chunk(switchboard.Message{Content: switchboard.TextContent(d.Text)}, nil)
	case "input_json_delta":
		tc, ok := t.tools[index]
		if !ok || d.PartialJSON == "" {
			return nil
		}
		tc.args = true
		return t.arguments(tc.n, d.PartialJSON)
	case "thinking_delta":
		if d.Thinking == "" {
			return nil
		}
		return t.chunk(reasoning(d.Thinking), nil)
	}
	return nil
}

// arguments is a chunk with a fragment of tool call n's arguments.
func (t *ChunkTranslator) arguments(n int, fragment string) *switchboard.Chunk {
	return t.chunk(switchboard.Message{ToolCalls: []switchboard.ToolCall{{
		Index: new(n), Function: switchboard.FunctionCall{Arguments: fragment},
	}}}, nil)
}

// reasoning is a delta carrying thinking text as reasoning_content, the
// field OpenAI-compatible servers use for it.
func reasoning(s string) switchboard.Message {
	return switchboard.Message{Extra: map[string]json.RawMessage{"reasoning_content": switchboard.TextContent(s)}}
}

func (t *ChunkTranslator) chunk(delta switchboard.Message, finish *string) *switchboard.Chunk {
	return &switchboard.Chunk{
		ID:      t.id,
		Object:  "chat.completion.chunk",
		Created: t.created,
		Model:   t.model,
		Choices: []switchboard.ChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	}
}
