package openai

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
	"github.com/switchboard-ai/switchboard/internal/upstream"
)

// ChatStream implements switchboard.Provider.
func (c *Client) ChatStream(ctx context.Context, model string, r *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	body, err := r.UpstreamBody(model)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := c.newRequest(ctx, http.MethodPost, "chat/completions", model, body)
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
	s := &stream{ctx: ctx, cancel: cancel, body: resp.Body, rd: sse.NewReader(resp.Body), idle: c.timeouts.Idle}
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
	idle    time.Duration
	timer   *time.Timer
	mu      sync.Mutex
	expired bool
	done    bool
}

func (s *stream) expire() {
	s.mu.Lock()
	s.expired = true
	s.mu.Unlock()
	s.cancel()
}

var doneData = []byte("[DONE]")

// Recv implements switchboard.ChatStream.
func (s *stream) Recv() (*switchboard.Chunk, error) {
	if s.done {
		return nil, io.EOF
	}
	for {
		ev, err := s.rd.Next()
		if err != nil {
			return nil, s.fail(err)
		}
		if s.timer != nil {
			s.timer.Reset(s.idle)
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		if bytes.Equal(data, doneData) {
			s.done = true
			return nil, io.EOF
		}
		if ev.Event == "error" || bytes.HasPrefix(data, []byte(`{"error"`)) {
			return nil, UpstreamError(http.StatusBadGateway, nil, data)
		}
		chunk, err := switchboard.DecodeChunk(bytes.Clone(data))
		if err != nil {
			return nil, upstream.Malformed("upstream", err)
		}
		return chunk, nil
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
		// The upstream closed without [DONE]: a truncated stream.
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
