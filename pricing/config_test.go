package pricing

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// mustDecodeConfig strictly decodes a `pricing:` block the way config does.
func mustDecodeConfig(tb testing.TB, text string) Config {
	tb.Helper()
	var doc struct {
		Pricing Config `yaml:"pricing"`
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		tb.Fatalf("decode: %v", err)
	}
	return doc.Pricing
}

func TestConfigNew(t *testing.T) {
	t.Parallel()
	cfg := mustDecodeConfig(t, `
pricing:
  reject_unpriced: true
  models:
    my-model: {input: 1.0, output: 2.0, cached_input: 0.5}
    local-llama:
      input: 0
      output: 0
      context_window: 8192
      aliases: [llama-local]
    gpt-4o:
      input: 2.0
      output: 8.0
    big-prompt:
      input: 1
      output: 2
      long_context: {above: 1000, input: 2, output: 4}
`)
	if !cfg.RejectUnpriced {
		t.Error("reject_unpriced: got false, want true")
	}
	tbl, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		model string
		want  Price
	}{
		{"my-model", Price{Input: 1, Output: 2, CachedInput: 0.5}},
		{"llama-local", Price{ContextWindow: 8192}},
		{"gpt-4o-2024-11-20", Price{Input: 2, Output: 8, CachedInput: 2}},
		{"big-prompt", Price{Input: 1, Output: 2, CachedInput: 1, LongContext: Tier{Above: 1000, Input: 2, Output: 4, CachedInput: 2}}},
	}
	for _, tc := range tests {
		got, ok := tbl.Lookup(tc.model)
		if !ok {
			t.Errorf("Lookup(%q): unpriced", tc.model)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tc.model, diff)
		}
	}
	if _, ok := tbl.Lookup("claude-haiku-4-5"); !ok {
		t.Error("config models replaced the built-in table instead of adding to it")
	}
	if usd, ok := tbl.Cost("local-llama", usage(1000, 0, 1000)); !ok || usd != 0 {
		t.Errorf("a model priced at zero: Cost = %v, %v; want 0, true", usd, ok)
	}

	empty, err := New(Config{})
	if err != nil || empty != Default() {
		t.Errorf("New(Config{}) = %p, %v; want Default(), nil", empty, err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error; none = valid
	}{
		{"valid", `{models: {m: {input: 1, output: 2, cached_input: 0.1, max_output_tokens: 10, context_window: 100}}}`, nil},
		{"missing prices", `{models: {m: {context_window: 10}}}`, []string{
			"pricing.models.m.input: required", "pricing.models.m.output: required"}},
		{"negative", `{models: {m: {input: -1, output: 2}}}`, []string{"pricing.models.m.input: must not be negative"}},
		{"not a number", `{models: {m: {input: .nan, output: .inf}}}`, []string{
			"pricing.models.m.input: must be a finite number", "pricing.models.m.output: must be a finite number"}},
		{"cache dearer than input", `{models: {m: {input: 1, output: 2, cached_input: 2}}}`, []string{
			"pricing.models.m.cached_input: 2 is more than input 1"}},
		{"cache free on a paid model", `{models: {m: {input: 1, output: 2, cached_input: 0}}}`, []string{
			"pricing.models.m.cached_input: 0 would make cached tokens free"}},
		{"token limits", `{models: {m: {input: 1, output: 2, max_output_tokens: 200, context_window: 100}}}`, []string{
			"pricing.models.m.max_output_tokens: 200 is more than context_window 100"}},
		{"negative limits", `{models: {m: {input: 1, output: 2, max_output_tokens: -1, context_window: -1}}}`, []string{
			"max_output_tokens: must not be negative", "context_window: must not be negative"}},
		{"tier", `{models: {m: {input: 1, output: 2, long_context: {input: 2}}}}`, []string{
			"pricing.models.m.long_context.above: must be a positive token count",
			"pricing.models.m.long_context.output: required"}},
		{"case duplicates", `{models: {M: {input: 1, output: 1}, m: {input: 1, output: 1}}}`, []string{
			`pricing.models.m: "m" is also pricing.models.M`}},
		{"alias duplicates a model", `{models: {a: {input: 1, output: 1, aliases: [B]}, b: {input: 1, output: 1}}}`, []string{
			`"b" is also pricing.models.a.aliases[0]`}},
		{"empty names", `{models: {" ": {input: 1, output: 1}, m: {input: 1, output: 1, aliases: [""]}}}`, []string{
			"pricing.models: the model name is empty", "pricing.models.m.aliases[0]: the alias is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustDecodeConfig(t, "pricing: "+tc.yaml)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: got %q, want it to contain %q", err, w)
				}
			}
			if _, err := New(cfg); err == nil {
				t.Error("New accepted a config that Validate rejects")
			}
		})
	}
}

func TestConfigAliasOfBuiltinModel(t *testing.T) {
	t.Parallel()
	cfg := mustDecodeConfig(t, `pricing: {models: {mine: {input: 1, output: 1, aliases: [GPT-4o]}}}`)
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), `pricing.models.mine.aliases[0]: "GPT-4o" is a built-in model`) {
		t.Errorf("New: got %v, want an error about the built-in model", err)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string // want: substring of the error, "" = ok
	}{
		{"unknown key", "models: {m: {input: 1, output: 1, inptu: 2}}", "field inptu not found"},
		{"duplicate key", "models: {m: {input: 1, output: 1}, m: {input: 2, output: 2}}", "already defined"},
		{"bad entry", "models: {m: {input: 1}}", "models.m.output: required"},
		{"not yaml", "models: [", "did not find expected"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse([]byte(tc.text), "test.yaml")
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("parse: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("parse: got %v, want an error with %q", err, tc.want)
			case err != nil && !strings.HasPrefix(err.Error(), "pricing: test.yaml: "):
				t.Errorf("parse: error %q does not name the file", err)
			}
		})
	}
}
