package tokenize

// Token counting runs on every request at admission. Measure with
//
//	go test -run '^$' -bench . -benchmem -count=10 ./tokenize/ | benchstat -
//
// BenchmarkCount1KB and BenchmarkCountChat are the numbers that should
// move (and stay at 0 allocs for Count); BenchmarkLibraryCount1KB is
// tiktoken-go's own Count on the same text, for comparison, and
// BenchmarkLoad the one-time cost of building a vocabulary.

import (
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"
)

// sample1KB is 1024 bytes of an ordinary English prompt.
var sample1KB = func() string {
	const p = "You are a careful assistant for an online bookshop. Answer the customer's " +
		"question using only the order history and catalogue excerpts below; if the " +
		"answer isn't there, say so and offer to hand the conversation to a person. " +
		"Keep replies under 120 words, quote order numbers exactly (e.g. #A-20391), " +
		"and never promise refunds: they're decided by the support team within 3-5 " +
		"business days.\n\nCustomer: Hi! I ordered \"The Left Hand of Darkness\" two " +
		"weeks ago and it still hasn't arrived. The tracking page says it left the " +
		"warehouse on March 4th. Can you check what happened, and whether I can " +
		"switch to the hardcover edition instead?\n\n"
	s := strings.Repeat(p, 1024/len(p)+1)
	return s[:1024]
}()

func BenchmarkCount1KB(b *testing.B) {
	for _, enc := range bothEncodings {
		b.Run(enc, func(b *testing.B) {
			m := modelOf(enc)
			Count(m, "warm up")
			b.ReportAllocs()
			b.SetBytes(int64(len(sample1KB)))
			for b.Loop() {
				Count(m, sample1KB)
			}
		})
	}
}

func BenchmarkCount1MB(b *testing.B) {
	text := strings.Repeat(sample1KB, 1024)
	Count("gpt-4o", "warm up")
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Count("gpt-4o", text)
	}
}

func BenchmarkLibraryCount1KB(b *testing.B) {
	for _, enc := range bothEncodings {
		b.Run(enc, func(b *testing.B) {
			c, err := tokenizer.Get(tokenizer.Encoding(enc))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(sample1KB)))
			for b.Loop() {
				if _, err := c.Count(sample1KB); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCountChat counts a five-message conversation of about 1.5 KB of
// text with one tool definition.
func BenchmarkCountChat(b *testing.B) {
	req := mustRequest(b, `{"model":"gpt-4o","messages":[
		{"role":"system","content":`+string(jsonString(sample1KB[:600]))+`},
		{"role":"user","content":"Where is my order #A-20391? It left the warehouse on March 4th."},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"track_order","arguments":"{\"order\":\"A-20391\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"{\"status\":\"in transit\",\"carrier\":\"DHL\",\"eta\":\"2024-03-12\"}"},
		{"role":"user","content":[{"type":"text","text":"Thanks. Can I switch to the hardcover edition instead? Here is the cover:"},{"type":"image_url","image_url":{"url":"https://example.com/cover.jpg","detail":"low"}}]}],
		"tools":[{"type":"function","function":{"name":"track_order","description":"Look up the shipping status of an order.","parameters":{"type":"object","properties":{"order":{"type":"string","description":"The order number, without #."}},"required":["order"]}}}]}`)
	CountChat("gpt-4o", req)
	b.ReportAllocs()
	for b.Loop() {
		CountChat("gpt-4o", req)
	}
}

// BenchmarkLoad measures building a vocabulary, which happens once per
// process and encoding.
func BenchmarkLoad(b *testing.B) {
	for _, tc := range []struct {
		name  tokenizer.Encoding
		split func(string, int) int
	}{{tokenizer.Cl100kBase, splitCl100k}, {tokenizer.O200kBase, splitO200k}} {
		b.Run(string(tc.name), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				load(tc.name, tc.split, cl100kTools)
			}
		})
	}
}

func jsonString(s string) []byte {
	return []byte(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`)
}
