package tenancy

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// ConfigTenant is a tenant declared in the configuration, with its keys in
// clear (they come from the environment or secret files).
type ConfigTenant struct {
	Name   string
	Keys   []string
	Scopes []string
	Models []string
	Limits switchboard.Limits
	Budget switchboard.Budget
}

// Caller is who a request's key authenticates: the key and its tenant.
type Caller struct {
	Key    *switchboard.APIKey
	Tenant *switchboard.Tenant
}

// Principal returns the caller as a switchboard.Principal.
func (c *Caller) Principal() switchboard.Principal {
	return switchboard.Principal{TenantID: c.Tenant.Name, KeyID: c.Key.ID}
}

// Can reports whether the caller's key has scope: admin implies every
// scope, and read-only is implied by admin only.
func (c *Caller) Can(scope string) bool {
	return slices.Contains(c.Key.Scopes, switchboard.ScopeAdmin) || slices.Contains(c.Key.Scopes, scope)
}

// MayUse reports whether the caller may call model.
func (c *Caller) MayUse(model string) bool {
	return len(c.Key.Models) == 0 || slices.Contains(c.Key.Models, model)
}

type snapshot struct {
	version string
	byHash  map[[32]byte]*Caller
	tenants map[string]*switchboard.Tenant
	keys    []*switchboard.APIKey // every key, config ones first
	// auth reports whether any key exists (or ever existed): from then on
	// every API request needs one.
	auth bool
}

// Directory answers "whose key is this?" from memory. It is rebuilt from
// the configuration and the store whenever the store's tenants version
// changes.
type Directory struct {
	store  switchboard.TenantStore
	config []ConfigTenant
	log    *slog.Logger
	now    func() time.Time
	snap   atomic.Pointer[snapshot]
	mu     sync.Mutex // serializes reloads
}

// NewDirectory loads the directory. store may be nil (configuration only).
func NewDirectory(ctx context.Context, store switchboard.TenantStore, config []ConfigTenant, log *slog.Logger) (*Directory, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Directory{store: store, config: config, log: log, now: time.Now}
	if err := d.Reload(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Reload rebuilds the directory if the store changed since the last load.
func (d *Directory) Reload(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	version := ""
	if d.store != nil {
		v, err := d.store.TenantsVersion(ctx)
		if err != nil {
			return err
		}
		version = v
		if cur := d.snap.Load(); cur != nil && cur.version == version {
			return nil
		}
	}
	s, err := d.build(ctx)
	if err != nil {
		return err
	}
	s.version = version
	d.snap.Store(s)
	return nil
}

func (d *Directory) build(ctx context.Context) (*snapshot, error) {
	s := &snapshot{byHash: map[[32]byte]*Caller{}, tenants: map[string]*switchboard.Tenant{}}
	for _, ct := range d.config {
		t := &switchboard.Tenant{Name: ct.Name, Limits: ct.Limits, Budget: ct.Budget, Source: "config"}
		s.tenants[ct.Name] = t
		scopes := ct.Scopes
		if len(scopes) == 0 {
			scopes = []string{switchboard.ScopeInference}
		}
		for _, key := range ct.Keys {
			h := Hash(key)
			k := &switchboard.APIKey{ID: configKeyID(h), TenantID: ct.Name, Hash: h, Prefix: DisplayPrefix(key),
				Scopes: scopes, Models: ct.Models, Source: "config"}
			s.keys = append(s.keys, k)
			s.byHash[digest(key)] = &Caller{Key: k, Tenant: t}
		}
	}
	if d.store != nil {
		ts, err := d.store.ListTenants(ctx)
		if err != nil {
			return nil, err
		}
		for i := range ts {
			if _, ok := s.tenants[ts[i].Name]; ok {
				d.log.Warn("a tenant created at run time has the name of a configured tenant: the configured one wins", switchboard.LogKeyTenant, ts[i].Name)
				continue
			}
			t := ts[i]
			t.Source = "api"
			s.tenants[t.Name] = &t
		}
		ks, err := d.store.ListKeys(ctx)
		if err != nil {
			return nil, err
		}
		for i := range ks {
			k := ks[i]
			s.keys = append(s.keys, &k)
			t := s.tenants[k.TenantID]
			if t == nil {
				continue // its tenant was deleted: the key cannot authenticate
			}
			raw, err := hex.DecodeString(k.Hash)
			if err != nil || len(raw) != 32 {
				d.log.Warn("stored API key has a malformed hash; ignored", "key_id", k.ID)
				continue
			}
			var h [32]byte
			copy(h[:], raw)
			if _, dup := s.byHash[h]; dup {
				continue // a configured key wins
			}
			s.byHash[h] = &Caller{Key: &k, Tenant: t}
		}
	}
	s.auth = len(s.keys) > 0
	return s, nil
}

// Run polls the store every interval and reloads on change, until ctx ends.
func (d *Directory) Run(ctx context.Context, interval time.Duration) {
	if d.store == nil {
		return
	}
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := d.Reload(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			d.log.Warn("reloading tenants and keys failed; serving the last ones loaded", switchboard.LogKeyErr, err)
			failing = true
		case err == nil && failing:
			d.log.Info("reloading tenants and keys works again")
			failing = false
		}
	}
}

// AuthRequired reports whether requests must carry a key: true as soon as
// one key is configured or was ever created.
func (d *Directory) AuthRequired() bool { return d.snap.Load().auth }

// Tenant returns the tenant named name.
func (d *Directory) Tenant(name string) (*switchboard.Tenant, bool) {
	t, ok := d.snap.Load().tenants[name]
	return t, ok
}

// Tenants returns every tenant, by name.
func (d *Directory) Tenants() []*switchboard.Tenant {
	s := d.snap.Load()
	out := make([]*switchboard.Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *switchboard.Tenant) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Keys returns every key, config ones first.
func (d *Directory) Keys() []*switchboard.APIKey { return d.snap.Load().keys }

// Authenticate returns the caller a key stands for, or an *switchboard.Error
// (401) that says why not without echoing the key.
func (d *Directory) Authenticate(key string) (*Caller, error) {
	if key == "" {
		return nil, &switchboard.Error{Code: switchboard.CodeUnauthorized, VendorCode: "missing_api_key",
			Message: "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' (or 'x-api-key: <key>')."}
	}
	h := digest(key)
	c := d.snap.Load().byHash[h]
	if c == nil || subtle.ConstantTimeCompare([]byte(c.Key.Hash), []byte(hex.EncodeToString(h[:]))) != 1 {
		return nil, &switchboard.Error{Code: switchboard.CodeUnauthorized, VendorCode: "invalid_api_key",
			Message: "Incorrect API key provided: " + Mask(key) + "."}
	}
	now := d.now()
	switch {
	case c.Key.RevokedAt != nil && !c.Key.RevokedAt.After(now):
		return nil, &switchboard.Error{Code: switchboard.CodeUnauthorized, VendorCode: "invalid_api_key",
			Message: "The API key " + c.Key.Prefix + " (" + c.Key.ID + ") has been revoked."}
	case c.Key.ExpiresAt != nil && !c.Key.ExpiresAt.After(now):
		return nil, &switchboard.Error{Code: switchboard.CodeUnauthorized, VendorCode: "invalid_api_key",
			Message: "The API key " + c.Key.Prefix + " (" + c.Key.ID + ") expired at " + c.Key.ExpiresAt.UTC().Format(time.RFC3339) + "."}
	}
	return c, nil
}
