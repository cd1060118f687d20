package switchboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Limits are rate limits at one scope. A zero field is no limit.
type Limits struct {
	// RPM is requests per minute.
	RPM int64 `json:"rpm,omitempty" yaml:"rpm,omitempty"`
	// TPM is tokens per minute (input + output, weighted per the token
	// weights configured under limits).
	TPM int64 `json:"tpm,omitempty" yaml:"tpm,omitempty"`
	// Concurrency is the number of requests in flight at once.
	Concurrency int64 `json:"concurrency,omitempty" yaml:"concurrency,omitempty"`
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l.RPM == 0 && l.TPM == 0 && l.Concurrency == 0 }

// Budget caps spend at one scope. A zero amount is no cap for that window.
type Budget struct {
	DailyUSD   float64 `json:"daily_usd,omitempty" yaml:"daily_usd,omitempty"`
	MonthlyUSD float64 `json:"monthly_usd,omitempty" yaml:"monthly_usd,omitempty"`
	// RollingUSD caps spend over the last RollingWindow (e.g. 24h, 7d).
	RollingUSD    float64       `json:"rolling_usd,omitempty" yaml:"rolling_usd,omitempty"`
	RollingWindow time.Duration `json:"rolling_window,omitempty" yaml:"rolling_window,omitempty"`
	// Action is "block" (429 insufficient_quota once spent) or "alert"
	// (notify only). Empty means block.
	Action string `json:"action,omitempty" yaml:"action,omitempty"`
	// AlertAt are fractions of each cap (0.5, 0.8, 1.0) at which notifiers
	// are told, once per window and threshold.
	AlertAt []float64 `json:"alert_at,omitempty" yaml:"alert_at,omitempty"`
}

// IsZero reports whether no cap is set.
func (b Budget) IsZero() bool { return b.DailyUSD == 0 && b.MonthlyUSD == 0 && b.RollingUSD == 0 }

// Key scopes.
const (
	ScopeInference = "inference" // call /v1 inference routes
	ScopeAdmin     = "admin"     // everything, including the admin API
	ScopeReadOnly  = "read-only" // GET routes of the admin API (usage, stats)
)

// Tenant is a customer, team or application: the unit limits, budgets,
// cache namespaces and usage reports are kept for.
type Tenant struct {
	Name   string `json:"name"`
	Limits Limits `json:"limits"`
	Budget Budget `json:"budget"`
	// Source is "config" for tenants declared in the configuration file
	// (read-only at run time) and "api" for those created through the
	// admin API or the CLI.
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// APIKey is an API key's record. The key itself is never stored: Hash is
// the hex SHA-256 of it, and Prefix its first characters for display.
type APIKey struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant"`
	Name     string `json:"name,omitempty"`
	Hash     string `json:"-"`
	Prefix   string `json:"prefix"`
	// Scopes are any of ScopeInference, ScopeAdmin, ScopeReadOnly.
	Scopes []string `json:"scopes"`
	// Models, when set, are the only model names the key may call.
	Models    []string   `json:"models,omitempty"`
	Limits    Limits     `json:"limits"`
	Budget    Budget     `json:"budget"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Source is "config" or "api", as for Tenant.
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ErrExists is returned by stores for a record whose name or ID is taken.
var ErrExists = errors.New("already exists")

// TenantStore persists tenants and API keys created at run time. Every
// replica reads them, so a revoked key stops working everywhere.
type TenantStore interface {
	// CreateTenant inserts t; ErrExists if the name is taken.
	CreateTenant(ctx context.Context, t Tenant) error
	// UpdateTenant replaces the limits, budget and UpdatedAt of t.Name;
	// ErrNotFound if absent.
	UpdateTenant(ctx context.Context, t Tenant) error
	// DeleteTenant removes a tenant and revokes its keys; ErrNotFound if absent.
	DeleteTenant(ctx context.Context, name string) error
	// ListTenants returns every tenant, by name.
	ListTenants(ctx context.Context) ([]Tenant, error)
	// CreateKey inserts k; ErrExists if its ID or hash is taken.
	CreateKey(ctx context.Context, k APIKey) error
	// RevokeKey sets RevokedAt (and UpdatedAt) of key id; ErrNotFound if absent.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// ListKeys returns every key, revoked ones included, oldest first.
	ListKeys(ctx context.Context) ([]APIKey, error)
	// TenantsVersion changes whenever a tenant or key is created, changed
	// or deleted; replicas poll it to know when to reload.
	TenantsVersion(ctx context.Context) (string, error)
}

// Scopes are the scopes a key may carry.
var Scopes = []string{ScopeInference, ScopeAdmin, ScopeReadOnly}

// BudgetActions are the values Budget.Action may take.
var BudgetActions = []string{"block", "alert"}

// Problem is one invalid field of a value, named relative to it ("rpm",
// "alert_at[1]").
type Problem struct {
	Field, Message string
}

// Upper bounds that catch typos (an extra zero or three).
const (
	maxRate        = 1_000_000_000 // requests or tokens per minute
	maxConcurrency = 1_000_000
	maxUSD         = 10_000_000
)

// Problems lists what is wrong with l: negative or absurd limits.
func (l Limits) Problems() []Problem {
	var out []Problem
	for _, f := range []struct {
		name   string
		n, max int64
	}{{"rpm", l.RPM, maxRate}, {"tpm", l.TPM, maxRate}, {"concurrency", l.Concurrency, maxConcurrency}} {
		switch {
		case f.n < 0:
			out = append(out, Problem{f.name, fmt.Sprintf("must not be negative, got %d (0 or absent means no limit)", f.n)})
		case f.n > f.max:
			out = append(out, Problem{f.name, fmt.Sprintf("%d is more than the most allowed (%d); is there a typo?", f.n, f.max)})
		}
	}
	return out
}

// Problems lists what is wrong with b: negative or absurd caps, a rolling
// cap without its window, an unknown action, thresholds out of range.
func (b Budget) Problems() []Problem {
	var out []Problem
	add := func(field, format string, args ...any) {
		out = append(out, Problem{field, fmt.Sprintf(format, args...)})
	}
	for _, f := range []struct {
		name string
		usd  float64
	}{{"daily_usd", b.DailyUSD}, {"monthly_usd", b.MonthlyUSD}, {"rolling_usd", b.RollingUSD}} {
		switch {
		case math.IsNaN(f.usd) || f.usd < 0:
			add(f.name, "must not be negative, got %v (0 or absent means no cap)", f.usd)
		case f.usd > maxUSD:
			add(f.name, "%v is more than the most allowed (%d); is there a typo?", f.usd, maxUSD)
		}
	}
	switch {
	case b.RollingUSD > 0 && b.RollingWindow <= 0:
		add("rolling_window", "required with rolling_usd (e.g. 24h, 168h)")
	case b.RollingWindow < 0:
		add("rolling_window", "must not be negative, got %s", b.RollingWindow)
	case b.RollingWindow > 0 && b.RollingWindow < time.Minute:
		add("rolling_window", "must be at least 1m, got %s", b.RollingWindow)
	case b.RollingWindow > 0 && b.RollingUSD == 0:
		add("rolling_usd", "required with rolling_window")
	}
	if b.Action != "" && !slices.Contains(BudgetActions, b.Action) {
		add("action", "invalid value %q (allowed: %s)", b.Action, strings.Join(BudgetActions, ", "))
	}
	for i, a := range b.AlertAt {
		if !(a > 0 && a <= 10) {
			add(fmt.Sprintf("alert_at[%d]", i), "must be a fraction of the budget in (0, 10] (0.8 = 80 %%), got %v", a)
		}
	}
	return out
}
