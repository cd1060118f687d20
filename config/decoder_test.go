package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// pluginConfig is a provider plugin's own config, exercising every kind the
// strict decoder supports.
type pluginConfig struct {
	BaseURL   string            `yaml:"base_url"`
	APIKey    Secret            `yaml:"api_key"`
	Retries   *int              `yaml:"retries"`
	Backoff   time.Duration     `yaml:"backoff"`
	MaxBody   ByteSize          `yaml:"max_body"`
	Models    []string          `yaml:"models"`
	Headers   map[string]string `yaml:"headers"`
	Addr      netip.Addr        `yaml:"addr"` // encoding.TextUnmarshaler
	Extra     any               `yaml:"extra"`
	TLS       *tlsConfig        `yaml:"tls"`
	MaxTokens int               `yaml:"max_tokens"`
	Embedded  `yaml:",inline"`
	Ignored   string `yaml:"-"`
}

type tlsConfig struct {
	CAFile string `yaml:"ca_file"`
	Skip   bool   `yaml:"insecure_skip_verify"`
}

// Embedded is inlined into pluginConfig.
type Embedded struct {
	Region string `yaml:"region"`
}

const pluginYAML = `providers:
  up:
    type: openai
    timeouts: {total: 1m}
    base_url: http://h/v1
    api_key: sk-1
    retries: 3
    backoff: 250ms
    max_body: 1KiB
    models: [a, b]
    headers: {X-A: "1"}
    addr: 10.0.0.1
    extra: {k: [1, 2]}
    tls:
      ca_file: /ca.pem
      insecure_skip_verify: true
    region: eu
`

func TestProviderDecoder(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, nil, nil, pluginYAML)
	var got pluginConfig
	if err := c.Providers[0].Decoder()(&got); err != nil {
		t.Fatalf("Decoder: %v", err)
	}
	three := 3
	want := pluginConfig{
		BaseURL: "http://h/v1", APIKey: "sk-1", Retries: &three, Backoff: 250 * time.Millisecond, MaxBody: KiB,
		Models: []string{"a", "b"}, Headers: map[string]string{"X-A": "1"}, Addr: netip.MustParseAddr("10.0.0.1"),
		Extra: map[string]any{"k": []any{1, 2}}, TLS: &tlsConfig{CAFile: "/ca.pem", Skip: true},
		Embedded: Embedded{Region: "eu"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

func TestProviderDecoderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
		sets  []string
		want  string
	}{
		{"unknown key", []string{"providers:\n  up:\n    type: openai\n    base_ur: http://h\n"}, nil,
			`a.yaml:4: unknown key "base_ur" in providers.up (allowed: addr, api_key, backoff, base_url, breaker, extra, headers, limits, max_body, max_tokens, models, queue, region, retries, timeouts, tls, type)`},
		{"unknown nested key", []string{"providers:\n  up:\n    type: openai\n    tls:\n      ca: x\n"}, nil,
			`a.yaml:5: unknown key "ca" in providers.up.tls (allowed: ca_file, insecure_skip_verify)`},
		{"unknown key in overlay", []string{"providers: {up: {type: openai}}\n", "providers:\n  up:\n    modles: [a]\n"}, nil,
			`b.yaml:3: unknown key "modles" in providers.up (allowed:`},
		{"unknown key from --set", nil, []string{"providers.up.type=openai", "providers.up.bas_url=x"},
			`--set providers.up.bas_url=…: unknown key "bas_url" in providers.up (allowed:`},
		{"wrong type", []string{"providers:\n  up:\n    type: openai\n    retries: many\n"}, nil,
			`a.yaml:4: providers.up.retries: cannot use "many" as an integer`},
		{"wrong type in list", []string{"providers:\n  up:\n    type: openai\n    models: [a, [b]]\n"}, nil,
			`a.yaml:4: providers.up.models[1]: cannot use a list as a string`},
		{"text unmarshaler", []string{"providers:\n  up:\n    type: openai\n    addr: not-an-ip\n"}, nil,
			`a.yaml:4: providers.up.addr: ParseAddr("not-an-ip"): unable to parse IP`},
		{"all reported, sensitive values not echoed", []string{"providers:\n  up:\n    type: openai\n    max_tokens: sk-live\n    api_key: [x]\n"}, nil,
			"a.yaml:4: providers.up.max_tokens: cannot use \"REDACTED\" as an integer\n" +
				"a.yaml:5: providers.up.api_key: cannot use a list as a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadBodies(t, nil, tc.sets, tc.files...)
			if err != nil {
				t.Fatalf("Load: %v (plugin keys must be checked by the plugin, not at load)", err)
			}
			var pc pluginConfig
			err = c.Providers[0].Decoder()(&pc)
			if err == nil {
				t.Fatalf("Decoder: got no error, want %q", tc.want)
			}
			if got := stripDirs(err.Error()); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want prefix %q", got, tc.want)
			}
		})
	}
}

func TestDecoderTargets(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, nil, nil, "providers: {up: {type: openai, a: 1, b: x}}")
	dec := c.Providers[0].Decoder()
	var m map[string]any
	if err := dec(&m); err != nil {
		t.Fatalf("decode into map: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"a": 1, "b": "x"}, m); diff != "" {
		t.Errorf("map (-want +got):\n%s", diff)
	}
	var s struct{ A int }
	if err := dec(s); err == nil || !strings.Contains(err.Error(), "want a non-nil pointer") {
		t.Errorf("decode into non-pointer: got %v, want a non-nil pointer error", err)
	}
	p := &Provider{Name: "code", Type: "mock"} // made in code, no block
	var empty struct{ A int }
	if err := p.Decoder()(&empty); err != nil {
		t.Errorf("decoder of a provider made in code: got %v, want nil", err)
	}
}

func TestDecoderConcurrent(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, nil, nil, pluginYAML)
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			var pc pluginConfig
			errs <- c.Providers[0].Decoder()(&pc)
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("Decoder: %v", err)
		}
	}
}

func TestStorageDecoder(t *testing.T) {
	t.Parallel()
	type sqliteConfig struct {
		DSN         string `yaml:"dsn"`
		JournalMode string `yaml:"journal_mode"`
	}
	body := "storage:\n  driver: sqlite\n  dsn: ./a.db\n  journal_mode: wal\n"
	tests := []struct {
		name string
		env  map[string]string
		body string
		want sqliteConfig
		err  string
	}{
		{"from file", nil, body, sqliteConfig{DSN: "./a.db", JournalMode: "wal"}, ""},
		{"env dsn reaches plugin", map[string]string{"SWITCHBOARD_DATABASE_URL": "sqlite://./b.db"}, body, sqliteConfig{DSN: "./b.db", JournalMode: "wal"}, ""},
		{"defaults", nil, "", sqliteConfig{DSN: "./data/switchboard.db"}, ""},
		{"unknown key", nil, "storage:\n  driver: sqlite\n  jurnal_mode: wal\n", sqliteConfig{},
			`a.yaml:3: unknown key "jurnal_mode" in storage (allowed: driver, dsn, journal_mode)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.env, nil, tc.body)
			var got sqliteConfig
			err := c.Storage.Decoder()(&got)
			if tc.err != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
					t.Errorf("got %v, want suffix %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decoder: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
