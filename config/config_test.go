package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/switchboard-ai/switchboard"
)

// exampleYAML is the example of the brief and of REFERENCE.md.
const exampleYAML = `server: {listen: 127.0.0.1:8080}
storage: {driver: sqlite, dsn: ./data/switchboard.db}   # or driver: postgres, dsn: postgres://…
providers:
  upstream: {type: openai, base_url: http://127.0.0.1:9000/v1, api_key: ${OPENAI_API_KEY:-none}}
  demo:     {type: mock}
models:
  mock-model: {routes: [{provider: upstream, model: gpt-4o-mini}]}
`

// knownTypes stands for switchboard.Providers.Names() in tests.
var knownTypes = []string{"mock", "openai"}

// ignoreNodes compares configs by their exported fields.
var ignoreNodes = cmpopts.IgnoreUnexported(Config{}, Storage{}, Provider{})

// envOf returns an env lookup backed by kv.
func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

// mustWrite writes body to name in dir and returns the path.
func mustWrite(tb testing.TB, dir, name, body string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// mustLoad loads files given as bodies, named a.yaml, b.yaml, … in a temp dir.
func mustLoad(tb testing.TB, env map[string]string, sets []string, bodies ...string) *Config {
	tb.Helper()
	c, err := loadBodies(tb, env, sets, bodies...)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return c
}

func loadBodies(tb testing.TB, env map[string]string, sets []string, bodies ...string) (*Config, error) {
	tb.Helper()
	dir := tb.TempDir()
	var files []string
	for i, b := range bodies {
		files = append(files, mustWrite(tb, dir, string(rune('a'+i))+".yaml", b))
	}
	return Load(files, sets, envOf(env))
}

// loadErr loads and returns the error text with the temp dir stripped.
func loadErr(tb testing.TB, env map[string]string, sets []string, bodies ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	var files []string
	for i, b := range bodies {
		files = append(files, mustWrite(tb, dir, string(rune('a'+i))+".yaml", b))
	}
	_, err := Load(files, sets, envOf(env))
	if err == nil {
		tb.Fatalf("Load: got no error, want one")
	}
	return stripDirs(err.Error())
}

// tempPath matches the directory part of a test file's path.
var tempPath = regexp.MustCompile(`[^\s"]*` + regexp.QuoteMeta(string(filepath.Separator)) + `([a-z]\.yaml)`)

// stripDirs turns /tmp/…/a.yaml into a.yaml in an error message.
func stripDirs(s string) string { return tempPath.ReplaceAllString(s, "$1") }

func TestZeroConfig(t *testing.T) {
	t.Parallel()
	c, err := Load(nil, nil, envOf(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := c.Validate(knownTypes); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := &Config{
		Server: Server{
			Listen:            "127.0.0.1:8080",
			MaxBodyBytes:      8 << 20,
			MaxInFlight:       1024,
			ShutdownGrace:     30 * time.Second,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
		},
		Storage:     Storage{Driver: "sqlite", DSN: "./data/switchboard.db"},
		Log:         Log{Level: "info", Format: "text", FlushInterval: 100 * time.Millisecond},
		Tracing:     Tracing{ServiceName: "switchboard", SampleRatio: 1},
		Recorder:    Recorder{QueueSize: 10000, BatchSize: 500, FlushInterval: 200 * time.Millisecond},
		Cache:       Cache{TTL: 24 * time.Hour, MaxTTL: 7 * 24 * time.Hour, Mode: "deterministic", Semantic: SemanticCache{Threshold: 0.92, Embedder: "local"}},
		Redis:       Redis{Prefix: "switchboard"},
		Limits:      Limits{TokenWeights: TokenWeights{Input: 1, Output: 1, Cached: 1}},
		Prompts:     Prompts{Poll: time.Second},
		Experiments: Experiments{Interval: time.Minute, Refresh: time.Second},
		Providers: []*Provider{{Name: "mock", Type: "mock", Timeouts: switchboard.Timeouts{
			Connect: 10 * time.Second, FirstByte: 60 * time.Second, Idle: 60 * time.Second, Total: 10 * time.Minute,
		}}},
	}
	if diff := cmp.Diff(want, c, ignoreNodes); diff != "" {
		t.Errorf("zero config mismatch (-want +got):\n%s", diff)
	}
}

func TestZeroConfigProvidersFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		body string
		want []string // name=type
	}{
		{"nothing set", nil, "", []string{"mock=mock"}},
		{"all set", map[string]string{
			"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "OLLAMA_HOST": "127.0.0.1:11434",
		}, "", []string{"mock=mock", "openai=openai", "anthropic=anthropic", "ollama=ollama"}},
		{"empty values are unset", map[string]string{"OPENAI_API_KEY": ""}, "", []string{"mock=mock"}},
		{"empty providers mapping", map[string]string{"OPENAI_API_KEY": "sk-o"}, "providers: {}\n", []string{"mock=mock", "openai=openai"}},
		{"declared providers win", map[string]string{"OPENAI_API_KEY": "sk-o"}, "providers: {demo: {type: mock}}\n", []string{"demo=mock"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.env, nil, tc.body)
			var got []string
			for _, p := range c.Providers {
				got = append(got, p.Name+"="+p.Type)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("providers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZeroConfigProviderBlocks(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "OLLAMA_HOST": "127.0.0.1:11434",
	}, nil)
	type vendor struct {
		APIKey  Secret `yaml:"api_key"`
		BaseURL string `yaml:"base_url"`
	}
	want := map[string]vendor{
		"mock":      {},
		"openai":    {APIKey: "sk-o"},
		"anthropic": {APIKey: "sk-a"},
		"ollama":    {BaseURL: "http://127.0.0.1:11434"},
	}
	for _, p := range c.Providers {
		var got vendor
		if err := p.Decoder()(&got); err != nil {
			t.Fatalf("%s: Decoder: %v", p.Name, err)
		}
		if w := want[p.Name]; got.APIKey.Reveal() != w.APIKey.Reveal() || got.BaseURL != w.BaseURL {
			t.Errorf("%s: got api_key %q base_url %q, want %q and %q",
				p.Name, got.APIKey.Reveal(), got.BaseURL, w.APIKey.Reveal(), w.BaseURL)
		}
	}
}

func TestExample(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{nil, {"OPENAI_API_KEY": "sk-test"}} {
		c := mustLoad(t, env, nil, exampleYAML)
		if err := c.Validate(knownTypes); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		var names []string
		for _, p := range c.Providers {
			names = append(names, p.Name+"="+p.Type)
		}
		if diff := cmp.Diff([]string{"upstream=openai", "demo=mock"}, names); diff != "" {
			t.Errorf("providers (-want +got):\n%s", diff)
		}
		wantModels := []*Model{{Name: "mock-model", Routes: []Route{{Provider: "upstream", Model: "gpt-4o-mini"}}}}
		if diff := cmp.Diff(wantModels, c.Models); diff != "" {
			t.Errorf("models (-want +got):\n%s", diff)
		}

		var up struct {
			BaseURL string `yaml:"base_url"`
			APIKey  Secret `yaml:"api_key"`
		}
		if err := c.Providers[0].Decoder()(&up); err != nil {
			t.Fatalf("upstream Decoder: %v", err)
		}
		wantKey := "none"
		if k, ok := env["OPENAI_API_KEY"]; ok {
			wantKey = k
		}
		if up.BaseURL != "http://127.0.0.1:9000/v1" || up.APIKey.Reveal() != wantKey {
			t.Errorf("upstream: got base_url %q api_key %q, want %q and %q", up.BaseURL, up.APIKey.Reveal(), "http://127.0.0.1:9000/v1", wantKey)
		}
		var demo struct{}
		if err := c.Providers[1].Decoder()(&demo); err != nil {
			t.Errorf("demo Decoder: %v", err)
		}
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret Secret
		want   string
	}{
		{"set", "sk-123", "REDACTED"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.secret
			j, _ := s.MarshalJSON()
			y, _ := s.MarshalYAML()
			for what, got := range map[string]string{
				"String":      s.String(),
				"LogValue":    s.LogValue().String(),
				"MarshalJSON": string(j),
				"MarshalYAML": y.(string),
				"Sprintf %v":  strings.Trim(fmt.Sprintf("%v", struct{ K Secret }{s}), "{}"),
			} {
				want := tc.want
				if what == "MarshalJSON" {
					want = `"` + want + `"`
				}
				if got != want {
					t.Errorf("%s: got %q, want %q", what, got, want)
				}
			}
			if s.Reveal() != string(tc.secret) {
				t.Errorf("Reveal: got %q, want %q", s.Reveal(), string(tc.secret))
			}
		})
	}
}
