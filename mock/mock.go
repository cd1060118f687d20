// Package mock holds hand-written function-field mocks of the root
// interfaces, for tests of the packages that consume them.
package mock

import (
	"context"
	"errors"
	"io"

	"github.com/switchboard-ai/switchboard"
)

// Provider is a switchboard.Provider (and Embedder, ModelLister, Pinger)
// whose methods call the function fields; a nil field fails the call.
type Provider struct {
	ChatFn       func(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error)
	ChatStreamFn func(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error)
	EmbedFn      func(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error)
	ModelsFn     func(ctx context.Context) ([]switchboard.Model, error)
	PingFn       func(ctx context.Context) error
}

var (
	_ switchboard.Provider    = (*Provider)(nil)
	_ switchboard.Embedder    = (*Provider)(nil)
	_ switchboard.ModelLister = (*Provider)(nil)
	_ switchboard.Pinger      = (*Provider)(nil)
)

var errNotMocked = errors.New("mock: method not set")

// Chat calls ChatFn.
func (p *Provider) Chat(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	if p.ChatFn == nil {
		return nil, errNotMocked
	}
	return p.ChatFn(ctx, model, req)
}

// ChatStream calls ChatStreamFn.
func (p *Provider) ChatStream(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	if p.ChatStreamFn == nil {
		return nil, errNotMocked
	}
	return p.ChatStreamFn(ctx, model, req)
}

// Embed calls EmbedFn.
func (p *Provider) Embed(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	if p.EmbedFn == nil {
		return nil, errNotMocked
	}
	return p.EmbedFn(ctx, model, req)
}

// Models calls ModelsFn.
func (p *Provider) Models(ctx context.Context) ([]switchboard.Model, error) {
	if p.ModelsFn == nil {
		return nil, nil
	}
	return p.ModelsFn(ctx)
}

// Ping calls PingFn; nil means healthy.
func (p *Provider) Ping(ctx context.Context) error {
	if p.PingFn == nil {
		return nil
	}
	return p.PingFn(ctx)
}

// Stream is a switchboard.ChatStream that returns Chunks in order, then Err
// (io.EOF when Err is nil). If Block is set, Recv blocks after the chunks
// until ctx is done.
type Stream struct {
	Ctx    context.Context
	Chunks []*switchboard.Chunk
	Err    error
	Block  bool
	Closed bool
	i      int
}

// Recv implements switchboard.ChatStream.
func (s *Stream) Recv() (*switchboard.Chunk, error) {
	if s.i < len(s.Chunks) {
		s.i++
		return s.Chunks[s.i-1], nil
	}
	if s.Block && s.Ctx != nil {
		<-s.Ctx.Done()
		return nil, s.Ctx.Err()
	}
	if s.Err != nil {
		return nil, s.Err
	}
	return nil, io.EOF
}

// Close implements switchboard.ChatStream.
func (s *Stream) Close() error {
	s.Closed = true
	return nil
}

// Recorder collects inference records.
type Recorder struct {
	RecordFn func(ctx context.Context, inf switchboard.Inference) error
}

// Record calls RecordFn.
func (r *Recorder) Record(ctx context.Context, inf switchboard.Inference) error {
	if r.RecordFn == nil {
		return nil
	}
	return r.RecordFn(ctx, inf)
}
