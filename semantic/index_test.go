package semantic

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/switchboard-ai/switchboard/embed"
)

func mustAdd(tb testing.TB, x *Index, ns, key, text string, v []float32) {
	tb.Helper()
	if err := x.Add(ns, key, text, v); err != nil {
		tb.Fatal(err)
	}
}

func TestIndexAddSearchDelete(t *testing.T) {
	t.Parallel()
	x := NewIndex(IndexConfig{})
	mustAdd(t, x, "ns", "a", "A", []float32{1, 0, 0})
	mustAdd(t, x, "ns", "b", "B", []float32{0, 2, 0}) // normalised on Add
	tests := []struct {
		name      string
		q         []float32
		threshold float32
		wantKey   string
		wantOK    bool
	}{
		{"exact a", []float32{1, 0, 0}, 0.99, "a", true},
		{"scaled query", []float32{0, 5, 0}, 0.99, "b", true},
		{"near a", []float32{1, 0.1, 0}, 0.99, "a", true},
		{"below threshold", []float32{1, 1, 0}, 0.8, "", false},
		{"orthogonal", []float32{0, 0, 1}, 0.1, "", false},
		{"wrong length", []float32{1, 0}, 0, "", false},
		{"zero", []float32{0, 0, 0}, 0, "", false},
		{"nan", []float32{float32(math.NaN()), 0, 0}, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, sim, ok := x.Search("ns", tc.q, tc.threshold)
			if key != tc.wantKey || ok != tc.wantOK {
				t.Fatalf("Search: got (%q, %v, %v), want (%q, _, %v)", key, sim, ok, tc.wantKey, tc.wantOK)
			}
			if ok && (sim < tc.threshold || sim > 1) {
				t.Errorf("similarity %v outside [%v, 1]", sim, tc.threshold)
			}
		})
	}
	if !x.Delete("a") || x.Delete("a") {
		t.Fatal("Delete: want true once, then false")
	}
	if _, _, ok := x.Search("ns", []float32{1, 0, 0}, 0.99); ok {
		t.Error("deleted item still found")
	}
	if got := x.Len(); got != 1 {
		t.Errorf("Len: got %d, want 1", got)
	}
}

func TestIndexAddErrors(t *testing.T) {
	t.Parallel()
	x := NewIndex(IndexConfig{})
	mustAdd(t, x, "ns", "a", "A", []float32{1, 0})
	tests := []struct {
		name string
		v    []float32
		want error
	}{
		{"wrong length", []float32{1, 0, 0}, ErrDimensions},
		{"zero", []float32{0, 0}, embed.ErrBadVector},
		{"empty", nil, embed.ErrBadVector},
		{"inf", []float32{float32(math.Inf(1)), 0}, embed.ErrBadVector},
	}
	for _, tc := range tests {
		if err := x.Add("ns", "b", "B", tc.v); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestIndexNamespaceIsolation(t *testing.T) {
	t.Parallel()
	x := NewIndex(IndexConfig{})
	v := []float32{1, 0, 0}
	mustAdd(t, x, "tenant-a/model", "k1", "t", v)
	if _, _, ok := x.Search("tenant-b/model", v, 0); ok {
		t.Fatal("a vector matched across namespaces")
	}
	if _, _, ok := x.Search("tenant-a/model2", v, 0); ok {
		t.Fatal("a vector matched across namespaces sharing a prefix")
	}
	// Adding a key again moves it to the new namespace.
	mustAdd(t, x, "tenant-b/model", "k1", "t", v)
	if _, _, ok := x.Search("tenant-a/model", v, 0); ok {
		t.Error("re-added key still found in its old namespace")
	}
	if key, _, ok := x.Search("tenant-b/model", v, 0); !ok || key != "k1" {
		t.Errorf("got (%q, %v), want k1 in its new namespace", key, ok)
	}
}

func TestIndexDeleteNamespacePrefix(t *testing.T) {
	t.Parallel()
	x := NewIndex(IndexConfig{})
	v := []float32{1, 0}
	for _, ns := range []string{"t1/a", "t1/b", "t2/a"} {
		for i := range 3 {
			mustAdd(t, x, ns, ns+fmt.Sprint(i), "", v)
		}
	}
	if got := x.DeleteNamespacePrefix("t1/"); got != 6 {
		t.Fatalf("DeleteNamespacePrefix: got %d, want 6", got)
	}
	if _, _, ok := x.Search("t1/a", v, 0); ok {
		t.Error("purged namespace still matches")
	}
	if _, _, ok := x.Search("t2/a", v, 0); !ok {
		t.Error("other tenant's namespace was purged")
	}
	if x.Delete("t1/a0") {
		t.Error("purged key still deletable")
	}
	if got := x.DeleteNamespacePrefix(""); got != 3 || x.Len() != 0 {
		t.Errorf("purge all: got %d removed, Len %d", got, x.Len())
	}
}

func TestIndexEviction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      IndexConfig
		spaces   int
		wantGone string
	}{
		{"per namespace", IndexConfig{MaxPerNamespace: 3}, 1, "ns0/k1"},
		{"total", IndexConfig{MaxItems: 6}, 2, "ns0/k1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := NewIndex(tc.cfg)
			basis := func(i int) []float32 {
				v := make([]float32, 8)
				v[i] = 1
				return v
			}
			// k0..k2 in each namespace; then use k0, so k1 is the least
			// recently used.
			for s := range tc.spaces {
				for i := range 3 {
					mustAdd(t, x, fmt.Sprint("ns", s), fmt.Sprintf("ns%d/k%d", s, i), "", basis(i))
				}
			}
			if _, _, ok := x.Search("ns0", basis(0), 0.99); !ok {
				t.Fatal("k0 not found")
			}
			mustAdd(t, x, "ns0", "ns0/k3", "", basis(3))
			if x.Delete(tc.wantGone) {
				t.Errorf("%s was not evicted", tc.wantGone)
			}
			if !x.Delete("ns0/k0") {
				t.Error("recently used ns0/k0 was evicted")
			}
		})
	}
}

// TestIndexGraphPath checks that a namespace above ExactLimit answers from
// the graph with the same results as the exact scan, and that eviction and
// deletion keep working there.
func TestIndexGraphPath(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	graphX := NewIndex(IndexConfig{ExactLimit: 50, MaxPerNamespace: 400})
	exactX := NewIndex(IndexConfig{ExactLimit: 1000, MaxPerNamespace: 400})
	var vs [][]float32
	for i := range 500 { // 100 evictions
		v := randomUnit(r, 32)
		vs = append(vs, v)
		mustAdd(t, graphX, "ns", fmt.Sprint(i), "", v)
		mustAdd(t, exactX, "ns", fmt.Sprint(i), "", v)
	}
	for i := 100; i < 500; i += 3 {
		graphX.Delete(fmt.Sprint(i))
		exactX.Delete(fmt.Sprint(i))
	}
	for i := range 500 {
		q := nearCopy(r, vs[i], 0.3)
		gk, _, gok := graphX.Search("ns", q, 0.9)
		ek, _, eok := exactX.Search("ns", q, 0.9)
		if gk != ek || gok != eok {
			t.Errorf("query near %d: graph (%q, %v), exact (%q, %v)", i, gk, gok, ek, eok)
		}
	}
}

func TestIndexConcurrent(t *testing.T) {
	t.Parallel()
	x := NewIndex(IndexConfig{ExactLimit: 20, MaxPerNamespace: 60})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 150 {
				ns := fmt.Sprint("ns", i%2)
				key := fmt.Sprintf("w%d-%d", w, i)
				v := randomUnit(r, 16)
				if err := x.Add(ns, key, "text", v); err != nil {
					t.Error(err)
					return
				}
				if k, _, ok := x.Search(ns, v, 0.999); ok && k == "" {
					t.Error("empty key found")
				}
				if i%7 == 0 {
					x.Delete(key)
				}
				if i%50 == 49 {
					x.DeleteNamespacePrefix(ns)
				}
			}
		})
	}
	wg.Wait()
	if n := x.Len(); n > 120 {
		t.Errorf("Len: got %d, want at most 2 namespaces × 60", n)
	}
}
