package limits

import (
	"sync"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeMemory is a Memory on a fake clock, which the suite moves.
type fakeMemory struct {
	*Memory
	clock *fakeClock
}

func (f fakeMemory) sleep(d time.Duration) { f.clock.Advance(d) }

func newFakeMemory(opts ...Option) fakeMemory {
	c := newFakeClock()
	return fakeMemory{Memory: NewMemory(append(opts, WithClock(c.Now))...), clock: c}
}

func TestMemory(t *testing.T) {
	t.Parallel()
	testLimiter(t, func(t *testing.T) Limiter { return newFakeMemory() })
}

func TestMemoryRealClock(t *testing.T) {
	t.Parallel()
	l := NewMemory()
	rules := []Rule{{Scope: ScopeTenant, ID: "acme", Limits: switchboard.Limits{RPM: 2, TPM: 100, Concurrency: 2}}}
	a := mustAllow(t, l, rules, 10)
	b := mustAllow(t, l, rules, 10)
	d := mustDeny(t, l, rules, 10, ScopeTenant, Requests)
	if d.RetryAfter <= 29*time.Second || d.RetryAfter > 30*time.Second {
		t.Errorf("RetryAfter: got %s, want just under 30s", d.RetryAfter)
	}
	mustSettle(t, l, &a.Lease, 10)
	mustSettle(t, l, &b.Lease, 10)
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	l := newFakeMemory()
	tenant := func(id string) []Rule {
		return []Rule{{Scope: ScopeTenant, ID: id, Limits: switchboard.Limits{RPM: 60, TPM: 6000, Concurrency: 10}}}
	}
	held := mustAllow(t, l, tenant("held"), 100)
	for _, id := range []string{"a", "b", "c", "d"} {
		d := mustAllow(t, l, tenant(id), 100)
		mustSettle(t, l, &d.Lease, 100)
	}
	if got, want := len(l.states), 5; got != want {
		t.Fatalf("states: got %d, want %d", got, want)
	}

	// After a minute the buckets have drained: every scope but the one
	// still holding a concurrency slot goes at the next call.
	l.sleep(time.Minute + time.Second)
	d := mustAllow(t, l, tenant("e"), 100)
	if got, want := len(l.states), 2; got != want {
		t.Errorf("states after the sweep: got %d, want %d", got, want)
	}
	mustSettle(t, l, &d.Lease, 100)
	mustSettle(t, l, &held.Lease, 100)
	l.sleep(2 * time.Minute)
	mustCharge(t, l, nil, 0, 0)
	mustAllow(t, l, []Rule{rpm(ScopeGlobal, "", 1)}, 0)
	if got, want := len(l.states), 1; got != want {
		t.Errorf("states after the second sweep: got %d, want %d", got, want)
	}
}

func TestMemorySweepShrinks(t *testing.T) {
	t.Parallel()
	l := newFakeMemory()
	for i := range 5000 {
		mustCharge(t, l, []Rule{rpm(ScopeKey, string(rune('a'+i%26))+time.Duration(i).String(), 10)}, 1, 0)
	}
	if l.peak != 5000 {
		t.Fatalf("peak: got %d, want 5000", l.peak)
	}
	l.sleep(time.Hour)
	mustAllow(t, l, []Rule{rpm(ScopeGlobal, "", 1)}, 0)
	if len(l.states) != 1 || l.peak != 1 {
		t.Errorf("after the sweep: got %d states, peak %d, want 1, 1", len(l.states), l.peak)
	}
}

// TestLimitArithmetic checks the GCRA edge cases directly: exact bursts for
// limits that do not divide a minute, huge limits and huge charges.
func TestLimitArithmetic(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{1, 7, 13, 59, 61, 997, 7919} {
		l := newFakeMemory()
		rules := []Rule{rpm(ScopeGlobal, "", limit)}
		for i := range limit {
			if d := mustAdmit(t, l, rules, 0); !d.Allowed {
				t.Fatalf("limit %d: request %d denied", limit, i+1)
			}
		}
		d := mustDeny(t, l, rules, 0, ScopeGlobal, Requests)
		want := (time.Minute + time.Duration(limit) - 1) / time.Duration(limit)
		if diff := d.RetryAfter - want; diff < 0 || diff > time.Microsecond {
			t.Errorf("limit %d: RetryAfter got %s, want %s", limit, d.RetryAfter, want)
		}
		l.sleep(d.RetryAfter)
		mustAllow(t, l, rules, 0)
		mustDeny(t, l, rules, 0, ScopeGlobal, Requests)
	}

	l := newFakeMemory()
	huge := []Rule{tpm(ScopeGlobal, "", 1<<62)} // clamped to MaxLimit
	d := mustAllow(t, l, huge, MaxLimit)
	if d.Tokens.Limit != MaxLimit || d.Tokens.Remaining != 0 {
		t.Errorf("huge: got %+v, want limit MaxLimit, none remaining", d.Tokens)
	}
	mustSettle(t, l, &d.Lease, 1<<62) // saturates
	d = mustDeny(t, l, huge, 0, ScopeGlobal, Tokens)
	if d.RetryAfter <= 0 || d.Denied.Reset < d.RetryAfter {
		t.Errorf("huge: got RetryAfter %s, Reset %s", d.RetryAfter, d.Denied.Reset)
	}
	mustCharge(t, l, huge, 0, 1<<62)
	mustCharge(t, l, huge, 0, 1<<62)
	if d := l.states[scopeKey{ScopeGlobal, ""}].rate(Tokens).d; d != maxDebt {
		t.Errorf("debt: got %d, want maxDebt", d)
	}
}

func TestMemoryLeasePinsState(t *testing.T) {
	t.Parallel()
	l := newFakeMemory()
	rules := []Rule{tpm(ScopeModel, "gpt", 600)}
	d := mustAllow(t, l, rules, 0)
	l.sleep(5 * time.Minute)
	mustAllow(t, l, []Rule{rpm(ScopeGlobal, "", 1)}, 0) // sweeps
	if got := len(l.states); got != 2 {
		t.Fatalf("states: got %d, want 2: the lease keeps its scope", got)
	}
	mustSettle(t, l, &d.Lease, 900) // charged on the same state
	d = mustDeny(t, l, rules, 0, ScopeModel, Tokens)
	if d.RetryAfter != 30*time.Second {
		t.Errorf("RetryAfter at 900 of 600: got %s, want 30s", d.RetryAfter)
	}
	if s := l.states[scopeKey{ScopeModel, "gpt"}]; s.pins != 0 {
		t.Errorf("pins after Settle: got %d, want 0", s.pins)
	}
}
