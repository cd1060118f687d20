package semantic

import (
	"context"
	"errors"
	"testing"

	"github.com/switchboard-ai/switchboard/embed"
)

func TestCacheLookup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := mustCache(t, embed.NewLocal(), NewIndex(IndexConfig{}), Config{})
	stored := map[string]string{
		"k-km":    "Convert 5 km to miles.",
		"k-miles": "Convert 5 miles to km.",
		"k-fr":    "What is the capital of France?",
	}
	for k, text := range stored {
		if err := c.Store(ctx, "tenant/model", k, text); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, ns, text string
		min            float32
		wantKey        string
	}{
		{"same text", "tenant/model", "What is the capital of France?", 0, "k-fr"},
		{"near-duplicate", "tenant/model", "WHAT is the capital of France??  please", 0, "k-fr"},
		{"direction picks the right entry", "tenant/model", "convert 5 miles to km", 0, "k-miles"},
		{"other direction", "tenant/model", "Please convert 5 km to miles", 0, "k-km"},
		{"other entity", "tenant/model", "What is the capital of Germany?", 0, ""},
		{"other number", "tenant/model", "Convert 6 km to miles.", 0, ""},
		{"other namespace", "tenant/other-model", "What is the capital of France?", 0, ""},
		{"request raises threshold", "tenant/model", "Please, what is the capital of France", 0.999, ""},
		{"request cannot lower threshold", "tenant/model", "What is the capital of Germany?", 0.1, ""},
		{"request above 1 still finds exact", "tenant/model", "What is the capital of France?", 2, "k-fr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, sim, ok, err := c.Lookup(ctx, tc.ns, tc.text, tc.min)
			if err != nil {
				t.Fatal(err)
			}
			if key != tc.wantKey || ok != (tc.wantKey != "") {
				t.Fatalf("Lookup(%q): got (%q, %.3f, %v), want %q", tc.text, key, sim, ok, tc.wantKey)
			}
			if ok && sim < c.Threshold() {
				t.Errorf("hit below the threshold: %v", sim)
			}
		})
	}
	c.Delete("k-fr")
	if _, _, ok, _ := c.Lookup(ctx, "tenant/model", "What is the capital of France?", 0); ok {
		t.Error("deleted key still found")
	}
}

func TestCacheAllowRewording(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	idx := NewIndex(IndexConfig{})
	strict := mustCache(t, embed.NewLocal(), idx, Config{Threshold: 0.8})
	loose := mustCache(t, embed.NewLocal(), idx, Config{Threshold: 0.8, AllowRewording: true})
	if err := strict.Store(ctx, "ns", "k", "Why is the sky blue?"); err != nil {
		t.Fatal(err)
	}
	// Word-level check: "explain" has no counterpart.
	const q = "Can you explain why the sky is blue?"
	if _, _, ok, _ := strict.Lookup(ctx, "ns", q, 0); ok {
		t.Error("strict: reworded prompt matched")
	}
	if _, _, ok, _ := loose.Lookup(ctx, "ns", q, 0.5); ok {
		t.Error("loose: matched below its floor")
	}
	// Guards hold even when rewording is allowed.
	if err := strict.Store(ctx, "ns", "k2", "Why is the sky not blue?"); err != nil {
		t.Fatal(err)
	}
	if key, _, ok, _ := loose.Lookup(ctx, "ns", "Why is the sky blue", 0); !ok || key != "k" {
		t.Errorf("loose: got (%q, %v), want k", key, ok)
	}
}

type failingEmbedder struct{ embed.Local }

var errEmbed = errors.New("embedder down")

func (*failingEmbedder) Embed(context.Context, []string) ([][]float32, error) { return nil, errEmbed }

func TestCacheErrors(t *testing.T) {
	t.Parallel()
	for _, th := range []float32{-0.1, 1.5} {
		if _, err := New(embed.NewLocal(), NewIndex(IndexConfig{}), Config{Threshold: th}); !errors.Is(err, ErrThreshold) {
			t.Errorf("threshold %v: got %v, want ErrThreshold", th, err)
		}
	}
	c := mustCache(t, &failingEmbedder{}, NewIndex(IndexConfig{}), Config{})
	if _, _, ok, err := c.Lookup(t.Context(), "ns", "x", 0); ok || !errors.Is(err, errEmbed) {
		t.Errorf("Lookup: got ok=%v err=%v, want the embedder's error", ok, err)
	}
	if err := c.Store(t.Context(), "ns", "k", "x"); !errors.Is(err, errEmbed) {
		t.Errorf("Store: got %v, want the embedder's error", err)
	}
	if c := mustCache(t, embed.NewLocal(), NewIndex(IndexConfig{}), Config{}); c.Threshold() != DefaultThreshold {
		t.Errorf("default threshold: got %v, want %v", c.Threshold(), DefaultThreshold)
	}
}
