package pricing

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
)

// usage builds a Usage with prompt, cached and completion token counts.
func usage(prompt, cached, completion int) switchboard.Usage {
	return switchboard.Usage{
		PromptTokens:        prompt,
		CompletionTokens:    completion,
		TotalTokens:         prompt + completion,
		PromptTokensDetails: &switchboard.PromptTokensDetails{CachedTokens: cached},
	}
}

// mustPrice returns the built-in price of the canonical model name.
func mustPrice(tb testing.TB, name string) Price {
	tb.Helper()
	p, ok := Default().prices[name]
	if !ok {
		tb.Fatalf("no built-in model %q", name)
	}
	return p
}

func TestDefaultTable(t *testing.T) {
	t.Parallel()
	tbl := Default()
	if tbl != Default() {
		t.Error("Default returned a different table on the second call")
	}
	if !bytes.Contains(embedded, []byte("Taken on 20")) {
		t.Error("prices.yaml does not say when its prices were taken")
	}
	models := tbl.Models()
	if len(models) < 60 {
		t.Errorf("got %d models, want at least 60", len(models))
	}
	for _, name := range models {
		p := tbl.prices[name]
		embedding := strings.Contains(name, "embed")
		switch {
		case p.Input <= 0:
			t.Errorf("%s: input %g, want > 0", name, p.Input)
		case p.Output <= 0 && !embedding:
			t.Errorf("%s: output %g, want > 0", name, p.Output)
		case p.Output != 0 && embedding:
			t.Errorf("%s: an embedding model with output %g, want 0", name, p.Output)
		case p.CachedInput <= 0 || p.CachedInput > p.Input:
			t.Errorf("%s: cached input %g, want in (0, input %g]", name, p.CachedInput, p.Input)
		case p.MaxOutputTokens > 0 && p.ContextWindow > 0 && p.MaxOutputTokens > p.ContextWindow:
			t.Errorf("%s: max output %d above context window %d", name, p.MaxOutputTokens, p.ContextWindow)
		}
		if lc := p.LongContext; lc.Above > 0 {
			if lc.Input < p.Input || lc.Output < p.Output || lc.CachedInput <= 0 || lc.CachedInput > lc.Input {
				t.Errorf("%s: long-context tier %+v is not a surcharge on %+v", name, lc, p)
			}
		}
		if name != strings.ToLower(name) {
			t.Errorf("%s: names must be lowercase", name)
		}
	}
	// The models the table promises to price.
	for _, name := range []string{
		"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o3-mini", "o4-mini",
		"gpt-5", "gpt-5-mini", "gpt-5-nano", "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
		"claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-7-sonnet", "claude-3-5-sonnet", "claude-3-5-haiku",
		"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-embedding-001",
		"mistral-large", "mistral-medium", "mistral-small", "codestral", "mistral-embed",
		"llama-3.3-70b-versatile", "llama-3.1-8b-instant", "groq/meta-llama/llama-4-scout-17b-16e-instruct",
		"together/meta-llama/llama-4-maverick-17b-128e-instruct-fp8", "meta-llama/llama-3.3-70b-instruct-turbo",
	} {
		if _, ok := tbl.Lookup(name); !ok {
			t.Errorf("Lookup(%q): not priced", name)
		}
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, model string
		want        string // canonical model whose price is expected; "" = unpriced
	}{
		{"exact", "gpt-4o", "gpt-4o"},
		{"exact with dots", "gpt-4.1-nano", "gpt-4.1-nano"},
		{"upper case", "GPT-4o-Mini", "gpt-4o-mini"},
		{"spaces", "  o3-mini ", "o3-mini"},
		{"dated snapshot", "gpt-4o-2024-08-06", "gpt-4o"},
		{"dated snapshot of a mini", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"snapshot priced on its own", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"},
		{"o-series snapshot", "o3-mini-2025-01-31", "o3-mini"},
		{"gpt-5 snapshot", "gpt-5-2025-08-07", "gpt-5"},
		{"anthropic snapshot", "claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"anthropic -0 alias", "claude-opus-4-0", "claude-opus-4"},
		{"anthropic 4.1 snapshot", "claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"anthropic -latest", "claude-3-7-sonnet-latest", "claude-3-7-sonnet"},
		{"anthropic dotted", "claude-3.5-sonnet", "claude-3-5-sonnet"},
		{"anthropic 1m suffix", "claude-opus-4-6[1m]", "claude-opus-4-6"},
		{"openai prefix", "openai/gpt-4o", "gpt-4o"},
		{"openrouter anthropic", "openrouter/anthropic/claude-3.7-sonnet:thinking", "claude-3-7-sonnet"},
		{"gemini models/ prefix", "models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"vertex publisher path", "publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"},
		{"gemini version suffix", "gemini-2.0-flash-001", "gemini-2.0-flash"},
		{"bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet"},
		{"bedrock global", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"},
		{"vertex claude", "claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"},
		{"mistral -latest", "mistral-large-latest", "mistral-large"},
		{"mistral old snapshot priced on its own", "mistral-large-2411", "mistral-large-2411"},
		{"mistral snapshot alias", "mistral-small-2503", "mistral-small-2506"},
		{"mistral prefix", "mistral/codestral-2508", "codestral"},
		{"groq id", "llama-3.3-70b-versatile", "groq/llama-3.3-70b-versatile"},
		{"groq qualified", "groq/meta-llama/llama-4-scout-17b-16e-instruct", "groq/meta-llama/llama-4-scout-17b-16e-instruct"},
		{"together qualified, vendor case", "together/meta-llama/Llama-4-Scout-17B-16E-Instruct", "together/meta-llama/llama-4-scout-17b-16e-instruct"},
		{"together id", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together/meta-llama/llama-3.3-70b-instruct-turbo"},
		{"host-named provider", "my-together/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "together/meta-llama/meta-llama-3.1-8b-instruct-turbo"},
		{"embedding", "text-embedding-3-small", "text-embedding-3-small"},

		{"decorated prefix segment", "claude-3-haiku:x/gpt-4o", "gpt-4o"},
		{"vertex-style prefix segment", "claude-3-haiku@x/gpt-4o-mini", "gpt-4o-mini"},
		{"bracket in prefix segment", "claude-3-haiku[x/o3", "o3"},

		{"unknown", "my-secret-model", ""},
		{"empty", "", ""},
		{"only a prefix", "openai/", ""},
		{"fine-tune is not its base", "ft:gpt-4o-mini-2024-07-18:acme::abc123", ""},
		{"scout without host is ambiguous", "meta-llama/llama-4-scout-17b-16e-instruct", ""},
		{"different price, different name", "chatgpt-4o-latest", ""},
		{"unpriced version", "text-embedding-005", ""},
		{"legacy base not priced", "gpt-4-0613", ""},
		{"near miss", "gpt-4o-minix", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Default().Lookup(tc.model)
			if tc.want == "" {
				if ok {
					t.Fatalf("Lookup(%q) = %+v, true; want unpriced", tc.model, got)
				}
				return
			}
			if !ok {
				t.Fatalf("Lookup(%q): unpriced, want the price of %s", tc.model, tc.want)
			}
			if diff := cmp.Diff(mustPrice(t, tc.want), got); diff != "" {
				t.Errorf("Lookup(%q) (-%s +got):\n%s", tc.model, tc.want, diff)
			}
		})
	}
}

func TestCost(t *testing.T) {
	t.Parallel()
	tbl := Default().With(map[string]Price{
		"tiny-a":  {Input: 0.0001, Output: 1}, // one token: 1e-10 USD
		"tiny-b":  {Input: 0.0006, Output: 1}, // one token: 6e-10 USD
		"free":    {Input: 0, Output: 0},      // priced, at zero
		"nocache": {Input: 2, Output: 4},      // no cache price: cached = input
	})
	tests := []struct {
		name   string
		model  string
		u      switchboard.Usage
		want   float64
		wantOK bool
	}{
		// 1000·2.50 + 500·10 = 7500 µ$
		{"no cache", "gpt-4o", usage(1000, 0, 500), 0.0075, true},
		// 600·2.50 + 400·1.25 + 500·10 = 1500 + 500 + 5000
		{"cached tokens", "gpt-4o", usage(1000, 400, 500), 0.007, true},
		// details missing: nothing cached
		{"nil details", "gpt-4o", switchboard.Usage{PromptTokens: 1000, CompletionTokens: 500}, 0.0075, true},
		{"zero usage", "gpt-4o", switchboard.Usage{}, 0, true},
		// 1,000,000·0.10 / 1e6
		{"embedding", "text-embedding-ada-002", usage(1_000_000, 0, 0), 0.1, true},
		// 2000·3 + 1000·0.30 + 300·15 = 6000 + 300 + 4500
		{"anthropic cache read", "claude-sonnet-4-5-20250929", usage(3000, 1000, 300), 0.0108, true},
		// at the threshold: base prices, 200000·3
		{"long context threshold", "claude-sonnet-4", usage(200_000, 0, 0), 0.6, true},
		// above: 200000·6 + 50000·0.60 + 1000·22.50 = 1,200,000 + 30,000 + 22,500
		{"long context tier", "claude-sonnet-4", usage(250_000, 50_000, 1000), 1.2525, true},
		// 300000·2.50 + 2000·15
		{"gemini long prompt", "models/gemini-2.5-pro", usage(300_000, 0, 2000), 0.78, true},
		// cached above prompt is capped: 100·0.075
		{"cached capped at prompt", "gpt-4o-mini", usage(100, 500, 0), 0.0000075, true},
		{"negative counts", "gpt-4o", usage(-5, -1, -7), 0, true},
		// 10·2 (cached at input price) + 10·4
		{"no cache price", "nocache", usage(20, 10, 10), 0.00008, true},
		{"rounds down below half a nano-dollar", "tiny-a", usage(1, 0, 0), 0, true},
		{"rounds up to one nano-dollar", "tiny-b", usage(1, 0, 0), 1e-9, true},
		{"free model", "free", usage(1000, 0, 1000), 0, true},
		{"unpriced", "no-such-model", usage(1000, 0, 1000), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tbl.Cost(tc.model, tc.u)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Cost(%q, %+v) = %v, %v; want %v, %v", tc.model, tc.u, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestMaxCost(t *testing.T) {
	t.Parallel()
	tbl := Default().With(map[string]Price{
		"windowed": {Input: 1, Output: 2, ContextWindow: 1000},
		"unbound":  {Input: 1, Output: 2},
	})
	tests := []struct {
		name          string
		model         string
		prompt, limit int
		want          float64
		wantOK        bool
	}{
		// 1000·2.50 + 100·10
		{"request limit", "gpt-4o", 1000, 100, 0.0035, true},
		// no limit: the model's 16384; 2500 + 163840
		{"model limit", "gpt-4o", 1000, 0, 0.16634, true},
		{"request limit capped by model", "gpt-4o", 1000, 1_000_000, 0.16634, true},
		// what the window leaves: 400·1 + 600·2
		{"context window", "windowed", 400, 0, 0.0016, true},
		{"nothing bounds output", "unbound", 400, 0, 0.0004, true},
		// 300000·2.50 + 1000·15
		{"long context", "gemini-2.5-pro", 300_000, 1000, 0.765, true},
		{"negative", "gpt-4o", -1, -1, 0.16384, true},
		{"unpriced", "no-such-model", 10, 10, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tbl.MaxCost(tc.model, tc.prompt, tc.limit)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("MaxCost(%q, %d, %d) = %v, %v; want %v, %v", tc.model, tc.prompt, tc.limit, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	// A worst case is never below the actual cost of a request it allows.
	for _, name := range Default().Models() {
		p := mustPrice(t, name)
		limit := 1000
		if p.MaxOutputTokens > 0 {
			limit = min(limit, p.MaxOutputTokens)
		}
		worst, _ := Default().MaxCost(name, 5000, limit)
		actual, _ := Default().Cost(name, usage(5000, 2500, limit))
		if worst < actual {
			t.Errorf("%s: MaxCost %v below Cost %v", name, worst, actual)
		}
	}
}

func TestWith(t *testing.T) {
	t.Parallel()
	base := Default()
	before, _ := base.Lookup("gpt-4o")
	tbl := base.With(map[string]Price{
		"My-Model":      {Input: 1, Output: 2, CachedInput: 0.5},
		"gpt-4o":        {Input: 3, Output: 6},
		"claude-opus-4": {Input: 7, Output: 8, CachedInput: 0.7},
	})
	tests := []struct {
		model string
		want  Price
	}{
		{"my-model", Price{Input: 1, Output: 2, CachedInput: 0.5}},
		{"MY-MODEL", Price{Input: 1, Output: 2, CachedInput: 0.5}},
		{"gpt-4o", Price{Input: 3, Output: 6, CachedInput: 3}},
		{"gpt-4o-2024-08-06", Price{Input: 3, Output: 6, CachedInput: 3}},
		{"claude-opus-4-0", Price{Input: 7, Output: 8, CachedInput: 0.7}}, // an alias follows its model
	}
	for _, tc := range tests {
		got, ok := tbl.Lookup(tc.model)
		if !ok {
			t.Errorf("Lookup(%q): unpriced after With", tc.model)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tc.model, diff)
		}
	}
	if after, _ := base.Lookup("gpt-4o"); after != before {
		t.Errorf("With changed the table it was called on: gpt-4o %+v, was %+v", after, before)
	}
	if _, ok := base.Lookup("my-model"); ok {
		t.Error("With added a model to the table it was called on")
	}
	if got, want := len(tbl.Models()), len(base.Models())+1; got != want {
		t.Errorf("got %d models after With, want %d", got, want)
	}
	if got := base.With(nil).Models(); !cmp.Equal(got, base.Models()) {
		t.Error("With(nil) changed the model list")
	}
}

func TestNilTable(t *testing.T) {
	t.Parallel()
	var tbl *Table
	if _, ok := tbl.Lookup("gpt-4o"); ok {
		t.Error("a nil table priced gpt-4o")
	}
	if _, ok := tbl.Cost("gpt-4o", usage(1, 0, 1)); ok {
		t.Error("a nil table costed gpt-4o")
	}
	if _, ok := tbl.MaxCost("gpt-4o", 1, 1); ok {
		t.Error("a nil table reserved for gpt-4o")
	}
	if got := tbl.Models(); got != nil {
		t.Errorf("got %v models from a nil table, want none", got)
	}
	got, ok := tbl.With(map[string]Price{"m": {Input: 1, Output: 1}}).Lookup("m")
	if !ok || got.Input != 1 {
		t.Errorf("nil.With(m).Lookup(m) = %+v, %v; want input 1", got, ok)
	}
}

func TestModelsIsACopy(t *testing.T) {
	t.Parallel()
	m := Default().Models()
	m[0] = "changed"
	if Default().Models()[0] == "changed" {
		t.Error("changing the slice from Models changed the table")
	}
}

// TestConcurrentUse is for -race: readers of shared tables while others are
// derived from them.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	models := append(Default().Models(), "openai/gpt-4o-2024-08-06", "us.anthropic.claude-opus-4-1-20250805-v1:0", "unknown")
	derived := Default().With(map[string]Price{"x": {Input: 1, Output: 1}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				m := models[(g*31+i)%len(models)]
				for _, tbl := range []*Table{Default(), derived} {
					p, ok := tbl.Lookup(m)
					c, cok := tbl.Cost(m, usage(1000, 100, 100))
					if ok != cok || (ok && c != p.Cost(usage(1000, 100, 100))) {
						t.Errorf("%s: Lookup and Cost disagree", m)
					}
					tbl.MaxCost(m, 1000, 0)
				}
				_ = Default().Models()
			}
		})
	}
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("m-%d-%d", g, i)
				tbl := derived.With(map[string]Price{name: {Input: 1, Output: 2}})
				if _, ok := tbl.Lookup(name); !ok {
					t.Errorf("%s: not priced after With", name)
				}
			}
		})
	}
	wg.Wait()
}

func TestCostAllocationFree(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	u := usage(1000, 200, 300)
	if n := testing.AllocsPerRun(100, func() { Default().Cost("gpt-4o", u) }); n != 0 {
		t.Errorf("Cost of an exact name allocates %v times, want 0", n)
	}
}
