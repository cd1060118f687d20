package prompt

// Resolve+Render is on the request path of every prompt call. Run:
//
//	go test ./prompt -run '^$' -bench BenchmarkRender -benchmem
//
// ns/op and allocs/op should move only when templates or variable
// binding change; the gonja engine dominates both.

import (
	"encoding/json"
	"testing"
)

func BenchmarkRender(b *testing.B) {
	for _, bc := range []struct {
		name, dir string
		q         *Request
	}{
		{"seed", "testdata/seed/prompt_templates.yaml", &Request{ID: "rag_query",
			Variables: map[string]json.RawMessage{"context": json.RawMessage(`"Paris is the capital of France."`),
				"question": json.RawMessage(`"What is the capital of France?"`)}}},
		{"chat_with_partials", "testdata/native", &Request{ID: "support_reply", Label: "staging",
			Variables: map[string]json.RawMessage{"customer": json.RawMessage(`"Ada"`), "points": json.RawMessage(`["refund","apology"]`)}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := mustRegistry(b, Options{Dir: bc.dir})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(bc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
