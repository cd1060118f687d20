package limits

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// The tests of Wait and Gate run Memory on the real clock inside a synctest
// bubble, where time moves only when every goroutine is blocked: they are
// instant and exact.

func TestWait(t *testing.T) {
	t.Parallel()
	upstream := []Rule{rpm(ScopeUpstream, "openai", 60)}
	for _, tc := range []struct {
		name       string
		rules      []Rule
		charge     int64 // requests charged first
		tokens     int64
		maxWait    time.Duration
		timeout    time.Duration // of ctx, if any
		wantAllow  bool
		wantErr    error
		wantWaited time.Duration
	}{
		{name: "admitted at once", rules: upstream, maxWait: time.Minute, wantAllow: true},
		{name: "admitted after the retry", rules: upstream, charge: 60, maxWait: time.Minute, wantAllow: true, wantWaited: time.Second},
		{name: "gives up after max wait", rules: upstream, charge: 60, maxWait: 500 * time.Millisecond, wantWaited: 500 * time.Millisecond},
		{name: "no max wait", rules: upstream, charge: 60},
		{name: "context ends", rules: upstream, charge: 120, maxWait: 2 * time.Minute, timeout: 10 * time.Second,
			wantErr: context.DeadlineExceeded, wantWaited: 10 * time.Second},
		{name: "too large returns at once", rules: []Rule{tpm(ScopeModel, "gpt", 100)}, tokens: 101, maxWait: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := NewMemory()
				mustCharge(t, l, tc.rules, tc.charge, 0)
				ctx := t.Context()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				}
				start := time.Now()
				d, err := Wait(ctx, l, tc.rules, tc.tokens, tc.maxWait)
				if waited := time.Since(start); waited != tc.wantWaited {
					t.Errorf("waited %s, want %s", waited, tc.wantWaited)
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
				if d.Allowed != tc.wantAllow {
					t.Fatalf("Allowed: got %v, want %v", d.Allowed, tc.wantAllow)
				}
				if !d.Allowed && d.RetryAfter <= 0 {
					t.Errorf("RetryAfter: got %s, want > 0", d.RetryAfter)
				}
			})
		})
	}
}

func TestWaitQueues(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewMemory()
		rules := []Rule{rpm(ScopeUpstream, "openai", 60)}
		mustCharge(t, l, rules, 60, 0)
		start := time.Now()
		var mu sync.Mutex
		var waited []time.Duration
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				d, err := Wait(t.Context(), l, rules, 0, time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if err != nil || !d.Allowed {
					t.Errorf("Wait: got %v, %v, want allowed", d.Allowed, err)
				}
				waited = append(waited, time.Since(start))
			})
		}
		wg.Wait()
		// One a second, as the rate allows.
		slices.Sort(waited)
		want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}
		if !slices.Equal(waited, want) {
			t.Errorf("waited %v, want %v", waited, want)
		}
	})
}

func TestWaitConcurrency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewMemory(WithConcurrencyRetry(100 * time.Millisecond))
		rules := []Rule{conc(ScopeUpstream, "openai", 1)}
		held := mustAllow(t, l, rules, 0)
		go func() {
			time.Sleep(250 * time.Millisecond)
			mustSettle(t, l, &held.Lease, 0)
		}()
		start := time.Now()
		d, err := Wait(t.Context(), l, rules, 0, time.Second)
		if err != nil || !d.Allowed {
			t.Fatalf("Wait: got %v, %v, want allowed", d.Allowed, err)
		}
		if waited := time.Since(start); waited != 300*time.Millisecond {
			t.Errorf("waited %s, want 300ms (the first poll after the release)", waited)
		}
	})
}

func TestGate(t *testing.T) {
	t.Parallel()
	services := map[string]switchboard.Limits{
		"geo":  {RPM: 2},
		"llm":  {TPM: 100, Concurrency: 1},
		"free": {},
	}
	ok := func(context.Context) error { return nil }
	errBoom := errors.New("boom")

	t.Run("limited", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			g := NewGate(NewMemory(), services, 0)
			ran := 0
			count := func(context.Context) error { ran++; return nil }
			for range 2 {
				if err := g.Do(t.Context(), "geo", 1, count); err != nil {
					t.Fatalf("Do: %v", err)
				}
			}
			err := g.Do(t.Context(), "geo", 1, count)
			if !errors.Is(err, ErrLimited) {
				t.Fatalf("third Do: got %v, want ErrLimited", err)
			}
			var le *LimitedError
			if !errors.As(err, &le) {
				t.Fatalf("third Do: got %T, want *LimitedError", err)
			}
			if le.Service != "geo" || le.RetryAfter != 30*time.Second || le.Denied.Kind != Requests || le.TooLarge {
				t.Errorf("got %+v, want geo requests, retry after 30s", le)
			}
			if ran != 2 {
				t.Errorf("fn ran %d times, want 2", ran)
			}
			if err := g.Do(t.Context(), "free", 1e9, ok); err != nil {
				t.Errorf("Do on a service without limits: %v", err)
			}
			if err := g.Do(t.Context(), "nope", 1, ok); !errors.Is(err, ErrUnknownService) {
				t.Errorf("Do on an unknown service: got %v, want ErrUnknownService", err)
			}
		})
	})

	t.Run("queues up to max wait", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			g := NewGate(NewMemory(), services, time.Minute)
			start := time.Now()
			for range 3 {
				if err := g.Do(t.Context(), "geo", 1, ok); err != nil {
					t.Fatalf("Do: %v", err)
				}
			}
			if waited := time.Since(start); waited != 30*time.Second {
				t.Errorf("waited %s, want 30s", waited)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			err := g.Do(ctx, "geo", 1, ok)
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrLimited) {
				t.Errorf("Do past ctx: got %v, want DeadlineExceeded", err)
			}
			err = g.Do(t.Context(), "llm", 101, ok)
			var le *LimitedError
			if !errors.As(err, &le) || !le.TooLarge || le.Denied.Kind != Tokens {
				t.Errorf("Do with cost 101 of 100 TPM: got %v, want a too large LimitedError", err)
			}
			if waited := time.Since(start); waited != 31*time.Second {
				t.Errorf("waited %s, want 31s: too large returns at once", waited)
			}
		})
	})

	t.Run("cost and release", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			l := NewMemory()
			g := NewGate(l, services, 0)
			if err := g.Do(t.Context(), "llm", 10, func(context.Context) error { return errBoom }); !errors.Is(err, errBoom) {
				t.Fatalf("Do: got %v, want boom", err)
			}
			func() {
				defer func() { _ = recover() }()
				_ = g.Do(t.Context(), "llm", 10, func(context.Context) error { panic("boom") })
			}()
			// The slot came back both times; the inner call finds it taken.
			v, err := Call(t.Context(), g, "llm", 10, func(ctx context.Context) (int, error) {
				if err := g.Do(ctx, "llm", 10, ok); !errors.Is(err, ErrLimited) {
					t.Errorf("nested Do: got %v, want ErrLimited", err)
				}
				return 42, nil
			})
			if err != nil || v != 42 {
				t.Fatalf("Call: got %d, %v, want 42", v, err)
			}
			// Costs count against TPM: 30 of 100 used.
			if _, err := Call(t.Context(), g, "llm", 71, func(context.Context) (int, error) { return 0, nil }); !errors.Is(err, ErrLimited) {
				t.Errorf("Call with cost 71: got %v, want ErrLimited", err)
			}
			if _, err := Call(t.Context(), g, "llm", 70, func(context.Context) (int, error) { return 0, nil }); err != nil {
				t.Errorf("Call with cost 70: %v", err)
			}
		})
	})
}
