package tokenize

import (
	"fmt"
	"math"
	"strings"

	"github.com/tiktoken-go/tokenizer"
)

// encoding is one loaded BPE vocabulary. It is read-only once built, so any
// number of goroutines may count with it.
type encoding struct {
	name string
	// ranks maps each token's bytes to its rank (its token id), which is
	// also its merge priority: lower merges first.
	ranks map[string]uint32
	// split returns the end of the pre-tokenizer piece starting at byte i of
	// s; s is valid UTF-8 and i < len(s).
	split func(s string, i int) int
	// tools holds the constants for counting tool definitions.
	tools toolFraming
}

// load builds the encoding from the vocabulary compiled into
// tiktoken-go/tokenizer. The library doesn't export its table, so each token
// is read back by decoding its id; all token bytes go into one string that
// the map keys slice, to keep the table compact.
func load(name tokenizer.Encoding, split func(string, int) int, tools toolFraming) *encoding {
	c, err := tokenizer.Get(name)
	if err != nil {
		panic(fmt.Sprintf("tokenize: load %s: %v", name, err)) // both are compiled in
	}
	// Ids are dense from 0 (cl100k_base: 0–100255, o200k_base: 0–199997);
	// stop after a long run of unknown ids.
	type span struct{ start, end, id uint32 }
	var (
		blob  strings.Builder
		spans []span
	)
	for id, misses := 0, 0; misses < 1<<12; id++ {
		tok, err := c.Decode([]uint{uint(id)})
		if err != nil || tok == "" {
			misses++
			continue
		}
		misses = 0
		start := blob.Len()
		blob.WriteString(tok)
		spans = append(spans, span{uint32(start), uint32(blob.Len()), uint32(id)})
	}
	all := blob.String()
	ranks := make(map[string]uint32, len(spans))
	for _, s := range spans {
		ranks[all[s.start:s.end]] = s.id
	}
	return &encoding{name: string(name), ranks: ranks, split: split, tools: tools}
}

// noRank marks a pair of parts that doesn't form a token.
const noRank = math.MaxUint32

// heapMin is the piece length from which pieceTokens merges with a heap
// instead of rescanning all parts for every merge, which costs O(n²).
const heapMin = 128

// pieceTokens returns how many tokens one piece encodes to.
func (e *encoding) pieceTokens(piece string) int {
	if len(piece) <= 1 {
		return len(piece) // every single byte is a token
	}
	if _, ok := e.ranks[piece]; ok {
		return 1
	}
	if len(piece) < heapMin {
		return e.mergeScan(piece)
	}
	return e.mergeHeap(piece)
}

// rank returns the rank of the token s, or noRank.
func (e *encoding) rank(s string) uint32 {
	if r, ok := e.ranks[s]; ok {
		return r
	}
	return noRank
}

// mergeScan is tiktoken's byte-pair merge: start from single bytes and merge
// the adjacent pair that forms the lowest-ranked token (the leftmost on a
// tie) until no pair forms a token. It returns the number of parts left.
func (e *encoding) mergeScan(piece string) int {
	type part struct {
		start int
		rank  uint32 // rank of this part merged with the next one
	}
	var buf [heapMin + 1]part
	parts := buf[:len(piece)+1]
	for i := range parts {
		parts[i] = part{i, noRank}
	}
	for i := 0; i+2 <= len(piece); i++ {
		parts[i].rank = e.rank(piece[i : i+2])
	}
	// pairRank is the rank of parts i and i+1 merged with the part after
	// them, once parts i and i+1 are merged (skipping the boundary i+1).
	pairRank := func(i int) uint32 {
		if i+3 < len(parts) {
			return e.rank(piece[parts[i].start:parts[i+3].start])
		}
		return noRank
	}
	for len(parts) > 2 {
		best, at := uint32(noRank), -1
		for i, p := range parts[:len(parts)-1] {
			if p.rank < best {
				best, at = p.rank, i
			}
		}
		if at < 0 {
			break
		}
		if at > 0 {
			prev := parts[at-1].start
			if at+2 < len(parts) {
				parts[at-1].rank = e.rank(piece[prev:parts[at+2].start])
			} else {
				parts[at-1].rank = noRank
			}
		}
		parts[at].rank = pairRank(at)
		parts = append(parts[:at+1], parts[at+2:]...)
	}
	return len(parts) - 1
}

// mergeHeap returns what mergeScan does, in O(n log n): the parts are a
// linked list, and candidate merges wait in a min-heap ordered by rank, then
// position. A candidate whose part has since changed is skipped when popped.
func (e *encoding) mergeHeap(piece string) int {
	n := len(piece)
	type node struct {
		next, prev int32
		rank       uint32 // rank of this part merged with the next one
	}
	nodes := make([]node, n+1) // node n is the end sentinel
	for i := range nodes {
		nodes[i] = node{next: int32(i + 1), prev: int32(i - 1), rank: noRank}
	}
	// pairRank is the rank of part i merged with the part after it.
	pairRank := func(i int32) uint32 {
		j := nodes[i].next
		if int(j) >= n {
			return noRank
		}
		return e.rank(piece[i:nodes[j].next])
	}
	h := make(candidates, 0, n)
	for i := range int32(n - 1) {
		if r := pairRank(i); r != noRank {
			nodes[i].rank = r
			h = append(h, candidate{r, i})
		}
	}
	h.init()
	parts := n
	for len(h) > 0 {
		c := h.pop()
		if nodes[c.at].rank != c.rank {
			continue // stale: the part merged or its pair changed
		}
		i := c.at
		j := nodes[i].next
		k := nodes[j].next
		nodes[j].rank = noRank
		nodes[i].next = k
		nodes[k].prev = i
		parts--
		for _, b := range [2]int32{i, nodes[i].prev} {
			if b < 0 {
				continue
			}
			nodes[b].rank = pairRank(b)
			if nodes[b].rank != noRank {
				h.push(candidate{nodes[b].rank, b})
			}
		}
	}
	return parts
}

// candidate is a possible merge of the part at byte offset at with the next.
type candidate struct {
	rank uint32
	at   int32
}

// candidates is a binary min-heap by rank, then offset, so equal ranks
// merge leftmost first, as in mergeScan.
type candidates []candidate

func (h candidates) less(a, b int) bool {
	if h[a].rank != h[b].rank {
		return h[a].rank < h[b].rank
	}
	return h[a].at < h[b].at
}

func (h candidates) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *candidates) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *candidates) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	h.down(0)
	return top
}

func (h candidates) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
