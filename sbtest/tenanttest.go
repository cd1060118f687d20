package sbtest

// This file holds the switchboard.TenantStore part of TestStore.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

// testTenants is the switchboard.TenantStore part of TestStore. Times are
// whole microseconds, in a zone other than UTC.
func testTenants(t *testing.T, open func(t *testing.T) switchboard.Store) {
	base := time.Date(2025, 7, 1, 9, 30, 0, 123456000, time.FixedZone("UTC+2", 2*3600))

	t.Run("TenantCRUD", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		if got := mustListTenants(t, s); len(got) != 0 {
			t.Fatalf("ListTenants of a new store: got %v, want none", got)
		}
		acme := switchboard.Tenant{
			Name:   "acme",
			Limits: switchboard.Limits{RPM: 600, TPM: 100_000, Concurrency: 8},
			Budget: switchboard.Budget{DailyUSD: 12.5, MonthlyUSD: 300, RollingUSD: 0.000123, RollingWindow: 7 * 24 * time.Hour,
				Action: "alert", AlertAt: []float64{0.5, 0.8, 1}},
			Source: "api", CreatedAt: base, UpdatedAt: base.Add(time.Second),
		}
		beta := switchboard.Tenant{Name: "beta", Limits: switchboard.Limits{RPM: 1}, Source: "config",
			CreatedAt: base.Add(-time.Hour), UpdatedAt: base.Add(-time.Hour)}
		zeta := switchboard.Tenant{Name: "Zeta ünï", Source: "api", CreatedAt: base.Add(time.Minute), UpdatedAt: base.Add(time.Minute)}
		for _, tn := range []switchboard.Tenant{beta, acme, zeta} {
			mustCreateTenant(t, s, tn)
		}
		// By name, in byte order: "Z" sorts before "a".
		if diff := cmp.Diff([]switchboard.Tenant{zeta, acme, beta}, mustListTenants(t, s)); diff != "" {
			t.Errorf("ListTenants (-want +got):\n%s", diff)
		}

		dup := acme
		dup.Limits, dup.Source = switchboard.Limits{}, "config"
		if err := s.CreateTenant(ctx, dup); !errors.Is(err, switchboard.ErrExists) {
			t.Errorf("CreateTenant of a taken name: got %v, want an error wrapping ErrExists", err)
		}

		// Update replaces limits, budget and UpdatedAt, and keeps the rest.
		upd := acme
		upd.Limits = switchboard.Limits{TPM: 60}
		upd.Budget = switchboard.Budget{MonthlyUSD: 1}
		upd.Source, upd.CreatedAt, upd.UpdatedAt = "config", base.Add(99*time.Hour), base.Add(time.Hour)
		if err := s.UpdateTenant(ctx, upd); err != nil {
			t.Fatalf("UpdateTenant: %v", err)
		}
		acme.Limits, acme.Budget, acme.UpdatedAt = upd.Limits, upd.Budget, upd.UpdatedAt
		if diff := cmp.Diff([]switchboard.Tenant{zeta, acme, beta}, mustListTenants(t, s)); diff != "" {
			t.Errorf("ListTenants after UpdateTenant (-want +got):\n%s", diff)
		}
		if err := s.UpdateTenant(ctx, switchboard.Tenant{Name: "nope"}); !errors.Is(err, switchboard.ErrNotFound) {
			t.Errorf("UpdateTenant of a missing tenant: got %v, want an error wrapping ErrNotFound", err)
		}

		if err := s.DeleteTenant(ctx, "beta"); err != nil {
			t.Fatalf("DeleteTenant: %v", err)
		}
		if diff := cmp.Diff([]switchboard.Tenant{zeta, acme}, mustListTenants(t, s)); diff != "" {
			t.Errorf("ListTenants after DeleteTenant (-want +got):\n%s", diff)
		}
		for _, name := range []string{"beta", "nope"} {
			if err := s.DeleteTenant(ctx, name); !errors.Is(err, switchboard.ErrNotFound) {
				t.Errorf("DeleteTenant(%q) of a missing tenant: got %v, want an error wrapping ErrNotFound", name, err)
			}
		}
		mustCreateTenant(t, s, beta) // a deleted name is free again
	})

	t.Run("KeyCRUD", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		if got := mustListKeys(t, s); len(got) != 0 {
			t.Fatalf("ListKeys of a new store: got %v, want none", got)
		}
		full := switchboard.APIKey{
			ID: "key-full", TenantID: "acme", Name: "CI ✓", Hash: hashOf("full"), Prefix: "sk-sb-fu",
			Scopes:    []string{switchboard.ScopeInference, switchboard.ScopeReadOnly},
			Models:    []string{"gpt-4o", "claude-sonnet"},
			Limits:    switchboard.Limits{RPM: 10, TPM: 2000, Concurrency: 2},
			Budget:    switchboard.Budget{DailyUSD: 1.25, RollingUSD: 3, RollingWindow: 24 * time.Hour, AlertAt: []float64{0.9}},
			ExpiresAt: ptr(base.Add(30 * 24 * time.Hour)), Source: "api", CreatedAt: base, UpdatedAt: base.Add(time.Microsecond),
		}
		revoked := switchboard.APIKey{
			ID: "key-revoked", TenantID: "acme", Hash: hashOf("revoked"), Prefix: "sk-sb-re",
			Scopes: []string{switchboard.ScopeAdmin}, ExpiresAt: ptr(base.Add(-time.Hour)), RevokedAt: ptr(base.Add(-time.Minute)),
			Source: "config", CreatedAt: base.Add(-2 * time.Hour), UpdatedAt: base.Add(-time.Minute),
		}
		// A key may belong to a tenant the store does not hold (one declared
		// in the configuration file). Empty Models come back nil, nil Scopes
		// empty, zero times zero.
		minimal := switchboard.APIKey{ID: "key-minimal", TenantID: "from-config", Hash: hashOf("minimal"), Models: []string{}}
		for _, k := range []switchboard.APIKey{full, minimal, revoked} {
			mustCreateKey(t, s, k)
		}
		minimal.Scopes, minimal.Models = []string{}, nil
		want := []switchboard.APIKey{minimal, revoked, full} // oldest first
		if diff := cmp.Diff(want, mustListKeys(t, s)); diff != "" {
			t.Errorf("ListKeys (-want +got):\n%s", diff)
		}

		for name, k := range map[string]switchboard.APIKey{
			"taken ID":   makeKey("key-full", "acme", base),
			"taken hash": {ID: "key-other", TenantID: "acme", Hash: full.Hash, CreatedAt: base},
		} {
			if err := s.CreateKey(ctx, k); !errors.Is(err, switchboard.ErrExists) {
				t.Errorf("CreateKey with a %s: got %v, want an error wrapping ErrExists", name, err)
			}
		}
		if diff := cmp.Diff(want, mustListKeys(t, s)); diff != "" {
			t.Errorf("ListKeys after failed CreateKey calls (-want +got):\n%s", diff)
		}
	})

	t.Run("RevokeKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		k, other := makeKey("k1", "acme", base), makeKey("k2", "acme", base.Add(time.Second))
		mustCreateKey(t, s, k)
		mustCreateKey(t, s, other)
		at := base.Add(time.Hour)
		if err := s.RevokeKey(ctx, k.ID, at); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		k.RevokedAt, k.UpdatedAt = &at, at
		want := []switchboard.APIKey{k, other}
		if diff := cmp.Diff(want, mustListKeys(t, s)); diff != "" {
			t.Errorf("ListKeys after RevokeKey (-want +got):\n%s", diff)
		}
		// Idempotent: the first revocation time stays.
		if err := s.RevokeKey(ctx, k.ID, at.Add(time.Hour)); err != nil {
			t.Errorf("RevokeKey of a revoked key: got %v, want nil", err)
		}
		if diff := cmp.Diff(want, mustListKeys(t, s)); diff != "" {
			t.Errorf("ListKeys after revoking again (-want +got):\n%s", diff)
		}
		if err := s.RevokeKey(ctx, "missing", at); !errors.Is(err, switchboard.ErrNotFound) {
			t.Errorf("RevokeKey of a missing key: got %v, want an error wrapping ErrNotFound", err)
		}
	})

	t.Run("DeleteTenantRevokesKeys", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		mustCreateTenant(t, s, switchboard.Tenant{Name: "a", Source: "api", CreatedAt: base, UpdatedAt: base})
		mustCreateTenant(t, s, switchboard.Tenant{Name: "b", Source: "api", CreatedAt: base, UpdatedAt: base})
		active, old, otherTenant := makeKey("a1", "a", base), makeKey("a2", "a", base.Add(time.Second)), makeKey("b1", "b", base.Add(2*time.Second))
		old.RevokedAt, old.UpdatedAt = ptr(base.Add(time.Minute)), base.Add(time.Minute)
		for _, k := range []switchboard.APIKey{active, old, otherTenant} {
			mustCreateKey(t, s, k)
		}
		before := time.Now()
		if err := s.DeleteTenant(ctx, "a"); err != nil {
			t.Fatalf("DeleteTenant: %v", err)
		}
		after := time.Now()
		got := mustListKeys(t, s)
		if len(got) != 3 {
			t.Fatalf("ListKeys after DeleteTenant: got %d keys, want all 3 (revoked, not deleted)", len(got))
		}
		// The store stamps the revocation itself: allow for its time precision.
		if r := got[0].RevokedAt; r == nil || r.Before(before.Add(-time.Millisecond)) || r.After(after.Add(time.Millisecond)) ||
			!got[0].UpdatedAt.Equal(*r) {
			t.Errorf("key of the deleted tenant: got RevokedAt %v, UpdatedAt %v; want both between %v and %v",
				r, got[0].UpdatedAt, before, after)
		}
		active.RevokedAt, active.UpdatedAt = got[0].RevokedAt, got[0].UpdatedAt
		if diff := cmp.Diff([]switchboard.APIKey{active, old, otherTenant}, got); diff != "" {
			t.Errorf("ListKeys after DeleteTenant (-want +got):\n%s", diff)
		}
	})

	t.Run("TenantsVersion", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		cur := mustTenantsVersion(t, s)
		seen := map[string]string{cur: "the start"}
		changed := func(op string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			v := mustTenantsVersion(t, s)
			if prev, ok := seen[v]; ok {
				t.Errorf("after %s: TenantsVersion %q, the same as after %s; want a new value", op, v, prev)
			}
			seen[v], cur = op, v
		}
		same := func(op string) {
			t.Helper()
			if v := mustTenantsVersion(t, s); v != cur {
				t.Errorf("%s changed TenantsVersion from %q to %q", op, cur, v)
				cur = v
			}
		}
		tn := switchboard.Tenant{Name: "acme", Source: "api", CreatedAt: base, UpdatedAt: base}
		changed("CreateTenant", s.CreateTenant(ctx, tn))
		tn.Limits.RPM = 5
		changed("UpdateTenant", s.UpdateTenant(ctx, tn))
		changed("CreateKey", s.CreateKey(ctx, makeKey("k1", "acme", base)))
		changed("CreateKey", s.CreateKey(ctx, makeKey("k2", "acme", base)))
		changed("RevokeKey", s.RevokeKey(ctx, "k1", base.Add(time.Hour)))
		changed("DeleteTenant", s.DeleteTenant(ctx, "acme"))
		changed("CreateTenant again", s.CreateTenant(ctx, tn))

		mustListTenants(t, s)
		mustListKeys(t, s)
		mustTenantsVersion(t, s)
		same("reading")
		// A write that fails changes nothing.
		_ = s.CreateTenant(ctx, tn)
		_ = s.UpdateTenant(ctx, switchboard.Tenant{Name: "nope"})
		_ = s.DeleteTenant(ctx, "nope")
		_ = s.CreateKey(ctx, makeKey("k1", "acme", base))
		_ = s.RevokeKey(ctx, "nope", base)
		same("a failed write")
	})

	t.Run("ConcurrentCreateKey", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const n = 20
		run := func(key func(i int) switchboard.APIKey) []error {
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { errs[i] = s.CreateKey(context.Background(), key(i)) })
			}
			wg.Wait()
			return errs
		}
		var want []string
		for i, err := range run(func(i int) switchboard.APIKey { return makeKey(fmt.Sprintf("c%02d", i), "acme", base) }) {
			if err != nil {
				t.Errorf("CreateKey #%d: %v", i, err)
			}
			want = append(want, fmt.Sprintf("c%02d", i))
		}
		var got []string
		for _, k := range mustListKeys(t, s) {
			got = append(got, k.ID)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("keys created concurrently (-want +got):\n%s", diff)
		}

		// One ID, n writers: exactly one wins, the others learn it exists.
		wins := 0
		for i, err := range run(func(i int) switchboard.APIKey {
			k := makeKey("same", "acme", base)
			k.Hash = hashOf(fmt.Sprint("same", i))
			return k
		}) {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, switchboard.ErrExists):
				t.Errorf("CreateKey #%d of a contended ID: got %v, want nil or ErrExists", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("CreateKey of one ID from %d goroutines: %d succeeded, want 1", n, wins)
		}
	})
}

// makeKey returns an inference key of tenant with every field but RevokedAt
// set, created (and updated) at created.
func makeKey(id, tenant string, created time.Time) switchboard.APIKey {
	return switchboard.APIKey{
		ID: id, TenantID: tenant, Name: "key " + id, Hash: hashOf(id), Prefix: "sk-" + id,
		Scopes: []string{switchboard.ScopeInference}, Models: []string{"m"},
		Limits: switchboard.Limits{RPM: 60}, Budget: switchboard.Budget{DailyUSD: 1},
		ExpiresAt: ptr(created.Add(24 * time.Hour)), Source: "api", CreatedAt: created, UpdatedAt: created,
	}
}

// hashOf returns the hex SHA-256 of the key sk-<s>.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte("sk-" + s))
	return hex.EncodeToString(sum[:])
}

func mustCreateTenant(tb testing.TB, s switchboard.TenantStore, t switchboard.Tenant) {
	tb.Helper()
	if err := s.CreateTenant(context.Background(), t); err != nil {
		tb.Fatalf("CreateTenant(%q): %v", t.Name, err)
	}
}

func mustCreateKey(tb testing.TB, s switchboard.TenantStore, k switchboard.APIKey) {
	tb.Helper()
	if err := s.CreateKey(context.Background(), k); err != nil {
		tb.Fatalf("CreateKey(%q): %v", k.ID, err)
	}
}

func mustListTenants(tb testing.TB, s switchboard.TenantStore) []switchboard.Tenant {
	tb.Helper()
	got, err := s.ListTenants(context.Background())
	if err != nil {
		tb.Fatalf("ListTenants: %v", err)
	}
	return got
}

func mustListKeys(tb testing.TB, s switchboard.TenantStore) []switchboard.APIKey {
	tb.Helper()
	got, err := s.ListKeys(context.Background())
	if err != nil {
		tb.Fatalf("ListKeys: %v", err)
	}
	return got
}

func mustTenantsVersion(tb testing.TB, s switchboard.TenantStore) string {
	tb.Helper()
	v, err := s.TenantsVersion(context.Background())
	if err != nil {
		tb.Fatalf("TenantsVersion: %v", err)
	}
	return v
}
