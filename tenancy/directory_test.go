package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// cfgKey is the key of the configured tenant "cfg" in the tests.
const cfgKey = "cfg-key-0123456789abcdef"

var testConfig = []ConfigTenant{
	{Name: "cfg", Keys: []string{cfgKey}, Models: []string{"gpt-4o-mini"}, Limits: switchboard.Limits{RPM: 60}},
	{Name: "ops", Keys: []string{"ops-key-0123456789abcdef"}, Scopes: []string{switchboard.ScopeAdmin}},
}

// replica is one gateway's view of a shared SQLite store: its own
// connection, directory and service, as every replica of a deployment has.
type replica struct {
	store *sqlite.Store
	dir   *Directory
	svc   *Service
}

// newDB returns the path of a new SQLite database in t.TempDir().
func newDB(t *testing.T) string { return filepath.Join(t.TempDir(), "switchboard.db") }

// mustReplica opens the store at path and loads a directory from it and
// config, all closed when the test ends.
func mustReplica(t *testing.T, path string, config []ConfigTenant) *replica {
	t.Helper()
	st, err := sqlite.New(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	dir, err := NewDirectory(t.Context(), st, config, nil)
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}
	return &replica{store: st, dir: dir, svc: NewService(st, dir)}
}

func mustCreateTenant(t *testing.T, s *Service, spec TenantSpec) *switchboard.Tenant {
	t.Helper()
	tn, err := s.CreateTenant(t.Context(), spec)
	if err != nil {
		t.Fatalf("CreateTenant(%q): %v", spec.Name, err)
	}
	return tn
}

func mustCreateKey(t *testing.T, s *Service, spec KeySpec) (string, *switchboard.APIKey) {
	t.Helper()
	key, k, err := s.CreateKey(t.Context(), spec)
	if err != nil {
		t.Fatalf("CreateKey(%+v): %v", spec, err)
	}
	return key, k
}

func mustRevoke(t *testing.T, s *Service, id string) *switchboard.APIKey {
	t.Helper()
	k, err := s.RevokeKey(t.Context(), id)
	if err != nil {
		t.Fatalf("RevokeKey(%s): %v", id, err)
	}
	return k
}

func mustReload(t *testing.T, d *Directory) {
	t.Helper()
	if err := d.Reload(t.Context()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}

// authenticates reports whether key authenticates on d.
func authenticates(d *Directory, key string) bool {
	_, err := d.Authenticate(key)
	return err == nil
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	valid, validRec := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme", Name: "valid"})
	revoked, revokedRec := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme", Name: "revoked"})
	mustRevoke(t, r.svc, revokedRec.ID)
	expiring, expiringRec := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme", Name: "expiring", ExpiresIn: Duration(time.Hour)})
	if c, err := r.dir.Authenticate(expiring); err != nil || c.Key.ID != expiringRec.ID {
		t.Errorf("before it expires: got %v, %v; want key %s", c, err, expiringRec.ID)
	}
	// Two hours on, the expiring key has expired.
	r.dir.now = func() time.Time { return time.Now().Add(2 * time.Hour) }

	tests := []struct {
		name       string
		key        string
		wantID     string // the key ID of the caller, "" for an error
		wantVendor string
		wantSays   string
	}{
		{name: "valid", key: valid, wantID: validRec.ID},
		{name: "configured", key: cfgKey, wantID: configKeyID(Hash(cfgKey))},
		{name: "revoked", key: revoked, wantVendor: "invalid_api_key", wantSays: "has been revoked"},
		{name: "expired", key: expiring, wantVendor: "invalid_api_key", wantSays: "expired at"},
		{name: "unknown", key: GenerateKey(), wantVendor: "invalid_api_key", wantSays: "Incorrect API key"},
		{name: "empty", key: "", wantVendor: "missing_api_key"},
		{name: "too short", key: "sk-sb-x", wantVendor: "invalid_api_key"},
		{name: "wrong prefix", key: "sk-xx-" + strings.TrimPrefix(valid, KeyPrefix), wantVendor: "invalid_api_key"},
		{name: "last character changed", key: valid[:len(valid)-1] + flip(valid[len(valid)-1]), wantVendor: "invalid_api_key"},
		{name: "truncated", key: valid[:len(valid)-1], wantVendor: "invalid_api_key"},
		{name: "extended", key: valid + "A", wantVendor: "invalid_api_key"},
		{name: "upper case", key: strings.ToUpper(valid), wantVendor: "invalid_api_key"},
		{name: "surrounding space", key: " " + valid + " ", wantVendor: "invalid_api_key"},
		{name: "non-ASCII", key: "sk-sb-ключ€€€€€€€€€€€€€€€€€€€€", wantVendor: "invalid_api_key"},
		{name: "invalid UTF-8", key: "sk-sb-\xff\xfe\xfd" + strings.Repeat("a", 40), wantVendor: "invalid_api_key"},
		{name: "very long", key: valid + strings.Repeat("x", 1<<20), wantVendor: "invalid_api_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := r.dir.Authenticate(tc.key)
			if tc.wantID != "" {
				if err != nil || c.Key.ID != tc.wantID || c.Key.Hash != Hash(tc.key) {
					t.Fatalf("got %+v, %v; want key %s", c, err, tc.wantID)
				}
				return
			}
			var e *switchboard.Error
			if c != nil || !errors.As(err, &e) {
				t.Fatalf("got %+v, %v; want a *switchboard.Error", c, err)
			}
			if e.Code != switchboard.CodeUnauthorized || e.VendorCode != tc.wantVendor {
				t.Errorf("got %s/%s, want unauthorized/%s", e.Code, e.VendorCode, tc.wantVendor)
			}
			if !strings.Contains(e.Message, tc.wantSays) {
				t.Errorf("message %q does not say %q", e.Message, tc.wantSays)
			}
			if len(tc.key) >= 8 && strings.Contains(e.Message, strings.TrimSpace(tc.key)) {
				t.Errorf("message %q echoes the key", e.Message)
			}
			if !utf8.ValidString(e.Message) {
				t.Errorf("message %q is not valid UTF-8", e.Message)
			}
		})
	}
}

// flip returns another base64url character than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestNoSecretsKept checks that what the directory holds and lists of its
// keys — records, IDs, display prefixes — never contains a key.
func TestNoSecretsKept(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	key, _ := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme"})
	b, err := json.Marshal(r.dir.Keys())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, cfgKey, "ops-key-0123456789abcdef"} {
		if strings.Contains(string(b), k) || strings.Contains(string(b), Hash(k)) {
			t.Errorf("listed keys %s contain a key or its hash", b)
		}
	}
	stored, err := r.store.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if k.Hash != Hash(key) || strings.Contains(k.Prefix+k.ID+k.Name, strings.TrimPrefix(key, KeyPrefix)[:8]) {
			t.Errorf("stored key %+v: want only the hash and a short prefix", k)
		}
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	keys := map[string]string{"cfg (default scope)": cfgKey, "ops (admin)": "ops-key-0123456789abcdef"}
	for name, scopes := range map[string][]string{
		"inference": {switchboard.ScopeInference},
		"admin":     {switchboard.ScopeAdmin},
		"read-only": {switchboard.ScopeReadOnly},
		"default":   nil,
		"both":      {switchboard.ScopeInference, switchboard.ScopeReadOnly},
	} {
		keys[name], _ = mustCreateKey(t, r.svc, KeySpec{Tenant: "acme", Name: name, Scopes: scopes})
	}
	// want: may the key call inference routes, admin routes, read-only routes?
	tests := []struct {
		name                       string
		inference, admin, readOnly bool
	}{
		{"inference", true, false, false},
		{"default", true, false, false},
		{"cfg (default scope)", true, false, false},
		{"admin", true, true, true},
		{"ops (admin)", true, true, true},
		{"read-only", false, false, true},
		{"both", true, false, true},
	}
	for _, tc := range tests {
		c, err := r.dir.Authenticate(keys[tc.name])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := [3]bool{c.Can(switchboard.ScopeInference), c.Can(switchboard.ScopeAdmin), c.Can(switchboard.ScopeReadOnly)}
		if want := [3]bool{tc.inference, tc.admin, tc.readOnly}; got != want {
			t.Errorf("%s: Can(inference, admin, read-only) = %v, want %v", tc.name, got, want)
		}
	}
}

func TestMayUse(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	all, _ := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme"})
	some, _ := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme", Models: []string{"gpt-4o", "claude-sonnet-4"}})
	tests := []struct {
		key, model string
		want       bool
	}{
		{all, "gpt-4o", true},
		{all, "anything/at-all", true},
		{some, "gpt-4o", true},
		{some, "claude-sonnet-4", true},
		{some, "gpt-4o-mini", false},
		{some, "GPT-4o", false},
		{some, "", false},
		{cfgKey, "gpt-4o-mini", true}, // the configured tenant's models
		{cfgKey, "gpt-4o", false},
	}
	for _, tc := range tests {
		c, err := r.dir.Authenticate(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.MayUse(tc.model); got != tc.want {
			t.Errorf("key %s MayUse(%q) = %v, want %v", c.Key.Prefix, tc.model, got, tc.want)
		}
	}
}

// TestReloadAcrossReplicas checks that a replica sees keys created and
// revoked by another once it reloads, and only then.
func TestReloadAcrossReplicas(t *testing.T) {
	t.Parallel()
	path := newDB(t)
	a := mustReplica(t, path, testConfig)
	b := mustReplica(t, path, testConfig)
	mustCreateTenant(t, a.svc, TenantSpec{Name: "acme"})
	key, rec := mustCreateKey(t, a.svc, KeySpec{Tenant: "acme"})
	if !authenticates(a.dir, key) {
		t.Fatal("the replica that created the key rejects it")
	}
	if authenticates(b.dir, key) {
		t.Fatal("the other replica accepts a key before reloading")
	}
	mustReload(t, b.dir)
	if !authenticates(b.dir, key) {
		t.Fatal("the other replica rejects the key after reloading")
	}
	if k := mustRevoke(t, a.svc, rec.ID); k.RevokedAt == nil {
		t.Errorf("RevokeKey returned %+v, want RevokedAt set", k)
	}
	if authenticates(a.dir, key) {
		t.Error("the revoking replica still accepts the key")
	}
	mustReload(t, b.dir)
	if authenticates(b.dir, key) {
		t.Error("the other replica still accepts the key after reloading")
	}
}

// TestRunPollsTheStore checks that Run, at its default interval, picks up
// a change another replica made within the second the docs promise.
func TestRunPollsTheStore(t *testing.T) {
	t.Parallel()
	path := newDB(t)
	a := mustReplica(t, path, nil)
	b := mustReplica(t, path, nil)
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.dir.Run(ctx, 0)
	}()
	defer func() {
		cancel()
		<-stopped
	}()

	// within waits until ok holds on b, for at most a second.
	within := func(what string, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > time.Second {
				t.Fatalf("%s: not seen by the other replica within 1s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if b.dir.AuthRequired() {
		t.Fatal("AuthRequired with no key anywhere")
	}
	mustCreateTenant(t, a.svc, TenantSpec{Name: "acme"})
	key, rec := mustCreateKey(t, a.svc, KeySpec{Tenant: "acme"})
	within("a new key", func() bool { return authenticates(b.dir, key) })
	if !b.dir.AuthRequired() {
		t.Error("AuthRequired false once a key exists")
	}
	mustRevoke(t, a.svc, rec.ID)
	within("a revocation", func() bool { return !authenticates(b.dir, key) })
	if !b.dir.AuthRequired() {
		t.Error("AuthRequired false once the only key is revoked, want true")
	}
}

func TestRunWithoutStore(t *testing.T) {
	t.Parallel()
	d, err := NewDirectory(t.Context(), nil, testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Run(t.Context(), time.Millisecond) // nothing to poll: returns at once
	if !authenticates(d, cfgKey) || !d.AuthRequired() {
		t.Error("a configuration-only directory rejects its configured key")
	}
	empty, err := NewDirectory(t.Context(), nil, nil, nil)
	if err != nil || empty.AuthRequired() {
		t.Errorf("empty directory: AuthRequired %v, %v; want false", empty.AuthRequired(), err)
	}
}

// TestDirectoryBuild checks how the configuration and the store combine.
func TestDirectoryBuild(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	ctx := t.Context()
	now := time.Now().UTC()
	// A tenant created at run time under a configured tenant's name: the
	// configured one wins.
	if err := r.store.CreateTenant(ctx, switchboard.Tenant{Name: "cfg", Limits: switchboard.Limits{RPM: 1}, Source: "api", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// A stored key with a malformed hash is ignored, not fatal.
	if err := r.store.CreateKey(ctx, switchboard.APIKey{ID: "key_bad", TenantID: "cfg", Hash: "zz", Prefix: "x…", Source: "api", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	mustReload(t, r.dir)
	if tn, ok := r.dir.Tenant("cfg"); !ok || tn.Source != "config" || tn.Limits.RPM != 60 {
		t.Errorf("Tenant(cfg) = %+v, want the configured one", tn)
	}
	if c, err := r.dir.Authenticate(cfgKey); err != nil || c.Tenant.Source != "config" {
		t.Errorf("configured key: got %+v, %v", c, err)
	}
	var names []string
	for _, tn := range r.dir.Tenants() {
		names = append(names, tn.Name)
	}
	if got := strings.Join(names, ","); got != "cfg,ops" {
		t.Errorf("Tenants() = %s, want cfg,ops", got)
	}
}
