// Package config loads the gateway's configuration: defaults, then YAML files
// with ${VAR} interpolation merged in order, then --set overrides, then
// environment overrides for deployment knobs, then zero-config providers.
// Decoding is strict everywhere: an unknown key is an error that names the
// file and line it came from.
//
// Plugin blocks (a provider entry, the storage block) are kept as YAML nodes
// and decoded by the plugin itself through a switchboard.Decoder, with the
// same strictness and the same error positions.
package config

import (
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/pricing"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of one gateway process.
type Config struct {
	// Server configures the HTTP listener.
	Server Server `yaml:"server"`
	// Storage selects and configures the database.
	Storage Storage `yaml:"storage"`
	// Log configures the process logger.
	Log Log `yaml:"log"`
	// Tracing configures OpenTelemetry export.
	Tracing Tracing `yaml:"tracing"`
	// Recorder configures the asynchronous writer of inference records.
	Recorder Recorder `yaml:"recorder"`
	// Cache configures the response cache.
	Cache Cache `yaml:"-"`
	// Pricing overrides and extends the shipped model price table.
	Pricing pricing.Config `yaml:"pricing"`
	// Redis is shared by replicas for rate limits and budgets.
	Redis Redis `yaml:"redis"`
	// Tenants are the tenants and API keys declared in configuration, by name.
	Tenants map[string]*Tenant `yaml:"tenants"`
	// Limits configures the global rate limit and token weights.
	Limits Limits `yaml:"limits"`
	// Budgets configures the global budget, its time zone and alert notifiers.
	Budgets Budgets `yaml:"budgets"`
	// Prompts configures the prompt registry.
	Prompts Prompts `yaml:"prompts"`
	// Experiments configures the monitor of experiments and canaries.
	Experiments Experiments `yaml:"experiments"`
	// Providers are the upstreams, from the mapping `providers: {name: {type: …}}`,
	// in file order.
	Providers []*Provider `yaml:"-"`
	// Models are the model names clients may ask for, from the mapping
	// `models: {name: {routes: […]}}`, in file order.
	Models []*Model `yaml:"-"`

	// pos maps a YAML path ("server.listen") to where its value came from
	// ("gateway.yaml:3", "--set server.listen=…", "$SWITCHBOARD_LISTEN").
	pos map[string]string
}

// Server configures the HTTP listener.
type Server struct {
	// Listen is the host:port to listen on.
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps the size of a request body.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxInFlight caps the requests served at once; requests beyond it are
	// shed with 503.
	MaxInFlight int `yaml:"max_in_flight"`
	// ShedLatency sheds new requests with 503 while the 90th percentile of
	// the Go scheduler's latency (how long runnable goroutines wait for a
	// CPU) over the last 100 ms exceeds it; 0 turns it off.
	ShedLatency time.Duration `yaml:"shed_latency"`
	// ShutdownGrace is how long in-flight requests may run after SIGTERM.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout bounds how long an idle keep-alive connection stays open.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AllowUnauthenticated lets the server listen on a non-loopback address
	// with no API key configured: anyone who reaches it may use it.
	AllowUnauthenticated bool `yaml:"allow_unauthenticated,omitempty"`
}

// Storage selects the database. Keys other than driver are the store
// plugin's own and are decoded by it through Decoder.
type Storage struct {
	// Driver names the store plugin: sqlite or postgres.
	Driver string `yaml:"driver"`
	// DSN locates the database: a file path for sqlite, a postgres:// URL for
	// postgres.
	DSN string `yaml:"dsn"`

	node *yaml.Node // the storage block as written, nil if absent
	src  *sources
}

// Log configures the process logger.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text (for development) or json (for production).
	Format string `yaml:"format"`
	// Content logs prompt and completion text when true.
	Content bool `yaml:"content"`
	// FlushInterval batches log writes: lines are written at most this
	// long after they were logged, in one syscall. 0 writes every line at once.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Tracing configures OpenTelemetry export over OTLP/HTTP.
type Tracing struct {
	// Endpoint is the OTLP/HTTP endpoint URL; empty turns tracing off.
	Endpoint string `yaml:"endpoint"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the fraction of traces kept, from 0 to 1.
	SampleRatio float64 `yaml:"sample_ratio"`
	// Headers are sent with every export request (typically credentials).
	Headers map[string]Secret `yaml:"headers"`
}

// Recorder configures the asynchronous, batched writer of inference records.
type Recorder struct {
	// QueueSize is the capacity of the queue in front of the database; a full
	// queue applies back-pressure.
	QueueSize int `yaml:"queue_size"`
	// BatchSize is the most records written in one transaction.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a record waits before its batch is written.
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Prompts configures the prompt registry.
type Prompts struct {
	// Dir is a folder of prompt files, or one YAML file (the seed layout
	// prompt_templates.yaml); empty serves the prompts made through the
	// admin API only.
	Dir string `yaml:"dir"`
	// Poll is how often the files and the store are checked for changes.
	Poll time.Duration `yaml:"poll"`
}

// Experiments configures the monitor of experiments and canaries.
type Experiments struct {
	// Interval is how often running experiments are evaluated (auto-stop,
	// auto-promote, canary rollback).
	Interval time.Duration `yaml:"interval"`
	// Refresh is how often each replica reloads the running experiments.
	Refresh time.Duration `yaml:"refresh"`
	// Notifiers are told about every automatic decision (a canary rolled
	// back or promoted, an experiment stopped or shipped).
	Notifiers []Notifier `yaml:"notifiers,omitempty"`
}

// Provider is one entry of the providers mapping: an upstream the gateway
// can route to. Keys other than type and timeouts belong to the provider
// plugin, which decodes them through Decoder.
type Provider struct {
	// Name is the key of the entry in the providers mapping.
	Name string `yaml:"-"`
	// Type names the provider plugin (openai, anthropic, mock, …).
	Type string `yaml:"type"`
	// Timeouts bound each call to this upstream.
	Timeouts switchboard.Timeouts `yaml:"timeouts"`
	// Breaker configures the circuit breaker of each deployment on this upstream.
	Breaker Breaker `yaml:"breaker"`
	// Limits keep the gateway under the upstream account's own limits
	// (requests and tokens per minute, concurrency), across every model.
	Limits switchboard.Limits `yaml:"limits"`
	// Queue is how long a request may wait for room under Limits before it
	// is refused (0: refuse at once, or fall back to another route).
	Queue time.Duration `yaml:"queue"`

	node *yaml.Node // the whole block as written, nil for providers made in code
	src  *sources
}

// Breaker configures a circuit breaker: after Failures consecutive failures
// (5xx, timeouts, connection errors) a deployment is skipped for Cooldown,
// then Probes requests test it (half-open) before it is trusted again.
type Breaker struct {
	// Disabled turns the breaker off.
	Disabled bool `yaml:"disabled,omitempty"`
	// Failures is the number of consecutive failures that opens the breaker.
	Failures int `yaml:"failures,omitempty"`
	// Cooldown is how long an open breaker stays open before probing.
	Cooldown time.Duration `yaml:"cooldown,omitempty"`
	// Probes is how many requests a half-open breaker lets through.
	Probes int `yaml:"probes,omitempty"`
}

// Model is one entry of the models mapping: a model name clients may ask for
// and the routes that serve it.
type Model struct {
	// Name is the key of the entry in the models mapping.
	Name string `yaml:"-"`
	// Description is a note for people reading the config or model listings.
	Description string `yaml:"description,omitempty"`
	// Routes are the deployments that serve this model.
	Routes []Route `yaml:"routes"`
	// Strategy orders the routes for each request: ordered (as written, the
	// default), weighted (random by weight), least_inflight, or latency
	// (lowest recent latency, an EWMA).
	Strategy string `yaml:"strategy,omitempty"`
	// Sticky makes the choice stable per unit (the x-switchboard-unit header
	// or the request's user field): the same unit gets the same deployment
	// while it is healthy.
	Sticky bool `yaml:"sticky,omitempty"`
	// Retry bounds the attempts across this model's routes.
	Retry Retry `yaml:"retry,omitempty"`
	// Fallbacks name other models to try, by error class, once every route
	// of this one failed.
	Fallbacks []Fallback `yaml:"fallbacks,omitempty"`
	// Hedge sends a second request to another route when the first is slow.
	Hedge Hedge `yaml:"hedge,omitempty"`
	// Cache overrides the response cache's policy for this model.
	Cache *ModelCache `yaml:"cache,omitempty"`
	// Limits are this model's rate limits across every tenant, counted
	// against the model that served each request.
	Limits switchboard.Limits `yaml:"limits,omitempty"`
	// CountFallbacks makes a fallback model's call, made for a request to
	// this model, count against this model's Limits too.
	CountFallbacks bool `yaml:"count_fallbacks,omitempty"`
}

// Route sends a model to one provider.
type Route struct {
	// Provider is the name of an entry in the providers mapping.
	Provider string `yaml:"provider"`
	// Model is the upstream's own model name; empty means the same as the
	// model's name.
	Model string `yaml:"model,omitempty"`
	// Weight is the route's share under the weighted strategy (default 1).
	Weight int `yaml:"weight,omitempty"`
}

// Retry bounds the attempts made for one request on one model.
type Retry struct {
	// Attempts is the most upstream calls made (first try included); the
	// default is one per route, and at least 2.
	Attempts int `yaml:"attempts,omitempty"`
	// Backoff is the base of the exponential backoff (full jitter) before a
	// route is tried again; default 100ms.
	Backoff time.Duration `yaml:"backoff,omitempty"`
	// MaxBackoff caps one wait; a Retry-After longer than this is not waited
	// for. Default 5s.
	MaxBackoff time.Duration `yaml:"max_backoff,omitempty"`
}

// Fallback sends a request that failed with one of the error classes On to
// the models To, in order.
type Fallback struct {
	// On lists error classes: rate_limited, server_error, timeout,
	// context_length_exceeded, content_filter. Default: rate_limited,
	// server_error, timeout.
	On []string `yaml:"on,omitempty,flow"`
	// To lists model names, tried in order.
	To []string `yaml:"to,flow"`
}

// Hedge configures hedged requests.
type Hedge struct {
	// Enabled turns hedging on for this model.
	Enabled bool `yaml:"enabled,omitempty"`
	// Quantile of a route's recent time to first byte after which a second
	// request is sent to another route (default 0.95).
	Quantile float64 `yaml:"quantile,omitempty"`
	// MinDelay is the least wait before hedging (default 10ms).
	MinDelay time.Duration `yaml:"min_delay,omitempty"`
}

// FallbackClasses are the error classes a Fallback may name.
var FallbackClasses = []string{"rate_limited", "server_error", "timeout", "context_length_exceeded", "content_filter"}

// Strategies are the values Model.Strategy may take.
var Strategies = []string{"ordered", "weighted", "least_inflight", "latency"}

// Default values, also documented in REFERENCE.md.
const (
	defaultListen      = "127.0.0.1:8080"
	defaultMaxBody     = 8 * MiB
	defaultMaxInFlight = 1024
	defaultDriver      = "sqlite"
	defaultDSN         = "./data/switchboard.db"
)

// defaultTimeouts are the timeouts of a provider that sets none.
var defaultTimeouts = switchboard.Timeouts{
	Connect:   10 * time.Second,
	FirstByte: 60 * time.Second,
	Idle:      60 * time.Second,
	Total:     10 * time.Minute,
}

// Default returns the configuration used when no file sets anything. It has
// no providers; Load adds the zero-config ones.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen:            defaultListen,
			MaxBodyBytes:      defaultMaxBody,
			MaxInFlight:       defaultMaxInFlight,
			ShutdownGrace:     30 * time.Second,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
		},
		Storage:     Storage{Driver: defaultDriver, DSN: defaultDSN},
		Log:         Log{Level: "info", Format: "text", FlushInterval: 100 * time.Millisecond},
		Cache:       Cache{TTL: 24 * time.Hour, MaxTTL: 7 * 24 * time.Hour, Mode: "deterministic", Semantic: SemanticCache{Threshold: 0.92, Embedder: "local"}},
		Tracing:     Tracing{ServiceName: "switchboard", SampleRatio: 1.0},
		Redis:       Redis{Prefix: "switchboard"},
		Limits:      Limits{TokenWeights: TokenWeights{Input: 1, Output: 1, Cached: 1}},
		Prompts:     Prompts{Poll: time.Second},
		Experiments: Experiments{Interval: time.Minute, Refresh: time.Second},
		Recorder: Recorder{
			QueueSize:     10000,
			BatchSize:     500,
			FlushInterval: 200 * time.Millisecond,
		},
	}
}

// provider returns the provider named name, or nil.
func (c *Config) provider(name string) *Provider {
	for _, p := range c.Providers {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Decoder returns a decoder that strictly decodes this provider's block,
// without the common keys type and timeouts, into the plugin's own config
// struct. Unknown keys and wrong types are errors that name the file and line.
func (p *Provider) Decoder() switchboard.Decoder {
	path := "providers." + p.Name
	return func(v any) error {
		body := withoutKeys(p.node, providerKeys...)
		return decodeInto(p.src, body, v, path, providerKeys)
	}
}

// providerKeys are the keys of a provider block that the gateway itself
// decodes; the plugin decodes the rest.
var providerKeys = []string{"breaker", "limits", "queue", "timeouts", "type"}

// Decoder returns a decoder that strictly decodes the storage block, without
// driver, into the store plugin's own config struct. The dsn key always holds
// the effective DSN, so environment overrides reach the plugin.
func (s *Storage) Decoder() switchboard.Decoder {
	return func(v any) error {
		body := withoutKeys(s.node, "driver", "dsn")
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "dsn"}
		dsn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.DSN}
		if k, v := lookup(s.node, "dsn"); k != nil && v.Value == s.DSN {
			key, dsn = k, v // unchanged since the file: keep its position
		}
		body.Content = append([]*yaml.Node{key, dsn}, body.Content...)
		return decodeInto(s.src, body, v, "storage", []string{"driver"})
	}
}

// withoutKeys returns a mapping node holding the pairs of n except those
// whose key is one of keys. n itself is not changed; a nil or non-mapping n
// gives an empty mapping (a non-mapping block was reported at load).
func withoutKeys(n *yaml.Node, keys ...string) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil {
			out.Line, out.Column = n.Line, n.Column
		}
		return out
	}
	out.Line, out.Column = n.Line, n.Column
	for i := 0; i+1 < len(n.Content); i += 2 {
		skip := false
		for _, k := range keys {
			if n.Content[i].Value == k {
				skip = true
				break
			}
		}
		if !skip {
			out.Content = append(out.Content, n.Content[i], n.Content[i+1])
		}
	}
	return out
}

// lookup returns the key and value nodes of key in mapping n, or nils.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// model returns the model named name, or nil.
func (c *Config) model(name string) *Model {
	for _, m := range c.Models {
		if m.Name == name {
			return m
		}
	}
	return nil
}
