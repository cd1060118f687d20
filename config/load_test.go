package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInterpolate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOST": "10.0.0.1", "PORT": "9090", "EMPTY": ""}
	tests := []struct {
		name string
		body string
		want string // server.listen
	}{
		{"plain", "server: {listen: '${HOST}:${PORT}'}", "10.0.0.1:9090"},
		{"default used when unset", "server: {listen: '${NOPE:-0.0.0.0}:${PORT}'}", "0.0.0.0:9090"},
		{"default used when empty", "server: {listen: '${EMPTY:-1.2.3.4}:80'}", "1.2.3.4:80"},
		{"default ignored when set", "server: {listen: '${HOST:-x}:1'}", "10.0.0.1:1"},
		{"empty default", "server: {listen: '${NOPE:-}:1'}", ":1"},
		{"empty var without default", "server: {listen: '${EMPTY}:2'}", ":2"},
		{"escape", "server: {listen: '$${HOST}'}", "${HOST}"},
		{"dollar alone", "server: {listen: '$HOST$'}", "$HOST$"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, env, nil, tc.body)
			if got := c.Server.Listen; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInterpolateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"unset", "server:\n  listen: ${LISTEN_ADDR}\n",
			"a.yaml:2: environment variable LISTEN_ADDR is not set (write ${LISTEN_ADDR:-default} to give a default)"},
		{"each unset reported", "log: {level: ${A}}\n\nserver: {listen: ${B}}\n",
			"a.yaml:1: environment variable A is not set (write ${A:-default} to give a default)\n" +
				"a.yaml:3: environment variable B is not set (write ${B:-default} to give a default)"},
		{"in a comment too", "# ${SECRET_IN_COMMENT}\n", "a.yaml:1: environment variable SECRET_IN_COMMENT is not set"},
		{"unterminated", "server:\n  listen: ${HOST\n", `a.yaml:2: unterminated "${" (write "$${" for a literal "${")`},
		{"bad name", "server: {listen: ${1X}}\n", `a.yaml:1: invalid reference "${1X}" (want ${NAME} or ${NAME:-default}; write $${ for a literal ${)`},
		{"nested default", "server: {listen: '${A:-${B}}'}\n", `a.yaml:1: invalid reference "${A:-${B}": a default cannot contain "${"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := loadErr(t, nil, nil, tc.body); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want prefix %q", got, tc.want)
			}
		})
	}
}

func TestOverlay(t *testing.T) {
	t.Parallel()
	base := `server:
  listen: 127.0.0.1:8080
  max_in_flight: 100
log: {level: info, format: json}
providers:
  upstream: {type: openai, base_url: http://a/v1, timeouts: {connect: 1s, total: 1m}}
models:
  m: {routes: [{provider: upstream}, {provider: upstream, model: x}]}
`
	overlay := `server:
  listen: 0.0.0.0:9000
log:
providers:
  upstream: {timeouts: {total: 2m}}
  extra: {type: mock}
models:
  m: {routes: [{provider: extra}]}
`
	c := mustLoad(t, nil, nil, base, overlay)
	checks := []struct {
		name      string
		got, want any
	}{
		{"overridden key", c.Server.Listen, "0.0.0.0:9000"},
		{"sibling kept", c.Server.MaxInFlight, 100},
		{"null section keeps base", c.Log.Format, "json"},
		{"nested mapping merged", c.Providers[0].Timeouts.Connect, time.Second},
		{"nested key overridden", c.Providers[0].Timeouts.Total, 2 * time.Minute},
		{"untouched default", c.Providers[0].Timeouts.Idle, 60 * time.Second},
		{"provider added after", len(c.Providers), 2},
		{"provider order", c.Providers[1].Name, "extra"},
		{"sequence replaced", len(c.Models[0].Routes), 1},
		{"sequence content", c.Models[0].Routes[0].Provider, "extra"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	var up struct {
		BaseURL string `yaml:"base_url"`
	}
	if err := c.Providers[0].Decoder()(&up); err != nil || up.BaseURL != "http://a/v1" {
		t.Errorf("merged provider block: got %q, %v, want %q", up.BaseURL, err, "http://a/v1")
	}
}

func TestOverlayErrorNamesFile(t *testing.T) {
	t.Parallel()
	got := loadErr(t, nil, nil, "server: {listen: ':1'}\n", "\nserver:\n  lisen: :2\n")
	want := `b.yaml:3: unknown key "lisen" in server (allowed: allow_unauthenticated, idle_timeout, listen, max_body_bytes, max_in_flight, read_header_timeout, shed_latency, shutdown_grace)`
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		sets []string
		get  func(*Config) any
		want any
	}{
		{"string", "", []string{"server.listen=:9090"}, func(c *Config) any { return c.Server.Listen }, ":9090"},
		{"int", "", []string{"server.max_in_flight=10"}, func(c *Config) any { return c.Server.MaxInFlight }, 10},
		{"over a file", "server: {listen: ':1', max_in_flight: 5}", []string{"server.listen=:2"},
			func(c *Config) any { return fmt.Sprintf("%s %d", c.Server.Listen, c.Server.MaxInFlight) }, ":2 5"},
		{"later set wins", "", []string{"log.level=warn", "log.level=error"}, func(c *Config) any { return c.Log.Level }, "error"},
		{"creates nested keys", "", []string{"providers.demo.type=mock"},
			func(c *Config) any { return c.Providers[0].Name + "=" + c.Providers[0].Type }, "demo=mock"},
		{"flow value", "", []string{"models.m={routes: [{provider: demo}]}", "providers.demo={type: mock}"},
			func(c *Config) any { return c.Models[0].Routes[0].Provider }, "demo"},
		{"list index", "models: {m: {routes: [{provider: a}, {provider: b}]}}", []string{"models.m.routes[1].provider=c"},
			func(c *Config) any { return c.Models[0].Routes[1].Provider }, "c"},
		{"escaped dot", "", []string{`models.gpt-4\.1.routes=[{provider: x}]`},
			func(c *Config) any { return c.Models[0].Name }, "gpt-4.1"},
		{"empty value resets to default", "log: {level: debug}", []string{"log.level="}, func(c *Config) any { return c.Log.Level }, "info"},
		{"value with =", "", []string{"tracing.endpoint=http://h/?a=b"}, func(c *Config) any { return c.Tracing.Endpoint }, "http://h/?a=b"},
		{"duration", "", []string{"server.shutdown_grace=5s"}, func(c *Config) any { return c.Server.ShutdownGrace }, 5 * time.Second},
		{"byte size", "", []string{"server.max_body_bytes=1MiB"}, func(c *Config) any { return c.Server.MaxBodyBytes }, MiB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, nil, tc.sets, tc.body)
			if got := tc.get(c); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		set  string
		want string
	}{
		{"unknown key", "", "server.lisen=:1",
			`--set server.lisen=…: unknown key "lisen" in server (allowed: allow_unauthenticated, idle_timeout, listen, max_body_bytes, max_in_flight, read_header_timeout, shed_latency, shutdown_grace)`},
		{"unknown section", "", "sever.listen=:1", `--set sever.listen=…: unknown key "sever" (allowed: budgets, cache, experiments, limits, log, models, pricing, prompts, providers, recorder, redis, server, storage, tenants, tracing)`},
		{"wrong type", "", "server.max_in_flight=abc", `--set server.max_in_flight=…: server.max_in_flight: cannot use "abc" as an integer`},
		{"no equals", "", "server.listen", `--set server.listen: want path.to.key=value`},
		{"empty key", "", "server..listen=1", `--set server..listen=…: empty key in path "server..listen"`},
		{"through a scalar", "server: {listen: ':1'}", "server.listen.x=1", `--set server.listen.x=…: server.listen is a scalar, not a mapping`},
		{"index on a missing key", "", "server[0]=1", `--set server[0]=…: server is not set, so it has no [0]`},
		{"index on a mapping", "server: {}", "server[0]=1", `--set server[0]=…: server is a mapping, not a list`},
		{"index out of range", "models: {m: {routes: [{provider: a}]}}", "models.m.routes[3].provider=b", `--set models.m.routes[3].provider=…: models.m.routes has 1 items, no [3]`},
		{"bad yaml", "", "server.listen=[", `--set server.listen=…: invalid YAML: `},
		{"inside provider via decoder is not checked at load", "", "providers.demo.type=mock", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.want == "" {
				mustLoad(t, nil, []string{tc.set}, tc.body)
				return
			}
			if got := loadErr(t, nil, []string{tc.set}, tc.body); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want prefix %q", got, tc.want)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"top level", "server: {}\nsevrer: {}\n",
			`a.yaml:2: unknown key "sevrer" (allowed: budgets, cache, experiments, limits, log, models, pricing, prompts, providers, recorder, redis, server, storage, tenants, tracing)`},
		{"nested", "server:\n  listen: :1\n  lisen: :2\n",
			`a.yaml:3: unknown key "lisen" in server (allowed: allow_unauthenticated, idle_timeout, listen, max_body_bytes, max_in_flight, read_header_timeout, shed_latency, shutdown_grace)`},
		{"provider timeouts", "providers:\n  p:\n    type: mock\n    timeouts: {conect: 1s}\n",
			`a.yaml:4: unknown key "conect" in providers.p.timeouts (allowed: connect, first_byte, idle, total)`},
		{"model", "models:\n  m:\n    routes: []\n    descr: x\n",
			`a.yaml:4: unknown key "descr" in models.m (allowed: cache, count_fallbacks, description, fallbacks, hedge, limits, retry, routes, sticky, strategy)`},
		{"route", "models:\n  m:\n    routes:\n      - {provider: a, modle: b}\n",
			`a.yaml:4: unknown key "modle" in models.m.routes[0] (allowed: model, provider, weight)`},
		{"all reported", "log: {levle: x}\nrecorder: {size: 1}\n",
			`a.yaml:1: unknown key "levle" in log (allowed: content, flush_interval, format, level)` + "\n" +
				`a.yaml:2: unknown key "size" in recorder (allowed: batch_size, flush_interval, queue_size)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := loadErr(t, nil, nil, tc.body); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWrongTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"int", "server:\n  max_in_flight: abc\n", `a.yaml:2: server.max_in_flight: cannot use "abc" as an integer`},
		{"fractional int", "server: {max_in_flight: 1.5}", `a.yaml:1: server.max_in_flight: cannot use "1.5" as an integer`},
		{"quoted int", "server: {max_in_flight: '10'}", `a.yaml:1: server.max_in_flight: cannot use "10" as an integer`},
		{"int overflow", "server: {max_in_flight: 99999999999999999999}", `a.yaml:1: server.max_in_flight: cannot use "99999999999999999999" as an integer`},
		{"bool", "log: {content: yes}", `a.yaml:1: log.content: cannot use "yes" as a boolean (want true or false)`},
		{"float", "tracing: {sample_ratio: half}", `a.yaml:1: tracing.sample_ratio: cannot use "half" as a number`},
		{"duration", "server: {shutdown_grace: soon}", `a.yaml:1: server.shutdown_grace: cannot use "soon" as a duration (want a string like "30s", "1m30s" or "250ms")`},
		{"duration without unit", "server: {shutdown_grace: 30}", `a.yaml:1: server.shutdown_grace: cannot use "30" as a duration: a unit is required`},
		{"byte size", "server: {max_body_bytes: 8XB}", `a.yaml:1: server.max_body_bytes: invalid byte size "8XB" (want a number of bytes or a size like "512KiB", "8MiB", "1GB")`},
		{"string from list", "server: {listen: [a]}", `a.yaml:1: server.listen: cannot use a list as a string`},
		{"section scalar", "server: 8080", `a.yaml:1: server: cannot use "8080" as a mapping`},
		{"list as mapping", "models: {m: {routes: {provider: a}}}", `a.yaml:1: models.m.routes: cannot use a mapping as a list`},
		{"secret map", "tracing: {headers: [x]}", `a.yaml:1: tracing.headers: cannot use a list as a mapping`},
		{"providers not a mapping", "providers: [a, b]", `a.yaml:1: providers: cannot use a list as a mapping of names to entries`},
		{"provider block scalar", "providers:\n  p: openai\n", `a.yaml:2: providers.p: cannot use "openai" as a mapping`},
		{"provider type", "providers: {p: {type: [a]}}", `a.yaml:1: providers.p.type: cannot use a list as a string`},
		{"top level list", "- a\n- b\n", `a.yaml:1: the top level must be a mapping of sections (server:, providers:, …), got a list`},
		{"long value shortened", "server: {max_in_flight: " + strings.Repeat("é", 40) + "}", `a.yaml:1: server.max_in_flight: cannot use "` + strings.Repeat("é", 28) + `..." as an integer`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := loadErr(t, nil, nil, tc.body)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want prefix %q", got, tc.want)
			}
		})
	}
}

func TestYAMLStructure(t *testing.T) {
	t.Parallel()
	t.Run("anchors and merge keys", func(t *testing.T) {
		t.Parallel()
		c := mustLoad(t, nil, nil, `x-timeouts: &t {connect: 1s, total: 5m}
providers:
  a: {type: mock, timeouts: *t}
  b:
    <<: {type: openai, timeouts: {connect: 2s}}
    type: mock
models:
  m: &m {routes: [{provider: a}]}
  n: *m
`)
		got := []any{c.Providers[0].Timeouts.Connect, c.Providers[0].Timeouts.Total, c.Providers[1].Type, c.Providers[1].Timeouts.Connect, c.Models[1].Routes[0].Provider}
		want := []any{time.Second, 5 * time.Minute, "mock", 2 * time.Second, "a"}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("value %d: got %v, want %v", i, got[i], want[i])
			}
		}
	})
	tests := []struct {
		name string
		body string
		want string
	}{
		{"duplicate key", "server:\n  listen: :1\n  listen: :2\n", `a.yaml:3: duplicate key "listen" in server (first at line 2)`},
		// yaml.v3 reports the line of the enclosing construct here.
		{"syntax error", "server:\n  listen: :1\n\tbad: 1\n", `a.yaml:2: invalid YAML: found a tab character that violates indentation`},
		{"two documents", "server: {}\n---\nlog: {}\n", `a.yaml:2: a config file must hold one YAML document, found a second one`},
		{"alias cycle", "a: &a [*a]\n", `a.yaml:1: alias *a refers to a node that contains it`},
		{"billion laughs", laughs(), `too many alias expansions (more than 100000 nodes)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := loadErr(t, nil, nil, tc.body); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

// laughs returns a YAML "billion laughs" document.
func laughs() string {
	var b strings.Builder
	b.WriteString("x-0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("x-" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestEmptyFiles(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		c := mustLoad(t, nil, nil, body)
		if c.Server.Listen != defaultListen {
			t.Errorf("%q: got listen %q, want %q", body, c.Server.Listen, defaultListen)
		}
	}
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load([]string{filepath.Join(t.TempDir(), "nope.yaml")}, nil, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	body := "server: {listen: ':1'}\nstorage: {driver: postgres, dsn: 'postgres://file'}\nlog: {level: debug}\n"
	tests := []struct {
		name                          string
		env                           map[string]string
		listen, driver, dsn, logLevel string
	}{
		{"none", nil, ":1", "postgres", "postgres://file", "debug"},
		{"listen", map[string]string{"SWITCHBOARD_LISTEN": ":7"}, ":7", "postgres", "postgres://file", "debug"},
		{"empty is unset", map[string]string{"SWITCHBOARD_LISTEN": ""}, ":1", "postgres", "postgres://file", "debug"},
		{"log level", map[string]string{"SWITCHBOARD_LOG_LEVEL": "WARN"}, ":1", "postgres", "postgres://file", "warn"},
		{"postgres url", map[string]string{"SWITCHBOARD_DATABASE_URL": "postgres://u:p@db/sb"}, ":1", "postgres", "postgres://u:p@db/sb", "debug"},
		{"postgresql url", map[string]string{"SWITCHBOARD_DATABASE_URL": "postgresql://db/sb"}, ":1", "postgres", "postgresql://db/sb", "debug"},
		{"sqlite url", map[string]string{"SWITCHBOARD_DATABASE_URL": "sqlite://./x.db"}, ":1", "sqlite", "./x.db", "debug"},
		{"sqlite absolute", map[string]string{"SWITCHBOARD_DATABASE_URL": "sqlite:///var/x.db"}, ":1", "sqlite", "/var/x.db", "debug"},
		{"plain path", map[string]string{"SWITCHBOARD_DATABASE_URL": "/tmp/x.db"}, ":1", "sqlite", "/tmp/x.db", "debug"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.env, []string{"server.listen=:2"}, body)
			if tc.listen == ":1" {
				tc.listen = ":2" // --set wins over the file, env wins over --set
			}
			got := []string{c.Server.Listen, c.Storage.Driver, c.Storage.DSN, c.Log.Level}
			want := []string{tc.listen, tc.driver, tc.dsn, tc.logLevel}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("got %q, want %q", got, want)
					break
				}
			}
		})
	}
	t.Run("bad scheme", func(t *testing.T) {
		t.Parallel()
		got := loadErr(t, map[string]string{"SWITCHBOARD_DATABASE_URL": "mysql://u:hunter2@h/db"}, nil)
		want := `SWITCHBOARD_DATABASE_URL: unsupported scheme "mysql" (want postgres://, postgresql://, sqlite:// or a file path)`
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}
