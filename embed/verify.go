package embed

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// SameGuards reports whether a and b have the same guard tokens (see
// Guards), counted with repeats: the same numbers and the same negations.
// It holds for any two wordings of one question, so it is safe to require
// whatever the embedder.
func SameGuards(a, b string) bool {
	ta, tb := getTokens(), getTokens()
	defer putTokens(ta)
	defer putTokens(tb)
	ta.split(a)
	tb.split(b)
	return sameGuards(ta, tb)
}

// SameWords reports whether b says what a says word for word, up to the
// differences a near-duplicate may have: case, punctuation, spacing, word
// order, function words and fillers ("please", "can you"), one typo per
// word, and words written together or apart ("time zone", "timezone"). It
// requires SameGuards, that every content word of each text has a
// counterpart in the other, and that a direction word both texts use
// ("to", "from", "than", "before", "after", "vs", "per") is followed by the
// same word in both, so "5 km to miles" and "5 miles to km" differ.
//
// A typo is one insertion, deletion, substitution or swap of neighbouring
// letters in a word of five letters or more that keeps its first letter;
// shorter words must be equal. "Iceland" and "Ireland" pass this test: the
// vector similarity has to tell them apart.
func SameWords(a, b string) bool {
	ta, tb := getTokens(), getTokens()
	defer putTokens(ta)
	defer putTokens(tb)
	ta.split(a)
	tb.split(b)
	return sameGuards(ta, tb) && covered(ta, tb) && covered(tb, ta) &&
		sameDirections(ta, tb)
}

func getTokens() *tokens  { return scratchPool.Get().(*tokens) }
func putTokens(t *tokens) { scratchPool.Put(t) }

func (t *tokens) word(i int) []byte { return t.buf[t.spans[i].start:t.spans[i].end] }

func sameGuards(a, b *tokens) bool {
	ga, gb := guardWords(a), guardWords(b)
	if len(ga) != len(gb) {
		return false
	}
	slices.SortFunc(ga, bytes.Compare)
	slices.SortFunc(gb, bytes.Compare)
	for i := range ga {
		if !bytes.Equal(ga[i], gb[i]) {
			return false
		}
	}
	return true
}

func guardWords(t *tokens) [][]byte {
	var out [][]byte
	for i, s := range t.spans {
		if s.kind == kindNumber || s.kind == kindNegation {
			out = append(out, t.word(i))
		}
	}
	return out
}

// covered reports whether every content word of a has a counterpart in b:
// an equal word or a typo of one, two neighbouring words of b written
// together, or, with its neighbour in a written together, a word of b.
func covered(a, b *tokens) bool {
	for i, s := range a.spans {
		if s.kind != kindWord {
			continue
		}
		w := a.word(i)
		if hasWord(b, w) || isJoinedIn(w, b) {
			continue
		}
		if i > 0 && hasJoined(b, a.word(i-1), w) {
			continue
		}
		if i+1 < len(a.spans) && hasJoined(b, w, a.word(i+1)) {
			continue
		}
		return false
	}
	return true
}

// hasWord reports whether b holds w or a typo of it.
func hasWord(b *tokens, w []byte) bool {
	for j := range b.spans {
		if typoEqual(w, b.word(j)) {
			return true
		}
	}
	return false
}

// isJoinedIn reports whether w is two neighbouring tokens of b written
// together.
func isJoinedIn(w []byte, b *tokens) bool {
	for j := 0; j+1 < len(b.spans); j++ {
		x, y := b.word(j), b.word(j+1)
		if len(x)+len(y) == len(w) && bytes.HasPrefix(w, x) && bytes.HasSuffix(w, y) {
			return true
		}
	}
	return false
}

// hasJoined reports whether b holds x and y written together as one token.
func hasJoined(b *tokens, x, y []byte) bool {
	for j := range b.spans {
		w := b.word(j)
		if len(x)+len(y) == len(w) && bytes.HasPrefix(w, x) && bytes.HasSuffix(w, y) {
			return true
		}
	}
	return false
}

// sameDirections reports whether every direction word used by both texts
// has the same objects in both: the first non-function word after it.
func sameDirections(a, b *tokens) bool {
	for _, d := range [...]string{"to", "from", "than", "vs", "before", "after", "per"} {
		oa, oka := directionObjects(a, d)
		ob, okb := directionObjects(b, d)
		if !oka || !okb {
			continue
		}
		if !sameSet(oa, ob) {
			return false
		}
	}
	return true
}

// directionObjects returns the objects of direction word d in t, and
// whether t uses d at all.
func directionObjects(t *tokens, d string) ([][]byte, bool) {
	var out [][]byte
	used := false
	for i, s := range t.spans {
		if s.direction != d {
			continue
		}
		used = true
		for j := i + 1; j < len(t.spans); j++ {
			if t.spans[j].kind != kindStop {
				out = append(out, t.word(j))
				break
			}
		}
	}
	return out, used
}

func sameSet(a, b [][]byte) bool {
	in := func(w []byte, set [][]byte) bool {
		for _, x := range set {
			if typoEqual(w, x) {
				return true
			}
		}
		return false
	}
	for _, w := range a {
		if !in(w, b) {
			return false
		}
	}
	for _, w := range b {
		if !in(w, a) {
			return false
		}
	}
	return true
}

// typoEqual reports whether a and b are equal, or one typo apart (see
// SameWords): the longer has at least five runes, the first runes are
// equal, and the optimal-string-alignment distance is one.
func typoEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	la, lb := utf8.RuneCount(a), utf8.RuneCount(b)
	if max(la, lb) < 5 || la-lb > 1 || lb-la > 1 {
		return false
	}
	ra, _ := utf8.DecodeRune(a)
	rb, _ := utf8.DecodeRune(b)
	if ra != rb {
		return false
	}
	return withinOneEdit([]rune(string(a)), []rune(string(b)))
}

// withinOneEdit reports whether a and b differ by at most one insertion,
// deletion, substitution or swap of neighbours.
func withinOneEdit(a, b []rune) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if i == len(a) {
		return len(b)-len(a) <= 1
	}
	if len(a) == len(b) {
		if slices.Equal(a[i+1:], b[i+1:]) {
			return true // substitution
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] &&
			slices.Equal(a[i+2:], b[i+2:]) // swap
	}
	return slices.Equal(a[i:], b[i+1:]) // insertion into a
}
