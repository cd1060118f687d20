package caching

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/disk"
	"github.com/switchboard-ai/switchboard/inmem"
	"github.com/switchboard-ai/switchboard/redis"
	"github.com/switchboard-ai/switchboard/sbtest"
)

// The response cache finds the serving tier through this method.
var _ interface {
	GetTier(ctx context.Context, key string) ([]byte, string, bool, error)
} = (*Tiered)(nil)

func TestTieredConformance(t *testing.T) {
	t.Parallel()
	sbtest.TestCache(t, func(t *testing.T) switchboard.Cache {
		return newRealTiered(t)
	})
}

// newRealTiered returns memory → disk, → redis when
// SWITCHBOARD_TEST_REDIS_URL is set (under a random prefix, cleaned up).
func newRealTiered(t *testing.T) *Tiered {
	t.Helper()
	deps := switchboard.Deps{}
	mem, err := inmem.New(inmem.Config{MaxBytes: 64 << 20}, deps)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := disk.New(t.Context(), disk.Config{Path: t.TempDir(), MaxBytes: 64 << 20}, deps)
	if err != nil {
		t.Fatal(err)
	}
	tiers := []Tier{{"memory", mem}, {"disk", dc}}
	if u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL"); u != "" {
		cfg := redis.Config{URL: u, Prefix: "switchboard:test:" + rand.Text() + ":"}
		rc, err := redis.New(t.Context(), cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cl, err := redis.New(context.Background(), cfg, deps)
			if err != nil {
				t.Errorf("clean up %s: %v", cfg.Prefix, err)
				return
			}
			defer func() { _ = cl.Close() }()
			if _, err := cl.DeletePrefix(context.Background(), ""); err != nil {
				t.Errorf("clean up %s: %v", cfg.Prefix, err)
			}
		})
		tiers = append(tiers, Tier{"redis", rc})
	}
	tc, err := NewTiered(nil, tiers...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	return tc
}

func TestTieredPromotion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	mem, dsk, rds := newFakeTier(), newFakeTier(), newFakeTier()
	tc := mustTiered(t, nil, Tier{"memory", mem}, Tier{"disk", dsk}, Tier{"redis", rds})

	// Only Redis has it, with 30s left: both tiers above get it for 30s.
	rds.put("k", "v", 30*time.Second)
	wantGetTier(t, tc, "k", "v", "redis")
	for name, f := range map[string]*fakeTier{"memory": mem, "disk": dsk} {
		if got := f.lastSet("k"); got.value != "v" || got.ttl != 30*time.Second {
			t.Errorf("%s: promoted as %+v, want {v 30s}", name, got)
		}
	}
	wantGetTier(t, tc, "k", "v", "memory")

	// Only disk has it: memory gets it, Redis is not written.
	dsk.put("d", "dv", time.Minute)
	wantGetTier(t, tc, "d", "dv", "disk")
	if got := mem.lastSet("d"); got.ttl != time.Minute {
		t.Errorf("memory: promoted with ttl %v, want 1m", got.ttl)
	}
	if got := rds.lastSet("d"); got != (setCall{}) {
		t.Errorf("redis: written %+v on a promotion from disk, want nothing", got)
	}

	// A tier that cannot tell the TTL: promoted with the upper tiers' default.
	plain := newFakeTier()
	plain.put("p", "pv", time.Minute)
	mem2 := newFakeTier()
	tc2 := mustTiered(t, nil, Tier{"memory", mem2}, Tier{"plain", struct{ switchboard.Cache }{plain}})
	wantGetTier(t, tc2, "p", "pv", "plain")
	if got := mem2.lastSet("p"); got.value != "pv" || got.ttl != 0 {
		t.Errorf("memory: promoted as %+v, want {pv 0}", got)
	}

	// GetWithTTL reports the remaining TTL of the first tier too.
	if _, ttl, ok, err := tc.GetWithTTL(ctx, "k"); err != nil || !ok || ttl != 30*time.Second {
		t.Errorf("GetWithTTL(k): got (%v, %v, %v), want (30s, true, nil)", ttl, ok, err)
	}
	if _, _, tier, ok, err := tc.get(ctx, "missing", true); ok || err != nil || tier != "" {
		t.Errorf("get(missing): got (%q, %v, %v), want a miss", tier, ok, err)
	}
}

func TestTieredSetAndDelete(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	mem, rds := newFakeTier(), newFakeTier()
	tc := mustTiered(t, nil, Tier{"memory", mem}, Tier{"redis", rds})
	if err := tc.Set(ctx, "tenant:a:1", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := tc.Set(ctx, "tenant:b:1", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*fakeTier{"memory": mem, "redis": rds} {
		if got := f.lastSet("tenant:a:1"); got != (setCall{"v", time.Hour}) {
			t.Errorf("%s: Set as %+v, want {v 1h}", name, got)
		}
	}
	mem.del("tenant:a:1") // evicted from memory only
	if n, err := tc.DeletePrefix(ctx, "tenant:a:"); err != nil || n != 1 {
		t.Errorf("DeletePrefix: got (%d, %v), want (1, nil): the count of the tier that had most", n, err)
	}
	if err := tc.Delete(ctx, "tenant:b:1"); err != nil {
		t.Fatal(err)
	}
	if mem.len()+rds.len() != 0 {
		t.Errorf("after deleting everything: %d entries in memory, %d in redis, want 0", mem.len(), rds.len())
	}

	// A tier that cannot purge makes the purge incomplete.
	tc2 := mustTiered(t, nil, Tier{"memory", newFakeTier()}, Tier{"plain", struct{ switchboard.Cache }{newFakeTier()}})
	if _, err := tc2.DeletePrefix(ctx, ""); err == nil || !strings.Contains(err.Error(), "plain: cannot delete by prefix") {
		t.Errorf("DeletePrefix with a tier that cannot purge: got %v, want an error naming it", err)
	}
}

func TestTieredBrokenTier(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	mem, dsk, rds := newFakeTier(), newFakeTier(), newFakeTier()
	tc := mustTiered(t, log, Tier{"memory", mem}, Tier{"disk", dsk}, Tier{"redis", rds})
	down := errors.New("connection refused")
	rds.setErr(down)

	// Writes and reads go on with the tiers that work.
	if err := tc.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Errorf("Set with redis down: got %v, want nil", err)
	}
	wantGetTier(t, tc, "k", "v", "memory")
	mem.del("k")
	wantGetTier(t, tc, "k", "v", "disk")
	if v, tier, ok, err := tc.GetTier(ctx, "missing"); ok || err != nil {
		t.Errorf("GetTier(missing) with redis down: got (%q, %q, %v, %v), want a plain miss", v, tier, ok, err)
	}
	// A purge that missed a tier says so, but still purges the others.
	if n, err := tc.DeletePrefix(ctx, ""); !errors.Is(err, down) || n != 1 {
		t.Errorf("DeletePrefix with redis down: got (%d, %v), want (1, an error wrapping the tier's)", n, err)
	}
	if err := tc.Delete(ctx, "k"); !errors.Is(err, down) {
		t.Errorf("Delete with redis down: got %v, want an error wrapping the tier's", err)
	}
	if stats, err := tc.TierStats(ctx); !errors.Is(err, down) || len(stats) != 2 {
		t.Errorf("TierStats with redis down: got (%+v, %v), want 2 tiers and the error", stats, err)
	}
	if _, _, err := tc.CacheStats(ctx); err != nil {
		t.Errorf("CacheStats with redis down: got %v, want nil", err)
	}

	// Every tier down: an error.
	mem.setErr(down)
	dsk.setErr(down)
	if _, _, err := tc.Get(ctx, "k"); !errors.Is(err, down) {
		t.Errorf("Get with every tier down: got %v, want an error wrapping the tiers'", err)
	}
	if err := tc.Set(ctx, "k", []byte("v"), 0); !errors.Is(err, down) {
		t.Errorf("Set with every tier down: got %v, want an error wrapping the tiers'", err)
	}
	if _, _, err := tc.CacheStats(ctx); !errors.Is(err, down) {
		t.Errorf("CacheStats with every tier down: got %v, want an error", err)
	}

	// Logged once when it breaks and once when it recovers.
	rds.setErr(nil)
	if _, _, err := tc.Get(ctx, "k"); err != nil {
		t.Errorf("Get with redis back: %v", err)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="cache tier failing" tier=redis`); n != 1 {
		t.Errorf("redis failing logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="cache tier recovered" tier=redis`); n != 1 {
		t.Errorf("redis recovery logged %d times, want once:\n%s", n, out)
	}

	// A canceled request is not a broken tier.
	logs.Reset()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	rds.setErr(context.Canceled)
	mem.setErr(context.Canceled)
	if _, _, err := tc.Get(canceled, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: got %v, want context.Canceled", err)
	}
	if logs.Len() != 0 {
		t.Errorf("a canceled Get logged:\n%s", logs.String())
	}
}

func TestTieredDeleteDuringPromotion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	mem, rds := newFakeTier(), newFakeTier()
	tc := mustTiered(t, nil, Tier{"memory", mem}, Tier{"redis", rds})
	rds.put("k", "old", time.Minute)
	// The purge runs after Redis answered and before the promotion.
	rds.onGet = func() {
		if _, err := tc.DeletePrefix(ctx, ""); err != nil {
			t.Errorf("DeletePrefix: %v", err)
		}
	}
	wantGetTier(t, tc, "k", "old", "redis")
	rds.onGet = nil
	if v, ok, _ := mem.Get(ctx, "k"); ok {
		t.Errorf("memory after a purge that raced a promotion: got %q, want a miss", v)
	}
	if v, ok, err := tc.Get(ctx, "k"); ok || err != nil {
		t.Errorf("Get after the purge: got (%q, %v, %v), want a miss", v, ok, err)
	}
}

func TestTieredStats(t *testing.T) {
	t.Parallel()
	mem, dsk := newFakeTier(), newFakeTier()
	tc := mustTiered(t, nil, Tier{"memory", mem}, Tier{"disk", dsk}, Tier{"plain", struct{ switchboard.Cache }{newFakeTier()}})
	mem.put("a", "12345", time.Minute)
	dsk.put("a", "12345", time.Minute)
	dsk.put("b", "123", time.Minute)
	stats, err := tc.TierStats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []TierStat{{Tier: "memory", Entries: 1, Bytes: 5}, {Tier: "disk", Entries: 2, Bytes: 8}}
	if diff := cmp.Diff(want, stats); diff != "" {
		t.Errorf("TierStats (-want +got):\n%s", diff)
	}
	if n, b, err := tc.CacheStats(t.Context()); n != 2 || b != 13 || err != nil {
		t.Errorf("CacheStats: got (%d, %d, %v), want (2, 13, nil)", n, b, err)
	}
	if got := tc.Tiers(); !slices.Equal(got, []string{"memory", "disk", "plain"}) {
		t.Errorf("Tiers: got %q", got)
	}
}

func TestNewTiered(t *testing.T) {
	t.Parallel()
	f := newFakeTier()
	for _, tc := range []struct {
		name  string
		tiers []Tier
		want  string
	}{
		{"no tiers", nil, "no tiers"},
		{"no name", []Tier{{"", f}}, "tier 0: no name"},
		{"no cache", []Tier{{"memory", nil}}, "tier memory: no cache"},
		{"duplicate", []Tier{{"memory", f}, {"memory", f}}, "tier memory: duplicate name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewTiered(nil, tc.tiers...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewTiered: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestTieredClose(t *testing.T) {
	t.Parallel()
	var order []string
	var mu sync.Mutex
	closer := func(name string) *closingTier {
		return &closingTier{fakeTier: newFakeTier(), close: func() { mu.Lock(); order = append(order, name); mu.Unlock() }}
	}
	tc, err := NewTiered(nil, Tier{"memory", closer("memory")}, Tier{"plain", newFakeTier()}, Tier{"redis", closer("redis")})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if diff := cmp.Diff([]string{"redis", "memory"}, order); diff != "" {
		t.Errorf("close order (-want +got):\n%s", diff)
	}
}

// wantGetTier checks that GetTier(key) hits value in tier.
func wantGetTier(t *testing.T, tc *Tiered, key, value, tier string) {
	t.Helper()
	v, got, ok, err := tc.GetTier(t.Context(), key)
	if err != nil || !ok || string(v) != value || got != tier {
		t.Errorf("GetTier(%q): got (%q, %q, %v, %v), want (%q, %q, true, nil)", key, v, got, ok, err, value, tier)
	}
}

func mustTiered(t *testing.T, log *slog.Logger, tiers ...Tier) *Tiered {
	t.Helper()
	tc, err := NewTiered(log, tiers...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	return tc
}

// setCall is a Set a fakeTier saw.
type setCall struct {
	value string
	ttl   time.Duration
}

// fakeTier is a map-backed tier with fixed TTLs (no clock), an error to
// fail every call with, and a hook that runs inside GetWithTTL.
type fakeTier struct {
	mu    sync.Mutex
	m     map[string]setCall // value and remaining TTL
	sets  map[string]setCall
	err   error
	onGet func()
}

func newFakeTier() *fakeTier {
	return &fakeTier{m: map[string]setCall{}, sets: map[string]setCall{}}
}

func (f *fakeTier) put(key, value string, ttl time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[key] = setCall{value, ttl}
}

func (f *fakeTier) del(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, key)
}

func (f *fakeTier) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

func (f *fakeTier) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeTier) lastSet(key string) setCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sets[key]
}

func (f *fakeTier) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := f.GetWithTTL(ctx, key)
	return v, ok, err
}

func (f *fakeTier) GetWithTTL(_ context.Context, key string) ([]byte, time.Duration, bool, error) {
	f.mu.Lock()
	e, ok := f.m[key]
	err, hook := f.err, f.onGet
	f.mu.Unlock()
	if err != nil {
		return nil, 0, false, err
	}
	if hook != nil {
		hook()
	}
	if !ok {
		return nil, 0, false, nil
	}
	return []byte(e.value), e.ttl, true, nil
}

func (f *fakeTier) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.m[key] = setCall{string(value), ttl}
	f.sets[key] = setCall{string(value), ttl}
	return nil
}

func (f *fakeTier) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	delete(f.m, key)
	return nil
}

func (f *fakeTier) DeletePrefix(_ context.Context, prefix string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for k := range f.m {
		if strings.HasPrefix(k, prefix) {
			delete(f.m, k)
			n++
		}
	}
	return n, nil
}

func (f *fakeTier) CacheStats(context.Context) (int, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, 0, f.err
	}
	var b int64
	for _, e := range f.m {
		b += int64(len(e.value))
	}
	return len(f.m), b, nil
}

// closingTier is a fakeTier that is an io.Closer.
type closingTier struct {
	*fakeTier
	close func()
}

func (c *closingTier) Close() error { c.close(); return nil }
