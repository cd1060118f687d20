package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment variables read by Load.
const (
	envListen      = "SWITCHBOARD_LISTEN"
	envDatabaseURL = "SWITCHBOARD_DATABASE_URL"
	envLogLevel    = "SWITCHBOARD_LOG_LEVEL"
	envOpenAIKey   = "OPENAI_API_KEY"
	envAnthropic   = "ANTHROPIC_API_KEY"
	envOllamaHost  = "OLLAMA_HOST"
)

// applyEnv applies the deployment overrides, which win over files and --set.
// An empty variable counts as unset.
func applyEnv(c *Config, env func(string) (string, bool)) error {
	get := func(name string) string {
		v, _ := env(name)
		return strings.TrimSpace(v)
	}
	if v := get(envListen); v != "" {
		c.Server.Listen = v
		c.pos["server.listen"] = "$" + envListen
	}
	if v := get(envDatabaseURL); v != "" {
		driver, dsn, err := parseDatabaseURL(v)
		if err != nil {
			return fmt.Errorf("%s: %w", envDatabaseURL, err)
		}
		c.Storage.Driver, c.Storage.DSN = driver, dsn
		c.pos["storage.driver"] = "$" + envDatabaseURL
		c.pos["storage.dsn"] = "$" + envDatabaseURL
	}
	if v := get(envLogLevel); v != "" {
		c.Log.Level = strings.ToLower(v)
		c.pos["log.level"] = "$" + envLogLevel
	}
	return nil
}

// parseDatabaseURL derives the storage driver from a database URL:
// postgres:// and postgresql:// select postgres (the URL is the DSN);
// sqlite://PATH and a plain PATH select sqlite (the DSN is PATH).
func parseDatabaseURL(u string) (driver, dsn string, err error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "sqlite", u, nil
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return "postgres", u, nil
	case "sqlite", "sqlite3":
		if rest == "" {
			return "", "", fmt.Errorf("sqlite:// needs a file path, as in sqlite://./data/switchboard.db")
		}
		return "sqlite", rest, nil
	}
	// Only the scheme is echoed: the rest may hold a password.
	return "", "", fmt.Errorf("unsupported scheme %q (want postgres://, postgresql://, sqlite:// or a file path)", scheme)
}

// addZeroConfig adds the providers of a config that declares none: the mock,
// plus one per vendor whose credentials are in the environment.
func addZeroConfig(c *Config, src *sources, env func(string) (string, bool)) {
	if len(c.Providers) > 0 {
		return
	}
	add := func(name, from string, kv ...string) {
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		kv = append([]string{"type", name}, kv...)
		for _, s := range kv {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
		}
		o := origin{name: "zero-config provider " + name}
		if from != "" {
			o.name = "$" + from
			c.pos["providers."+name] = o.name
		}
		src.mark(n, o)
		c.Providers = append(c.Providers, &Provider{Name: name, Type: name, Timeouts: defaultTimeouts, node: n, src: src})
	}
	get := func(name string) string {
		v, _ := env(name)
		return strings.TrimSpace(v)
	}
	add("mock", "")
	if key := get(envOpenAIKey); key != "" {
		add("openai", envOpenAIKey, "api_key", key)
	}
	if key := get(envAnthropic); key != "" {
		add("anthropic", envAnthropic, "api_key", key)
	}
	if host := get(envOllamaHost); host != "" {
		if !strings.Contains(host, "://") {
			host = "http://" + host // OLLAMA_HOST is often host:port
		}
		add("ollama", envOllamaHost, "base_url", host)
	}
}
