package semantic

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchboard-ai/switchboard/embed"
)

// ErrDimensions is returned by Index.Add for a vector whose length differs
// from the index's. A zero or non-finite vector gets embed.ErrBadVector.
var ErrDimensions = errors.New("vector length differs from the index's")

// Defaults of IndexConfig.
const (
	// DefaultMaxPerNamespace is the default IndexConfig.MaxPerNamespace.
	DefaultMaxPerNamespace = 5000
	// DefaultMaxItems is the default IndexConfig.MaxItems (about 90 MiB at
	// 1024 dimensions).
	DefaultMaxItems = 20000
	// DefaultExactLimit is the default IndexConfig.ExactLimit.
	DefaultExactLimit = 2000
)

// IndexConfig sizes an Index. Zero fields take the defaults.
type IndexConfig struct {
	// MaxPerNamespace bounds the items of one namespace; adding past it
	// evicts the namespace's least recently used item.
	MaxPerNamespace int
	// MaxItems bounds the items of all namespaces together; adding past it
	// evicts the least recently used item of any namespace. At 1024
	// dimensions an item takes about 4.5 KiB.
	MaxItems int
	// ExactLimit is the namespace size up to which Search compares the
	// query with every item; above it Search walks the HNSW graph.
	ExactLimit int
	// Seed seeds the HNSW level draws, for reproducible tests.
	Seed uint64
}

// Index is an in-memory nearest-neighbour index of unit vectors, split
// into namespaces that never see each other's items. Each item is a
// vector, the cache entry key it points to, and the text it was made from.
//
// Search is exact (a dot product with every item) while a namespace holds
// at most ExactLimit items and uses an HNSW graph above that; the graph is
// kept up to date on every Add and Delete, so crossing the limit costs
// nothing. Either way Search reports the exact similarity of what it
// returns, so an approximate search can miss a match but never report a
// false one. Items are evicted least recently used (a Search hit counts as
// a use). An Index keeps nothing on disk: it is rebuilt from traffic after a
// restart.
//
// Index is safe for concurrent use: searches run in parallel, writes are
// serialised.
type Index struct {
	cfg   IndexConfig
	clock atomic.Uint64 // use ticks for LRU

	mu     sync.RWMutex
	dims   int
	nextID uint64
	spaces map[string]*space
	byKey  map[string]*item
}

// space is one namespace.
type space struct {
	items []*item // in no order; item.pos is the index here
	graph *graph
}

type item struct {
	id   uint64
	pos  int
	ns   string
	key  string
	text string
	vec  []float32
	node *node
	used atomic.Uint64
}

// NewIndex returns an empty index.
func NewIndex(cfg IndexConfig) *Index {
	if cfg.MaxPerNamespace <= 0 {
		cfg.MaxPerNamespace = DefaultMaxPerNamespace
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = DefaultMaxItems
	}
	if cfg.ExactLimit <= 0 {
		cfg.ExactLimit = DefaultExactLimit
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	return &Index{cfg: cfg, spaces: make(map[string]*space), byKey: make(map[string]*item)}
}

// Add stores vector under key in namespace ns, with the text it was made
// from. The vector is copied and scaled to unit length. A key lives in one
// namespace: adding it again replaces the earlier item, wherever it was.
// The first vector added fixes the index's dimensions.
func (x *Index) Add(ns, key, text string, vector []float32) error {
	v := append([]float32(nil), vector...)
	if !embed.Normalized(v) {
		return fmt.Errorf("semantic: add %q: %w", key, embed.ErrBadVector)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dims == 0 {
		x.dims = len(v)
	}
	if len(v) != x.dims {
		return fmt.Errorf("semantic: add %q: %w: got %d, want %d", key, ErrDimensions, len(v), x.dims)
	}
	if old, ok := x.byKey[key]; ok {
		x.remove(old)
	}
	sp := x.spaces[ns]
	if sp == nil {
		sp = &space{graph: newGraph(x.cfg.Seed + uint64(len(x.spaces)))}
		x.spaces[ns] = sp
	}
	x.nextID++
	it := &item{id: x.nextID, pos: len(sp.items), ns: ns, key: key, text: text, vec: v}
	it.used.Store(x.clock.Add(1))
	sp.items = append(sp.items, it)
	it.node = sp.graph.insert(it)
	x.byKey[key] = it
	if len(sp.items) > x.cfg.MaxPerNamespace {
		x.remove(lru(sp.items))
	}
	if len(x.byKey) > x.cfg.MaxItems {
		var oldest *item
		for _, s := range x.spaces {
			if o := lru(s.items); oldest == nil || o.used.Load() < oldest.used.Load() {
				oldest = o
			}
		}
		x.remove(oldest)
	}
	return nil
}

// lru returns the least recently used of items (not empty).
func lru(items []*item) *item {
	oldest := items[0]
	for _, it := range items[1:] {
		if it.used.Load() < oldest.used.Load() {
			oldest = it
		}
	}
	return oldest
}

// remove deletes it; x.mu is held for writing.
func (x *Index) remove(it *item) {
	sp := x.spaces[it.ns]
	delete(x.byKey, it.key)
	last := sp.items[len(sp.items)-1]
	sp.items[it.pos] = last
	last.pos = it.pos
	sp.items = sp.items[:len(sp.items)-1]
	sp.graph.remove(it.id)
	if len(sp.items) == 0 {
		delete(x.spaces, it.ns)
	}
}

// Delete removes the item stored under key and reports whether there was
// one.
func (x *Index) Delete(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	it, ok := x.byKey[key]
	if ok {
		x.remove(it)
	}
	return ok
}

// DeleteNamespacePrefix removes every namespace whose name starts with
// prefix ("" = all) and returns how many items it removed.
func (x *Index) DeleteNamespacePrefix(prefix string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for ns, sp := range x.spaces {
		if !strings.HasPrefix(ns, prefix) {
			continue
		}
		for _, it := range sp.items {
			delete(x.byKey, it.key)
		}
		n += len(sp.items)
		delete(x.spaces, ns)
	}
	return n
}

// Len returns the number of items in all namespaces.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byKey)
}

// Search returns the key of the item of namespace ns most similar to
// vector, and their cosine similarity, if it is at least threshold (to
// within 1e-6, so an identical vector matches at threshold 1). A
// vector of the wrong length, zero or not finite matches nothing.
func (x *Index) Search(ns string, vector []float32, threshold float32) (key string, similarity float32, ok bool) {
	m := x.search(ns, vector, threshold, 1)
	if len(m) == 0 {
		return "", 0, false
	}
	return m[0].key, m[0].sim, true
}

// simEpsilon absorbs float32 rounding in similarities.
const simEpsilon = 1e-6

// match is a search result.
type match struct {
	key, text string
	sim       float32
}

// search returns up to k items of ns with similarity at least threshold,
// best first, and marks them used.
func (x *Index) search(ns string, vector []float32, threshold float32, k int) []match {
	q := append([]float32(nil), vector...)
	if !embed.Normalized(q) {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	sp := x.spaces[ns]
	if sp == nil || len(q) != x.dims {
		return nil
	}
	var found []cand
	if len(sp.items) <= x.cfg.ExactLimit {
		found = sp.exact(q, k)
	} else {
		found = sp.graph.search(q, k)
	}
	var out []match
	for _, c := range found {
		if c.sim < threshold-simEpsilon || math.IsNaN(float64(c.sim)) {
			break
		}
		it := c.n.item
		it.used.Store(x.clock.Add(1))
		out = append(out, match{key: it.key, text: it.text, sim: min(c.sim, 1)})
	}
	return out
}

// exact returns the k items most similar to q, best first.
func (sp *space) exact(q []float32, k int) []cand {
	var top []cand // sorted best first, at most k
	for _, it := range sp.items {
		s := embed.Dot(q, it.vec)
		if len(top) == k && s <= top[k-1].sim {
			continue
		}
		c := cand{n: it.node, sim: s}
		i := len(top)
		for i > 0 && top[i-1].sim < s {
			i--
		}
		if len(top) < k {
			top = append(top, cand{})
		}
		copy(top[i+1:], top[i:len(top)-1])
		top[i] = c
	}
	return top
}
