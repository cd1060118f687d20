package pricing

import (
	"strings"
	"testing"
)

// FuzzLookup checks the normalization rules: no input panics, a built-in
// model behind any provider prefix and in any letter case resolves to its own
// price, and a result, when found, is a price the table holds.
func FuzzLookup(f *testing.F) {
	f.Add("openai", uint(0), false)
	f.Add("models", uint(7), true)
	f.Add("us.anthropic.", uint(3), false)
	f.Add("a/b/c", uint(42), true)
	f.Add("", uint(1), false)
	f.Add("ft:", uint(9), false)
	tbl := Default()
	models := tbl.Models()
	held := map[Price]bool{}
	for _, m := range models {
		held[tbl.prices[m]] = true
	}
	f.Fuzz(func(t *testing.T, prefix string, i uint, upper bool) {
		// Arbitrary input: never panics; a hit is a price the table holds.
		for _, s := range []string{prefix, prefix + "-2024-08-06", prefix + ":0"} {
			if p, ok := tbl.Lookup(s); ok && !held[p] {
				t.Fatalf("Lookup(%q) = %+v, a price the table does not hold", s, p)
			}
		}
		// A built-in model, prefixed and recased, keeps its own price.
		m := models[i%uint(len(models))]
		if upper {
			m = strings.ToUpper(m)
		}
		name := prefix + "/" + m
		if _, exact := tbl.find(key(name)); exact || strings.Contains(key(prefix), "ft:") {
			return // the prefixed name is itself a table entry, or a fine-tune
		}
		want := tbl.prices[models[i%uint(len(models))]]
		got, ok := tbl.Lookup(name)
		if !ok || got != want {
			t.Fatalf("Lookup(%q) = %+v, %v; want %+v", name, got, ok, want)
		}
	})
}
