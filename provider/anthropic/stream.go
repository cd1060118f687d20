package anthropic

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/switchboard-ai/switchboard"
	wire "github.com/switchboard-ai/switchboard/internal/anthropic"
	"github.com/switchboard-ai/switchboard/internal/sse"
	"github.com/switchboard-ai/switchboard/internal/upstream"
)

// ChatStream implements switchboard.Provider. The stream ends with the
// usage chunk (choices: []) Anthropic's message_delta and message_start
// make up, whether or not the request asked for it; httpapi hides it from
// clients that did not. An idle timeout (Deps.Timeouts.Idle) bounds the gap
// between two events, pings included.
func (c *Client) ChatStream(ctx context.Context, model string, r *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	body, _, err := c.translate(model, r, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := c.newRequest(ctx, http.MethodPost, "/messages", body)
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
		ctx: ctx, cancel: cancel, body: resp.Body, rd: sse.NewReader(resp.Body),
		tr: wire.NewChunkTranslator(c.now().Unix()), idle: c.timeouts.Idle,
	}
	if s.idle > 0 {
		s.timer = time.AfterFunc(s.idle, s.expire)
	}
	return s, nil
}

type stream struct {
	ctx     context.Context
	cancel  context.CancelFunc
	body    io.ReadCloser
	rd      *sse.Reader
	tr      *wire.ChunkTranslator
	idle    time.Duration
	timer   *time.Timer
	mu      sync.Mutex
	expired bool
	err     error // sticky: once failed, Recv keeps failing
}

func (s *stream) expire() {
	s.mu.Lock()
	s.expired = true
	s.mu.Unlock()
	s.cancel()
}

// Recv implements switchboard.ChatStream.
func (s *stream) Recv() (*switchboard.Chunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		if s.tr.Done() {
			s.err = io.EOF
			return nil, io.EOF
		}
		ev, err := s.rd.Next()
		if err != nil {
			s.err = s.fail(err)
			return nil, s.err
		}
		if s.timer != nil {
			s.timer.Reset(s.idle)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		chunk, err := s.tr.Next(data)
		if err != nil {
			var e *switchboard.Error
			if !errors.As(err, &e) {
				err = upstream.Malformed("upstream", err)
			}
			s.err = err
			return nil, err
		}
		if chunk != nil {
			return chunk, nil
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
		// The upstream closed without message_stop: a truncated stream.
		return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream ended before completion", Err: err}
	}
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream broke", Err: err}
}

// Close implements switchboard.ChatStream.
func (s *stream) Close() error {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.cancel()
	return s.body.Close()
}
