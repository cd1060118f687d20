package tenancy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Service creates, changes and revokes tenants and keys. The admin API and
// the CLI both use it, so they validate and behave the same.
type Service struct {
	store switchboard.TenantStore
	dir   *Directory
	now   func() time.Time
}

// NewService returns a service writing to store and refreshing dir.
func NewService(store switchboard.TenantStore, dir *Directory) *Service {
	return &Service{store: store, dir: dir, now: time.Now}
}

// Directory returns the directory the service refreshes.
func (s *Service) Directory() *Directory { return s.dir }

// TenantSpec is what a tenant is created or updated with.
type TenantSpec struct {
	Name   string             `json:"name"`
	Limits switchboard.Limits `json:"limits"`
	Budget switchboard.Budget `json:"budget"`
}

// KeySpec is what a key is created with.
type KeySpec struct {
	Tenant string   `json:"tenant"`
	Name   string   `json:"name,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	Models []string `json:"models,omitempty"`
	// Limits and Budget apply to this key alone (the tenant's apply too).
	Limits switchboard.Limits `json:"limits"`
	Budget switchboard.Budget `json:"budget"`
	// ExpiresAt, when set, is when the key stops working.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// ExpiresIn is an alternative to ExpiresAt: a duration from now.
	ExpiresIn Duration `json:"expires_in,omitempty"`
}

// Duration is a time.Duration that reads "24h", "7d" or seconds from JSON.
type Duration time.Duration

// UnmarshalJSON accepts a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a Go duration ("90m", "24h"), days ("7d") or seconds
// ("3600"), of at most 100 years. Anything else is an error: "2w" is not 2
// seconds, and an RFC 3339 time is not the seconds of its year.
func ParseDuration(s string) (time.Duration, error) {
	const maxDays = 36500
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.ParseFloat(n, 64); err == nil && days > 0 && days < maxDays {
			return time.Duration(days * 24 * float64(time.Hour)), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil && secs >= 0 && secs < maxDays*24*3600 {
		return time.Duration(secs * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("invalid duration %q: use 90m, 24h, 7d or a number of seconds", s)
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// ValidateLimits checks limits, naming the field at fault (prefix.rpm, …).
func ValidateLimits(prefix string, l switchboard.Limits) error {
	return firstProblem(prefix, l.Problems())
}

// ValidateBudget checks a budget, naming the field at fault.
func ValidateBudget(prefix string, b switchboard.Budget) error {
	return firstProblem(prefix, b.Problems())
}

func firstProblem(prefix string, ps []switchboard.Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return switchboard.InvalidParam(prefix+ps[0].Field, "%s%s: %s", prefix, ps[0].Field, ps[0].Message)
}

func (spec TenantSpec) validate() error {
	if !nameRE.MatchString(spec.Name) {
		return switchboard.InvalidParam("name", "tenant name must be 1–64 letters, digits, _ . or -, got %q", spec.Name)
	}
	if err := ValidateLimits("limits.", spec.Limits); err != nil {
		return err
	}
	return ValidateBudget("budget.", spec.Budget)
}

// CreateTenant creates a tenant at run time.
func (s *Service) CreateTenant(ctx context.Context, spec TenantSpec) (*switchboard.Tenant, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if _, ok := s.dir.Tenant(spec.Name); ok {
		return nil, &switchboard.Error{Code: switchboard.CodeConflict, Param: "name", Message: fmt.Sprintf("tenant %q already exists", spec.Name)}
	}
	now := s.now().UTC()
	t := switchboard.Tenant{Name: spec.Name, Limits: spec.Limits, Budget: spec.Budget, Source: "api", CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		if errors.Is(err, switchboard.ErrExists) {
			return nil, &switchboard.Error{Code: switchboard.CodeConflict, Param: "name", Message: fmt.Sprintf("tenant %q already exists", spec.Name)}
		}
		return nil, err
	}
	return &t, s.dir.Reload(ctx)
}

// UpdateTenant replaces a run-time tenant's limits and budget.
func (s *Service) UpdateTenant(ctx context.Context, spec TenantSpec) (*switchboard.Tenant, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	cur, err := s.apiTenant(spec.Name)
	if err != nil {
		return nil, err
	}
	t := *cur
	t.Limits, t.Budget, t.UpdatedAt = spec.Limits, spec.Budget, s.now().UTC()
	if err := s.store.UpdateTenant(ctx, t); err != nil {
		return nil, notFound(err, "tenant", spec.Name)
	}
	return &t, s.dir.Reload(ctx)
}

// DeleteTenant deletes a run-time tenant and revokes its keys.
func (s *Service) DeleteTenant(ctx context.Context, name string) error {
	if _, err := s.apiTenant(name); err != nil {
		return err
	}
	if err := s.store.DeleteTenant(ctx, name); err != nil {
		return notFound(err, "tenant", name)
	}
	return s.dir.Reload(ctx)
}

func (s *Service) apiTenant(name string) (*switchboard.Tenant, error) {
	t, ok := s.dir.Tenant(name)
	if !ok {
		return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Message: fmt.Sprintf("no tenant %q", name)}
	}
	if t.Source == "config" {
		return nil, &switchboard.Error{Code: switchboard.CodeConflict,
			Message: fmt.Sprintf("tenant %q is declared in the configuration file; change it there", name)}
	}
	return t, nil
}

// CreateKey creates a key and returns it in clear, the only time it is
// ever shown, with its record.
func (s *Service) CreateKey(ctx context.Context, spec KeySpec) (string, *switchboard.APIKey, error) {
	if _, ok := s.dir.Tenant(spec.Tenant); !ok {
		if spec.Tenant == "" {
			return "", nil, switchboard.InvalidParam("tenant", "tenant is required")
		}
		return "", nil, &switchboard.Error{Code: switchboard.CodeNotFound, Param: "tenant",
			Message: fmt.Sprintf("no tenant %q: create it first (POST /admin/v1/tenants or `switchboard tenants create`)", spec.Tenant)}
	}
	if len(spec.Name) > 128 {
		return "", nil, switchboard.InvalidParam("name", "name must be at most 128 characters")
	}
	scopes := spec.Scopes
	if len(scopes) == 0 {
		scopes = []string{switchboard.ScopeInference}
	}
	for _, sc := range scopes {
		if !slices.Contains(switchboard.Scopes, sc) {
			return "", nil, switchboard.InvalidParam("scopes", "unknown scope %q (allowed: %s)", sc, strings.Join(switchboard.Scopes, ", "))
		}
	}
	for _, m := range spec.Models {
		if strings.TrimSpace(m) == "" {
			return "", nil, switchboard.InvalidParam("models", "model names must not be empty")
		}
	}
	if err := ValidateLimits("limits.", spec.Limits); err != nil {
		return "", nil, err
	}
	if err := ValidateBudget("budget.", spec.Budget); err != nil {
		return "", nil, err
	}
	now := s.now().UTC()
	exp := spec.ExpiresAt
	switch {
	case exp != nil && spec.ExpiresIn != 0:
		return "", nil, switchboard.InvalidParam("expires_in", "give expires_at or expires_in, not both")
	case spec.ExpiresIn < 0:
		return "", nil, switchboard.InvalidParam("expires_in", "expires_in must be positive")
	case spec.ExpiresIn > 0:
		t := now.Add(time.Duration(spec.ExpiresIn))
		exp = &t
	case exp != nil && !exp.After(now):
		return "", nil, switchboard.InvalidParam("expires_at", "expires_at is in the past")
	}
	key := GenerateKey()
	k := switchboard.APIKey{ID: newKeyID(), TenantID: spec.Tenant, Name: spec.Name, Hash: Hash(key), Prefix: DisplayPrefix(key),
		Scopes: scopes, Models: spec.Models, Limits: spec.Limits, Budget: spec.Budget, ExpiresAt: exp,
		Source: "api", CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return "", nil, err
	}
	return key, &k, s.dir.Reload(ctx)
}

// RevokeKey revokes a run-time key by ID.
func (s *Service) RevokeKey(ctx context.Context, id string) (*switchboard.APIKey, error) {
	var found *switchboard.APIKey
	for _, k := range s.dir.Keys() {
		if k.ID == id {
			found = k
		}
	}
	switch {
	case found == nil:
		return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Message: fmt.Sprintf("no key %q", id)}
	case found.Source == "config":
		return nil, &switchboard.Error{Code: switchboard.CodeConflict,
			Message: fmt.Sprintf("key %q is declared in the configuration file; remove it there", id)}
	}
	now := s.now().UTC()
	if err := s.store.RevokeKey(ctx, id, now); err != nil {
		return nil, notFound(err, "key", id)
	}
	if err := s.dir.Reload(ctx); err != nil {
		return nil, err
	}
	for _, k := range s.dir.Keys() {
		if k.ID == id {
			return k, nil
		}
	}
	return found, nil
}

// Keys lists keys, of one tenant when tenant is set.
func (s *Service) Keys(tenant string) []*switchboard.APIKey {
	var out []*switchboard.APIKey
	for _, k := range s.dir.Keys() {
		if tenant == "" || k.TenantID == tenant {
			out = append(out, k)
		}
	}
	return out
}

func notFound(err error, what, name string) error {
	if errors.Is(err, switchboard.ErrNotFound) {
		return &switchboard.Error{Code: switchboard.CodeNotFound, Message: fmt.Sprintf("no %s %q", what, name)}
	}
	return err
}
