package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCacheSection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noEnv := func(string) (string, bool) { return "", false }
	good := write("good.yaml", `
cache:
  enabled: true
  ttl: 1h
  redis: {url: redis://127.0.0.1:6379/0}
  memory: {max_bytes: 64MiB}
  semantic: {enabled: true, threshold: 0.98}
models:
  m: {routes: [{provider: mock}], cache: {mode: always, ttl: 10m}}
`)
	c, err := Load([]string{good}, nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(nil); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, tr := range c.Cache.Tiers {
		types = append(types, tr.Type)
	}
	if strings.Join(types, ",") != "memory,redis" {
		t.Errorf("got tiers %v, want memory,redis (fastest first, whatever the file order)", types)
	}
	var mem struct {
		MaxBytes ByteSize `yaml:"max_bytes"`
	}
	if err := c.Cache.Tiers[0].Decoder()(&mem); err != nil || mem.MaxBytes != 64*MiB {
		t.Errorf("memory tier decoded %v %v", mem, err)
	}
	var strict struct {
		Other string `yaml:"other"`
	}
	if err := c.Cache.Tiers[0].Decoder()(&strict); err == nil || !strings.Contains(err.Error(), "good.yaml:6") {
		t.Errorf("got %v, want an unknown-key error at good.yaml:6", err)
	}
	if c.Models[0].Cache == nil || c.Models[0].Cache.Mode != "always" {
		t.Errorf("model cache policy %+v", c.Models[0].Cache)
	}

	tests := []struct{ name, body, want string }{
		{"unknown key", "cache: {enabeld: true}\n", `unknown key "enabeld" in cache`},
		{"bad mode", "cache: {mode: sometimes, memory: {}}\n", `cache.mode: invalid value "sometimes"`},
		{"no tier", "cache: {enabled: true}\n", "no tier configured"},
		{"bad threshold", "cache: {semantic: {threshold: 1.5}}\n", "cache.semantic.threshold"},
		{"bad embedder", "cache: {semantic: {embedder: nope}}\n", "cache.semantic.embedder"},
		{"bad tenant mode", "cache: {tenants: {acme: {mode: never}}}\n", `cache.tenants.acme.mode: invalid value "never"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load([]string{write(tc.name+".yaml", tc.body)}, nil, noEnv)
			if err == nil {
				err = c.Validate(nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}
