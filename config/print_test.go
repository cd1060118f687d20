package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPrintExample(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{"OPENAI_API_KEY": "sk-live-123"}, nil, exampleYAML)
	var b bytes.Buffer
	if err := c.Print(&b); err != nil {
		t.Fatalf("Print: %v", err)
	}
	want := `server:
  listen: 127.0.0.1:8080
  max_body_bytes: 8MiB
  max_in_flight: 1024
  shed_latency: 0s
  shutdown_grace: 30s
  read_header_timeout: 10s
  idle_timeout: 2m0s
storage:
  driver: sqlite
  dsn: ./data/switchboard.db
log:
  level: info
  format: text
  content: false
  flush_interval: 100ms
tracing:
  endpoint: ""
  service_name: switchboard
  sample_ratio: 1
  headers: {}
recorder:
  queue_size: 10000
  batch_size: 500
  flush_interval: 200ms
cache:
  enabled: false
  ttl: 24h0m0s
  max_ttl: 168h0m0s
  mode: deterministic
  semantic:
    enabled: false
    threshold: 0.92
    embedder: local
    shadow: false
providers:
  upstream:
    type: openai
    timeouts:
      connect: 10s
      first_byte: 1m0s
      idle: 1m0s
      total: 10m0s
    base_url: http://127.0.0.1:9000/v1
    api_key: REDACTED
  demo:
    type: mock
    timeouts:
      connect: 10s
      first_byte: 1m0s
      idle: 1m0s
      total: 10m0s
models:
  mock-model:
    routes:
      - provider: upstream
        model: gpt-4o-mini
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("Print (-want +got):\n%s", diff)
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OPENAI_API_KEY":    "sk-openai-zero",
		"ANTHROPIC_API_KEY": "sk-ant-zero",
	}
	tests := []struct {
		name    string
		body    string
		secrets []string // must not appear
		masked  []string // lines that must appear
	}{
		{"zero config", "", []string{"sk-openai-zero", "sk-ant-zero"}, []string{"    api_key: REDACTED"}},
		{"provider keys", `providers:
  p:
    type: openai
    api_key: sk-file-1
    headers: {Authorization: Bearer sk-file-2, X-Api-Key: sk-file-3, Accept: json}
    client_secret: sk-file-4
    tokens: [sk-file-5, sk-file-6]
    db_password: sk-file-7
    empty_key: ""
    base_url: https://user:sk-file-8@host/v1
`, []string{"sk-file-"}, []string{
			"    api_key: REDACTED",
			"    headers: {Authorization: REDACTED, X-Api-Key: REDACTED, Accept: json}",
			"    client_secret: REDACTED",
			"    tokens: [REDACTED, REDACTED]",
			"    db_password: REDACTED",
			`    empty_key: ""`,
			"    base_url: https://user:REDACTED@host/v1",
		}},
		{"tracing headers", "tracing: {endpoint: 'http://otel:4318', headers: {Authorization: Bearer sk-h, X-Empty: ''}}",
			[]string{"sk-h"}, []string{"    Authorization: REDACTED", `    X-Empty: ""`}},
		{"storage dsn url", "storage: {driver: postgres, dsn: 'postgres://app:sk-db@db:5432/sb'}",
			[]string{"sk-db"}, []string{"  dsn: postgres://app:REDACTED@db:5432/sb"}},
		{"storage dsn key=value", "storage: {driver: postgres, dsn: 'host=db user=app password=sk-db dbname=sb', auth_token: sk-tok}",
			[]string{"sk-db", "sk-tok"}, []string{"  dsn: host=db user=app password=REDACTED dbname=sb", "  auth_token: REDACTED"}},
		{"comments dropped", "providers:\n  p: {type: mock}  # old key: sk-comment\n", []string{"sk-comment"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, env, nil, tc.body)
			var b bytes.Buffer
			if err := c.Print(&b); err != nil {
				t.Fatalf("Print: %v", err)
			}
			out := b.String()
			for _, s := range tc.secrets {
				if strings.Contains(out, s) {
					t.Errorf("output contains secret %q:\n%s", s, out)
				}
			}
			for _, line := range tc.masked {
				if !strings.Contains(out, line+"\n") {
					t.Errorf("output lacks line %q:\n%s", line, out)
				}
			}
		})
	}
}

func TestPrintRoundTrip(t *testing.T) {
	t.Parallel()
	body := exampleYAML + `log: {level: debug, format: json, content: true}
tracing: {endpoint: 'https://otel:4318/v1/traces', sample_ratio: 0.25}
recorder: {flush_interval: 1s}
`
	body = strings.Replace(body, "server: {listen: 127.0.0.1:8080}", "server: {listen: ':9999', max_body_bytes: 1000000, max_in_flight: 7}", 1)
	c := mustLoad(t, nil, []string{"models.other.routes=[{provider: demo}]", "models.other.description=plain"}, body)
	var b bytes.Buffer
	if err := c.Print(&b); err != nil {
		t.Fatalf("Print: %v", err)
	}
	again := mustLoad(t, nil, nil, b.String())
	if diff := cmp.Diff(c, again, ignoreNodes, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Load(Print(c)) differs from c (-want +got):\n%s", diff)
	}
	var b2 bytes.Buffer
	if err := again.Print(&b2); err != nil {
		t.Fatalf("Print: %v", err)
	}
	if diff := cmp.Diff(b.String(), b2.String()); diff != "" {
		t.Errorf("second Print differs (-want +got):\n%s", diff)
	}
}
