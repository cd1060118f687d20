package embed

import (
	"context"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"
)

// LocalDimensions is the length of the vectors Local returns.
const LocalDimensions = 1024

// The vector is four blocks, each hashed into its own range and normalised
// to unit length, then scaled by the square root of its share. The cosine
// of two vectors is therefore the share-weighted mean of the four block
// cosines, which makes the effect of each kind of difference easy to bound:
// two texts whose guard tokens differ completely are at most 1-guardShare
// similar, whatever else they share.
const (
	charOff, charSize   = 0, 512   // character 3-grams inside tokens
	wordOff, wordSize   = 512, 256 // tokens and their typo-tolerant skeletons
	orderOff, orderSize = 768, 128 // ordered pairs of neighbouring content tokens
	guardOff, guardSize = 896, 128 // numbers and negations
)

// Block shares (they sum to 1) and token weights, chosen on
// semantic/testdata/pairs.jsonl (see semantic/PRECISION.md).
const (
	charShare  = 0.40
	wordShare  = 0.25
	orderShare = 0.20
	guardShare = 0.15

	stopWeight     = 0.2 // function words and fillers
	numberWeight   = 1.5 // tokens holding a digit
	skeletonWeight = 2.0 // the skeleton of a word, relative to the word
)

// Seeds keep the features of different kinds apart within a block.
const (
	seedChar     uint64 = 0x9e3779b97f4a7c15
	seedWord     uint64 = 0xbf58476d1ce4e5b9
	seedSkeleton uint64 = 0x94d049bb133111eb
	seedOrder    uint64 = 0x632be59bd9b4e019
	seedGuard    uint64 = 0xd6e8feb86659fd93
	seedGuard2   uint64 = 0xa0761d6478bd642f
	seedEmpty    uint64 = 0xe7037ed1a0b428db
)

// Local is an offline text embedder for near-duplicate detection. It hashes
// features of the normalised text (see Normalize) into LocalDimensions
// dimensions with signed feature hashing: character 3-grams inside
// tokens (robust to typos and word order), tokens plus a vowel-free
// "skeleton" of long words (so "recieve" and "receive" share a feature),
// ordered pairs of neighbouring content tokens read cyclically (so a clause
// moved from the end to the front keeps its pairs, but "km to miles" and
// "miles to km" differ), and the guard tokens (numbers and negations, see
// Guards) in a block of their own. Feature counts are damped with log1p, so
// a repeated word does not dominate; function words and fillers weigh
// little, numbers more. Vectors are L2-normalised, so the dot product of two
// vectors is their cosine similarity.
//
// Local knows no synonyms: it finds the same question typed differently, not
// the same question asked in other words. It needs no data files, keeps no
// state and is safe for concurrent use; the zero value is ready to use.
type Local struct{}

var _ Embedder = (*Local)(nil)

// NewLocal returns a local embedder.
func NewLocal() *Local { return &Local{} }

// Name returns the embedder's name with the version of its feature set;
// vectors from different versions must not be compared.
func (*Local) Name() string { return "local-hash-v1" }

// Dimensions returns LocalDimensions.
func (*Local) Dimensions() int { return LocalDimensions }

// Embed returns one unit vector per text. It fails only when ctx is done.
func (l *Local) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	backing := make([]float32, len(texts)*LocalDimensions)
	out := make([][]float32, len(texts))
	t := scratchPool.Get().(*tokens)
	defer scratchPool.Put(t)
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("embed: local: %w", err)
		}
		v := backing[i*LocalDimensions : (i+1)*LocalDimensions : (i+1)*LocalDimensions]
		embedInto(v, t, text)
		out[i] = v
	}
	return out, nil
}

// EmbedText returns the unit vector of one text.
func (*Local) EmbedText(text string) []float32 {
	v := make([]float32, LocalDimensions)
	t := scratchPool.Get().(*tokens)
	defer scratchPool.Put(t)
	embedInto(v, t, text)
	return v
}

// scratchPool holds token buffers; a tokens value is reset by split before
// use and never shared between goroutines.
var scratchPool = sync.Pool{New: func() any { return new(tokens) }}

// embedInto writes the vector of text into v (len LocalDimensions, zeroed).
func embedInto(v []float32, t *tokens, text string) {
	t.split(text)
	clear(v)
	var gram []rune // grams are built in t.runes, which split no longer needs
	for _, s := range t.spans {
		w := t.buf[s.start:s.end]
		weight := float32(1)
		switch s.kind {
		case kindStop:
			weight = stopWeight
		case kindNumber:
			weight = numberWeight
		}
		// Character 3-grams of "<token>" (4-grams made typos cost more
		// than they helped on the labelled pairs).
		gram = append(t.runes[:0], '\x02')
		for i := 0; i < len(w); {
			r, n := utf8.DecodeRune(w[i:])
			gram = append(gram, r)
			i += n
		}
		gram = append(gram, '\x03')
		t.runes = gram
		for i := 0; i+3 <= len(gram); i++ {
			add(v, charOff, charSize, hashRunes(seedChar, gram[i:i+3]), weight)
		}
		// The token and its skeleton.
		add(v, wordOff, wordSize, hashBytes(seedWord, w), weight)
		if s.kind == kindWord {
			if h, ok := skeleton(w); ok {
				add(v, wordOff, wordSize, h, weight*skeletonWeight)
			}
		}
		// Guards.
		if s.kind == kindNumber || s.kind == kindNegation {
			add(v, guardOff, guardSize, hashBytes(seedGuard, w), 1)
			add(v, guardOff, guardSize, hashBytes(seedGuard2, w), 1)
		}
	}
	addOrder(v, t)
	finishBlock(v[charOff:charOff+charSize], charShare, seedChar)
	finishBlock(v[wordOff:wordOff+wordSize], wordShare, seedWord)
	finishBlock(v[orderOff:orderOff+orderSize], orderShare, seedOrder)
	finishBlock(v[guardOff:guardOff+guardSize], guardShare, seedGuard)
}

// addOrder adds the ordered pairs of neighbouring content tokens, read as a
// cycle when there are three or more.
func addOrder(v []float32, t *tokens) {
	var seq [64]uint64
	n := 0
	for _, s := range t.spans {
		var h uint64
		switch {
		case s.direction != "":
			h = hashString(seedOrder, s.direction)
		case s.kind == kindStop:
			continue
		default:
			w := t.buf[s.start:s.end]
			sk, ok := skeleton(w)
			if !ok || s.kind != kindWord {
				sk = hashBytes(seedWord, w)
			}
			h = sk
		}
		if n == len(seq) {
			// Long texts: fold the rest in as pairs as they come.
			add(v, orderOff, orderSize, pairHash(seq[n-1], h), 1)
			seq[n-1] = h
			continue
		}
		seq[n] = h
		n++
	}
	switch {
	case n == 1:
		add(v, orderOff, orderSize, seq[0], 1)
	case n == 2:
		add(v, orderOff, orderSize, pairHash(seq[0], seq[1]), 1)
	case n > 2:
		for i := range n {
			add(v, orderOff, orderSize, pairHash(seq[i], seq[(i+1)%n]), 1)
		}
	}
}

// skeleton hashes a word of ASCII letters without its vowels (but its
// first letter) and with doubled letters collapsed: "receive", "recieve"
// and "recive" all become "rcv". Short words have no skeleton: "red",
// "ride" and "road" are different words, not typos.
func skeleton(w []byte) (uint64, bool) {
	if len(w) < 5 {
		return 0, false
	}
	h := seedSkeleton
	var last byte
	n := 0
	for i, c := range w {
		if c < 'a' || c > 'z' {
			return 0, false
		}
		if i > 0 {
			switch c {
			case 'a', 'e', 'i', 'o', 'u', 'y':
				continue
			}
		}
		if c == last {
			continue
		}
		last = c
		h = (h ^ uint64(c)) * fnvPrime
		n++
	}
	return mix(h), n >= 3
}

// finishBlock damps the block's counts with log1p, scales it to unit length
// times sqrt(share), and gives an empty block one fixed feature so that
// every vector has unit length and two empty blocks agree.
func finishBlock(b []float32, share float64, seed uint64) {
	var sum float64
	for i, x := range b {
		if x == 0 {
			continue
		}
		y := math.Log1p(math.Abs(float64(x)))
		if x < 0 {
			y = -y
		}
		b[i] = float32(y)
		sum += y * y
	}
	if sum == 0 {
		add(b, 0, len(b), mix(seed^seedEmpty), 1)
		sum = 1
	}
	scale := float32(math.Sqrt(share / sum))
	for i := range b {
		b[i] *= scale
	}
}

const fnvPrime = 0x100000001b3

// add adds weight w to the signed hashed slot of h in v[off:off+size].
func add(v []float32, off, size int, h uint64, w float32) {
	if h>>63 != 0 {
		w = -w
	}
	v[off+int(h%uint64(size))] += w
}

// mix is the splitmix64 finaliser: it spreads every input bit over the
// output, so the slot and the sign come from independent bits.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func hashBytes(seed uint64, b []byte) uint64 {
	h := seed
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return mix(h)
}

func hashString(seed uint64, s string) uint64 {
	h := seed
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return mix(h)
}

func hashRunes(seed uint64, rs []rune) uint64 {
	h := seed
	for _, r := range rs {
		h = (h ^ uint64(r)) * fnvPrime
	}
	return mix(h)
}

func pairHash(a, b uint64) uint64 {
	return mix(a*31 ^ b ^ seedOrder)
}
