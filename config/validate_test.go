package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		sets []string
		env  map[string]string
		want []string // one line per problem; empty means valid
	}{
		{"example", exampleYAML, nil, nil, nil},
		{"tenants ok", "tenants:\n  acme:\n    keys: [sk-acme-0123456789abcdef]\n    scopes: [inference, read-only]\n    limits: {rpm: 600, tpm: 200000, concurrency: 20}\n    budget: {daily_usd: 50, monthly_usd: 1000, action: block, alert_at: [0.5, 0.8, 1.0]}\n", nil, nil, nil},
		{"tenant key too short", "tenants:\n  acme:\n    keys: [short]\n", nil, nil,
			[]string{`a.yaml:3: tenants.acme.keys[0]: too short: an API key needs at least 16 characters (got 5); generate one with ` + "`switchboard keys generate`"}},
		{"tenant key from unset env", "tenants:\n  acme:\n    keys: ['${ACME_KEY:-}']\n", nil, nil,
			[]string{`a.yaml:3: tenants.acme.keys[0]: empty key (is the environment variable set?)`}},
		{"tenant key duplicated", "tenants:\n  a: {keys: [sk-0123456789abcdef0]}\n  b: {keys: [sk-0123456789abcdef0]}\n", nil, nil,
			[]string{`a.yaml:3: tenants.b.keys[0]: the same key is also given at tenants.a.keys[0]`}},
		{"tenant unknown scope", "tenants:\n  acme: {scopes: [write]}\n", nil, nil,
			[]string{`a.yaml:2: tenants.acme.scopes[0]: unknown scope "write" (allowed: inference, admin, read-only)`}},
		{"tenant negative limit", "tenants:\n  acme:\n    limits: {rpm: -1}\n", nil, nil,
			[]string{`a.yaml:3: tenants.acme.limits.rpm: must not be negative, got -1 (0 or absent means no limit)`}},
		{"tenant absurd limit", "tenants:\n  acme:\n    limits: {concurrency: 50000000}\n", nil, nil,
			[]string{`a.yaml:3: tenants.acme.limits.concurrency: 50000000 is more than the most allowed (1000000); is there a typo?`}},
		{"tenant bad budget", "tenants:\n  acme:\n    budget: {daily_usd: -5, action: warn, alert_at: [80]}\n", nil, nil, []string{
			`a.yaml:3: tenants.acme.budget.daily_usd: must not be negative, got -5 (0 or absent means no cap)`,
			`a.yaml:3: tenants.acme.budget.action: invalid value "warn" (allowed: block, alert)`,
			`a.yaml:3: tenants.acme.budget.alert_at[0]: must be a fraction of the budget in (0, 10] (0.8 = 80 %), got 80`,
		}},
		{"rolling budget without window", "budgets:\n  global: {rolling_usd: 5}\n", nil, nil,
			[]string{`a.yaml:2: budgets.global.rolling_window: required with rolling_usd (e.g. 24h, 168h)`}},
		{"budget timezone", "budgets: {timezone: Mars/Olympus}", nil, nil,
			[]string{`a.yaml:1: budgets.timezone: unknown time zone "Mars/Olympus" (use an IANA name such as UTC or Europe/Paris)`}},
		{"notifier", "budgets:\n  notifiers: [{type: email}, {type: webhook, url: 'ftp://x'}]\n", nil, nil, []string{
			`a.yaml:2: budgets.notifiers[0].type: invalid value "email" (allowed: log, webhook, slack)`,
			`a.yaml:2: budgets.notifiers[1].url: must be an absolute http(s) URL`,
		}},
		{"provider limits", "providers:\n  p:\n    type: mock\n    limits: {tpm: -3}\n    queue: -1s\n", nil, nil, []string{
			`a.yaml:4: providers.p.limits.tpm: must not be negative, got -3 (0 or absent means no limit)`,
			`a.yaml:5: providers.p.queue: must not be negative, got -1s`,
		}},
		{"redis url", "redis: {url: 'http://x'}", nil, nil, []string{`a.yaml:1: redis.url: must be a redis://, rediss:// or unix:// URL`}},
		{"log level", "log:\n  level: verbose\n", nil, nil,
			[]string{`a.yaml:2: log.level: invalid value "verbose" (allowed: debug, info, warn, error)`}},
		{"log format", "log: {format: xml}", nil, nil,
			[]string{`a.yaml:1: log.format: invalid value "xml" (allowed: text, json)`}},
		{"driver", "storage:\n  driver: mysql\n", nil, nil,
			[]string{`a.yaml:2: storage.driver: invalid value "mysql" (allowed: postgres, sqlite)`}},
		{"empty dsn", "storage: {dsn: ''}", nil, nil, []string{`a.yaml:1: storage.dsn: required`}},
		{"listen without port", "server: {listen: localhost}", nil, nil,
			[]string{`a.yaml:1: server.listen: must be host:port, like 127.0.0.1:8080 or :8080, got "localhost"`}},
		{"listen bad port", "server: {listen: ':http'}", nil, nil,
			[]string{`a.yaml:1: server.listen: port "http" of ":http" must be a number from 0 to 65535`}},
		{"listen from env", "", nil, map[string]string{"SWITCHBOARD_LISTEN": "8080"},
			[]string{`$SWITCHBOARD_LISTEN: server.listen: must be host:port, like 127.0.0.1:8080 or :8080, got "8080"`}},
		{"listen from --set", "", []string{"server.listen=nope"}, nil,
			[]string{`--set server.listen=…: server.listen: must be host:port, like 127.0.0.1:8080 or :8080, got "nope"`}},
		{"ipv6 listen", "server: {listen: '[::1]:8080'}", nil, nil, nil},
		{"max body", "server: {max_body_bytes: 0}", nil, nil, []string{`a.yaml:1: server.max_body_bytes: must be positive, got 0`}},
		{"max in flight", "server: {max_in_flight: -1}", nil, nil, []string{`a.yaml:1: server.max_in_flight: must be positive, got -1`}},
		{"negative duration", "server: {shutdown_grace: -1s}", nil, nil, []string{`a.yaml:1: server.shutdown_grace: must not be negative, got -1s`}},
		{"tracing endpoint relative", "tracing: {endpoint: /v1/traces}", nil, nil,
			[]string{`a.yaml:1: tracing.endpoint: must be an absolute http(s) URL, got "/v1/traces"`}},
		{"tracing endpoint scheme", "tracing: {endpoint: 'grpc://h:4317'}", nil, nil,
			[]string{`a.yaml:1: tracing.endpoint: must be an absolute http(s) URL, got "grpc://h:4317"`}},
		{"tracing endpoint ok", "tracing: {endpoint: 'http://otel:4318', headers: {Authorization: Bearer x}}", nil, nil, nil},
		{"tracing endpoint password not echoed", "tracing: {endpoint: 'ftp://u:hunter2@h'}", nil, nil,
			[]string{`a.yaml:1: tracing.endpoint: must be an absolute http(s) URL, got "ftp://u:REDACTED@h"`}},
		{"tracing header name", "tracing: {headers: {'a b': x}}", nil, nil, []string{`a.yaml:1: tracing.headers.a b: invalid header name "a b"`}},
		{"sample ratio", "tracing: {sample_ratio: 1.5}", nil, nil, []string{`a.yaml:1: tracing.sample_ratio: must be between 0 and 1, got 1.5`}},
		{"sample ratio NaN", "tracing: {sample_ratio: .nan}", nil, nil, []string{`a.yaml:1: tracing.sample_ratio: must be between 0 and 1, got NaN`}},
		{"recorder", "recorder: {queue_size: 0, batch_size: 0, flush_interval: 0s}", nil, nil, []string{
			`a.yaml:1: recorder.queue_size: must be positive, got 0`,
			`a.yaml:1: recorder.batch_size: must be positive, got 0`,
			`a.yaml:1: recorder.flush_interval: must be positive, got 0s`,
		}},
		{"batch over queue", "recorder: {queue_size: 10, batch_size: 20}", nil, nil,
			[]string{`a.yaml:1: recorder.batch_size: must not exceed recorder.queue_size (10), got 20`}},
		{"unknown provider type", "providers:\n  p:\n    type: opnai\n", nil, nil,
			[]string{`a.yaml:3: providers.p.type: unknown provider type "opnai" (known: mock, openai)`}},
		{"missing provider type", "providers:\n  p: {base_url: x}\n", nil, nil,
			[]string{`a.yaml:2: providers.p.type: required (known: mock, openai)`}},
		{"null provider block", "providers:\n  p:\n", nil, nil,
			[]string{`a.yaml:2: providers.p.type: required (known: mock, openai)`}},
		{"provider name", "providers:\n  'my provider': {type: mock}\n", nil, nil,
			[]string{`a.yaml:2: providers: invalid provider name "my provider" (allowed characters: letters, digits, _ . -)`}},
		{"provider timeouts", "providers:\n  p:\n    type: mock\n    timeouts: {idle: -1s}\n", nil, nil,
			[]string{`a.yaml:4: providers.p.timeouts.idle: must not be negative, got -1s`}},
		{"no routes", "providers: {p: {type: mock}}\nmodels:\n  m: {routes: []}\n", nil, nil,
			[]string{`a.yaml:3: models.m.routes: at least one route is required`}},
		{"null model", "models:\n  m:\n", nil, nil, []string{`a.yaml:2: models.m.routes: at least one route is required`}},
		{"unknown route provider", "providers: {upstream: {type: openai}, demo: {type: mock}}\nmodels:\n  m:\n    routes:\n      - provider: x\n", nil, nil,
			[]string{`a.yaml:5: models.m.routes[0].provider: unknown provider "x" (configured: demo, upstream)`}},
		{"route without provider", "providers: {p: {type: mock}}\nmodels:\n  m:\n    routes:\n      - model: x\n", nil, nil,
			[]string{`a.yaml:5: models.m.routes[0].provider: required (configured: p)`}},
		{"empty model name", "providers: {p: {type: mock}}\nmodels:\n  '': {routes: [{provider: p}]}\n", nil, nil,
			[]string{`a.yaml:3: models: a model name must not be empty`}},
		{"every problem reported", "log: {level: x, format: y}\nserver: {max_in_flight: 0}\n", nil, nil, []string{
			`a.yaml:2: server.max_in_flight: must be positive, got 0`,
			`a.yaml:1: log.level: invalid value "x" (allowed: debug, info, warn, error)`,
			`a.yaml:1: log.format: invalid value "y" (allowed: text, json)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.env, tc.sets, tc.body)
			err := c.Validate(knownTypes)
			var got []string
			if err != nil {
				got = strings.Split(stripDirs(err.Error()), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
		})
	}
}

func TestValidateInCode(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Providers = []*Provider{{Name: "a", Type: "mock"}, {Name: "a", Type: "mock"}, {Name: "b", Type: "x"}}
	c.Models = []*Model{
		{Name: "m", Routes: []Route{{Provider: "a"}}},
		{Name: "m", Routes: []Route{{Provider: "b", Model: "up"}}},
	}
	c.Recorder.FlushInterval = -time.Second
	err := c.Validate(nil) // nil: provider types are not checked
	want := []string{
		`recorder.flush_interval: must be positive, got -1s`,
		`providers.a: provider "a" is defined more than once`,
		`models.m: model "m" is defined more than once`,
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if err := Default().Validate(knownTypes); err != nil {
		t.Errorf("Default().Validate: got %v, want nil", err)
	}
}
