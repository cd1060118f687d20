package config

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Redis locates the Redis server that replicas share for rate limits and
// budgets. Absent (no url), limits and budgets are kept in this process.
type Redis struct {
	// URL is a redis:// or rediss:// URL.
	URL Secret `yaml:"url"`
	// Prefix starts every key Switchboard writes (default "switchboard").
	Prefix string `yaml:"prefix"`
}

// Tenant is one entry of the tenants mapping: a customer, team or
// application, with the API keys that act for it.
type Tenant struct {
	// Name is the key of the entry in the tenants mapping.
	Name string `yaml:"-"`
	// Keys are API keys (typically ${ENV} references) that authenticate as
	// this tenant. More keys can be created at run time.
	Keys []Secret `yaml:"keys,omitempty"`
	// Scopes of the configured keys: inference (default), admin, read-only.
	Scopes []string `yaml:"scopes,omitempty,flow"`
	// Models, when set, are the only model names the configured keys may call.
	Models []string `yaml:"models,omitempty,flow"`
	// Limits are the tenant's rate limits, shared by all its keys.
	Limits switchboard.Limits `yaml:"limits,omitempty"`
	// Budget caps the tenant's spend.
	Budget switchboard.Budget `yaml:"budget,omitempty"`
}

// Limits configures rate limiting beyond the per-tenant, per-model and
// per-provider limits written on those entries.
type Limits struct {
	// Global limits the whole gateway (every tenant together).
	Global switchboard.Limits `yaml:"global,omitempty"`
	// TokenWeights weigh the tokens counted against tokens-per-minute limits.
	TokenWeights TokenWeights `yaml:"token_weights,omitempty"`
}

// TokenWeights weigh input, output and cached input tokens in token limits.
type TokenWeights struct {
	Input  float64 `yaml:"input"`
	Output float64 `yaml:"output"`
	Cached float64 `yaml:"cached"`
}

// Budgets configures spend budgets beyond the per-tenant ones.
type Budgets struct {
	// Global caps the spend of the whole gateway.
	Global switchboard.Budget `yaml:"global,omitempty"`
	// Timezone is the IANA zone calendar windows (daily, monthly) follow;
	// default UTC.
	Timezone string `yaml:"timezone,omitempty"`
	// Notifiers receive budget alerts.
	Notifiers []Notifier `yaml:"notifiers,omitempty"`
}

// Notifier is where budget alerts go.
type Notifier struct {
	// Type is log, webhook or slack (a Slack-compatible incoming webhook).
	Type string `yaml:"type"`
	// URL receives the POST for webhook and slack.
	URL Secret `yaml:"url,omitempty"`
	// Headers are added to each webhook request (e.g. Authorization).
	Headers map[string]Secret `yaml:"headers,omitempty"`
}

// NotifierTypes are the values Notifier.Type may take.
var NotifierTypes = []string{"log", "webhook", "slack"}

// MinKeyLength is the shortest API key accepted in configuration.
const MinKeyLength = 16

// Location returns the zone of calendar budget windows.
func (b Budgets) Location() *time.Location {
	if b.Timezone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil {
		return time.UTC // Validate reported it
	}
	return loc
}

// TenantNames returns the configured tenant names, sorted.
func (c *Config) TenantNames() []string { return slices.Sorted(maps.Keys(c.Tenants)) }

func (v *validator) limits(path string, l switchboard.Limits) {
	for _, p := range l.Problems() {
		v.add(path+"."+p.Field, "%s", p.Message)
	}
}

func (v *validator) budget(path string, b switchboard.Budget) {
	for _, p := range b.Problems() {
		v.add(path+"."+p.Field, "%s", p.Message)
	}
}

func (v *validator) tenants() {
	seen := map[string]string{}
	for _, name := range v.c.TenantNames() {
		t := v.c.Tenants[name]
		path := "tenants." + name
		if !nameRE.MatchString(name) {
			v.addAt(path, "tenants", "invalid tenant name %q (allowed characters: letters, digits, _ . -)", name)
		}
		for i, k := range t.Keys {
			kp := fmt.Sprintf("%s.keys[%d]", path, i)
			key := k.Reveal()
			switch {
			case key == "":
				v.add(kp, "empty key (is the environment variable set?)")
			case len(key) < MinKeyLength:
				v.add(kp, "too short: an API key needs at least %d characters (got %d); generate one with `switchboard keys generate`", MinKeyLength, len(key))
			case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
				v.add(kp, "must be printable ASCII without spaces")
			case seen[key] != "":
				v.add(kp, "the same key is also given at %s", seen[key])
			}
			if key != "" {
				seen[key] = kp
			}
		}
		for i, s := range t.Scopes {
			if !slices.Contains(switchboard.Scopes, s) {
				v.add(fmt.Sprintf("%s.scopes[%d]", path, i), "unknown scope %q (allowed: %s)", s, strings.Join(switchboard.Scopes, ", "))
			}
		}
		for i, m := range t.Models {
			if v.c.model(m) == nil && !strings.Contains(m, "/") {
				v.add(fmt.Sprintf("%s.models[%d]", path, i), "unknown model %q (models are defined under models:)", m)
			}
		}
		v.limits(path+".limits", t.Limits)
		v.budget(path+".budget", t.Budget)
	}
	v.limits("limits.global", v.c.Limits.Global)
	w := v.c.Limits.TokenWeights
	for _, f := range []struct {
		name string
		x    float64
	}{{"input", w.Input}, {"output", w.Output}, {"cached", w.Cached}} {
		if math.IsNaN(f.x) || f.x < 0 || f.x > 100 {
			v.add("limits.token_weights."+f.name, "must be between 0 and 100, got %v", f.x)
		}
	}
	v.budget("budgets.global", v.c.Budgets.Global)
	if tz := v.c.Budgets.Timezone; tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			v.add("budgets.timezone", "unknown time zone %q (use an IANA name such as UTC or Europe/Paris)", tz)
		}
	}
	v.notifiers("budgets.notifiers", v.c.Budgets.Notifiers)
	v.notifiers("experiments.notifiers", v.c.Experiments.Notifiers)
	for _, p := range v.c.Providers {
		v.limits("providers."+p.Name+".limits", p.Limits)
		v.nonNegative("providers."+p.Name+".queue", p.Queue)
	}
	for _, m := range v.c.Models {
		v.limits("models."+m.Name+".limits", m.Limits)
	}
	if u := v.c.Redis.URL.Reveal(); u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "redis" && pu.Scheme != "rediss" && pu.Scheme != "unix") {
			v.add("redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
	}
}

// notifiers checks a list of alert notifiers.
func (v *validator) notifiers(path string, ns []Notifier) {
	for i, n := range ns {
		np := fmt.Sprintf("%s[%d]", path, i)
		if !slices.Contains(NotifierTypes, n.Type) {
			v.add(np+".type", "invalid value %q (allowed: %s)", n.Type, strings.Join(NotifierTypes, ", "))
			continue
		}
		if n.Type == "log" {
			continue
		}
		if u, err := url.Parse(n.URL.Reveal()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(np+".url", "must be an absolute http(s) URL")
		}
		for h := range n.Headers {
			if !validHeaderName(h) {
				v.add(np+".headers."+h, "invalid header name %q", h)
			}
		}
	}
}
