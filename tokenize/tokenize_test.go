package tokenize

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/tiktoken-go/tokenizer"
)

var bothEncodings = []string{Cl100kBase, O200kBase}

// modelOf returns a model that uses encoding name.
func modelOf(name string) string {
	if name == O200kBase {
		return "gpt-4o"
	}
	return "gpt-4"
}

// TestCountPublished checks counts published in OpenAI's cookbook ("How to
// count tokens with tiktoken").
func TestCountPublished(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text          string
		cl100k, o200k int
	}{
		{"hello world", 2, 2},
		{"tiktoken is great!", 6, 6},
		{"antidisestablishmentarianism", 6, 6},
		{"2 + 2 = 4", 7, 7},
		{"お誕生日おめでとう", 9, 8},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			if got := Count("gpt-4", tc.text); got != tc.cl100k {
				t.Errorf("cl100k_base: got %d, want %d", got, tc.cl100k)
			}
			if got := Count("gpt-4o", tc.text); got != tc.o200k {
				t.Errorf("o200k_base: got %d, want %d", got, tc.o200k)
			}
		})
	}
}

// TestVocabulary checks the vocabulary sizes and the token ids the cookbook
// shows for "tiktoken is great!" and "antidisestablishmentarianism".
func TestVocabulary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		encoding string
		size     int
		ids      map[string]uint32
	}{
		{Cl100kBase, 100256, map[string]uint32{
			"t": 83, "ik": 1609, "token": 5963, " is": 374, " great": 2294, "!": 0,
			"ant": 519, "idis": 85342, "establish": 34500, "ment": 479, "arian": 8997, "ism": 2191,
		}},
		{O200kBase, 199998, map[string]uint32{
			"t": 83, "ikt": 8251, "oken": 2488, " is": 382, " great": 2212, "!": 0,
			"ant": 493, "idis": 129901, "est": 376, "ablishment": 160388, "arian": 21203, "ism": 2367,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.encoding, func(t *testing.T) {
			e := encodings[tc.encoding]()
			if len(e.ranks) != tc.size {
				t.Errorf("got %d tokens, want %d", len(e.ranks), tc.size)
			}
			for tok, want := range tc.ids {
				if got, ok := e.ranks[tok]; !ok || got != want {
					t.Errorf("%q: got id %d (%v), want %d", tok, got, ok, want)
				}
			}
		})
	}
}

// TestCountTiktoken checks counts against testdata/tiktoken_counts.json,
// made by the real tiktoken (see testdata/tiktoken_counts.js). It includes
// the inputs where tiktoken-go's own Count differs from tiktoken.
func TestCountTiktoken(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/tiktoken_counts.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []map[string]any
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		text := c["text"].(string)
		for _, enc := range bothEncodings {
			want := int(c[enc].(float64))
			if got := Count(modelOf(enc), text); got != want {
				t.Errorf("%s %q: got %d, want %d", enc, text, got, want)
			}
		}
	}
}

// libraryDiffers reports whether s hits one of the two places where
// tiktoken-go/tokenizer v0.10.0 departs from tiktoken: its generated matcher
// skips DEL (U+007F), which then counts no token, and it backtracks
// \s*[\r\n]+ to the first newline of a whitespace run instead of the last,
// splitting "\n \n" in two.
func libraryDiffers(s string) bool {
	if strings.ContainsRune(s, 0x7f) {
		return true
	}
	newline, gap := false, false
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n':
			if gap {
				return true
			}
			newline = true
		case unicode.IsSpace(r):
			gap = newline
		default:
			newline, gap = false, false
		}
	}
	return false
}

// randomTexts returns n strings built from pieces chosen to exercise every
// alternative of the split patterns.
func randomTexts(n int) []string {
	alphabet := []string{
		"a", "b", "Z", "Q", "é", "É", "ǅ", "ʰ", "日", "本", "\u0301", "\u0903",
		"1", "٣", "Ⅻ", "½", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000",
		"\u2028", "\v", "\x85", "'", "'s", "'LL", "'ſ", "ſ", "!", "/", ".",
		"\x00", "😀", "\ufffd", "\xff", "\xe2\x82", "DON'T", "camelCase",
		"HTTPServer", " the", "ing", "<|endoftext|>",
	}
	r := rand.New(rand.NewPCG(1, 2))
	texts := make([]string, n)
	for i := range texts {
		var b strings.Builder
		for range 1 + r.IntN(16) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		texts[i] = b.String()
	}
	return texts
}

// TestMatchesLibrary checks that the hand-written splitter and merge count
// what tiktoken-go/tokenizer counts, wherever that library follows tiktoken.
func TestMatchesLibrary(t *testing.T) {
	t.Parallel()
	texts := randomTexts(3000)
	texts = append(texts, sample1KB, strings.Repeat("ab", 400), strings.Repeat("日本", 100))
	for _, enc := range bothEncodings {
		ref, err := tokenizer.Get(tokenizer.Encoding(enc))
		if err != nil {
			t.Fatal(err)
		}
		e := encodings[enc]()
		for _, s := range texts {
			if libraryDiffers(s) {
				continue
			}
			want, err := ref.Count(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.count(s); got != want {
				t.Errorf("%s %q: got %d, want %d", enc, s, got, want)
			}
		}
	}
}

// TestMergeHeap checks that the heap merge, used for long pieces, gives
// what the scanning merge gives.
func TestMergeHeap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for _, enc := range bothEncodings {
		e := encodings[enc]()
		for range 2000 {
			b := make([]byte, 2+r.IntN(heapMin-2))
			k := 1 + r.IntN(len(letters))
			for i := range b {
				b[i] = letters[r.IntN(k)]
			}
			piece := string(b)
			if got, want := e.mergeHeap(piece), e.mergeScan(piece); got != want {
				t.Fatalf("%s %q: heap got %d, scan %d", enc, piece, got, want)
			}
		}
	}
}

func TestEncodingFor(t *testing.T) {
	t.Parallel()
	tests := []struct{ model, want string }{
		{"gpt-4o", O200kBase},
		{"gpt-4o-2024-08-06", O200kBase},
		{"gpt-4o-mini", O200kBase},
		{"chatgpt-4o-latest", O200kBase},
		{"gpt-4.1", O200kBase},
		{"gpt-4.1-nano-2025-04-14", O200kBase},
		{"gpt-4.5-preview", O200kBase},
		{"gpt-5", O200kBase},
		{"gpt-5-mini-2025-08-07", O200kBase},
		{"gpt-5.1", O200kBase},
		{"gpt-oss-120b", O200kBase},
		{"o1", O200kBase},
		{"o1-mini", O200kBase},
		{"o3-2025-04-16", O200kBase},
		{"o4-mini", O200kBase},
		{"openai/gpt-4o", O200kBase},
		{"openrouter/openai/o3-mini", O200kBase},
		{"  GPT-4O-Mini ", O200kBase},
		{"ft:gpt-4o-mini-2024-07-18:org::abc123", O200kBase},
		{"gpt-4", Cl100kBase},
		{"gpt-4-0613", Cl100kBase},
		{"gpt-4-turbo-2024-04-09", Cl100kBase},
		{"gpt-4-32k", Cl100kBase},
		{"gpt-3.5-turbo", Cl100kBase},
		{"gpt-3.5-turbo-0125", Cl100kBase},
		{"gpt-35-turbo", Cl100kBase},
		{"ft:gpt-3.5-turbo-0613:org::x", Cl100kBase},
		{"text-embedding-3-small", Cl100kBase},
		{"text-embedding-ada-002", Cl100kBase},
		{"o10", Cl100kBase},
		{"o1x", Cl100kBase},
		{"claude-sonnet-4-20250514", Cl100kBase},
		{"anthropic/claude-3-5-haiku", Cl100kBase},
		{"gemini-2.5-pro", Cl100kBase},
		{"llama-3.1-70b-instruct", Cl100kBase},
		{"mistral-large-latest", Cl100kBase},
		{"", Cl100kBase},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			if got := EncodingFor(tc.model); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCountInvalidUTF8(t *testing.T) {
	t.Parallel()
	for _, enc := range bothEncodings {
		m := modelOf(enc)
		got := Count(m, "a\xffb\xed\xa0\x80c\xc3")
		want := Count(m, "a\uFFFDb\uFFFD\uFFFD\uFFFDc\uFFFD")
		if got != want {
			t.Errorf("%s: got %d, want %d (as U+FFFD per invalid byte)", enc, got, want)
		}
	}
}

// TestCountLong checks that texts up to 1 MiB are counted exactly and that
// longer ones are extrapolated closely.
func TestCountLong(t *testing.T) {
	t.Parallel()
	unit := "The quick brown fox jumps over the lazy dog.\n"
	perUnit := Count("gpt-4o", unit+unit) - Count("gpt-4o", unit)
	tests := []struct {
		name     string
		units    int
		maxError float64
	}{
		{"exact", maxExact / len(unit), 0},
		{"extrapolated", 3 * maxExact / len(unit), 0.001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := strings.Repeat(unit, tc.units)
			got := Count("gpt-4o", text)
			want := tc.units * perUnit
			if diff := float64(got-want) / float64(want); diff < -tc.maxError || diff > tc.maxError {
				t.Errorf("got %d, want %d (±%.1f%%)", got, want, 100*tc.maxError)
			}
		})
	}
	// One piece longer than the limit: stopped there, not merged whole.
	if got := Count("gpt-4o", strings.Repeat("a", 3*maxExact)); got <= 0 {
		t.Errorf("a run of 3 MiB of letters: got %d tokens", got)
	}
}

func TestCountEmbeddingInput(t *testing.T) {
	t.Parallel()
	inputs := []string{"hello world", "tiktoken is great!", ""}
	if got, want := CountEmbeddingInput("text-embedding-3-small", inputs), 2+6; got != want {
		t.Errorf("got %d, want %d", got, want)
	}
	if got := CountEmbeddingInput("text-embedding-3-small", nil); got != 0 {
		t.Errorf("no inputs: got %d, want 0", got)
	}
}

// TestConcurrent counts from many goroutines at once, including the first
// use of each vocabulary; run it with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	texts := randomTexts(200)
	want := make(map[string][]int)
	for _, enc := range bothEncodings {
		for _, s := range texts {
			want[enc] = append(want[enc], Count(modelOf(enc), s))
		}
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			enc := bothEncodings[g%2]
			for i, s := range texts {
				if got := Count(modelOf(enc), s); got != want[enc][i] {
					t.Errorf("%s %q: got %d, want %d", enc, s, got, want[enc][i])
				}
			}
		})
	}
	wg.Wait()
}
