package limits

import (
	"context"
	"crypto/rand"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboard-ai/switchboard"
)

// mustClient returns a client of SWITCHBOARD_TEST_REDIS_URL, closed when the
// test ends, or skips the test.
func mustClient(tb testing.TB) *redis.Client {
	tb.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if u == "" {
		tb.Skip("SWITCHBOARD_TEST_REDIS_URL not set: skipping Redis tests")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("SWITCHBOARD_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(tb.Context()).Err(); err != nil {
		tb.Fatalf("redis: %v", err)
	}
	return c
}

// testPrefix returns a prefix of its own, whose keys are deleted when the
// test ends.
func testPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	prefix := "switchboard:test:limits:" + rand.Text()
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("clean up %s: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("clean up %s: %v", prefix, err)
			}
		}
	})
	return prefix
}

func newTestRedis(tb testing.TB, opts ...Option) (*Redis, *redis.Client) {
	tb.Helper()
	c := mustClient(tb)
	return NewRedis(c, testPrefix(tb, c), opts...), c
}

func TestRedis(t *testing.T) {
	t.Parallel()
	mustClient(t)
	testLimiter(t, func(t *testing.T) Limiter {
		l, _ := newTestRedis(t)
		return l
	})
}

func TestRedisLeaseExpiry(t *testing.T) {
	t.Parallel()
	l, _ := newTestRedis(t, WithLeaseTTL(300*time.Millisecond))
	rules := []Rule{conc(ScopeUpstream, "openai", 1)}
	mustAllow(t, l, rules, 0) // held by a replica that then crashes
	mustDeny(t, l, rules, 0, ScopeUpstream, Concurrency)
	time.Sleep(350 * time.Millisecond)
	d := mustAllow(t, l, rules, 0)
	mustDeny(t, l, rules, 0, ScopeUpstream, Concurrency)
	mustSettle(t, l, &d.Lease, 0)
	mustAllow(t, l, rules, 0)
}

func TestRedisKeys(t *testing.T) {
	t.Parallel()
	l, c := newTestRedis(t)
	rules := []Rule{
		{Scope: ScopeTenant, ID: "a:b c", Limits: switchboard.Limits{RPM: 60, TPM: 600, Concurrency: 2}},
		{Scope: ScopeKey, ID: "{k}", Limits: switchboard.Limits{RPM: 6}},
	}
	d := mustAllow(t, l, rules, 100)
	for key, max := range map[string]time.Duration{
		l.prefix + ":tenant:a%3Ab%20c:requests":    2 * time.Second,  // 1s of debt + 1s
		l.prefix + ":tenant:a%3Ab%20c:tokens":      11 * time.Second, // 10s + 1s
		l.prefix + ":tenant:a%3Ab%20c:concurrency": DefaultLeaseTTL + time.Second,
		l.prefix + ":key:%7Bk%7D:requests":         11 * time.Second,
	} {
		ttl, err := c.PTTL(t.Context(), key).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", key, err)
		}
		if ttl <= max-time.Second || ttl > max {
			t.Errorf("PTTL %s: got %s, want (%s, %s]", key, ttl, max-time.Second, max)
		}
	}
	// Settling the whole reservation back drops the tokens key; the
	// concurrency key goes with its last lease.
	mustSettle(t, l, &d.Lease, 0)
	keys, err := c.Keys(t.Context(), l.prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Errorf("keys after Settle: got %q, want the two requests keys", keys)
	}
	for _, k := range keys {
		if !strings.HasSuffix(k, ":requests") {
			t.Errorf("key %s left after Settle", k)
		}
	}
}

// TestRedisReplicas hammers one global rule from three limiters with
// clients of their own (three replicas) for two seconds. The burst is used
// up by a Charge first, so what is admitted afterwards is the rate alone:
// (elapsed × 1000/s) by the server's clock, within 2%.
func TestRedisReplicas(t *testing.T) {
	// Not parallel: it saturates the server, which would slow the timing
	// checks of other tests.
	const limit = 60_000 // 1000 a second
	c := mustClient(t)
	prefix := testPrefix(t, c)
	rules := []Rule{rpm(ScopeGlobal, "", limit)}
	var replicas []*Redis
	for range 3 {
		replicas = append(replicas, NewRedis(mustClient(t), prefix))
	}
	serverTime := func() time.Time {
		now, err := c.Time(t.Context()).Result()
		if err != nil {
			t.Fatalf("TIME: %v", err)
		}
		return now
	}

	start := serverTime()
	mustCharge(t, replicas[0], rules, limit, 0)
	stop := time.Now().Add(2 * time.Second)
	var admitted, denied atomic.Int64
	var wg sync.WaitGroup
	for _, r := range replicas {
		for range 4 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					d, err := r.Admit(t.Context(), rules, 0)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						admitted.Add(1)
					} else {
						denied.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := serverTime().Sub(start)

	want := float64(limit) * elapsed.Seconds() / 60
	got := float64(admitted.Load())
	t.Logf("admitted %.0f, denied %d in %s: want %.0f", got, denied.Load(), elapsed, want)
	if math.Abs(got-want) > 0.02*want {
		t.Errorf("admitted %.0f, want %.0f ± 2%%", got, want)
	}
	if denied.Load() == 0 {
		t.Errorf("nothing denied: the replicas did not hammer hard enough to test the rate")
	}
}

func TestRedisWait(t *testing.T) {
	t.Parallel()
	l, _ := newTestRedis(t)
	rules := []Rule{rpm(ScopeUpstream, "openai", 600)}
	mustCharge(t, l, rules, 600, 0)
	start := time.Now()
	d, err := Wait(t.Context(), l, rules, 0, time.Second)
	if err != nil || !d.Allowed {
		t.Fatalf("Wait: got %+v, %v, want allowed", d, err)
	}
	if waited := time.Since(start); waited < 90*time.Millisecond || waited > 500*time.Millisecond {
		t.Errorf("waited %s, want about 100ms", waited)
	}
}

func TestRedisGate(t *testing.T) {
	t.Parallel()
	l, _ := newTestRedis(t)
	g := NewGate(l, map[string]switchboard.Limits{"geo": {RPM: 1, Concurrency: 1}}, 0)
	got, err := Call(t.Context(), g, "geo", 1, func(context.Context) (string, error) { return "ok", nil })
	if err != nil || got != "ok" {
		t.Fatalf("Call: got %q, %v, want ok", got, err)
	}
	if _, err := Call(t.Context(), g, "geo", 1, func(context.Context) (string, error) { return "ok", nil }); err == nil {
		t.Fatalf("second Call: got nil, want ErrLimited")
	}
}
