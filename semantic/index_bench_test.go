package semantic

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/switchboard-ai/switchboard/embed"
)

// Benchmarks of the semantic index at the local embedder's 1024
// dimensions:
//
//	go test ./semantic -run XXX -bench . -benchmem
//
// BenchmarkSearch/exact-2000 is the dot-product scan the index uses up to
// ExactLimit; BenchmarkSearch/hnsw-* is the graph above it. A change to
// ExactLimit should follow where the two lines cross.

func benchIndex(b *testing.B, n, exactLimit int) (*Index, [][]float32) {
	b.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	x := NewIndex(IndexConfig{ExactLimit: exactLimit, MaxPerNamespace: n, MaxItems: n})
	vs := make([][]float32, n)
	for i := range n {
		vs[i] = randomUnit(r, embed.LocalDimensions)
		mustAdd(b, x, "ns", fmt.Sprint(i), "", vs[i])
	}
	qs := make([][]float32, 64)
	for i := range qs {
		qs[i] = nearCopy(r, vs[r.IntN(n)], 0.3)
	}
	return x, qs
}

func BenchmarkSearch(b *testing.B) {
	for _, bc := range []struct {
		name       string
		n, exactLi int
	}{
		{"exact-2000", 2000, 2000},
		{"hnsw-2000", 2000, 1},
		{"exact-5000", 5000, 5000},
		{"hnsw-5000", 5000, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			x, qs := benchIndex(b, bc.n, bc.exactLi)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				x.Search("ns", qs[i%len(qs)], 0.9)
				i++
			}
		})
	}
}

// BenchmarkAdd measures one Add into a full namespace of 2000 items: the
// graph insertion plus one eviction (graph repair and LRU scan).
func BenchmarkAdd(b *testing.B) {
	x, _ := benchIndex(b, 2000, 2000)
	r := rand.New(rand.NewPCG(7, 8))
	vs := make([][]float32, 256)
	for i := range vs {
		vs[i] = randomUnit(r, embed.LocalDimensions)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		mustAdd(b, x, "ns", fmt.Sprint("new", i), "", vs[i%len(vs)])
		i++
	}
}

// BenchmarkLookup is Cache.Lookup end to end with the local embedder on a
// namespace of 1000 prompts: embed, search, exact checks.
func BenchmarkLookup(b *testing.B) {
	c := mustCache(b, embed.NewLocal(), NewIndex(IndexConfig{}), Config{})
	for i := range 1000 {
		if err := c.Store(b.Context(), "ns", fmt.Sprint(i), fmt.Sprintf("How do I configure service number %d for region %d?", i, i%7)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok, err := c.Lookup(b.Context(), "ns", "how do I configure service number 500 for region 3", 0); err != nil || !ok {
			b.Fatalf("got ok=%v err=%v", ok, err)
		}
	}
}
