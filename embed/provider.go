package embed

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/switchboard-ai/switchboard"
)

// Provider embeds through a provider's embeddings API (OpenAI, a compatible
// server, …). Build one with FromProvider.
type Provider struct {
	p     switchboard.Embedder
	model string
	dims  atomic.Int64
}

var _ Embedder = (*Provider)(nil)

// FromProvider returns an Embedder that sends texts to p's embeddings API
// for model (the upstream's own model name). Vectors are normalised to unit
// length on the way back, so a dot product is a cosine whatever the vendor
// returns.
func FromProvider(p switchboard.Embedder, model string) *Provider {
	return &Provider{p: p, model: model}
}

// Name returns "provider:" and the model.
func (e *Provider) Name() string { return "provider:" + e.model }

// Dimensions returns the vector length of the last answer, 0 before the
// first.
func (e *Provider) Dimensions() int { return int(e.dims.Load()) }

// Embed sends texts in one embeddings request and returns their vectors in
// order. It fails if the provider fails, or if the answer does not hold
// exactly one usable vector per text, all of the same length.
func (e *Provider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	input, err := json.Marshal(texts)
	if err != nil {
		return nil, fmt.Errorf("embed: provider %s: encode input: %w", e.model, err)
	}
	req := &switchboard.EmbeddingRequest{Model: e.model, Input: input, EncodingFormat: "float"}
	resp, err := e.p.Embed(ctx, e.model, req)
	if err != nil {
		return nil, fmt.Errorf("embed: provider %s: %w", e.model, err)
	}
	if resp == nil || len(resp.Data) != len(texts) {
		got := 0
		if resp != nil {
			got = len(resp.Data)
		}
		return nil, fmt.Errorf("embed: provider %s: got %d vectors for %d texts", e.model, got, len(texts))
	}
	out := make([][]float32, len(texts))
	dims := 0
	for _, d := range resp.Data {
		if d.Index < 0 || d.Index >= len(out) || out[d.Index] != nil {
			return nil, fmt.Errorf("embed: provider %s: bad or repeated index %d", e.model, d.Index)
		}
		if dims == 0 {
			dims = len(d.Embedding)
		}
		if len(d.Embedding) != dims {
			return nil, fmt.Errorf("embed: provider %s: vectors of lengths %d and %d", e.model, dims, len(d.Embedding))
		}
		v := append([]float32(nil), d.Embedding...)
		if !Normalized(v) {
			return nil, fmt.Errorf("embed: provider %s: %w", e.model, ErrBadVector)
		}
		out[d.Index] = v
	}
	e.dims.Store(int64(dims))
	return out, nil
}
