package embed

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"case and punctuation", "What is the Capital of FRANCE?!", "what is the capital of france"},
		{"whitespace", "  a\tb\n\nc  ", "a b c"},
		{"fullwidth NFKC", "ＨＯＷ　ＤＯ Ｉ", "how do i"},
		{"ligature NFKC", "ﬁle", "file"},
		{"contractions", "I don't, can't, won't; cannot.", "i do not can not will not can not"},
		{"curly apostrophe", "don’t", "do not"},
		{"possessive joins", "What's Tokyo's size", "whats tokyos size"},
		{"thousands separator", "$50,000 and 1,2,3", "50000 and 1 2 3"},
		{"decimal point", "rate 0.01 or 3.14.", "rate 0.01 or 3.14"},
		{"percent", "15% of 80 is not 15 % of 8", "15% of 80 is not 15% of 8"},
		{"lone percent dropped", "100 % sure %", "100% sure"},
		{"plus and hash after letters", "C++ vs C# vs F#", "c++ vs c# vs f#"},
		{"plus after digits dropped", "2x+3=11", "2x 3 11"},
		{"hyphen splits", "10-year-old", "10 year old"},
		{"number words", "three or twenty, not one", "3 or 20 not one"},
		{"non-latin kept", "东京的人口是多少？2020年", "东京的人口是多少 2020年"},
		{"diacritics kept", "Quelle façon d'apprendre ?", "quelle façon dapprendre"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Normalize(tc.in); got != tc.want {
				t.Errorf("Normalize(%q): got %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestGuards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"none", "How do I reset my password?", nil},
		{"numbers sorted", "Convert 50 km or 5 km", []string{"5", "50"}},
		{"alphanumeric", "Q3 revenue of GPT-4 in 2x", []string{"2x", "4", "q3"}},
		{"spelled", "five sentences", []string{"5"}},
		{"negations", "Why can't I log in without a key? Never.", []string{"never", "not", "without"}},
		{"percent is part of the number", "15% of 80", []string{"15%", "80"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, Guards(tc.in)); diff != "" {
				t.Errorf("Guards(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestSameWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"identical", "Reset my password", "Reset my password", true},
		{"case punctuation fillers", "How do I reset my password?", "hello, how do i reset my password please", true},
		{"word order", "In Python, how do I reverse a list?", "How do I reverse a list in Python?", true},
		{"typo substitution", "symptoms of anemia", "symptons of anemia", true},
		{"typo swap", "How do I export data", "How do I exprot data", true},
		{"typo deletion", "the itinerary", "the itinrary", true},
		{"joined words", "What time zone is Sydney in", "What timezone is Sydney in", true},
		{"entity", "capital of France", "capital of Germany", false},
		{"first letter differs", "goroutine scheduling", "coroutine scheduling", false},
		{"short words must be equal", "the red car", "the rod car", false},
		{"two edits", "Austria facts", "Australia facts", false},
		{"number", "Convert 5 km to miles", "Convert 50 km to miles", false},
		{"negation", "Which methods are idempotent", "Which methods are not idempotent", false},
		{"direction", "Convert 5 km to miles", "Convert 5 miles to km", false},
		{"direction from", "copy from laptop to server", "copy from server to laptop", false},
		{"infinitive to is no direction", "how to center a div", "how do I center a div", true},
		{"extra content word", "Explain TCP", "Explain TCP congestion", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := SameWords(tc.a, tc.b); got != tc.want {
				t.Errorf("SameWords(%q, %q): got %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := SameWords(tc.b, tc.a); got != tc.want {
				t.Errorf("SameWords(%q, %q) (swapped): got %v, want %v", tc.b, tc.a, got, tc.want)
			}
		})
	}
}

func TestSameGuards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"choose 3 items from 10", "From 10 items, choose 3", true},
		{"15% of 80", "80% of 15", false},
		{"is it safe", "is it not safe", false},
		{"five km", "5 km", true},
		{"5 km and 5 km", "5 km", false},
	}
	for _, tc := range tests {
		if got := SameGuards(tc.a, tc.b); got != tc.want {
			t.Errorf("SameGuards(%q, %q): got %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// FuzzNormalize checks that normalising never panics, yields valid UTF-8
// with single spaces and no upper case, and is idempotent.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "What's 15 % of $1,000?", "C++ don't", "ＨＯＷ", "n't", "'", "1,000,", "a+#+b", "东京2020年", "\xff\xfe", "cannot%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", s, n)
		}
		if strings.Contains(n, "  ") || strings.TrimSpace(n) != n {
			t.Fatalf("Normalize(%q) = %q: stray spaces", s, n)
		}
		if n2 := Normalize(n); n2 != n {
			t.Fatalf("Normalize not idempotent: %q → %q → %q", s, n, n2)
		}
		_ = Guards(s)
		_ = SameWords(s, n)
	})
}
