package anthropic

import (
	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

// EventEncoder turns OpenAI chat completion chunks into the event sequence
// of a Messages API stream, framed as Anthropic's SDKs parse it
// ("event: NAME\ndata: {…}\n\n"):
//
//	message_start
//	content_block_start, content_block_delta…, content_block_stop   (per block)
//	message_delta (stop_reason, usage), message_stop                (Finish)
//
// Content opens a text block, each tool call a tool_use block; a block is
// closed when the next opens or the choice finishes. Only the first choice
// is encoded (Anthropic has no n).
type EventEncoder struct {
	id, model   string
	inputTokens int
	started     bool
	// open is the kind of the open block ("", "text" or "tool_use"), index
	// its content block index and tool its OpenAI tool call index.
	open   string
	index  int
	tool   int
	blocks int
	finish string
}

// NewEventEncoder returns an encoder for a message. id (a "msg_" id, or a
// completion id MessageID turns into one) and model are used unless the
// first chunk carries its own; inputTokens is the input token count
// message_start reports before the usage is known (an estimate).
func NewEventEncoder(id, model string, inputTokens int) *EventEncoder {
	return &EventEncoder{id: MessageID(id), model: model, inputTokens: inputTokens}
}

// Append appends the events chunk c yields to b.
func (e *EventEncoder) Append(b []byte, c *switchboard.Chunk) []byte {
	if !e.started {
		if id := MessageID(c.ID); id != "" {
			e.id = id
		}
		if c.Model != "" {
			e.model = c.Model
		}
		if c.Usage != nil {
			e.inputTokens = MessageUsage(c.Usage).InputTokens
		}
		b = e.start(b)
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue
		}
		if text := ch.Delta.Text(); text != "" {
			b = e.text(b, text)
		} else if ch.Delta.Refusal != nil && *ch.Delta.Refusal != "" {
			b = e.text(b, *ch.Delta.Refusal)
		}
		for j, tc := range ch.Delta.ToolCalls {
			n := j
			if tc.Index != nil {
				n = *tc.Index
			}
			b = e.toolCall(b, n, tc)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			e.finish = *ch.FinishReason
			b = e.closeBlock(b)
		}
	}
	return b
}

// Finish appends the events that end a complete message: the open block's
// content_block_stop, message_delta with the stop reason and usage u (the
// final counts; nil reports none), and message_stop.
func (e *EventEncoder) Finish(b []byte, u *switchboard.Usage) []byte {
	if !e.started {
		b = e.start(b)
	}
	b = e.closeBlock(b)
	mu := MessageUsage(u)
	if u == nil {
		mu.InputTokens = e.inputTokens
	}
	b = appendEvent(b, "message_delta", messageDeltaEvent{
		Type:  "message_delta",
		Delta: stopDelta{StopReason: StopReason(e.finish)},
		Usage: mu,
	})
	return appendEvent(b, "message_stop", typeOnly{Type: "message_stop"})
}

// AppendError appends an error event: how a stream that already started
// reports a failure.
func AppendError(b []byte, typ, msg string) []byte {
	return sse.AppendEvent(b, "error", ErrorJSON(typ, msg, ""))
}

func (e *EventEncoder) start(b []byte) []byte {
	e.started = true
	return appendEvent(b, "message_start", messageStartEvent{Type: "message_start", Message: Response{
		ID: e.id, Type: "message", Role: "assistant", Model: e.model, Content: []Block{},
		Usage: Usage{InputTokens: e.inputTokens},
	}})
}

func (e *EventEncoder) text(b []byte, text string) []byte {
	if e.open != "text" {
		b = e.closeBlock(b)
		b = e.openBlock(b, Block{Type: "text"})
		e.open = "text"
	}
	return appendEvent(b, "content_block_delta", blockDeltaEvent{Type: "content_block_delta", Index: e.index,
		Delta: textDelta{Type: "text_delta", Text: text}})
}

func (e *EventEncoder) toolCall(b []byte, n int, tc switchboard.ToolCall) []byte {
	if e.open != "tool_use" || e.tool != n {
		b = e.closeBlock(b)
		id := tc.ID
		if id == "" {
			id = toolUseID(e.id, n)
		}
		b = e.openBlock(b, Block{Type: "tool_use", ID: id, Name: tc.Function.Name})
		e.open, e.tool = "tool_use", n
	}
	if tc.Function.Arguments == "" {
		return b
	}
	return appendEvent(b, "content_block_delta", blockDeltaEvent{Type: "content_block_delta", Index: e.index,
		Delta: jsonDelta{Type: "input_json_delta", PartialJSON: tc.Function.Arguments}})
}

func (e *EventEncoder) openBlock(b []byte, block Block) []byte {
	e.index = e.blocks
	e.blocks++
	return appendEvent(b, "content_block_start", blockStartEvent{Type: "content_block_start", Index: e.index, ContentBlock: block})
}

func (e *EventEncoder) closeBlock(b []byte) []byte {
	if e.open == "" {
		return b
	}
	e.open = ""
	return appendEvent(b, "content_block_stop", blockStopEvent{Type: "content_block_stop", Index: e.index})
}

// The events as Anthropic encodes them, field for field.
type (
	messageStartEvent struct {
		Type    string   `json:"type"`
		Message Response `json:"message"`
	}
	blockStartEvent struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock Block  `json:"content_block"`
	}
	blockDeltaEvent struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta any    `json:"delta"`
	}
	textDelta struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	jsonDelta struct {
		Type        string `json:"type"`
		PartialJSON string `json:"partial_json"`
	}
	blockStopEvent struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	messageDeltaEvent struct {
		Type  string    `json:"type"`
		Delta stopDelta `json:"delta"`
		Usage Usage     `json:"usage"`
	}
	stopDelta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	typeOnly struct {
		Type string `json:"type"`
	}
)

// appendEvent appends one framed event; its data is v's JSON.
func appendEvent(b []byte, name string, v any) []byte {
	data, err := marshal(v)
	if err != nil {
		// Only the event structs above are encoded; they always encode.
		data = []byte(`{"type":"` + name + `"}`)
	}
	return sse.AppendEvent(b, name, data)
}
