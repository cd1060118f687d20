package huggingface

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

// errNotObject is the cause of the error for an event that is not a JSON object.
var errNotObject = errors.New("huggingface: stream event is not a JSON object")

// ChatStream implements switchboard.Provider. With api messages it is the
// OpenAI stream; with api tgi it reads /generate_stream's events (one token
// each) and yields OpenAI chunks: a role chunk, content deltas, a finish
// chunk and a usage chunk with no choices. The idle timeout bounds the gap
// between two events.
func (c *Client) ChatStream(ctx context.Context, model string, r *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	if c.api == APIMessages {
		return c.oa.ChatStream(ctx, model, r)
	}
	body, prompt, err := c.generateBody(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := c.newRequest(ctx, http.MethodPost, "/generate_stream", body)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &stream{
		ctx: ctx, cancel: cancel, body: resp.Body, rd: sse.NewReader(resp.Body), idle: c.timeouts.Idle,
		st: streamState{newID: c.newID, model: model, created: c.now().Unix(), promptTokens: prompt},
	}
	if s.idle > 0 {
		s.timer = time.AfterFunc(s.idle, s.expire)
	}
	return s, nil
}

// stream is the ChatStream over /generate_stream's SSE body.
type stream struct {
	ctx     context.Context
	cancel  context.CancelFunc
	body    io.ReadCloser
	rd      *sse.Reader
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

var doneData = []byte("[DONE]")

// next reads events until one yields chunks, the stream ends or fails.
func (s *stream) next() error {
	for {
		ev, err := s.rd.Next()
		if err != nil {
			return s.fail(err)
		}
		if s.timer != nil {
			s.timer.Reset(s.idle)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 || bytes.Equal(data, doneData) {
			continue
		}
		chunks, err := s.st.translate(data)
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

func (s *stream) fail(err error) error {
	s.mu.Lock()
	expired := s.expired
	s.mu.Unlock()
	switch {
	case expired:
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream stream stalled: no event within the idle timeout", Err: err}
	case s.ctx.Err() != nil && errors.Is(context.Cause(s.ctx), context.DeadlineExceeded):
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream stream exceeded the total timeout", Err: err}
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	case errors.Is(err, io.EOF):
		return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream ended before completion", Err: err}
	}
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream broke", Err: err}
}

// Close implements switchboard.ChatStream; closing early cancels the request.
func (s *stream) Close() error {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.cancel()
	return s.body.Close()
}
