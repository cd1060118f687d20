package semantic

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/switchboard-ai/switchboard/embed"
)

// graph is a hierarchical navigable small world graph (Malkov & Yashunin,
// arXiv:1603.09320) over unit vectors, with similarity = dot product. It is
// the textbook algorithm: beam search of width ef on each layer, the m
// closest candidates as neighbours, neighbour lists pruned to the closest
// when full. Delete unlinks the node and reconnects each former neighbour
// to the closest of the deleted node's other neighbours, so the graph
// needs no rebuild.
//
// It is not safe for concurrent use on its own: Index serialises writes and
// lets searches (which only read) run in parallel.
type graph struct {
	m, m0    int     // neighbours per node above layer 0, and on layer 0
	efBuild  int     // beam width while inserting
	efSearch int     // beam width while searching
	ml       float64 // level multiplier, 1/ln(m)
	rng      *rand.Rand
	nodes    map[uint64]*node
	entry    *node
}

type node struct {
	id    uint64
	vec   []float32
	item  *item
	links [][]*node // links[level]
}

func newGraph(seed uint64) *graph {
	const m = 16
	return &graph{
		m: m, m0: 2 * m, efBuild: 100, efSearch: 64,
		ml:    1 / math.Log(m),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes: make(map[uint64]*node),
	}
}

// cand is a node and its similarity to the query.
type cand struct {
	n   *node
	sim float32
}

func (g *graph) maxLinks(level int) int {
	if level == 0 {
		return g.m0
	}
	return g.m
}

// insert adds it (ids are never reused) and returns its node.
func (g *graph) insert(it *item) *node {
	vec := it.vec
	level := int(-math.Log(1-g.rng.Float64()) * g.ml)
	n := &node{id: it.id, vec: vec, item: it, links: make([][]*node, level+1)}
	g.nodes[it.id] = n
	if g.entry == nil {
		g.entry = n
		return n
	}
	ep := []cand{{g.entry, embed.Dot(vec, g.entry.vec)}}
	top := len(g.entry.links) - 1
	for l := top; l > level; l-- {
		ep = g.searchLayer(vec, ep, 1, l)
	}
	for l := min(level, top); l >= 0; l-- {
		found := g.searchLayer(vec, ep, g.efBuild, l)
		neighbours := found[:min(g.m, len(found))]
		for _, c := range neighbours {
			n.links[l] = append(n.links[l], c.n)
			g.link(c.n, n, l)
		}
		ep = found
	}
	if level > top {
		g.entry = n
	}
	return n
}

// link adds to as a neighbour of from on level l, keeping the closest when
// the list is full.
func (g *graph) link(from, to *node, l int) {
	from.links[l] = append(from.links[l], to)
	if len(from.links[l]) <= g.maxLinks(l) {
		return
	}
	from.links[l] = g.closest(from.vec, from.links[l], g.maxLinks(l))
}

// closest returns the k nodes of ns most similar to v, reusing ns.
func (*graph) closest(v []float32, ns []*node, k int) []*node {
	cs := make([]cand, len(ns))
	for i, x := range ns {
		cs[i] = cand{x, embed.Dot(v, x.vec)}
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmpSim(b.sim, a.sim) })
	ns = ns[:0]
	for _, c := range cs[:min(k, len(cs))] {
		ns = append(ns, c.n)
	}
	return ns
}

// remove deletes id and repairs the links that pointed to it: links are
// not symmetric once lists are pruned, so every node is checked, and each
// one that linked to the deleted node is offered its neighbours instead.
// This is O(n·m), fine for the sizes an Index holds per namespace.
func (g *graph) remove(id uint64) {
	n, ok := g.nodes[id]
	if !ok {
		return
	}
	delete(g.nodes, id)
	for _, x := range g.nodes {
		for l := 0; l < len(x.links) && l < len(n.links); l++ {
			i := slices.Index(x.links[l], n)
			if i < 0 {
				continue
			}
			x.links[l] = slices.Delete(x.links[l], i, i+1)
			for _, c := range n.links[l] {
				if c != x && !slices.Contains(x.links[l], c) {
					x.links[l] = append(x.links[l], c)
				}
			}
			if len(x.links[l]) > g.maxLinks(l) {
				x.links[l] = g.closest(x.vec, x.links[l], g.maxLinks(l))
			}
		}
	}
	if g.entry == n {
		g.entry = nil
		for _, x := range g.nodes {
			if g.entry == nil || len(x.links) > len(g.entry.links) {
				g.entry = x
			}
		}
	}
}

// search returns up to k nodes most similar to q, best first.
func (g *graph) search(q []float32, k int) []cand {
	if g.entry == nil {
		return nil
	}
	ep := []cand{{g.entry, embed.Dot(q, g.entry.vec)}}
	for l := len(g.entry.links) - 1; l > 0; l-- {
		ep = g.searchLayer(q, ep, 1, l)
	}
	found := g.searchLayer(q, ep, max(g.efSearch, k), 0)
	return found[:min(k, len(found))]
}

// searchLayer is the beam search of the paper on level l from the entry
// points ep; it returns up to ef nodes, most similar first.
func (g *graph) searchLayer(q []float32, ep []cand, ef, l int) []cand {
	visited := make(map[*node]struct{}, ef*4)
	var todo candHeap // best first
	var best candHeap // worst first, at most ef
	for _, c := range ep {
		visited[c.n] = struct{}{}
		todo.push(c, true)
		best.push(c, false)
	}
	for best.len() > ef {
		best.pop(false)
	}
	for todo.len() > 0 {
		c := todo.pop(true)
		if best.len() >= ef && c.sim < best.top().sim {
			break
		}
		if l >= len(c.n.links) {
			continue
		}
		for _, nb := range c.n.links[l] {
			if _, seen := visited[nb]; seen {
				continue
			}
			visited[nb] = struct{}{}
			s := embed.Dot(q, nb.vec)
			if best.len() < ef || s > best.top().sim {
				todo.push(cand{nb, s}, true)
				best.push(cand{nb, s}, false)
				if best.len() > ef {
					best.pop(false)
				}
			}
		}
	}
	out := best.items
	slices.SortFunc(out, func(a, b cand) int { return cmpSim(b.sim, a.sim) })
	return out
}

func cmpSim(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// candHeap is a binary heap of candidates: a max-heap by similarity when
// the max argument is true, a min-heap when it is false (one heap is always
// used with the same argument).
type candHeap struct{ items []cand }

func (h *candHeap) len() int  { return len(h.items) }
func (h *candHeap) top() cand { return h.items[0] }
func before(a, b cand, max bool) bool {
	if max {
		return a.sim > b.sim
	}
	return a.sim < b.sim
}

func (h *candHeap) push(c cand, max bool) {
	h.items = append(h.items, c)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !before(h.items[i], h.items[p], max) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *candHeap) pop(max bool) cand {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && before(h.items[l], h.items[m], max) {
			m = l
		}
		if r < last && before(h.items[r], h.items[m], max) {
			m = r
		}
		if m == i {
			return top
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}
