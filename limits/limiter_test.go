package limits

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// sleeper is a test limiter whose clock the suite moves instead of sleeping.
type sleeper interface{ sleep(time.Duration) }

// pause lets d pass for l: on its fake clock if it has one, else for real.
func pause(l Limiter, d time.Duration) {
	if s, ok := l.(sleeper); ok {
		s.sleep(d)
		return
	}
	time.Sleep(d)
}

// slack is how far a status may have drifted while a real-time test ran:
// nothing for a fake clock.
func slack(l Limiter) time.Duration {
	if _, ok := l.(sleeper); ok {
		return 0
	}
	return 500 * time.Millisecond
}

func rpm(scope, id string, n int64) Rule {
	return Rule{Scope: scope, ID: id, Limits: switchboard.Limits{RPM: n}}
}

func tpm(scope, id string, n int64) Rule {
	return Rule{Scope: scope, ID: id, Limits: switchboard.Limits{TPM: n}}
}

func conc(scope, id string, n int64) Rule {
	return Rule{Scope: scope, ID: id, Limits: switchboard.Limits{Concurrency: n}}
}

func mustAdmit(tb testing.TB, l Limiter, rules []Rule, tokens int64) Decision {
	tb.Helper()
	d, err := l.Admit(tb.Context(), rules, tokens)
	if err != nil {
		tb.Fatalf("Admit: %v", err)
	}
	return d
}

func mustAllow(tb testing.TB, l Limiter, rules []Rule, tokens int64) Decision {
	tb.Helper()
	d := mustAdmit(tb, l, rules, tokens)
	if !d.Allowed {
		tb.Fatalf("Admit(%d tokens): denied by %s %q %s (retry after %s), want allowed",
			tokens, d.Denied.Scope, d.Denied.ID, d.Denied.Kind, d.RetryAfter)
	}
	return d
}

func mustDeny(tb testing.TB, l Limiter, rules []Rule, tokens int64, scope string, kind Kind) Decision {
	tb.Helper()
	d := mustAdmit(tb, l, rules, tokens)
	if d.Allowed {
		tb.Fatalf("Admit(%d tokens): allowed, want denied by %s %s", tokens, scope, kind)
	}
	if d.Denied.Scope != scope || d.Denied.Kind != kind {
		tb.Fatalf("Admit(%d tokens): denied by %s %s, want %s %s", tokens, d.Denied.Scope, d.Denied.Kind, scope, kind)
	}
	if d.RetryAfter <= 0 {
		tb.Fatalf("RetryAfter = %s, want > 0", d.RetryAfter)
	}
	return d
}

func mustSettle(tb testing.TB, l Limiter, lease *Lease, tokens int64) {
	tb.Helper()
	if err := l.Settle(tb.Context(), lease, tokens); err != nil {
		tb.Fatalf("Settle: %v", err)
	}
}

func mustCharge(tb testing.TB, l Limiter, rules []Rule, requests, tokens int64) {
	tb.Helper()
	if err := l.Charge(tb.Context(), rules, requests, tokens); err != nil {
		tb.Fatalf("Charge: %v", err)
	}
}

// checkRemaining fails unless got is want, or up to one more when the clock
// is real and may have drained a unit.
func checkRemaining(tb testing.TB, l Limiter, name string, got, want int64) {
	tb.Helper()
	if got == want || slack(l) > 0 && got == want+1 {
		return
	}
	tb.Errorf("%s Remaining: got %d, want %d", name, got, want)
}

// checkDuration fails unless got is in [want-slack, want].
func checkDuration(tb testing.TB, l Limiter, name string, got, want time.Duration) {
	tb.Helper()
	if got > want || got < want-slack(l) {
		tb.Errorf("%s: got %s, want %s (-%s)", name, got, want, slack(l))
	}
}

// remaining returns the Remaining of the tightest rule of kind k, probing
// with an Admit of nothing that it settles at once. The probe costs one
// request, so rules should have no RPM.
func remaining(tb testing.TB, l Limiter, rules []Rule, k Kind) int64 {
	tb.Helper()
	d := mustAdmit(tb, l, rules, 0)
	if d.Allowed {
		mustSettle(tb, l, &d.Lease, 0)
	}
	if k == Requests {
		return d.Requests.Remaining
	}
	return d.Tokens.Remaining
}

// testLimiter is the conformance suite every Limiter passes. newLimiter
// returns an empty limiter of its own for each test; one that implements
// sleeper runs on a fake clock, and the suite then checks exact numbers.
func testLimiter(t *testing.T, newLimiter func(t *testing.T) Limiter) {
	t.Run("burst of 100 on 60 rpm admits 60", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{rpm(ScopeGlobal, "", 60)}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for range 100 {
			wg.Go(func() {
				d, err := l.Admit(t.Context(), rules, 0)
				switch {
				case err != nil:
					errs <- err
				case d.Allowed:
					allowed.Add(1)
				case d.Denied != Status{Scope: ScopeGlobal, Kind: Requests, Limit: 60, Reset: d.Denied.Reset}:
					errs <- errors.New("denied by the wrong status")
				case d.RetryAfter <= 0 || d.RetryAfter > time.Second:
					errs <- errors.New("RetryAfter out of (0, 1s]")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := allowed.Load(); got != 60 {
			t.Fatalf("allowed %d of 100, want 60", got)
		}
		if _, ok := l.(sleeper); !ok {
			return // the rate after the burst: "retry after" checks it in real time
		}
		for range 3 {
			pause(l, time.Second)
			mustAllow(t, l, rules, 0)
			mustDeny(t, l, rules, 0, ScopeGlobal, Requests)
		}
	})

	t.Run("zero rules are ignored", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{{Scope: ScopeGlobal}, {Scope: ScopeTenant, ID: "a"}}
		for range 3 {
			d := mustAllow(t, l, rules, 1000)
			if d.Requests != (Status{}) || d.Tokens != (Status{}) || d.Lease != (Lease{}) {
				t.Fatalf("got %+v, want a bare allowed decision", d)
			}
			mustSettle(t, l, &d.Lease, 0)
		}
		mustAllow(t, l, nil, 0)
	})

	t.Run("a denial consumes nothing", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		tenant := Rule{Scope: ScopeTenant, ID: "acme", Limits: switchboard.Limits{RPM: 10, TPM: 100, Concurrency: 5}}
		key := rpm(ScopeKey, "k1", 2)
		model := tpm(ScopeModel, "gpt", 50)
		rules := []Rule{tenant, key, model}
		mustAllow(t, l, rules, 5)
		mustAllow(t, l, rules, 5)
		mustDeny(t, l, rules, 5, ScopeKey, Requests)
		// The model's tokens deny: 10 + 45 > 50.
		mustDeny(t, l, []Rule{tenant, model}, 45, ScopeModel, Tokens)

		// The tenant saw two requests, 10 tokens and two slots.
		d := mustAllow(t, l, []Rule{tenant}, 5)
		checkRemaining(t, l, "tenant requests", d.Requests.Remaining, 7)
		checkRemaining(t, l, "tenant tokens", d.Tokens.Remaining, 85)
		mustAllow(t, l, []Rule{tenant}, 0)
		mustAllow(t, l, []Rule{tenant}, 0)
		mustDeny(t, l, []Rule{tenant}, 0, ScopeTenant, Concurrency)
		// The model saw 10 tokens.
		checkRemaining(t, l, "model tokens", remaining(t, l, []Rule{model}, Tokens), 40)
	})

	t.Run("settle refunds and charges tokens", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{tpm(ScopeTenant, "acme", 60)} // a token a second
		d := mustAllow(t, l, rules, 30)
		checkRemaining(t, l, "after reserving 30", d.Tokens.Remaining, 30)
		mustSettle(t, l, &d.Lease, 10) // refund 20
		checkRemaining(t, l, "after settling 10", remaining(t, l, rules, Tokens), 50)
		again := d.Lease // a copy shares the lease
		mustSettle(t, l, &d.Lease, 60)
		mustSettle(t, l, &again, 60)
		checkRemaining(t, l, "after settling twice", remaining(t, l, rules, Tokens), 50)

		d = mustAllow(t, l, rules, 10)
		checkRemaining(t, l, "after reserving 10", d.Tokens.Remaining, 40)
		mustSettle(t, l, &d.Lease, 50) // charge 40
		checkRemaining(t, l, "after settling 50", remaining(t, l, rules, Tokens), 0)
		d = mustDeny(t, l, rules, 1, ScopeTenant, Tokens)
		checkDuration(t, l, "RetryAfter of 1 token", d.RetryAfter, time.Second)

		// A charge may push a rule past its limit: 90 of 60 used.
		d = mustAllow(t, l, rules, 0)
		mustSettle(t, l, &d.Lease, 30)
		d = mustDeny(t, l, rules, 0, ScopeTenant, Tokens)
		checkDuration(t, l, "RetryAfter at 90 of 60", d.RetryAfter, 30*time.Second)
		checkDuration(t, l, "Reset at 90 of 60", d.Denied.Reset, 90*time.Second)
		if d.Denied.Remaining != 0 {
			t.Errorf("Remaining at 90 of 60: got %d, want 0", d.Denied.Remaining)
		}
	})

	t.Run("concurrency", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{conc(ScopeUpstream, "openai", 3)}
		var held []Decision
		for i := range 3 {
			d := mustAllow(t, l, rules, 0)
			if d.Requests.Limit != 0 || d.Tokens.Limit != 0 {
				t.Errorf("admit %d: got Requests %+v, Tokens %+v, want zero", i, d.Requests, d.Tokens)
			}
			held = append(held, d)
		}
		d := mustDeny(t, l, rules, 0, ScopeUpstream, Concurrency)
		if d.Denied.Limit != 3 || d.Denied.Remaining != 0 {
			t.Errorf("Denied: got %+v, want limit 3, none remaining", d.Denied)
		}
		mustSettle(t, l, &held[0].Lease, 0)
		d = mustAllow(t, l, rules, 0)
		mustDeny(t, l, rules, 0, ScopeUpstream, Concurrency)

		// Settling twice releases one slot: 3 held, then 2.
		mustSettle(t, l, &held[1].Lease, 0)
		mustSettle(t, l, &held[1].Lease, 0)
		mustAllow(t, l, rules, 0)
		mustDeny(t, l, rules, 0, ScopeUpstream, Concurrency)
		mustSettle(t, l, &d.Lease, 0)
		mustAllow(t, l, rules, 0)
	})

	t.Run("statuses for headers", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		global := rpm(ScopeGlobal, "", 100)
		tenant := Rule{Scope: ScopeTenant, ID: "acme", Limits: switchboard.Limits{RPM: 10, TPM: 100}}
		key := Rule{Scope: ScopeKey, ID: "k1", Limits: switchboard.Limits{RPM: 100, TPM: 50}}
		rules := []Rule{global, tenant, key}

		d := mustAllow(t, l, rules, 10)
		if d.Denied != (Status{}) || d.RetryAfter != 0 {
			t.Errorf("allowed with Denied %+v, RetryAfter %s, want zero", d.Denied, d.RetryAfter)
		}
		wantReq := Status{Scope: ScopeTenant, ID: "acme", Kind: Requests, Limit: 10, Remaining: 9, Reset: 6 * time.Second}
		wantTok := Status{Scope: ScopeKey, ID: "k1", Kind: Tokens, Limit: 50, Remaining: 40, Reset: 12 * time.Second}
		checkStatus(t, l, "Requests", d.Requests, wantReq)
		checkStatus(t, l, "Tokens", d.Tokens, wantTok)

		// 49/100 is tighter than 8/10, though 8 < 49.
		mustCharge(t, l, []Rule{key}, 49, 0)
		d = mustAllow(t, l, rules, 10)
		wantReq = Status{Scope: ScopeKey, ID: "k1", Kind: Requests, Limit: 100, Remaining: 49, Reset: 30600 * time.Millisecond}
		checkStatus(t, l, "Requests", d.Requests, wantReq)

		// Denied by the tenant's tokens (20 + 90 > 100): the statuses
		// are those before the request.
		d = mustDeny(t, l, []Rule{global, tenant}, 90, ScopeTenant, Tokens)
		wantTok = Status{Scope: ScopeTenant, ID: "acme", Kind: Tokens, Limit: 100, Remaining: 80, Reset: 12 * time.Second}
		checkStatus(t, l, "Denied", d.Denied, wantTok)
		checkStatus(t, l, "Tokens", d.Tokens, wantTok)
		wantReq = Status{Scope: ScopeTenant, ID: "acme", Kind: Requests, Limit: 10, Remaining: 8, Reset: 12 * time.Second}
		checkStatus(t, l, "Requests", d.Requests, wantReq)
		checkDuration(t, l, "RetryAfter", d.RetryAfter, 6*time.Second) // 10 tokens at 100 a minute
	})

	t.Run("admitted after retry after", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{rpm(ScopeTenant, "acme", 600), tpm(ScopeModel, "gpt", 6000)}
		mustCharge(t, l, rules, 600, 0)
		d := mustDeny(t, l, rules, 10, ScopeTenant, Requests)
		checkDuration(t, l, "RetryAfter", d.RetryAfter, 100*time.Millisecond)
		checkDuration(t, l, "Reset", d.Denied.Reset, time.Minute)
		pause(l, d.RetryAfter)
		mustAllow(t, l, rules, 10)

		mustCharge(t, l, rules, 0, 6000)
		pause(l, 100*time.Millisecond) // for the request rate
		d = mustDeny(t, l, rules, 50, ScopeModel, Tokens)
		checkDuration(t, l, "RetryAfter", d.RetryAfter, 500*time.Millisecond)
		pause(l, d.RetryAfter)
		mustAllow(t, l, rules, 50)
	})

	t.Run("too large for the limit", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{rpm(ScopeTenant, "acme", 1), tpm(ScopeModel, "gpt", 1000)}
		d := mustDeny(t, l, rules, 1001, ScopeModel, Tokens)
		if !d.TooLarge || d.RetryAfter != Window {
			t.Errorf("got TooLarge %v, RetryAfter %s, want true, %s", d.TooLarge, d.RetryAfter, Window)
		}
		mustAllow(t, l, rules, 1000)
		// Too large wins over a rule that just needs time.
		d = mustDeny(t, l, rules, 5000, ScopeModel, Tokens)
		if !d.TooLarge {
			t.Errorf("got TooLarge false, want true")
		}
		d = mustDeny(t, l, rules, 1000, ScopeTenant, Requests)
		if d.TooLarge {
			t.Errorf("got TooLarge true, want false")
		}
	})

	t.Run("charge", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{{Scope: ScopeTenant, ID: "acme", Limits: switchboard.Limits{RPM: 10, TPM: 100, Concurrency: 1}}}
		mustCharge(t, l, rules, 3, 40)
		d := mustAllow(t, l, rules, 10)
		checkRemaining(t, l, "requests", d.Requests.Remaining, 6)
		checkRemaining(t, l, "tokens", d.Tokens.Remaining, 50)
		mustSettle(t, l, &d.Lease, 10)
		mustCharge(t, l, rules, 20, 0) // 24 of 10
		d = mustDeny(t, l, rules, 0, ScopeTenant, Requests)
		checkDuration(t, l, "RetryAfter", d.RetryAfter, 90*time.Second)
		mustCharge(t, l, nil, 1, 1)
		mustCharge(t, l, rules, 0, 0)
	})

	t.Run("scopes and ids are distinct", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		for _, r := range []Rule{
			rpm(ScopeTenant, "a:b", 1),
			rpm("tenant:a", "b", 1),
			rpm(ScopeTenant, "a%3Ab", 1),
			rpm(ScopeTenant, "", 1),
			rpm(ScopeGlobal, "", 1),
			rpm(ScopeTenant, "{x}", 1),
			rpm(ScopeTenant, "ünï cödé", 1),
			rpm(ScopeKey, "a:b", 1),
		} {
			mustAllow(t, l, []Rule{r}, 0)
			mustDeny(t, l, []Rule{r}, 0, r.Scope, Requests)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		rules := []Rule{{Scope: ScopeTenant, ID: "acme", Limits: switchboard.Limits{TPM: 100, Concurrency: 1}}}
		if _, err := l.Admit(t.Context(), rules, -1); !errors.Is(err, ErrNegative) {
			t.Errorf("Admit(-1): got %v, want ErrNegative", err)
		}
		if err := l.Charge(t.Context(), rules, 0, -1); !errors.Is(err, ErrNegative) {
			t.Errorf("Charge(-1): got %v, want ErrNegative", err)
		}
		d := mustAllow(t, l, rules, 10)
		if got := d.Lease.Tokens(); got != 10 {
			t.Errorf("Lease.Tokens: got %d, want 10", got)
		}
		if err := l.Settle(t.Context(), &d.Lease, -1); !errors.Is(err, ErrNegative) {
			t.Errorf("Settle(-1): got %v, want ErrNegative", err)
		}
		if err := newLimiter(t).Settle(t.Context(), &d.Lease, 0); !errors.Is(err, ErrForeignLease) {
			t.Errorf("Settle on another limiter: got %v, want ErrForeignLease", err)
		}
		mustDeny(t, l, rules, 0, ScopeTenant, Concurrency) // the failed calls kept the lease
		mustSettle(t, l, &d.Lease, 10)
		mustSettle(t, l, &Lease{}, 5)
		mustSettle(t, l, nil, 5)
		mustAllow(t, l, rules, 0)
	})
}

// checkStatus compares got with want, allowing for the clock's slack in
// Reset and one unit in Remaining.
func checkStatus(tb testing.TB, l Limiter, name string, got, want Status) {
	tb.Helper()
	checkRemaining(tb, l, name, got.Remaining, want.Remaining)
	checkDuration(tb, l, name+" Reset", got.Reset, want.Reset)
	got.Remaining, got.Reset = want.Remaining, want.Reset
	if got != want {
		tb.Errorf("%s: got %+v, want %+v", name, got, want)
	}
}
