package tokenize

import (
	"testing"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// FuzzCount counts arbitrary bytes, valid UTF-8 or not, with both
// encodings: it must not panic or hang, must count at least one token for a
// non-empty text, and must agree with tiktoken-go/tokenizer wherever that
// library follows tiktoken (see libraryDiffers). Seeds are in
// testdata/fuzz/FuzzCount. Run with:
//
//	go test -run '^$' -fuzz FuzzCount ./tokenize/
func FuzzCount(f *testing.F) {
	for _, s := range []string{"", "hello world", "DON'T 'll", "a\xffb", "\n \n", "日本語\u0301", " 123 !!\r\n/"} {
		f.Add(s)
	}
	refs := make(map[string]tokenizer.Codec)
	for _, enc := range bothEncodings {
		ref, err := tokenizer.Get(tokenizer.Encoding(enc))
		if err != nil {
			f.Fatal(err)
		}
		refs[enc] = ref
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, enc := range bothEncodings {
			got := Count(modelOf(enc), s)
			if s != "" && got < 1 || got > len(s)+2*utf8.RuneCountInString(s) {
				t.Fatalf("%s %q: got %d tokens", enc, s, got)
			}
			if len(s) > 4096 || libraryDiffers(s) {
				continue
			}
			want, err := refs[enc].Count(s)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s %q: got %d, tiktoken-go counts %d", enc, s, got, want)
			}
		}
	})
}
