package embed

import (
	"context"
	"errors"
	"math"
	"testing"
)

// similarity embeds a and b with Local and returns their cosine.
func similarity(a, b string) float32 {
	var l Local
	return Dot(l.EmbedText(a), l.EmbedText(b))
}

func TestLocalUnitLength(t *testing.T) {
	t.Parallel()
	var l Local
	for _, s := range []string{"", "?!", "the", "How do I reverse a list in Python?", "东京", "5"} {
		v := l.EmbedText(s)
		if len(v) != LocalDimensions {
			t.Fatalf("EmbedText(%q): got %d dimensions, want %d", s, len(v), LocalDimensions)
		}
		if n := Dot(v, v); math.Abs(float64(n)-1) > 1e-5 {
			t.Errorf("EmbedText(%q): got squared norm %v, want 1", s, n)
		}
	}
}

// threshold is the similarity the semantic cache uses by default
// (semantic.DefaultThreshold; not imported to keep the dependency one way).
const threshold = 0.92

func TestLocalProperties(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		min  float32 // similarity at least
		max  float32 // similarity at most
	}{
		{"identical", "What is the capital of France?", "What is the capital of France?", 0.9999, 1.0001},
		{"case", "What is the capital of France?", "WHAT IS THE CAPITAL OF FRANCE", 0.9999, 1.0001},
		{"punctuation and spaces", "What is the capital of France?", "what is   the capital, of France", 0.9999, 1.0001},
		{"filler", "Explain how TLS works.", "Please explain how TLS works, thanks!", threshold, 1.0001},
		{"clause moved", "How do I reverse a list in Python?", "In Python, how do I reverse a list?", threshold, 1.0001},
		{"typo in a long prompt", "What should I pack for a two week trip to Norway in winter?", "What should I pack for a two week trip to Norway in wintr?", threshold, 1.0001},
		{"entity", "What is the capital of France?", "What is the capital of Germany?", -1, 0.8},
		{"number", "Convert 5 km to miles", "Convert 50 km to miles", -1, 0.9},
		{"unit direction", "Convert 5 km to miles", "Convert 5 miles to km", -1, threshold - 0.01},
		{"negation", "Which HTTP methods are idempotent?", "Which HTTP methods are not idempotent?", -1, 0.9},
		{"language", "How do I reverse a list in Python?", "How do I reverse a list in Rust?", -1, 0.85},
		{"unrelated", "How do I bake bread?", "What is a goroutine?", -1, 0.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := similarity(tc.a, tc.b)
			if s < tc.min || s > tc.max {
				t.Errorf("similarity(%q, %q): got %.3f, want in [%.2f, %.2f]", tc.a, tc.b, s, tc.min, tc.max)
			}
		})
	}
}

func TestLocalEmbedBatch(t *testing.T) {
	t.Parallel()
	var l Local
	texts := []string{"first text", "second text", ""}
	vs, err := l.Embed(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(texts) {
		t.Fatalf("got %d vectors, want %d", len(vs), len(texts))
	}
	for i, s := range texts {
		if got := Dot(vs[i], l.EmbedText(s)); math.Abs(float64(got)-1) > 1e-5 {
			t.Errorf("vector %d differs from EmbedText: similarity %v", i, got)
		}
	}
	// Appending to one vector must not overwrite the next.
	_ = append(vs[0], 1)
	if got := Dot(vs[1], l.EmbedText(texts[1])); math.Abs(float64(got)-1) > 1e-5 {
		t.Errorf("vectors share capacity: similarity %v after append", got)
	}
}

func TestLocalEmbedCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewLocal().Embed(ctx, []string{"x"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestLocalName(t *testing.T) {
	t.Parallel()
	l := NewLocal()
	if l.Name() == "" || l.Dimensions() != LocalDimensions {
		t.Fatalf("got name %q, dimensions %d", l.Name(), l.Dimensions())
	}
}

func TestDotAndNormalized(t *testing.T) {
	t.Parallel()
	v := []float32{3, 4, 0, 0, 0}
	if !Normalized(v) || math.Abs(float64(Dot(v, v))-1) > 1e-6 {
		t.Fatalf("Normalized: got %v", v)
	}
	if got := Dot([]float32{1, 2, 3, 4, 5}, []float32{1, 1, 1, 1, 1}); got != 15 {
		t.Errorf("Dot: got %v, want 15", got)
	}
	for _, bad := range [][]float32{nil, {0, 0}, {float32(math.NaN()), 1}, {float32(math.Inf(1))}} {
		if Normalized(bad) {
			t.Errorf("Normalized(%v): got true, want false", bad)
		}
	}
}
