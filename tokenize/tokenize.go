// Package tokenize counts prompt tokens the way the model's own tokenizer
// does, for rate-limit admission and cost estimates before a request is sent
// upstream.
//
// OpenAI models are counted exactly with their BPE vocabularies, cl100k_base
// and o200k_base, which github.com/tiktoken-go/tokenizer compiles into the
// binary: nothing is downloaded at run time. That library is the source of
// the vocabularies and the reference the tests compare against; the counting
// itself runs on a hand-written pre-tokenizer (split.go) and byte-pair merge
// (bpe.go) that give the same counts over ten times faster and without
// allocating (7–11 µs for 1 KB of English instead of ~90 µs), because the
// library's regexp engine allocates for every piece. They also avoid two
// places where the library's generated regexp departs from tiktoken (it
// skips U+007F, and splits whitespace runs holding two newlines at the first
// one); the tests check the counts against tiktoken itself.
//
// Models from other families (Claude, Gemini, Llama, Mistral, …) have no
// public tokenizer we can embed; they are counted with cl100k_base and the
// result is an estimate (see EncodingFor).
package tokenize

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Encoding names, as EncodingFor returns them.
const (
	// O200kBase is the encoding of GPT-4o, GPT-4.1, GPT-4.5, GPT-5 and the
	// o-series reasoning models.
	O200kBase = "o200k_base"
	// Cl100kBase is the encoding of GPT-4, GPT-3.5 Turbo and OpenAI's
	// text-embedding models, and the estimate for every other family.
	Cl100kBase = "cl100k_base"
)

// maxExact is how many bytes of one text are counted exactly. Longer texts
// are counted up to here and extrapolated by length, which bounds the CPU a
// single huge prompt can take at admission (about 10 ms per text).
const maxExact = 1 << 20

// encodings builds each vocabulary once, on first use: cl100k_base takes
// about 80 ms and keeps 8 MB of heap, o200k_base about 140 ms and 15 MB
// (half of it the library's own table, which stays loaded).
var encodings = map[string]func() *encoding{
	Cl100kBase: sync.OnceValue(func() *encoding { return load(tokenizer.Cl100kBase, splitCl100k, cl100kTools) }),
	O200kBase:  sync.OnceValue(func() *encoding { return load(tokenizer.O200kBase, splitO200k, o200kTools) }),
}

// o200kPrefixes are the model families on o200k_base; each entry also
// matches its dated snapshots and variants (gpt-4o-2024-08-06, gpt-4o-mini).
// gpt-oss uses o200k_harmony, which is o200k_base plus chat special tokens,
// so plain text counts the same.
var o200kPrefixes = []string{"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "gpt-oss"}

// oSeries are the reasoning model families, matched as a whole name or
// followed by "-" (o1, o1-mini, o3-2025-04-16, o4-mini), so that no other
// name starting with "o1" is taken for one.
var oSeries = []string{"o1", "o3", "o4"}

// EncodingFor returns the name of the tokenizer the model's family uses:
// O200kBase for gpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*, chatgpt-4o*, gpt-oss*
// and the o1, o3 and o4 families; Cl100kBase for gpt-4*, gpt-3.5*
// (gpt-35-* on Azure) and text-embedding-*. A "provider/" prefix
// ("openai/gpt-4o", "openrouter/openai/gpt-4o"), a fine-tune "ft:" prefix,
// dated snapshots and letter case are ignored.
//
// Every other family (claude*, gemini*, llama*, mistral*, …) gets
// Cl100kBase too, and its counts are estimates: those vendors don't publish a
// tokenizer we can embed, and no single ratio to cl100k_base holds across
// their models, so none is applied. Llama 3 is the close case: Meta built its
// 128K vocabulary from the 100K tiktoken (cl100k_base) tokens plus 28K
// non-English ones, so its English counts come close to cl100k_base's.
// Where the exact number matters, ask the vendor (Anthropic's count_tokens
// endpoint, behind anthropic.Client.CountTokens) or use the usage the
// response reports.
func EncodingFor(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	m = strings.TrimPrefix(m, "ft:")
	for _, p := range o200kPrefixes {
		if strings.HasPrefix(m, p) {
			return O200kBase
		}
	}
	for _, p := range oSeries {
		if m == p || strings.HasPrefix(m, p) && m[len(p)] == '-' {
			return O200kBase
		}
	}
	return Cl100kBase
}

// encodingOf returns the loaded encoding for model.
func encodingOf(model string) *encoding {
	return encodings[EncodingFor(model)]()
}

// Count returns the number of tokens text encodes to with model's tokenizer,
// as tiktoken's encode_ordinary does: special-token text such as
// "<|endoftext|>" is counted as ordinary text. Invalid UTF-8 is counted as if
// each invalid byte were U+FFFD. Texts over 1 MiB are counted exactly for the
// first MiB and extrapolated by length, so expect an error of a few percent
// there unless the text is uniform.
func Count(model, text string) int {
	if text == "" {
		return 0
	}
	return encodingOf(model).count(text)
}

// CountEmbeddingInput returns the tokens an embeddings request with these
// inputs is billed for: the sum of each input's count (OpenAI adds nothing
// per input). Inputs that were token-id arrays, which
// switchboard.EmbeddingRequest.Texts renders as decimal text, should be
// counted as the number of ids instead.
func CountEmbeddingInput(model string, inputs []string) int {
	if len(inputs) == 0 {
		return 0
	}
	e := encodingOf(model)
	n := 0
	for _, s := range inputs {
		n += e.count(s)
	}
	return n
}

// count counts text's tokens: it splits text into pieces, then counts each
// piece's byte-pair merge.
func (e *encoding) count(text string) int {
	if text == "" {
		return 0
	}
	if !utf8.ValidString(text) {
		text = replaceInvalid(text)
	}
	limit := min(len(text), maxExact)
	n, i := 0, 0
	for i < limit {
		j := e.split(text, i)
		if j <= i {
			j = i + 1 // unreachable (every rune starts a piece); never hang
		}
		if j > limit {
			// Only when extrapolating: stop the piece at the limit,
			// on a rune boundary past i.
			j = limit
			for j > i+1 && !utf8.RuneStart(text[j]) {
				j--
			}
		}
		n += e.pieceTokens(text[i:j])
		i = j
	}
	if i < len(text) {
		return int((int64(n)*int64(len(text)) + int64(i) - 1) / int64(i))
	}
	return n
}

// replaceInvalid replaces each byte of s that is not part of valid UTF-8
// with U+FFFD, as converting s to []rune does, which is what the reference
// library tokenizes.
func replaceInvalid(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
