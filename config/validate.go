package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Allowed values, listed in messages in this order.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	drivers    = []string{"postgres", "sqlite"}
	nameRE     = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
)

// Validate checks the whole configuration and returns errors.Join of every
// problem, each prefixed with the file and line (or --set flag, or
// environment variable) it came from when known, then its YAML path:
//
//	gateway.yaml:7: log.level: invalid value "verbose" (allowed: debug, info, warn, error)
//
// providerTypes are the registered provider type names
// (switchboard.Providers.Names()); if nil, provider types are not checked.
// Plugin-specific keys are checked by the plugins' own decoders.
func (c *Config) Validate(providerTypes []string) error {
	v := &validator{c: c}

	s := c.Server
	if err := checkHostPort(s.Listen); err != nil {
		v.add("server.listen", "%v", err)
	}
	if s.MaxBodyBytes <= 0 {
		v.add("server.max_body_bytes", "must be positive, got %d", s.MaxBodyBytes)
	}
	if s.MaxInFlight <= 0 {
		v.add("server.max_in_flight", "must be positive, got %d", s.MaxInFlight)
	}
	v.nonNegative("server.shutdown_grace", s.ShutdownGrace)
	v.nonNegative("server.read_header_timeout", s.ReadHeaderTimeout)
	v.nonNegative("server.idle_timeout", s.IdleTimeout)

	v.oneOf("storage.driver", c.Storage.Driver, drivers)
	if strings.TrimSpace(c.Storage.DSN) == "" {
		v.add("storage.dsn", "required")
	}

	v.oneOf("log.level", c.Log.Level, logLevels)
	v.oneOf("log.format", c.Log.Format, logFormats)

	t := c.Tracing
	if t.Endpoint != "" {
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("tracing.endpoint", "must be an absolute http(s) URL, got %q", redactURL(t.Endpoint))
		}
		if strings.TrimSpace(t.ServiceName) == "" {
			v.add("tracing.service_name", "required when tracing.endpoint is set")
		}
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		v.add("tracing.sample_ratio", "must be between 0 and 1, got %v", t.SampleRatio)
	}
	for _, h := range slices.Sorted(maps.Keys(t.Headers)) {
		if !validHeaderName(h) {
			v.add("tracing.headers."+h, "invalid header name %q", h)
		}
	}

	r := c.Recorder
	if r.QueueSize <= 0 {
		v.add("recorder.queue_size", "must be positive, got %d", r.QueueSize)
	}
	if r.BatchSize <= 0 {
		v.add("recorder.batch_size", "must be positive, got %d", r.BatchSize)
	} else if r.QueueSize > 0 && r.BatchSize > r.QueueSize {
		v.add("recorder.batch_size", "must not exceed recorder.queue_size (%d), got %d", r.QueueSize, r.BatchSize)
	}
	if r.FlushInterval <= 0 {
		v.add("recorder.flush_interval", "must be positive, got %s", r.FlushInterval)
	}

	if c.Server.ShedLatency < 0 {
		v.add("server.shed_latency", "must be 0 (off) or positive, got %s", c.Server.ShedLatency)
	}
	if c.Prompts.Poll <= 0 {
		v.add("prompts.poll", "must be positive, got %s", c.Prompts.Poll)
	}
	if c.Experiments.Interval <= 0 {
		v.add("experiments.interval", "must be positive, got %s", c.Experiments.Interval)
	}
	if c.Experiments.Refresh <= 0 {
		v.add("experiments.refresh", "must be positive, got %s", c.Experiments.Refresh)
	}

	v.providers(providerTypes)
	v.models()
	v.cache()
	v.tenants()
	if err := v.c.Pricing.Validate(); err != nil {
		v.errs = append(v.errs, err)
	}
	return errors.Join(v.errs...)
}

// validator collects the problems Validate finds.
type validator struct {
	c    *Config
	errs []error
}

// add records a problem with the value at path; the position is the first
// of path and its parents that is known.
func (v *validator) add(path, format string, args ...any) {
	v.addAt(path, path, format, args...)
}

// addAt is add with the position looked up under another path.
func (v *validator) addAt(at, path, format string, args ...any) {
	pos := ""
	for p := at; p != "" && pos == ""; p = parent(p) {
		pos = v.c.pos[p]
	}
	v.errs = append(v.errs, &posError{pos: pos, msg: path + ": " + fmt.Sprintf(format, args...)})
}

// parent drops the last element of a YAML path.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func (v *validator) oneOf(path, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		v.add(path, "invalid value %q (allowed: %s)", value, strings.Join(allowed, ", "))
	}
}

func (v *validator) nonNegative(path string, d time.Duration) {
	if d < 0 {
		v.add(path, "must not be negative, got %s", d)
	}
}

func (v *validator) providers(types []string) {
	known := slices.Sorted(slices.Values(types))
	seen := map[string]bool{}
	for _, p := range v.c.Providers {
		path := "providers." + p.Name
		switch {
		case !nameRE.MatchString(p.Name):
			v.addAt(path, "providers", "invalid provider name %q (allowed characters: letters, digits, _ . -)", p.Name)
		case seen[p.Name]:
			v.add(path, "provider %q is defined more than once", p.Name)
		}
		seen[p.Name] = true
		switch {
		case p.Type == "":
			v.add(path+".type", "required (known: %s)", listOrNone(known))
		case types != nil && !slices.Contains(types, p.Type):
			v.add(path+".type", "unknown provider type %q (known: %s)", p.Type, listOrNone(known))
		}
		v.nonNegative(path+".timeouts.connect", p.Timeouts.Connect)
		v.nonNegative(path+".timeouts.first_byte", p.Timeouts.FirstByte)
		v.nonNegative(path+".timeouts.idle", p.Timeouts.Idle)
		v.nonNegative(path+".timeouts.total", p.Timeouts.Total)
		v.nonNegative(path+".breaker.cooldown", p.Breaker.Cooldown)
		if p.Breaker.Failures < 0 || p.Breaker.Failures > 1000 {
			v.add(path+".breaker.failures", "must be between 1 and 1000, got %d", p.Breaker.Failures)
		}
		if p.Breaker.Probes < 0 || p.Breaker.Probes > 100 {
			v.add(path+".breaker.probes", "must be between 1 and 100, got %d", p.Breaker.Probes)
		}
	}
}

func (v *validator) models() {
	var configured []string
	for _, p := range v.c.Providers {
		configured = append(configured, p.Name)
	}
	slices.Sort(configured)
	seen := map[string]bool{}
	for _, m := range v.c.Models {
		path := "models." + m.Name
		switch {
		case strings.TrimSpace(m.Name) == "":
			v.addAt(path, "models", "a model name must not be empty")
		case seen[m.Name]:
			v.add(path, "model %q is defined more than once", m.Name)
		}
		seen[m.Name] = true
		if len(m.Routes) == 0 {
			v.add(path+".routes", "at least one route is required")
		}
		if m.Cache != nil {
			if m.Cache.Mode != "" && !slices.Contains(CacheModes, m.Cache.Mode) {
				v.add(path+".cache.mode", "invalid value %q (allowed: %s)", m.Cache.Mode, strings.Join(CacheModes, ", "))
			}
			v.nonNegative(path+".cache.ttl", m.Cache.TTL)
		}
		if m.Strategy != "" && !slices.Contains(Strategies, m.Strategy) {
			v.add(path+".strategy", "invalid value %q (allowed: %s)", m.Strategy, strings.Join(Strategies, ", "))
		}
		if m.Retry.Attempts < 0 || m.Retry.Attempts > 20 {
			v.add(path+".retry.attempts", "must be between 1 and 20, got %d", m.Retry.Attempts)
		}
		v.nonNegative(path+".retry.backoff", m.Retry.Backoff)
		v.nonNegative(path+".retry.max_backoff", m.Retry.MaxBackoff)
		v.nonNegative(path+".hedge.min_delay", m.Hedge.MinDelay)
		if m.Hedge.Quantile < 0 || m.Hedge.Quantile >= 1 {
			v.add(path+".hedge.quantile", "must be in (0, 1), got %g", m.Hedge.Quantile)
		}
		for i, f := range m.Fallbacks {
			fp := fmt.Sprintf("%s.fallbacks[%d]", path, i)
			for _, on := range f.On {
				if !slices.Contains(FallbackClasses, on) {
					v.add(fp+".on", "invalid error class %q (allowed: %s)", on, strings.Join(FallbackClasses, ", "))
				}
			}
			if len(f.To) == 0 {
				v.add(fp+".to", "at least one model is required")
			}
			for _, to := range f.To {
				if v.c.model(to) == nil {
					v.add(fp+".to", "unknown model %q (models are defined under models:)", to)
				} else if to == m.Name {
					v.add(fp+".to", "a model cannot fall back to itself")
				}
			}
		}
		for i, r := range m.Routes {
			if r.Weight < 0 {
				v.add(fmt.Sprintf("%s.routes[%d].weight", path, i), "must not be negative, got %d", r.Weight)
			}
			rp := fmt.Sprintf("%s.routes[%d].provider", path, i)
			switch {
			case r.Provider == "":
				v.add(rp, "required (configured: %s)", listOrNone(configured))
			case v.c.provider(r.Provider) == nil:
				v.add(rp, "unknown provider %q (configured: %s)", r.Provider, listOrNone(configured))
			}
		}
	}
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// checkHostPort reports whether s is host:port with a numeric port; the
// host may be empty (all interfaces).
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be host:port, like 127.0.0.1:8080 or :8080, got %q", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q of %q must be a number from 0 to 65535", port, s)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host %q in %q", host, s)
	}
	return nil
}

// validHeaderName reports whether s is an HTTP header field name (a token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func (v *validator) cache() {
	c := v.c.Cache
	if !slices.Contains(CacheModes, c.Mode) {
		v.add("cache.mode", "invalid value %q (allowed: %s)", c.Mode, strings.Join(CacheModes, ", "))
	}
	if c.TTL <= 0 {
		v.add("cache.ttl", "must be positive, got %s", c.TTL)
	}
	if c.MaxTTL < c.TTL {
		v.add("cache.max_ttl", "must be at least cache.ttl (%s), got %s", c.TTL, c.MaxTTL)
	}
	for name, tp := range c.Tenants {
		if tp.Mode != "" && !slices.Contains(CacheModes, tp.Mode) {
			v.add("cache.tenants."+name+".mode", "invalid value %q (allowed: %s)", tp.Mode, strings.Join(CacheModes, ", "))
		}
		v.nonNegative("cache.tenants."+name+".ttl", tp.TTL)
	}
	s := c.Semantic
	if s.Threshold <= 0 || s.Threshold > 1 {
		v.add("cache.semantic.threshold", "must be in (0, 1], got %g", s.Threshold)
	}
	if s.Embedder != "local" && v.c.model(s.Embedder) == nil {
		v.add("cache.semantic.embedder", "must be \"local\" or a model defined under models:, got %q", s.Embedder)
	}
	if c.Enabled && len(c.Tiers) == 0 {
		v.add("cache", "enabled, but no tier configured: add memory: {}, disk: {…} or redis: {url: …}")
	}
}
