package mock

import (
	"context"
	"io"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// stream is the in-process switchboard.ChatStream: it hands out the chunks
// of a plan, paced and broken as the options ask.
type stream struct {
	// ctx is the context of the ChatStream call; the stream lives within it,
	// as an HTTP response body lives within its request's context.
	ctx    context.Context
	cancel context.CancelFunc
	plan   *Chunks
	opts   Options
	next   int
	err    error // sticky: once Recv failed, it keeps failing
}

var _ switchboard.ChatStream = (*stream)(nil)

func newStream(ctx context.Context, plan *Chunks, opts Options) *stream {
	ctx, cancel := context.WithCancel(ctx)
	return &stream{ctx: ctx, cancel: cancel, plan: plan, opts: opts}
}

// Recv returns the next chunk, io.EOF after the last, ctx.Err() once the
// context is done, and ErrAborted or ErrMalformed (inside a
// *switchboard.Error) where the options break the stream.
func (s *stream) Recv() (*switchboard.Chunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	ch, err := s.recv()
	if err != nil {
		s.err = err
	}
	return ch, err
}

func (s *stream) recv() (*switchboard.Chunk, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	i, n := s.next, s.plan.Len()
	if i > 0 && i < n {
		if err := sleep(s.ctx, s.opts.ChunkDelay); err != nil {
			return nil, err
		}
	}
	if s.opts.StallAfter != nil && i == *s.opts.StallAfter {
		<-s.ctx.Done()
		return nil, s.ctx.Err()
	}
	if s.opts.FailAfter != nil && i == *s.opts.FailAfter {
		return nil, errAborted()
	}
	if i >= n {
		return nil, io.EOF
	}
	if s.opts.Malformed && i == MalformedChunk {
		return nil, errMalformed()
	}
	s.next++
	return s.plan.Chunk(i), nil
}

// Close ends the stream; later calls of Recv return context.Canceled.
func (s *stream) Close() error {
	s.cancel()
	return nil
}

// sleep waits for d or until ctx is done, returning ctx.Err() then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
