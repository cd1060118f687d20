package pricing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Config is the `pricing:` block of the gateway config:
//
//	pricing:
//	  reject_unpriced: false
//	  models:
//	    my-model: {input: 1.0, output: 2.0, cached_input: 0.5}
type Config struct {
	// Models adds models to the embedded table or replaces their prices,
	// keyed by model name (case-insensitive).
	Models map[string]Entry `yaml:"models,omitempty"`
	// RejectUnpriced asks the gateway to refuse requests for a model the
	// table cannot price, instead of serving them and recording no cost.
	RejectUnpriced bool `yaml:"reject_unpriced,omitempty"`
}

// Entry is one model's price as written in YAML, in USD per 1M tokens.
type Entry struct {
	// Input is the price of a prompt token; required.
	Input *float64 `yaml:"input"`
	// Output is the price of a completion token; required (0 for
	// embedding models).
	Output *float64 `yaml:"output"`
	// CachedInput is the price of a prompt token read from the vendor's
	// cache; absent means Input.
	CachedInput *float64 `yaml:"cached_input,omitempty"`
	// MaxOutputTokens is the most completion tokens one request can produce.
	MaxOutputTokens int `yaml:"max_output_tokens,omitempty"`
	// ContextWindow is the prompt plus completion tokens the model accepts.
	ContextWindow int `yaml:"context_window,omitempty"`
	// LongContext prices a whole request whose prompt is longer than its
	// Above tokens.
	LongContext *TierEntry `yaml:"long_context,omitempty"`
	// Aliases are other names for this model.
	Aliases []string `yaml:"aliases,omitempty,flow"`
}

// TierEntry is a long-context tier as written in YAML (see Tier).
type TierEntry struct {
	// Above is the prompt length in tokens past which the tier applies.
	Above int `yaml:"above"`
	// Input is the price of a prompt token in the tier; required.
	Input *float64 `yaml:"input"`
	// Output is the price of a completion token in the tier; required.
	Output *float64 `yaml:"output"`
	// CachedInput is the price of a cached prompt token in the tier;
	// absent means Input.
	CachedInput *float64 `yaml:"cached_input,omitempty"`
}

// New returns the embedded table with the models of cfg on top, after
// checking them with Validate. A configured model replaces the built-in one
// of the same name; a configured alias may not be the name of a built-in
// model (configure that model itself instead).
func New(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base := Default()
	if len(cfg.Models) == 0 {
		return base, nil
	}
	prices := maps.Clone(base.prices)
	aliases := maps.Clone(base.aliases)
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.Models)) {
		e := cfg.Models[name]
		prices[key(name)] = e.Price()
		for i, a := range e.Aliases {
			if _, builtin := base.prices[key(a)]; builtin {
				errs = append(errs, fmt.Errorf("pricing.models.%s.aliases[%d]: %q is a built-in model; configure it as a model of its own to change its price", name, i, a))
				continue
			}
			aliases[key(a)] = key(name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return newTable(prices, aliases), nil
}

// Validate reports every problem in c, each prefixed with its YAML path
// ("pricing.models.my-model.input: must not be negative"), joined.
func (c *Config) Validate() error {
	return validateModels("pricing.models", c.Models)
}

// Price returns the Price that e describes. It does not check e.
func (e Entry) Price() Price {
	p := Price{
		Input:           deref(e.Input),
		Output:          deref(e.Output),
		CachedInput:     deref(e.CachedInput),
		MaxOutputTokens: e.MaxOutputTokens,
		ContextWindow:   e.ContextWindow,
	}
	if t := e.LongContext; t != nil {
		p.LongContext = Tier{
			Above:       t.Above,
			Input:       deref(t.Input),
			Output:      deref(t.Output),
			CachedInput: deref(t.CachedInput),
		}
	}
	return p.normalized()
}

// validateModels checks a models mapping, names included.
func validateModels(path string, models map[string]Entry) error {
	var errs []error
	seen := map[string]string{} // lowercase name or alias → as written
	claim := func(name, where string) {
		k := key(name)
		if prev, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("%s: %q is also %s (names are case-insensitive)", where, name, prev))
			return
		}
		seen[k] = where
	}
	for _, name := range slices.Sorted(maps.Keys(models)) {
		p := path + "." + name
		if key(name) == "" {
			errs = append(errs, fmt.Errorf("%s: the model name is empty", path))
			continue
		}
		claim(name, p)
		e := models[name]
		errs = append(errs, e.validate(p))
		for i, a := range e.Aliases {
			ap := fmt.Sprintf("%s.aliases[%d]", p, i)
			if key(a) == "" {
				errs = append(errs, fmt.Errorf("%s: the alias is empty", ap))
				continue
			}
			claim(a, ap)
		}
	}
	return errors.Join(errs...)
}

// validate checks one entry; path is its YAML path.
func (e Entry) validate(path string) error {
	var errs []error
	errs = append(errs,
		checkPrice(path+".input", e.Input, true),
		checkPrice(path+".output", e.Output, true),
		checkPrice(path+".cached_input", e.CachedInput, false),
		checkCached(path, e.Input, e.CachedInput),
	)
	if e.MaxOutputTokens < 0 {
		errs = append(errs, fmt.Errorf("%s.max_output_tokens: must not be negative, got %d", path, e.MaxOutputTokens))
	}
	if e.ContextWindow < 0 {
		errs = append(errs, fmt.Errorf("%s.context_window: must not be negative, got %d", path, e.ContextWindow))
	}
	if e.MaxOutputTokens > 0 && e.ContextWindow > 0 && e.MaxOutputTokens > e.ContextWindow {
		errs = append(errs, fmt.Errorf("%s.max_output_tokens: %d is more than context_window %d", path, e.MaxOutputTokens, e.ContextWindow))
	}
	if t := e.LongContext; t != nil {
		tp := path + ".long_context"
		if t.Above <= 0 {
			errs = append(errs, fmt.Errorf("%s.above: must be a positive token count, got %d", tp, t.Above))
		}
		errs = append(errs,
			checkPrice(tp+".input", t.Input, true),
			checkPrice(tp+".output", t.Output, true),
			checkPrice(tp+".cached_input", t.CachedInput, false),
			checkCached(tp, t.Input, t.CachedInput),
		)
	}
	return errors.Join(errs...)
}

// checkPrice checks one price field.
func checkPrice(path string, v *float64, required bool) error {
	switch {
	case v == nil && required:
		return fmt.Errorf("%s: required", path)
	case v == nil:
		return nil
	case math.IsNaN(*v) || math.IsInf(*v, 0):
		return fmt.Errorf("%s: must be a finite number", path)
	case *v < 0:
		return fmt.Errorf("%s: must not be negative, got %g", path, *v)
	}
	return nil
}

// checkCached checks that a cache price is no higher than the input price,
// and that 0 is not used to mean "no cache price" for a paid model.
func checkCached(path string, input, cached *float64) error {
	if input == nil || cached == nil {
		return nil
	}
	switch {
	case *cached > *input:
		return fmt.Errorf("%s.cached_input: %g is more than input %g", path, *cached, *input)
	case *cached == 0 && *input > 0:
		return fmt.Errorf("%s.cached_input: 0 would make cached tokens free; leave it out to charge them at the input price", path)
	}
	return nil
}

// file is the layout of prices.yaml.
type file struct {
	Models map[string]Entry `yaml:"models"`
}

// parse decodes and checks a price file; name prefixes its errors.
func parse(data []byte, name string) (*Table, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("pricing: %s: %w", name, err)
	}
	if err := validateModels("models", f.Models); err != nil {
		return nil, fmt.Errorf("pricing: %s: %w", name, err)
	}
	prices := make(map[string]Price, len(f.Models))
	aliases := map[string]string{}
	for n, e := range f.Models {
		prices[key(n)] = e.Price()
		for _, a := range e.Aliases {
			aliases[key(a)] = key(n)
		}
	}
	return newTable(prices, aliases), nil
}

// deref returns *v, or 0 for nil.
func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}
