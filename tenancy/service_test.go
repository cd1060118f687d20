package tenancy

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// wantError checks that err is a *switchboard.Error with code and param;
// a message about a limit or budget field names it by its path.
func wantError(t *testing.T, err error, code switchboard.ErrorCode, param string) {
	t.Helper()
	var e *switchboard.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a *switchboard.Error %s", err, code)
	}
	if e.Code != code || e.Param != param {
		t.Errorf("got %s (param %q): %s; want %s (param %q)", e.Code, e.Param, e.Message, code, param)
	}
	if strings.Contains(param, ".") && !strings.Contains(e.Message, param) {
		t.Errorf("message %q does not name %s", e.Message, param)
	}
}

func TestCreateTenantValidation(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	tests := []struct {
		name      string
		spec      TenantSpec
		wantParam string
	}{
		{"empty name", TenantSpec{}, "name"},
		{"name with a space", TenantSpec{Name: "a b"}, "name"},
		{"name with a slash", TenantSpec{Name: "a/b"}, "name"},
		{"non-ASCII name", TenantSpec{Name: "ünï"}, "name"},
		{"name of 65", TenantSpec{Name: strings.Repeat("a", 65)}, "name"},
		{"negative rpm", TenantSpec{Name: "t", Limits: switchboard.Limits{RPM: -1}}, "limits.rpm"},
		{"negative tpm", TenantSpec{Name: "t", Limits: switchboard.Limits{TPM: -5}}, "limits.tpm"},
		{"negative concurrency", TenantSpec{Name: "t", Limits: switchboard.Limits{Concurrency: -1}}, "limits.concurrency"},
		{"absurd rpm", TenantSpec{Name: "t", Limits: switchboard.Limits{RPM: 2_000_000_000}}, "limits.rpm"},
		{"absurd tpm", TenantSpec{Name: "t", Limits: switchboard.Limits{TPM: math.MaxInt64}}, "limits.tpm"},
		{"absurd concurrency", TenantSpec{Name: "t", Limits: switchboard.Limits{Concurrency: 2_000_000}}, "limits.concurrency"},
		{"negative daily budget", TenantSpec{Name: "t", Budget: switchboard.Budget{DailyUSD: -1}}, "budget.daily_usd"},
		{"NaN monthly budget", TenantSpec{Name: "t", Budget: switchboard.Budget{MonthlyUSD: math.NaN()}}, "budget.monthly_usd"},
		{"absurd monthly budget", TenantSpec{Name: "t", Budget: switchboard.Budget{MonthlyUSD: 1e12}}, "budget.monthly_usd"},
		{"rolling cap without window", TenantSpec{Name: "t", Budget: switchboard.Budget{RollingUSD: 5}}, "budget.rolling_window"},
		{"rolling window without cap", TenantSpec{Name: "t", Budget: switchboard.Budget{RollingWindow: time.Hour}}, "budget.rolling_usd"},
		{"rolling window of seconds", TenantSpec{Name: "t", Budget: switchboard.Budget{RollingUSD: 5, RollingWindow: time.Second}}, "budget.rolling_window"},
		{"unknown action", TenantSpec{Name: "t", Budget: switchboard.Budget{DailyUSD: 1, Action: "explode"}}, "budget.action"},
		{"alert at 0", TenantSpec{Name: "t", Budget: switchboard.Budget{DailyUSD: 1, AlertAt: []float64{0.5, 0}}}, "budget.alert_at[1]"},
		{"alert at 80 (a percentage)", TenantSpec{Name: "t", Budget: switchboard.Budget{DailyUSD: 1, AlertAt: []float64{80}}}, "budget.alert_at[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.svc.CreateTenant(t.Context(), tc.spec)
			wantError(t, err, switchboard.CodeInvalidRequest, tc.wantParam)
			if _, err := r.svc.UpdateTenant(t.Context(), tc.spec); err == nil {
				t.Error("UpdateTenant accepted it")
			}
		})
	}
	if got := r.dir.Tenants(); len(got) != 2 {
		t.Errorf("got %d tenants after only invalid specs, want the 2 configured", len(got))
	}
	// Limits and budgets at their bounds are fine.
	mustCreateTenant(t, r.svc, TenantSpec{Name: "Big_one.v2-x", Limits: switchboard.Limits{RPM: 1_000_000_000, Concurrency: 1_000_000},
		Budget: switchboard.Budget{MonthlyUSD: 10_000_000, RollingUSD: 1, RollingWindow: time.Minute, Action: "alert", AlertAt: []float64{0.5, 1, 10}}})
}

func TestCreateTenantConflict(t *testing.T) {
	t.Parallel()
	path := newDB(t)
	a := mustReplica(t, path, testConfig)
	b := mustReplica(t, path, testConfig)
	mustCreateTenant(t, a.svc, TenantSpec{Name: "acme"})
	tests := []struct {
		name string
		svc  *Service
		spec TenantSpec
	}{
		{"same replica", a.svc, TenantSpec{Name: "acme"}},
		// b has not reloaded: the store's ErrExists answers.
		{"another replica, not reloaded", b.svc, TenantSpec{Name: "acme", Limits: switchboard.Limits{RPM: 1}}},
		{"a configured tenant", a.svc, TenantSpec{Name: "cfg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.svc.CreateTenant(t.Context(), tc.spec)
			wantError(t, err, switchboard.CodeConflict, "name")
		})
	}
	if err := a.store.CreateTenant(t.Context(), switchboard.Tenant{Name: "acme"}); !errors.Is(err, switchboard.ErrExists) {
		t.Errorf("store: got %v, want ErrExists", err)
	}
}

func TestUpdateAndDeleteTenant(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	ctx := t.Context()
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme", Limits: switchboard.Limits{RPM: 10}})
	key, _ := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme"})

	if _, err := r.svc.UpdateTenant(ctx, TenantSpec{Name: "acme", Limits: switchboard.Limits{RPM: 20}}); err != nil {
		t.Fatal(err)
	}
	if c, err := r.dir.Authenticate(key); err != nil || c.Tenant.Limits.RPM != 20 {
		t.Errorf("after UpdateTenant: got %+v, %v; want the new limits", c, err)
	}
	_, err := r.svc.UpdateTenant(ctx, TenantSpec{Name: "cfg"})
	wantError(t, err, switchboard.CodeConflict, "")
	_, err = r.svc.UpdateTenant(ctx, TenantSpec{Name: "nope"})
	wantError(t, err, switchboard.CodeNotFound, "")
	wantError(t, r.svc.DeleteTenant(ctx, "cfg"), switchboard.CodeConflict, "")
	wantError(t, r.svc.DeleteTenant(ctx, "nope"), switchboard.CodeNotFound, "")

	if err := r.svc.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if authenticates(r.dir, key) {
		t.Error("a deleted tenant's key still authenticates")
	}
	// A new tenant of the same name does not bring its keys back.
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	if authenticates(r.dir, key) {
		t.Error("a deleted tenant's key authenticates again once the name is reused")
	}
}

func TestCreateKeyValidation(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	past := time.Now().Add(-time.Minute)
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name      string
		spec      KeySpec
		wantCode  switchboard.ErrorCode
		wantParam string
	}{
		{"no tenant", KeySpec{}, switchboard.CodeInvalidRequest, "tenant"},
		{"unknown tenant", KeySpec{Tenant: "nope"}, switchboard.CodeNotFound, "tenant"},
		{"long name", KeySpec{Tenant: "acme", Name: strings.Repeat("n", 129)}, switchboard.CodeInvalidRequest, "name"},
		{"unknown scope", KeySpec{Tenant: "acme", Scopes: []string{"inference", "superuser"}}, switchboard.CodeInvalidRequest, "scopes"},
		{"scope in another case", KeySpec{Tenant: "acme", Scopes: []string{"Admin"}}, switchboard.CodeInvalidRequest, "scopes"},
		{"empty model", KeySpec{Tenant: "acme", Models: []string{"gpt-4o", " "}}, switchboard.CodeInvalidRequest, "models"},
		{"negative rpm", KeySpec{Tenant: "acme", Limits: switchboard.Limits{RPM: -1}}, switchboard.CodeInvalidRequest, "limits.rpm"},
		{"absurd tpm", KeySpec{Tenant: "acme", Limits: switchboard.Limits{TPM: 5_000_000_000}}, switchboard.CodeInvalidRequest, "limits.tpm"},
		{"negative budget", KeySpec{Tenant: "acme", Budget: switchboard.Budget{DailyUSD: -0.01}}, switchboard.CodeInvalidRequest, "budget.daily_usd"},
		{"bad action", KeySpec{Tenant: "acme", Budget: switchboard.Budget{DailyUSD: 1, Action: "warn"}}, switchboard.CodeInvalidRequest, "budget.action"},
		{"expires both ways", KeySpec{Tenant: "acme", ExpiresAt: &future, ExpiresIn: Duration(time.Hour)}, switchboard.CodeInvalidRequest, "expires_in"},
		{"expires in the past", KeySpec{Tenant: "acme", ExpiresAt: &past}, switchboard.CodeInvalidRequest, "expires_at"},
		{"negative expires_in", KeySpec{Tenant: "acme", ExpiresIn: Duration(-time.Hour)}, switchboard.CodeInvalidRequest, "expires_in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, k, err := r.svc.CreateKey(t.Context(), tc.spec)
			if key != "" || k != nil {
				t.Errorf("got key %q, %+v; want none", key, k)
			}
			wantError(t, err, tc.wantCode, tc.wantParam)
		})
	}
	if got := r.svc.Keys("acme"); len(got) != 0 {
		t.Errorf("got %d keys after only invalid specs, want none", len(got))
	}
}

func TestCreateKey(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r.svc.now = func() time.Time { return now }
	key, k := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme", Name: "ci", Scopes: []string{switchboard.ScopeReadOnly},
		Models: []string{"gpt-4o"}, Limits: switchboard.Limits{RPM: 5}, Budget: switchboard.Budget{DailyUSD: 2},
		ExpiresIn: Duration(90 * 24 * time.Hour)})
	if !strings.HasPrefix(key, KeyPrefix) || k.Hash != Hash(key) || k.Prefix != DisplayPrefix(key) ||
		!strings.HasPrefix(k.ID, "key_") || k.Source != "api" || !k.CreatedAt.Equal(now) {
		t.Errorf("got %q, %+v", key, k)
	}
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(now.Add(90*24*time.Hour)) {
		t.Errorf("ExpiresAt = %v, want 90 days after creation", k.ExpiresAt)
	}
	// A key of a configured tenant may be created at run time.
	_, ck := mustCreateKey(t, r.svc, KeySpec{Tenant: "cfg"})
	if len(ck.Scopes) != 1 || ck.Scopes[0] != switchboard.ScopeInference {
		t.Errorf("default scopes = %v, want [inference]", ck.Scopes)
	}
	if got := r.svc.Keys("acme"); len(got) != 1 || got[0].ID != k.ID {
		t.Errorf("Keys(acme) = %v, want the one key", got)
	}
	if got := r.svc.Keys(""); len(got) != 4 { // 2 configured + 2 created
		t.Errorf("Keys() lists %d keys, want 4", len(got))
	}
}

func TestRevokeKey(t *testing.T) {
	t.Parallel()
	r := mustReplica(t, newDB(t), testConfig)
	ctx := t.Context()
	_, err := r.svc.RevokeKey(ctx, "key_nope")
	wantError(t, err, switchboard.CodeNotFound, "")
	_, err = r.svc.RevokeKey(ctx, configKeyID(Hash(cfgKey)))
	wantError(t, err, switchboard.CodeConflict, "")
	if !authenticates(r.dir, cfgKey) {
		t.Error("a refused revocation revoked the configured key")
	}

	mustCreateTenant(t, r.svc, TenantSpec{Name: "acme"})
	key, k := mustCreateKey(t, r.svc, KeySpec{Tenant: "acme"})
	got := mustRevoke(t, r.svc, k.ID)
	if got.ID != k.ID || got.RevokedAt == nil {
		t.Errorf("RevokeKey = %+v, want key %s revoked", got, k.ID)
	}
	if authenticates(r.dir, key) {
		t.Error("a revoked key authenticates")
	}
	// Revoking again is harmless and keeps the key revoked.
	if again := mustRevoke(t, r.svc, k.ID); again.RevokedAt == nil || !again.RevokedAt.Equal(*got.RevokedAt) {
		t.Errorf("revoking twice: RevokedAt %v, want the first %v", again.RevokedAt, got.RevokedAt)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "90m", want: 90 * time.Minute},
		{in: "24h", want: 24 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "3600", want: time.Hour},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "0", want: 0},
		{in: "", wantErr: true},
		{in: "d", wantErr: true},
		{in: "0d", wantErr: true},
		{in: "-1d", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "36500d", wantErr: true},
		{in: "1e12", wantErr: true}, // seconds past the time.Duration range
		{in: "NaN", wantErr: true},
		{in: "Inf", wantErr: true},
		{in: "2w", wantErr: true},    // not 2 seconds
		{in: "7days", wantErr: true}, // not 7 seconds
		{in: "10x", wantErr: true},
		{in: "3 d", wantErr: true},
		{in: "2026-01-01T00:00:00Z", wantErr: true}, // not 2026 seconds (?since= tries a duration first)
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		switch {
		case tc.wantErr && err == nil:
			t.Errorf("ParseDuration(%q) = %v, want an error", tc.in, got)
		case !tc.wantErr && (err != nil || got != tc.want):
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	var spec KeySpec
	for in, want := range map[string]time.Duration{
		`{"expires_in": "30d"}`: 30 * 24 * time.Hour,
		`{"expires_in": 3600}`:  time.Hour,
		`{"expires_in": "12h"}`: 12 * time.Hour,
	} {
		spec = KeySpec{}
		if err := json.Unmarshal([]byte(in), &spec); err != nil || time.Duration(spec.ExpiresIn) != want {
			t.Errorf("%s: got %v, %v; want %v", in, time.Duration(spec.ExpiresIn), err, want)
		}
	}
	for _, in := range []string{`{"expires_in": "2w"}`, `{"expires_in": true}`, `{"expires_in": null}`} {
		if err := json.Unmarshal([]byte(in), &spec); err == nil {
			t.Errorf("%s: got %v, want an error", in, time.Duration(spec.ExpiresIn))
		}
	}
}
