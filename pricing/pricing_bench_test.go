package pricing

// Cost runs once per inference on the response path, so an exact model name
// must cost no allocations. Run:
//
//	go test -run '^$' -bench . -benchmem ./pricing/
//
// Every case should report 0 allocs/op (a name with upper-case letters costs
// one, its lowercased copy); exact names should stay well under 100 ns/op.
// The normalized cases show what each fallback rule costs in time.

import "testing"

func BenchmarkCost(b *testing.B) {
	u := usage(12_000, 8_000, 450)
	for _, bc := range []struct{ name, model string }{
		{"exact", "gpt-4o"},
		{"exact-alias", "claude-opus-4-0"},
		{"snapshot", "gpt-4o-2024-08-06"},
		{"bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"},
		{"unpriced", "openrouter/someone/unknown-model"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tbl := Default()
			b.ReportAllocs()
			for b.Loop() {
				tbl.Cost(bc.model, u)
			}
		})
	}
}
