package pricing

import (
	_ "embed"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/switchboard-ai/switchboard"
)

//go:embed prices.yaml
var embedded []byte

// Table maps model names to prices. It is never changed after it is built,
// so any number of goroutines may read it at once; With returns a new Table.
// A nil *Table prices nothing.
type Table struct {
	prices  map[string]Price  // canonical lowercase name → price
	aliases map[string]string // lowercase alias → canonical name
	models  []string          // canonical names, sorted
}

// defaultTable parses the embedded file once.
var defaultTable = sync.OnceValue(func() *Table {
	t, err := parse(embedded, "pricing/prices.yaml")
	if err != nil {
		// The file ships in the binary and a test parses it: a failure
		// here is a build defect, not a runtime condition.
		panic(err)
	}
	return t
})

// Default returns the table embedded in the binary (pricing/prices.yaml),
// parsed on first use.
func Default() *Table { return defaultTable() }

// newTable builds a table from canonical prices and aliases. Names must
// already be lowercase.
func newTable(prices map[string]Price, aliases map[string]string) *Table {
	t := &Table{prices: prices, aliases: aliases}
	for name, p := range t.prices {
		t.prices[name] = p.normalized()
	}
	t.models = slices.Sorted(maps.Keys(t.prices))
	return t
}

// With returns a copy of t in which overrides win: a name already priced gets
// the new price, any other name is added. Names match case-insensitively. A
// CachedInput of 0 means the model has no cache price (cached tokens cost
// Input). If two names differ only in case, which one wins is unspecified.
// The prices are not checked; Config.Validate checks prices from config.
func (t *Table) With(overrides map[string]Price) *Table {
	prices := map[string]Price{}
	aliases := map[string]string{}
	if t != nil {
		maps.Copy(prices, t.prices)
		maps.Copy(aliases, t.aliases)
	}
	for name, p := range overrides {
		prices[key(name)] = p
	}
	return newTable(prices, aliases)
}

// Models returns the names the table prices (not their aliases), sorted. The
// caller may change the returned slice.
func (t *Table) Models() []string {
	if t == nil {
		return nil
	}
	return slices.Clone(t.models)
}

// Lookup returns the price of model. It tries the name as given, then
// normalizes it: lowercase; no "ft:" fine-tune (those cost more than their
// base and are never guessed); provider prefixes dropped one path segment at
// a time ("openai/gpt-4o", "models/gemini-2.5-flash"); and, for each of
// those, decorations removed one at a time: Bedrock region and vendor
// prefixes ("us.anthropic."), ":0" and "@20241022" version suffixes, "[1m]",
// "-latest", dated snapshots ("-2024-08-06", "-20250514", "-2411", "-001")
// and "-v2". The first name found wins, so an exact snapshot entry beats its
// base model. Claude names spelled with dots ("claude-3.5-sonnet") also match.
func (t *Table) Lookup(model string) (Price, bool) {
	if t == nil {
		return Price{}, false
	}
	if p, ok := t.find(model); ok {
		return p, true
	}
	name := key(model)
	if name == "" || strings.HasPrefix(name, "ft:") {
		return Price{}, false
	}
	for {
		if p, ok := t.resolve(name); ok {
			return p, true
		}
		i := strings.IndexByte(name, '/')
		if i < 0 {
			return Price{}, false
		}
		name = name[i+1:]
	}
}

// Cost returns what usage u of model cost in USD (see Price.Cost). ok is
// false when the table has no price for model: the caller records the cost
// as unknown, never as 0. A cost the upstream reports itself is the caller's
// to prefer.
func (t *Table) Cost(model string, u switchboard.Usage) (usd float64, ok bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// MaxCost returns the most a request for model with promptTokens prompt
// tokens and a completion limit of maxOutputTokens (0: none) can cost, for
// budget reservations (see Price.MaxCost). ok is false for an unpriced model.
func (t *Table) MaxCost(model string, promptTokens, maxOutputTokens int) (float64, bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.MaxCost(promptTokens, maxOutputTokens), true
}

// find looks name up exactly, as a model or as an alias.
func (t *Table) find(name string) (Price, bool) {
	if p, ok := t.prices[name]; ok {
		return p, true
	}
	if c, ok := t.aliases[name]; ok {
		return t.prices[c], true
	}
	return Price{}, false
}

// resolve looks up name, then name with its decorations removed one at a
// time, and returns the first price found.
func (t *Table) resolve(name string) (Price, bool) {
	for {
		if p, ok := t.find(name); ok {
			return p, true
		}
		next, ok := undecorate(name)
		if !ok {
			return Price{}, false
		}
		name = next
	}
}

// key is the form names are stored in: trimmed and lowercase.
func key(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}
