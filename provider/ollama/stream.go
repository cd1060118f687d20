package ollama

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// maxLine bounds one NDJSON line of a stream.
const maxLine = 8 << 20

// Causes of malformed-stream errors.
var (
	errLineTooLong = errors.New("ollama: stream line too long")
	errNotObject   = errors.New("ollama: stream line is not a JSON object")
)

// ChatStream implements switchboard.Provider. Ollama streams NDJSON, one
// object a line; the stream yields OpenAI chunks: a role chunk, content and
// tool-call deltas, a finish chunk and a usage chunk with no choices. The
// idle timeout bounds the gap between two lines.
func (c *Client) ChatStream(ctx context.Context, model string, r *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	body, err := c.chatBody(model, r, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := c.newRequest(ctx, http.MethodPost, "/api/chat", body)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &stream{
		ctx: ctx, cancel: cancel, body: resp.Body,
		rd:   newReader(resp.Body),
		idle: c.timeouts.Idle,
		st:   streamState{newID: c.newID},
	}
	if s.idle > 0 {
		s.timer = time.AfterFunc(s.idle, s.expire)
	}
	return s, nil
}

// streamState turns Ollama's stream lines into OpenAI chunks. It is pure,
// so the golden tests drive it directly.
type streamState struct {
	newID   func(prefix string) string
	id      string
	created int64
	model   string
	started bool
	calls   int // tool calls sent so far: the stream index of the next one
	done    bool
}

// translate returns the chunks for one line. A line with "error" is
// Ollama's in-band failure; the line with done: true yields the finish and
// usage chunks and ends the stream.
func (st *streamState) translate(line []byte) ([]*switchboard.Chunk, error) {
	if st.done {
		return nil, nil
	}
	if len(line) == 0 || line[0] != '{' {
		return nil, errNotObject
	}
	var cr chatResponse
	if err := json.Unmarshal(line, &cr); err != nil {
		return nil, err
	}
	if cr.Error != "" {
		return nil, inBandError(cr.Error)
	}
	out := make([]*switchboard.Chunk, 0, 2)
	if !st.started {
		st.started = true
		st.id, st.created, st.model = st.newID("chatcmpl-"), createdAt(cr.CreatedAt), cr.Model
		out = append(out, st.chunk(switchboard.Message{Role: "assistant", Content: json.RawMessage(`""`)}, nil))
	}
	if cr.Message.Thinking != "" {
		out = append(out, st.chunk(switchboard.Message{
			Extra: map[string]json.RawMessage{"reasoning_content": switchboard.TextContent(cr.Message.Thinking)},
		}, nil))
	}
	if cr.Message.Content != "" {
		out = append(out, st.chunk(switchboard.Message{Content: switchboard.TextContent(cr.Message.Content)}, nil))
	}
	if len(cr.Message.ToolCalls) > 0 {
		calls, err := toolCallsOf(cr.Message.ToolCalls, st.newID, true)
		if err != nil {
			return nil, err
		}
		for i := range calls {
			*calls[i].Index += st.calls
		}
		st.calls += len(calls)
		out = append(out, st.chunk(switchboard.Message{ToolCalls: calls}, nil))
	}
	if cr.Done {
		st.done = true
		out = append(out, st.chunk(switchboard.Message{}, new(finishReason(cr.DoneReason, st.calls > 0))))
		u := st.chunk(switchboard.Message{}, nil)
		u.Choices, u.Usage = []switchboard.ChunkChoice{}, usage(&cr)
		out = append(out, u)
	}
	return out, nil
}

// chunk returns a chunk with one choice holding delta.
func (st *streamState) chunk(delta switchboard.Message, finish *string) *switchboard.Chunk {
	return &switchboard.Chunk{
		ID:      st.id,
		Object:  "chat.completion.chunk",
		Created: st.created,
		Model:   st.model,
		Choices: []switchboard.ChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	}
}

// stream is the ChatStream over an NDJSON body.
type stream struct {
	ctx     context.Context
	cancel  context.CancelFunc
	body    io.ReadCloser
	rd      *bufio.Reader
	idle    time.Duration
	timer   *time.Timer
	st      streamState
	pending []*switchboard.Chunk
	err     error // sticky: once Recv failed, it keeps failing

	mu      sync.Mutex
	expired bool
}

func (s *stream) expire() {
	s.mu.Lock()
	s.expired = true
	s.mu.Unlock()
	s.cancel()
}

// Recv implements switchboard.ChatStream.
func (s *stream) Recv() (*switchboard.Chunk, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		if s.st.done {
			return nil, io.EOF
		}
		s.err = s.next()
	}
	ch := s.pending[0]
	s.pending = s.pending[1:]
	return ch, nil
}

// next reads lines until one yields chunks, the stream ends or fails.
func (s *stream) next() error {
	for {
		line, err := readLine(s.rd)
		if err != nil {
			return s.fail(err)
		}
		if s.timer != nil {
			s.timer.Reset(s.idle)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		chunks, err := s.st.translate(line)
		if err != nil {
			var e *switchboard.Error
			if errors.As(err, &e) {
				return e
			}
			return malformed(err)
		}
		if len(chunks) > 0 || s.st.done {
			s.pending = chunks
			return nil
		}
	}
}

// newReader buffers a stream body.
func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 16<<10) }

// readLine returns the next line without its newline; a last line without
// one is returned before io.EOF.
func readLine(rd *bufio.Reader) ([]byte, error) {
	line, err := rd.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(buf) > maxLine {
				return nil, errLineTooLong
			}
			line, err = rd.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil && !(err == io.EOF && len(line) > 0) {
		return nil, err
	}
	return line, nil
}

func (s *stream) fail(err error) error {
	s.mu.Lock()
	expired := s.expired
	s.mu.Unlock()
	switch {
	case expired:
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: "ollama stream stalled: no line within the idle timeout", Err: err}
	case s.ctx.Err() != nil && errors.Is(context.Cause(s.ctx), context.DeadlineExceeded):
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: "ollama stream exceeded the total timeout", Err: err}
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	case errors.Is(err, io.EOF):
		return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "ollama stream ended before completion", Err: err}
	}
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "ollama stream broke", Err: err}
}

// Close implements switchboard.ChatStream; closing early cancels the request.
func (s *stream) Close() error {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.cancel()
	return s.body.Close()
}
