package semantic

import (
	"math/rand/v2"
	"testing"

	"github.com/switchboard-ai/switchboard/embed"
)

func randomUnit(r *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	embed.Normalized(v)
	return v
}

// nearCopy returns v plus noise, normalised: a near-duplicate of v with a
// cosine of about 1/sqrt(1+noise²).
func nearCopy(r *rand.Rand, v []float32, noise float32) []float32 {
	n := randomUnit(r, len(v))
	out := make([]float32, len(v))
	for i := range v {
		out[i] = v[i] + noise*n[i]
	}
	embed.Normalized(out)
	return out
}

// buildSpace returns a space of n random unit vectors of d dimensions.
func buildSpace(r *rand.Rand, n, d int) *space {
	sp := &space{graph: newGraph(7)}
	for i := range n {
		it := &item{id: uint64(i + 1), pos: i, vec: randomUnit(r, d)}
		it.node = sp.graph.insert(it)
		sp.items = append(sp.items, it)
	}
	return sp
}

// agreement returns how many of the queries get the same top-1 from the
// graph as from the exact scan.
func agreement(sp *space, queries [][]float32) int {
	n := 0
	for _, q := range queries {
		e, g := sp.exact(q, 1), sp.graph.search(q, 1)
		if len(e) == 1 && len(g) == 1 && e[0].n == g[0].n {
			n++
		}
	}
	return n
}

// TestGraphAgreesWithExact checks that the HNSW graph finds the exact
// top-1 on a random set, for near-duplicate queries (what the cache asks)
// and for unrelated random queries, before and after deleting a third of
// the items. Random queries in a random set have no meaningful nearest
// neighbour (every similarity is near 0, far below any threshold), so the
// graph is allowed to miss some of them; near-duplicates it must find.
func TestGraphAgreesWithExact(t *testing.T) {
	t.Parallel()
	n, d, queries := 2500, 64, 200
	if raceEnabled {
		n, queries = 600, 100
	}
	r := rand.New(rand.NewPCG(1, 2))
	sp := buildSpace(r, n, d)

	check := func(stage string) {
		t.Helper()
		near := make([][]float32, queries)
		random := make([][]float32, queries)
		for i := range queries {
			near[i] = nearCopy(r, sp.items[r.IntN(len(sp.items))].vec, 0.4)
			random[i] = randomUnit(r, d)
		}
		if got := agreement(sp, near); got < queries*99/100 {
			t.Errorf("%s: near-duplicate queries: top-1 agrees on %d/%d, want at least 99%%", stage, got, queries)
		} else {
			t.Logf("%s: near-duplicate queries: top-1 agrees on %d/%d", stage, got, queries)
		}
		if got := agreement(sp, random); got < queries*80/100 {
			t.Errorf("%s: random queries: top-1 agrees on %d/%d, want at least 80%%", stage, got, queries)
		} else {
			t.Logf("%s: random queries: top-1 agrees on %d/%d", stage, got, queries)
		}
	}
	check("full")

	// Delete a third, including whatever the entry point is.
	deleted := map[uint64]bool{}
	del := func(it *item) {
		deleted[it.id] = true
		sp.graph.remove(it.id)
		last := sp.items[len(sp.items)-1]
		sp.items[it.pos], last.pos = last, it.pos
		sp.items = sp.items[:len(sp.items)-1]
	}
	del(sp.graph.entry.item)
	for len(sp.items) > n*2/3 {
		del(sp.items[r.IntN(len(sp.items))])
	}
	for _, x := range sp.graph.nodes {
		for _, links := range x.links {
			for _, y := range links {
				if deleted[y.id] {
					t.Fatalf("node %d still links to deleted node %d", x.id, y.id)
				}
			}
		}
	}
	check("after deleting a third")
}
