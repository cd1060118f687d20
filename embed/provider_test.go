package embed

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
)

// fakeProvider is a switchboard.Embedder answering from a function.
type fakeProvider func(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error)

func (f fakeProvider) Embed(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	return f(ctx, model, req)
}

func TestFromProvider(t *testing.T) {
	t.Parallel()
	var gotModel string
	var gotReq *switchboard.EmbeddingRequest
	p := fakeProvider(func(_ context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
		gotModel, gotReq = model, req
		// Out of order, not normalised.
		return &switchboard.EmbeddingResponse{Data: []switchboard.Embedding{
			{Index: 1, Embedding: []float32{0, 2}},
			{Index: 0, Embedding: []float32{3, 4}},
		}}, nil
	})
	e := FromProvider(p, "text-embedding-3-small")
	if e.Dimensions() != 0 {
		t.Errorf("Dimensions before the first call: got %d, want 0", e.Dimensions())
	}
	vs, err := e.Embed(t.Context(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if gotModel != "text-embedding-3-small" || gotReq.Model != gotModel || gotReq.EncodingFormat != "float" {
		t.Errorf("got model %q, request %+v", gotModel, gotReq)
	}
	var input []string
	if err := json.Unmarshal(gotReq.Input, &input); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, input); diff != "" {
		t.Errorf("input (-want +got):\n%s", diff)
	}
	want := [][]float32{{0.6, 0.8}, {0, 1}}
	approx := cmp.Comparer(func(x, y float32) bool { return math.Abs(float64(x-y)) < 1e-6 })
	if diff := cmp.Diff(want, vs, approx); diff != "" {
		t.Errorf("vectors (-want +got):\n%s", diff)
	}
	if e.Dimensions() != 2 || e.Name() != "provider:text-embedding-3-small" {
		t.Errorf("got dimensions %d, name %q", e.Dimensions(), e.Name())
	}
}

func TestFromProviderErrors(t *testing.T) {
	t.Parallel()
	upstream := errors.New("boom")
	tests := []struct {
		name string
		resp *switchboard.EmbeddingResponse
		err  error
		is   error
	}{
		{"provider error", nil, upstream, upstream},
		{"too few vectors", &switchboard.EmbeddingResponse{Data: []switchboard.Embedding{{Embedding: []float32{1}}}}, nil, nil},
		{"repeated index", &switchboard.EmbeddingResponse{Data: []switchboard.Embedding{{Embedding: []float32{1}}, {Embedding: []float32{1}}}}, nil, nil},
		{"ragged", &switchboard.EmbeddingResponse{Data: []switchboard.Embedding{{Embedding: []float32{1}}, {Index: 1, Embedding: []float32{1, 1}}}}, nil, nil},
		{"zero vector", &switchboard.EmbeddingResponse{Data: []switchboard.Embedding{{Embedding: []float32{0}}, {Index: 1, Embedding: []float32{1}}}}, nil, ErrBadVector},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := fakeProvider(func(context.Context, string, *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
				return tc.resp, tc.err
			})
			_, err := FromProvider(p, "m").Embed(t.Context(), []string{"a", "b"})
			if err == nil {
				t.Fatal("got nil error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want it to wrap %v", err, tc.is)
			}
		})
	}
}
