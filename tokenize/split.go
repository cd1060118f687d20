package tokenize

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizers below split text into the pieces that byte-pair merges
// run on. Each is tiktoken's split regexp written out by hand, following the
// regexp2 program tiktoken-go/tokenizer compiles for it (the tests check
// that both give the same counts). The alternatives are tried in order at
// each position and the first that matches wins, with the backtracking the
// regexp would do inside an alternative.
//
// cl100k_base:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// o200k_base:
//
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|
//	\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+

// Character classes, as bits.
const (
	cLetter  = 1 << iota // \p{L}
	cNumber              // \p{N}
	cSpace               // \s (unicode.IsSpace, as in regexp2)
	cNewline             // \r or \n
	cUpper               // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	cLower               // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
)

// asciiClass holds classOf for the ASCII runes.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := range rune(utf8.RuneSelf) {
		t[r] = classify(r)
	}
	return t
}()

func classify(r rune) uint8 {
	var c uint8
	switch {
	case unicode.IsLetter(r):
		c = cLetter
		switch {
		case unicode.IsLower(r):
			c |= cLower
		case unicode.In(r, unicode.Lm, unicode.Lo):
			c |= cUpper | cLower
		default: // Lu, Lt
			c |= cUpper
		}
	case unicode.IsMark(r):
		c = cUpper | cLower
	case unicode.IsNumber(r):
		c = cNumber
	case unicode.IsSpace(r):
		c = cSpace
		if r == '\r' || r == '\n' {
			c |= cNewline
		}
	}
	return c
}

// at decodes the rune at byte i of the valid UTF-8 s and returns its class
// and size.
func at(s string, i int) (r rune, class uint8, size int) {
	if b := s[i]; b < utf8.RuneSelf {
		return rune(b), asciiClass[b], 1
	}
	r, size = utf8.DecodeRuneInString(s[i:])
	return r, classify(r), size
}

// prefix reports whether a rune of class c matches [^\r\n\p{L}\p{N}].
func prefix(c uint8) bool { return c&(cNewline|cLetter|cNumber) == 0 }

// other reports whether a rune of class c matches [^\s\p{L}\p{N}].
func other(c uint8) bool { return c&(cSpace|cLetter|cNumber) == 0 }

// run returns the end of the run of runes from i whose class has a bit of
// want.
func run(s string, i int, want uint8) int {
	for i < len(s) {
		_, c, n := at(s, i)
		if c&want == 0 {
			break
		}
		i += n
	}
	return i
}

// contraction returns the length of (?i:'s|'t|'re|'ve|'m|'ll|'d) at i, or 0.
// As in regexp2, case folding makes ſ (U+017F) match s.
func contraction(s string, i int) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return 0
	}
	switch s[i+1] | 0x20 {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && s[i+2]|0x20 == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && s[i+2]|0x20 == 'l' {
			return 3
		}
	}
	if s[i+1:min(i+3, len(s))] == "ſ" {
		return 3
	}
	return 0
}

// numbers returns the end of \p{N}{1,3} from i, where a number starts.
func numbers(s string, i int) int {
	for k := 0; k < 3 && i < len(s); k++ {
		_, c, n := at(s, i)
		if c&cNumber == 0 {
			break
		}
		i += n
	}
	return i
}

// punctuation returns the end of ` ?[^\s\p{L}\p{N}]+` followed by a run of
// tail characters from i, or -1 if it doesn't match there.
func punctuation(s string, i int, r rune, c uint8, tail string) int {
	j := i
	if r == ' ' && i+1 < len(s) {
		if _, c2, _ := at(s, i+1); other(c2) {
			j = i + 1
		}
	}
	if j == i && !other(c) {
		return -1
	}
	for j < len(s) {
		_, c, n := at(s, j)
		if !other(c) {
			break
		}
		j += n
	}
	for j < len(s) && strings.IndexByte(tail, s[j]) >= 0 {
		j++
	}
	return j
}

// spaces returns the end of `\s*[\r\n]+|\s+(?!\S)|\s+` from i, where a
// space starts.
func spaces(s string, i int) int {
	end, lastNewline, lastStart := i, -1, i
	for end < len(s) {
		r, c, n := at(s, end)
		if c&cSpace == 0 {
			break
		}
		if r == '\r' || r == '\n' {
			lastNewline = end
		}
		lastStart = end
		end += n
	}
	switch {
	case lastNewline >= 0: // \s*[\r\n]+: up to the last newline of the run
		return lastNewline + 1
	case end == len(s) || lastStart == i: // \s+(?!\S) at the end, or \s+
		return end
	default: // \s+(?!\S): all but the last space, which joins the next piece
		return lastStart
	}
}

// splitCl100k returns the end of the cl100k_base piece starting at i.
func splitCl100k(s string, i int) int {
	r, c, n := at(s, i)
	if r == '\'' {
		if k := contraction(s, i); k > 0 {
			return i + k
		}
	}
	if c&cLetter != 0 {
		return run(s, i+n, cLetter)
	}
	if prefix(c) && i+n < len(s) {
		if _, c2, n2 := at(s, i+n); c2&cLetter != 0 {
			return run(s, i+n+n2, cLetter)
		}
	}
	if c&cNumber != 0 {
		return numbers(s, i)
	}
	if j := punctuation(s, i, r, c, "\r\n"); j >= 0 {
		return j
	}
	return spaces(s, i)
}

// splitO200k returns the end of the o200k_base piece starting at i.
func splitO200k(s string, i int) int {
	r, c, n := at(s, i)
	if j := word(s, i, c, n); j >= 0 {
		return j
	}
	if c&cNumber != 0 {
		return numbers(s, i)
	}
	if j := punctuation(s, i, r, c, "\r\n/"); j >= 0 {
		return j
	}
	return spaces(s, i)
}

// word returns the end of o200k_base's two letter alternatives at i, or -1:
//
//	P?U*W+C? | P?U+W*C?
//
// where P is the optional prefix, U the upper-case class, W the lower-case
// class and C the contraction. Each alternative first tries with P, if the
// rune at i is one, then without.
func word(s string, i int, c uint8, n int) int {
	starts := [2]int{i, -1}
	if prefix(c) {
		starts = [2]int{i + n, i}
	}
	for _, a := range starts {
		if a >= 0 && a < len(s) {
			if j := upperLower(s, a); j >= 0 {
				return j + contraction(s, j)
			}
		}
	}
	for _, a := range starts {
		if a >= 0 && a < len(s) {
			if j := run(s, a, cUpper); j > a {
				j = run(s, j, cLower)
				return j + contraction(s, j)
			}
		}
	}
	return -1
}

// upperLower returns the end of U*W+ at a, or -1. U* is greedy and gives
// runes back one at a time until W+ can start.
func upperLower(s string, a int) int {
	t := run(s, a, cUpper)
	for {
		if t < len(s) {
			if _, c, _ := at(s, t); c&cLower != 0 {
				return run(s, t, cLower)
			}
		}
		if t == a {
			return -1
		}
		_, n := utf8.DecodeLastRuneInString(s[a:t])
		t -= n
	}
}
