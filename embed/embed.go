// Package embed turns text into vectors for the semantic cache: Local, an
// offline feature-hashing embedder for near-duplicates, and FromProvider,
// which embeds through any provider's embeddings API.
//
// Vectors from one Embedder are comparable with each other only; the
// semantic cache keeps one index per embedder.
package embed

import (
	"context"
	"errors"
	"math"
)

// ErrBadVector is returned for a vector that is empty, zero, or holds NaN
// or Inf.
var ErrBadVector = errors.New("vector is empty, zero or not finite")

// Embedder turns texts into vectors. Implementations are safe for
// concurrent use.
type Embedder interface {
	// Embed returns one vector per text, in order, each of length
	// Dimensions() and of unit length (so a dot product is a cosine).
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimensions returns the vector length, or 0 while it is not yet known
	// (a provider's, before its first answer).
	Dimensions() int
	// Name identifies the embedder and model; vectors of different names
	// are never compared.
	Name() string
}

// Dot returns the dot product of a and b over their common length: the
// cosine similarity of two unit vectors.
func Dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// Normalized scales v to unit length in place and reports whether it could:
// a zero vector, or one holding NaN or Inf, is left as it is and gives
// false.
func Normalized(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return false
	}
	s := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= s
	}
	return true
}
