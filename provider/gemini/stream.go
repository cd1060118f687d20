package gemini

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

// ChatStream implements switchboard.Provider with
// :streamGenerateContent?alt=sse. The stream always ends with a usage chunk
// (no choices) when Gemini reported usage.
func (c *Client) ChatStream(ctx context.Context, model string, r *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	greq, err := c.encoder().request(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.post(ctx, model, "streamGenerateContent", "alt=sse", greq)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &stream{
		ctx: ctx, cancel: cancel, body: resp.Body, rd: sse.NewReader(resp.Body),
		dec: newStreamDecoder(c.decoder(model)), idle: c.timeouts.Idle,
	}
	if s.idle > 0 {
		s.timer = time.AfterFunc(s.idle, s.expire)
	}
	return s, nil
}

// stream reads Gemini's SSE events and hands out the OpenAI chunks they
// translate to. Errors are sticky.
type stream struct {
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	rd     *sse.Reader
	dec    *streamDecoder
	idle   time.Duration
	timer  *time.Timer
	err    error // sticky; io.EOF once the last chunk went out
	ended  bool  // the upstream stream ended cleanly

	mu      sync.Mutex
	expired bool
}

var _ switchboard.ChatStream = (*stream)(nil)

func (s *stream) expire() {
	s.mu.Lock()
	s.expired = true
	s.mu.Unlock()
	s.cancel()
}

// Recv implements switchboard.ChatStream.
func (s *stream) Recv() (*switchboard.Chunk, error) {
	if s.err == nil && s.ctx.Err() != nil && !s.isExpired() {
		// Closed, or the caller's context ended: what is queued is dropped.
		s.err, s.dec.out = s.fail(s.ctx.Err()), nil
	}
	for {
		if c := s.dec.next(); c != nil {
			return c, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		if s.ended {
			s.err = io.EOF
			continue
		}
		s.err = s.read()
	}
}

// read reads and translates one event; nil when it queued chunks or the
// stream ended cleanly.
func (s *stream) read() error {
	ev, err := s.rd.Next()
	if err != nil {
		if errors.Is(err, io.EOF) && s.ctx.Err() == nil {
			s.ended = true
			return s.dec.end()
		}
		return s.fail(err)
	}
	if s.timer != nil {
		s.timer.Reset(s.idle)
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return nil
	}
	if ev.Event == "error" || bytes.HasPrefix(data, []byte(`{"error"`)) || bytes.HasPrefix(data, []byte(`[{"error"`)) {
		status := http.StatusBadGateway
		if code := parseError(data).Error.Code; code >= 400 && code <= 599 {
			status = code
		}
		return upstreamError(status, nil, data)
	}
	return s.dec.event(data)
}

func (s *stream) isExpired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expired
}

func (s *stream) fail(err error) error {
	expired := s.isExpired()
	switch {
	case expired:
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream stream stalled: no event within the idle timeout", Err: err}
	case s.ctx.Err() != nil && errors.Is(context.Cause(s.ctx), context.DeadlineExceeded):
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream stream exceeded the total timeout", Err: err}
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream ended before completion", Err: err}
	}
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream broke", Err: err}
}

// Close implements switchboard.ChatStream; closing early cancels the upstream call.
func (s *stream) Close() error {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.cancel()
	return s.body.Close()
}
