package budget

import (
	"context"
	"crypto/rand"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchboard-ai/switchboard"
)

// store makes ledgers that share one backend state, as replicas of a
// deployment do. Each call returns a new Ledger (for Redis with a client of
// its own), closed when the test ends.
type store func(o Options) *Ledger

// backends lists the backends every suite test runs against.
var backends = []struct {
	name     string
	newStore func(t *testing.T) store
}{
	{"memory", newMemoryStore},
	{"redis", newRedisStore},
}

// forEachBackend runs f as a subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, newStore func(t *testing.T) store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b.newStore)
		})
	}
}

func newMemoryStore(t *testing.T) store {
	m := newMemory()
	return func(o Options) *Ledger {
		l := newLedger(m, o)
		closeAtEnd(t, l)
		return l
	}
}

// redisURL returns SWITCHBOARD_TEST_REDIS_URL or skips the test.
func redisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if u == "" {
		tb.Skip("SWITCHBOARD_TEST_REDIS_URL not set: skipping Redis tests")
	}
	return u
}

// mustRedisClient returns a client of the test server, closed when the
// test ends.
func mustRedisClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	opt, err := goredis.ParseURL(redisURL(tb))
	if err != nil {
		tb.Fatalf("parse SWITCHBOARD_TEST_REDIS_URL: %v", err)
	}
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	c := goredis.NewClient(opt)
	if err := c.Ping(context.Background()).Err(); err != nil {
		_ = c.Close()
		tb.Fatalf("ping test redis: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// newRedisStore returns a store under a prefix of its own, whose keys are
// deleted when the test ends.
func newRedisStore(t *testing.T) store {
	prefix := mustRedisPrefix(t)
	return func(o Options) *Ledger {
		l := NewRedis(mustRedisClient(t), prefix, o)
		closeAtEnd(t, l)
		return l
	}
}

// mustRedisPrefix returns a random key prefix whose keys are deleted when
// the test ends.
func mustRedisPrefix(tb testing.TB) string {
	tb.Helper()
	c := mustRedisClient(tb)
	prefix := "switchboard:test:budget:" + rand.Text() + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("clean up %s: %v", prefix, err)
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				tb.Errorf("clean up %s: %v", prefix, err)
			}
		}
	})
	return prefix
}

// closeAtEnd closes l when the test ends (it may have been closed already).
func closeAtEnd(tb testing.TB, l *Ledger) {
	tb.Cleanup(func() { _ = l.Close(context.Background()) })
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is a Notifier that keeps the alerts it is told.
type recorder struct {
	mu     sync.Mutex
	alerts []Alert
}

func (r *recorder) Notify(_ context.Context, a Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
	return nil
}

func (r *recorder) got() []Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Alert(nil), r.alerts...)
}

// mustClose closes l, delivering its queued alerts.
func mustClose(tb testing.TB, l *Ledger) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

func mustReserve(tb testing.TB, l *Ledger, scopes []Scope, usd float64) Decision {
	tb.Helper()
	d, err := l.Reserve(context.Background(), scopes, usd)
	if err != nil {
		tb.Fatalf("Reserve(%v): %v", usd, err)
	}
	return d
}

func mustSettle(tb testing.TB, l *Ledger, r *Reservation, usd float64) {
	tb.Helper()
	if err := l.Settle(context.Background(), r, usd); err != nil {
		tb.Fatalf("Settle(%v): %v", usd, err)
	}
}

func mustCharge(tb testing.TB, l *Ledger, scopes []Scope, usd float64) {
	tb.Helper()
	if err := l.Charge(context.Background(), scopes, usd); err != nil {
		tb.Fatalf("Charge(%v): %v", usd, err)
	}
}

// mustStatus returns the status of s's windows by name.
func mustStatus(tb testing.TB, l *Ledger, s Scope) map[string]WindowStatus {
	tb.Helper()
	st, err := l.Status(context.Background(), s)
	if err != nil {
		tb.Fatalf("Status(%s %s): %v", s.Kind, s.ID, err)
	}
	m := make(map[string]WindowStatus, len(st))
	for _, w := range st {
		m[w.Window] = w
	}
	return m
}

// near reports whether two dollar amounts are equal to the nano-dollar.
func near(a, b float64) bool { return math.Abs(a-b) < 0.5e-9 }

func tenant(id string, b switchboard.Budget) Scope { return Scope{Kind: KindTenant, ID: id, Budget: b} }

func key(id string, b switchboard.Budget) Scope { return Scope{Kind: KindKey, ID: id, Budget: b} }
