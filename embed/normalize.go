package embed

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalize returns text as the local embedder reads it: Unicode NFKC,
// lower case, contractions expanded ("don't" → "do not"), spelled numbers as
// digits (except "one"), punctuation and symbols dropped, and single spaces
// between tokens. Punctuation that is part of a token is kept: decimal points
// and thousands separators inside numbers ("3.14", "50,000" → "50000"), a
// percent sign after a number, and "+"/"#" after a letter ("c++", "c#").
func Normalize(text string) string {
	var t tokens
	t.split(text)
	var b strings.Builder
	b.Grow(len(t.buf) + len(t.spans))
	for i, s := range t.spans {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(t.buf[s.start:s.end])
	}
	return b.String()
}

// Guards returns the tokens of text that must be equal for two texts to be
// near-duplicates, sorted: every token that holds a digit ("5", "2x", "q3",
// "15%") and every negation ("not", "no", "without", …). Two prompts that
// differ in a number or a negation ask different things however alike they
// look, so the semantic cache compares Guards exactly on top of the vector
// similarity. The result is nil when there are none.
func Guards(text string) []string {
	var t tokens
	t.split(text)
	var out []string
	for _, s := range t.spans {
		if s.kind == kindNumber || s.kind == kindNegation {
			out = append(out, string(t.buf[s.start:s.end]))
		}
	}
	slices.Sort(out)
	return out
}

// tokenKind classifies a token for weighting.
type tokenKind uint8

const (
	kindWord tokenKind = iota
	kindStop
	kindNumber
	kindNegation
)

// span is one token: buf[start:end], its kind, and for direction words the
// canonical form used by the order block.
type span struct {
	start, end int
	kind       tokenKind
	direction  string
}

// tokens holds the tokens of one text as spans of one byte buffer, so
// splitting a text allocates nothing once the buffers have grown.
type tokens struct {
	buf   []byte
	spans []span
	runes []rune
}

func (t *tokens) reset() {
	t.buf = t.buf[:0]
	t.spans = t.spans[:0]
	t.runes = t.runes[:0]
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func isApostrophe(r rune) bool {
	return r == '\'' || r == '’' || r == 'ʼ' || r == '‘'
}

// split tokenizes text into t (see Normalize for the rules).
func (t *tokens) split(text string) {
	t.reset()
	if !norm.NFKC.IsNormalString(text) {
		text = norm.NFKC.String(text)
	}
	for _, r := range text {
		t.runes = append(t.runes, unicode.ToLower(r))
	}
	rs := t.runes
	start := -1 // start in buf of the token being built, -1 if none
	hasDigit := false
	at := func(i int) rune {
		if i < 0 || i >= len(rs) {
			return ' '
		}
		return rs[i]
	}
	lastIsDigit := func() bool {
		r, _ := utf8.DecodeLastRune(t.buf)
		return start >= 0 && len(t.buf) > start && unicode.IsDigit(r)
	}
	lastIsLetter := func() bool {
		r, _ := utf8.DecodeLastRune(t.buf)
		return start >= 0 && len(t.buf) > start && unicode.IsLetter(r)
	}
	flush := func() {
		if start >= 0 {
			t.emit(start, hasDigit)
		}
		start, hasDigit = -1, false
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case isWordRune(r):
			if start < 0 {
				start = len(t.buf)
			}
			hasDigit = hasDigit || unicode.IsDigit(r)
			t.buf = utf8.AppendRune(t.buf, r)
		case isApostrophe(r) && lastIsLetter() && unicode.IsLetter(at(i+1)):
			// "don't" → "do" "not"; other apostrophes join ("what's" → "whats").
			if at(i+1) == 't' && !isWordRune(at(i+2)) && t.buf[len(t.buf)-1] == 'n' {
				t.buf = t.buf[:len(t.buf)-1]
				if full, ok := contractionStems[string(t.buf[start:])]; ok {
					t.buf = append(t.buf[:start], full...)
				}
				if start == len(t.buf) {
					start = -1
				}
				flush()
				t.appendToken("not", false)
				i++ // skip the 't'
			}
		case (r == ',' || r == '.') && lastIsDigit() && unicode.IsDigit(at(i+1)):
			if r == ',' {
				// A thousands separator is followed by exactly three digits.
				if unicode.IsDigit(at(i+2)) && unicode.IsDigit(at(i+3)) && !unicode.IsDigit(at(i+4)) {
					continue
				}
				flush()
				continue
			}
			t.buf = append(t.buf, '.')
		case (r == '+' || r == '#') && lastIsLetter() && !hasDigit:
			for ; i < len(rs) && (rs[i] == '+' || rs[i] == '#'); i++ {
				t.buf = append(t.buf, byte(rs[i]))
			}
			i--
			flush()
		case r == '%':
			if start >= 0 && hasDigit {
				t.buf = append(t.buf, '%')
				flush()
			} else if start < 0 && len(t.spans) > 0 && t.spans[len(t.spans)-1].kind == kindNumber &&
				t.spans[len(t.spans)-1].end == len(t.buf) && t.buf[len(t.buf)-1] != '%' && onlySpaceBetween(rs, i) {
				t.buf = append(t.buf, '%')
				t.spans[len(t.spans)-1].end = len(t.buf)
			}
		default:
			flush()
		}
	}
	flush()
}

// onlySpaceBetween reports whether the runes before rs[i] back to the last
// word rune are all spaces ("15 %").
func onlySpaceBetween(rs []rune, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch {
		case unicode.IsSpace(rs[j]):
		case isWordRune(rs[j]):
			return true
		default:
			return false
		}
	}
	return false
}

// emit records buf[start:] as a token after the word-level rewrites:
// "cannot" and spelled numbers.
func (t *tokens) emit(start int, hasDigit bool) {
	w := t.buf[start:]
	if string(w) == "cannot" {
		t.buf = t.buf[:start]
		t.appendToken("can", false)
		t.appendToken("not", false)
		return
	}
	if d, ok := numberWords[string(w)]; ok {
		t.buf = append(t.buf[:start], d...)
		t.spans = append(t.spans, span{start: start, end: len(t.buf), kind: kindNumber})
		return
	}
	t.push(classify(t.buf, start, len(t.buf), hasDigit))
}

// push appends s, dropping the direction of an infinitive "to".
func (t *tokens) push(s span) {
	if s.direction == "to" && len(t.spans) > 0 {
		p := t.spans[len(t.spans)-1]
		if _, ok := infinitiveCues[string(t.buf[p.start:p.end])]; ok {
			s.direction = ""
		}
	}
	t.spans = append(t.spans, s)
}

// appendToken appends the literal token s.
func (t *tokens) appendToken(s string, hasDigit bool) {
	start := len(t.buf)
	t.buf = append(t.buf, s...)
	t.push(classify(t.buf, start, len(t.buf), hasDigit))
}

func classify(buf []byte, start, end int, hasDigit bool) span {
	w := buf[start:end]
	s := span{start: start, end: end}
	switch {
	case hasDigit:
		s.kind = kindNumber
	case isNegation(w):
		s.kind = kindNegation
	default:
		if _, ok := stopwords[string(w)]; ok {
			s.kind = kindStop
		}
		s.direction = directionWords[string(w)]
	}
	return s
}

func isNegation(w []byte) bool {
	_, ok := negations[string(w)]
	return ok
}
