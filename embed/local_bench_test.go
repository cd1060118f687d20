package embed

import "testing"

// Benchmarks of the local embedder, the per-request cost of a semantic
// cache lookup before the index search:
//
//	go test ./embed -run XXX -bench . -benchmem
//
// ns/op should stay in the tens of microseconds for a paragraph, and
// allocs/op at one for EmbedText (the vector) once the scratch pool is warm.

const benchPrompt = "I'm building a REST API in Go with net/http. How should I structure middleware for logging, authentication and rate limiting so that each can be tested on its own?"

func BenchmarkEmbedText(b *testing.B) {
	var l Local
	b.ReportAllocs()
	for b.Loop() {
		l.EmbedText(benchPrompt)
	}
}

func BenchmarkEmbedShort(b *testing.B) {
	var l Local
	b.ReportAllocs()
	for b.Loop() {
		l.EmbedText("What is the capital of France?")
	}
}

func BenchmarkEmbedBatch16(b *testing.B) {
	var l Local
	texts := make([]string, 16)
	for i := range texts {
		texts[i] = benchPrompt
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Embed(b.Context(), texts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSameWords(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SameWords(benchPrompt, benchPrompt+" Thanks!")
	}
}
