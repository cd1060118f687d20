package budget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

// t0 is the start of most test clocks: a Wednesday, mid-afternoon UTC.
var t0 = time.Date(2026, 11, 25, 15, 0, 10, 0, time.UTC)

// TestConcurrentCap runs 50 clients in Reserve(worst) → Settle(actual <=
// worst) loops against a small daily cap, on one ledger and on three
// replicas sharing the state: the settled spend never exceeds the cap.
func TestConcurrentCap(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		for _, replicas := range []int{1, 3} {
			t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) {
				t.Parallel()
				const (
					clients = 50
					rounds  = 20
					capUSD  = 10.0
					worst   = 0.30
				)
				st := newStore(t)
				ledgers := make([]*Ledger, replicas)
				for i := range ledgers {
					ledgers[i] = st(Options{})
				}
				scopes := []Scope{tenant("acme", switchboard.Budget{DailyUSD: capUSD})}
				var settled atomic.Int64 // nano-dollars
				var allowed, denied atomic.Int64
				var wg sync.WaitGroup
				for c := range clients {
					wg.Go(func() {
						l := ledgers[c%replicas]
						rng := rand.New(rand.NewPCG(uint64(c), 7))
						for range rounds {
							d, err := l.Reserve(t.Context(), scopes, worst)
							if err != nil {
								t.Errorf("Reserve: %v", err)
								return
							}
							if !d.Allowed {
								denied.Add(1)
								continue
							}
							allowed.Add(1)
							if d.RemainingUSD < -1e-9 {
								t.Errorf("RemainingUSD = %v after an allowed reservation, want >= 0", d.RemainingUSD)
							}
							actual := float64(5+rng.IntN(26)) / 100 // 0.05 … 0.30
							if err := l.Settle(t.Context(), d.Reservation, actual); err != nil {
								t.Errorf("Settle: %v", err)
								return
							}
							settled.Add(toNanos(actual))
						}
					})
				}
				wg.Wait()
				got := mustStatus(t, ledgers[0], scopes[0])[Daily]
				if toUSD(settled.Load()) > capUSD {
					t.Errorf("settled $%v, more than the $%v cap", toUSD(settled.Load()), capUSD)
				}
				if !near(got.SpentUSD, toUSD(settled.Load())) {
					t.Errorf("Status spent = %v, want the %v settled", got.SpentUSD, toUSD(settled.Load()))
				}
				if got.ReservedUSD != 0 {
					t.Errorf("Status reserved = %v, want 0 once all settled", got.ReservedUSD)
				}
				if got.SpentUSD < capUSD/2 || denied.Load() == 0 {
					t.Errorf("spent %v with %d allowed, %d denied: the test did not reach the cap",
						got.SpentUSD, allowed.Load(), denied.Load())
				}
			})
		}
	})
}

func TestAllOrNothing(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		l := newStore(t)(Options{Now: newClock(t0).Now})
		ten := tenant("acme", switchboard.Budget{DailyUSD: 100, MonthlyUSD: 1000})
		k := key("k1", switchboard.Budget{DailyUSD: 1})
		d := mustReserve(t, l, []Scope{ten, k}, 5)
		if d.Allowed || d.Reservation != nil {
			t.Fatalf("Reserve $5 over a $1 key cap: allowed")
		}
		want := &Denial{Kind: KindKey, ID: "k1", Window: Daily, CapUSD: 1,
			ResetAt: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}
		if diff := cmp.Diff(want, d.Denied); diff != "" {
			t.Errorf("Denied (-want +got):\n%s", diff)
		}
		if d.RemainingUSD != 1 {
			t.Errorf("RemainingUSD = %v, want 1 (the key's, before the denied reservation)", d.RemainingUSD)
		}
		for _, s := range []Scope{ten, k} {
			for name, w := range mustStatus(t, l, s) {
				if w.ReservedUSD != 0 || w.SpentUSD != 0 {
					t.Errorf("%s %s after a denial: spent %v reserved %v, want 0, 0", s.Kind, name, w.SpentUSD, w.ReservedUSD)
				}
			}
		}
		e := d.Denied.Error(t0)
		if e.Code != switchboard.CodeRateLimited || e.Type != "insufficient_quota" || e.RetryAfter != 9*time.Hour-10*time.Second {
			t.Errorf("Denial.Error = %+v, want rate_limited insufficient_quota with Retry-After until midnight", e)
		}

		d = mustReserve(t, l, []Scope{ten, k}, 0.25)
		if !d.Allowed {
			t.Fatalf("Reserve $0.25: denied by %+v", d.Denied)
		}
		if !near(d.RemainingUSD, 0.75) {
			t.Errorf("RemainingUSD = %v, want 0.75", d.RemainingUSD)
		}
		for _, s := range []Scope{ten, k} {
			for name, w := range mustStatus(t, l, s) {
				if w.ReservedUSD != 0.25 {
					t.Errorf("%s %s reserved = %v, want 0.25", s.Kind, name, w.ReservedUSD)
				}
			}
		}
		mustSettle(t, l, d.Reservation, 0.1)
		if got := mustStatus(t, l, ten)[Monthly]; got.SpentUSD != 0.1 || got.ReservedUSD != 0 {
			t.Errorf("tenant monthly after Settle: spent %v reserved %v, want 0.1, 0", got.SpentUSD, got.ReservedUSD)
		}
	})
}

func TestNoCaps(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		l := newStore(t)(Options{})
		d := mustReserve(t, l, []Scope{{Kind: KindGlobal}, tenant("free", switchboard.Budget{})}, 3)
		if !d.Allowed || !math.IsInf(d.RemainingUSD, 1) || d.Reservation == nil {
			t.Fatalf("Reserve without caps = %+v, want allowed with +Inf remaining", d)
		}
		mustSettle(t, l, d.Reservation, 2)
		if st, err := l.Status(t.Context(), tenant("free", switchboard.Budget{})); err != nil || len(st) != 0 {
			t.Errorf("Status without caps = %v, %v; want no windows", st, err)
		}
	})
}

func TestSettleTwice(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		l := newStore(t)(Options{})
		s := tenant("acme", switchboard.Budget{DailyUSD: 10})
		d := mustReserve(t, l, []Scope{s}, 2)
		mustSettle(t, l, d.Reservation, 1.5)
		mustSettle(t, l, d.Reservation, 1.5)
		got := mustStatus(t, l, s)[Daily]
		if got.SpentUSD != 1.5 || got.ReservedUSD != 0 {
			t.Errorf("after two Settles: spent %v reserved %v, want 1.5, 0", got.SpentUSD, got.ReservedUSD)
		}
		// Settling more than reserved is accounted in full.
		d = mustReserve(t, l, []Scope{s}, 1)
		mustSettle(t, l, d.Reservation, 4)
		if got := mustStatus(t, l, s)[Daily]; got.SpentUSD != 5.5 {
			t.Errorf("spent %v, want 5.5", got.SpentUSD)
		}
		if err := newStore(t)(Options{}).Settle(t.Context(), d.Reservation, 1); !errors.Is(err, ErrForeign) {
			t.Errorf("Settle on another ledger: %v, want ErrForeign", err)
		}
	})
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	l := NewMemory(Options{})
	closeAtEnd(t, l)
	ok := tenant("acme", switchboard.Budget{DailyUSD: 1})
	for _, tc := range []struct {
		name   string
		scopes []Scope
		usd    float64
	}{
		{"negative amount", []Scope{ok}, -1},
		{"NaN amount", []Scope{ok}, math.NaN()},
		{"infinite amount", []Scope{ok}, math.Inf(1)},
		{"unknown kind", []Scope{{Kind: "team", ID: "x", Budget: ok.Budget}}, 1},
		{"tenant without ID", []Scope{{Kind: KindTenant, Budget: ok.Budget}}, 1},
		{"negative cap", []Scope{tenant("a", switchboard.Budget{DailyUSD: -1})}, 1},
		{"rolling without window", []Scope{tenant("a", switchboard.Budget{RollingUSD: 1})}, 1},
		{"unknown action", []Scope{tenant("a", switchboard.Budget{DailyUSD: 1, Action: "warn"})}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := l.Reserve(t.Context(), tc.scopes, tc.usd); !errors.Is(err, ErrInvalid) {
				t.Errorf("Reserve: got %v, want ErrInvalid", err)
			}
		})
	}
	if err := l.Settle(t.Context(), nil, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Settle(nil): got %v, want ErrInvalid", err)
	}
	if err := l.Charge(t.Context(), []Scope{ok}, -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Charge(-1): got %v, want ErrInvalid", err)
	}
}

func TestAlertOnly(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		rec := &recorder{}
		l := newStore(t)(Options{Now: newClock(t0).Now, Notifiers: []Notifier{rec}})
		s := tenant("acme", switchboard.Budget{DailyUSD: 10, Action: ActionAlert, AlertAt: []float64{0.5, 1}})
		d := mustReserve(t, l, []Scope{s}, 100)
		if !d.Allowed {
			t.Fatalf("alert-only budget denied: %+v", d.Denied)
		}
		if d.RemainingUSD != -90 {
			t.Errorf("RemainingUSD = %v, want -90", d.RemainingUSD)
		}
		if got := mustStatus(t, l, s)[Daily]; got.ReservedUSD != 100 || got.Action != ActionAlert {
			t.Errorf("Status = %+v, want 100 reserved, action alert", got)
		}
		mustSettle(t, l, d.Reservation, 12)
		mustCharge(t, l, []Scope{s}, 5) // past every threshold already: nothing more
		mustClose(t, l)
		start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
		want := []Alert{
			{ScopeKind: KindTenant, ScopeID: "acme", Window: Daily, WindowStart: start, Threshold: 0.5,
				SpentUSD: 12, CapUSD: 10, Action: ActionAlert, Time: t0},
			{ScopeKind: KindTenant, ScopeID: "acme", Window: Daily, WindowStart: start, Threshold: 1,
				SpentUSD: 12, CapUSD: 10, Action: ActionAlert, Time: t0},
		}
		if diff := cmp.Diff(want, sortedAlerts(rec.got())); diff != "" {
			t.Errorf("alerts (-want +got):\n%s", diff)
		}
		if got := l.AlertStats(); got != (AlertStats{Sent: 2}) {
			t.Errorf("AlertStats = %+v, want 2 sent", got)
		}
	})
}

// sortedAlerts sorts alerts by window, then threshold.
func sortedAlerts(as []Alert) []Alert {
	sort.Slice(as, func(i, j int) bool {
		if as[i].Window != as[j].Window {
			return as[i].Window < as[j].Window
		}
		return as[i].Threshold < as[j].Threshold
	})
	return as
}

// TestThresholdsOnce races three replicas' charges across every threshold:
// each fires once in all. Then ledgers restarted on the same state, or on
// fresh state seeded past some thresholds, do not send those again.
func TestThresholdsOnce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		clock := newClock(t0)
		b := switchboard.Budget{DailyUSD: 10, AlertAt: []float64{0.5, 0.8, 1}}
		s := tenant("acme", b)
		st := newStore(t)
		recs := []*recorder{{}, {}, {}}
		ledgers := make([]*Ledger, len(recs))
		for i, rec := range recs {
			ledgers[i] = st(Options{Now: clock.Now, Notifiers: []Notifier{rec}})
		}
		var wg sync.WaitGroup
		for c := range 30 {
			wg.Go(func() {
				for range 4 { // 120 charges of $0.10: $12
					mustCharge(t, ledgers[c%3], []Scope{s}, 0.1)
				}
			})
		}
		wg.Wait()
		var all []Alert
		for i, l := range ledgers {
			mustClose(t, l)
			all = append(all, recs[i].got()...)
		}
		all = sortedAlerts(all)
		if len(all) != 3 {
			t.Fatalf("got %d alerts, want 3 (one per threshold): %+v", len(all), all)
		}
		for i, thr := range b.AlertAt {
			a := all[i]
			if a.Threshold != thr || a.SpentUSD < thr*10-1e-9 || a.SpentUSD > thr*10+0.1+1e-9 {
				t.Errorf("alert %d: threshold %v at spent %v, want threshold %v at spent in [%v, %v]",
					i, a.Threshold, a.SpentUSD, thr, thr*10, thr*10+0.1)
			}
		}

		// A replica restarted on the same state sends nothing again.
		rec := &recorder{}
		l := st(Options{Now: clock.Now, Notifiers: []Notifier{rec}})
		mustCharge(t, l, []Scope{s}, 1)
		mustClose(t, l)
		if got := rec.got(); len(got) != 0 {
			t.Errorf("restarted replica sent %+v, want nothing", got)
		}

		// A ledger on fresh state seeded past 0.5 and 0.8 sends only 1.0.
		rec = &recorder{}
		seed := func(context.Context, Scope, time.Time) (float64, error) { return 8.5, nil }
		l = newStore(t)(Options{Now: clock.Now, Notifiers: []Notifier{rec}, Seed: seed})
		mustCharge(t, l, []Scope{s}, 0.1)
		mustCharge(t, l, []Scope{s}, 1.5)
		mustCharge(t, l, []Scope{s}, 1.5)
		mustClose(t, l)
		if got := rec.got(); len(got) != 1 || got[0].Threshold != 1 || got[0].SpentUSD != 10.1 {
			t.Errorf("seeded ledger sent %+v, want only threshold 1 at $10.10", got)
		}
	})
}

// TestRollingAlertRepeats checks that a rolling window's alert is not sent
// again within a window length of the last one, even if the spend dipped
// below the threshold and crossed it again, and is after that.
func TestRollingAlertRepeats(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		clock := newClock(t0)
		rec := &recorder{}
		l := newStore(t)(Options{Now: clock.Now, Notifiers: []Notifier{rec}})
		s := tenant("acme", switchboard.Budget{RollingUSD: 10, RollingWindow: time.Hour, AlertAt: []float64{0.5}})
		mustCharge(t, l, []Scope{s}, 4) // $4
		clock.Add(50 * time.Minute)
		mustCharge(t, l, []Scope{s}, 2) // $6: fires
		clock.Add(11 * time.Minute)     // the $4 ages out: $2
		mustCharge(t, l, []Scope{s}, 4) // $6 again, 11 minutes after the alert: quiet
		clock.Add(50 * time.Minute)     // the $2 ages out: $4
		mustCharge(t, l, []Scope{s}, 1) // $5, 61 minutes after the alert: fires
		mustClose(t, l)
		got := rec.got()
		if len(got) != 2 {
			t.Fatalf("got %d alerts, want 2: %+v", len(got), got)
		}
		if want := t0.Add(-10 * time.Minute); !got[0].WindowStart.Equal(want) || got[0].SpentUSD != 6 {
			t.Errorf("first alert: %+v, want $6 over the hour from %v", got[0], want)
		}
		if got[1].SpentUSD != 5 || !got[1].Time.Equal(t0.Add(111*time.Minute)) {
			t.Errorf("second alert: %+v, want $5 at t0+111m", got[1])
		}
	})
}

func TestCalendarRollover(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		tokyo := time.FixedZone("JST", 9*3600)
		clock := newClock(time.Date(2026, 1, 31, 23, 59, 30, 0, tokyo))
		l := newStore(t)(Options{Now: clock.Now, Location: tokyo})
		s := tenant("acme", switchboard.Budget{DailyUSD: 10, MonthlyUSD: 100})
		mustCharge(t, l, []Scope{s}, 3)
		got := mustStatus(t, l, s)
		wantDaily := WindowStatus{Window: Daily, Action: ActionBlock, CapUSD: 10, SpentUSD: 3,
			Start: time.Date(2026, 1, 31, 0, 0, 0, 0, tokyo), End: time.Date(2026, 2, 1, 0, 0, 0, 0, tokyo)}
		if diff := cmp.Diff(wantDaily, got[Daily]); diff != "" {
			t.Errorf("daily (-want +got):\n%s", diff)
		}
		if m := got[Monthly]; m.SpentUSD != 3 || !m.Start.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, tokyo)) ||
			!m.End.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, tokyo)) {
			t.Errorf("monthly = %+v, want $3 over January in Tokyo", m)
		}

		clock.Add(time.Minute) // 00:00:30 on February 1st in Tokyo
		got = mustStatus(t, l, s)
		if got[Daily].SpentUSD != 0 || got[Monthly].SpentUSD != 0 {
			t.Errorf("after midnight on the 1st: daily %v monthly %v, want 0, 0", got[Daily].SpentUSD, got[Monthly].SpentUSD)
		}
		mustCharge(t, l, []Scope{s}, 2)

		// Midnight UTC (09:00 in Tokyo) is no boundary.
		clock.Add(8*time.Hour + 59*time.Minute)
		mustCharge(t, l, []Scope{s}, 1)
		clock.Add(time.Minute)
		got = mustStatus(t, l, s)
		if got[Daily].SpentUSD != 3 || got[Monthly].SpentUSD != 3 {
			t.Errorf("after midnight UTC: daily %v monthly %v, want 3, 3", got[Daily].SpentUSD, got[Monthly].SpentUSD)
		}

		// The next local midnight resets the day, not the month.
		clock.Add(15 * time.Hour)
		got = mustStatus(t, l, s)
		if got[Daily].SpentUSD != 0 || got[Monthly].SpentUSD != 3 {
			t.Errorf("on February 2nd: daily %v monthly %v, want 0, 3", got[Daily].SpentUSD, got[Monthly].SpentUSD)
		}
	})
}

func TestRollingWindow(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		clock := newClock(t0) // 10 s into a minute: buckets of a 1h window are minutes
		l := newStore(t)(Options{Now: clock.Now})
		s := tenant("acme", switchboard.Budget{RollingUSD: 10, RollingWindow: time.Hour})
		mustCharge(t, l, []Scope{s}, 4)
		clock.Add(30 * time.Minute)
		mustCharge(t, l, []Scope{s}, 3)
		clock.Add(29 * time.Minute) // 59 minutes after the $4: still in
		got := mustStatus(t, l, s)[Rolling]
		if got.SpentUSD != 7 || !got.Start.Equal(clock.Now().Add(-time.Hour)) || !got.End.Equal(clock.Now()) {
			t.Errorf("at +59m: %+v, want $7 over the last hour", got)
		}
		d := mustReserve(t, l, []Scope{s}, 4)
		if d.Allowed {
			t.Fatalf("Reserve $4 with $7 of $10 spent: allowed")
		}
		if want := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC); !d.Denied.ResetAt.Equal(want) {
			t.Errorf("ResetAt = %v, want the next bucket boundary %v", d.Denied.ResetAt, want)
		}
		clock.Add(time.Minute) // 60 minutes: the $4 ages out
		if got := mustStatus(t, l, s)[Rolling]; got.SpentUSD != 3 {
			t.Errorf("at +60m: spent %v, want 3", got.SpentUSD)
		}
		if d := mustReserve(t, l, []Scope{s}, 4); !d.Allowed {
			t.Errorf("Reserve $4 with $3 spent: denied by %+v", d.Denied)
		}
		clock.Add(5 * time.Hour) // everything ages out; the reservation expired
		if got := mustStatus(t, l, s)[Rolling]; got.SpentUSD != 0 || got.ReservedUSD != 0 {
			t.Errorf("5h later: %+v, want nothing spent or reserved", got)
		}
	})
}

// TestSeed checks that Seed starts each window once, with its start, and
// that concurrent first uses (and, for Redis, replicas) apply it once.
func TestSeed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		clock := newClock(t0)
		var mu sync.Mutex
		calls := map[string]int{}
		seed := func(_ context.Context, s Scope, since time.Time) (float64, error) {
			mu.Lock()
			defer mu.Unlock()
			calls[s.ID+" "+since.Format(time.RFC3339)]++
			time.Sleep(5 * time.Millisecond) // a database query: let callers pile up
			if since.Day() == 1 {
				return 20, nil // monthly
			}
			return 2, nil
		}
		s := tenant("acme", switchboard.Budget{DailyUSD: 10, MonthlyUSD: 100})
		st := newStore(t)
		l := st(Options{Now: clock.Now, Seed: seed})
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				d, err := l.Reserve(t.Context(), []Scope{s}, 0.01)
				if err != nil || !d.Allowed {
					t.Errorf("Reserve: %+v, %v", d, err)
					return
				}
				if err := l.Settle(t.Context(), d.Reservation, 0.01); err != nil {
					t.Errorf("Settle: %v", err)
				}
			})
		}
		wg.Wait()
		want := map[string]int{"acme 2026-11-25T00:00:00Z": 1, "acme 2026-11-01T00:00:00Z": 1}
		mu.Lock()
		if diff := cmp.Diff(want, calls); diff != "" {
			t.Errorf("Seed calls (-want +got):\n%s", diff)
		}
		mu.Unlock()
		got := mustStatus(t, l, s)
		if !near(got[Daily].SpentUSD, 2.5) || !near(got[Monthly].SpentUSD, 20.5) {
			t.Errorf("spent daily %v monthly %v, want 2.5, 20.5 (seed + 50 × $0.01)", got[Daily].SpentUSD, got[Monthly].SpentUSD)
		}

		// Tomorrow is a new window: seeded once more, since its midnight.
		clock.Add(10 * time.Hour)
		mustCharge(t, l, []Scope{s}, 1)
		if got := mustStatus(t, l, s); got[Daily].SpentUSD != 3 || !near(got[Monthly].SpentUSD, 21.5) {
			t.Errorf("next day: daily %v monthly %v, want 3 (seed + 1), 21.5", got[Daily].SpentUSD, got[Monthly].SpentUSD)
		}
		mu.Lock()
		if calls["acme 2026-11-26T00:00:00Z"] != 1 || len(calls) != 3 {
			t.Errorf("Seed calls = %v, want one more, since 2026-11-26", calls)
		}
		mu.Unlock()

		// Replicas seeding the same new window at once apply one seed.
		s2 := tenant("globex", s.Budget)
		replicas := []*Ledger{l, st(Options{Now: clock.Now, Seed: seed}), st(Options{Now: clock.Now, Seed: seed})}
		for _, r := range replicas {
			wg.Go(func() { mustCharge(t, r, []Scope{s2}, 1) })
		}
		wg.Wait()
		if got := mustStatus(t, l, s2); got[Daily].SpentUSD != 5 || got[Monthly].SpentUSD != 23 {
			t.Errorf("three replicas: daily %v monthly %v, want 5 (one seed + 3), 23", got[Daily].SpentUSD, got[Monthly].SpentUSD)
		}

		// A failing Seed fails the call and is retried by the next one.
		fail := true
		l3 := st(Options{Now: clock.Now, Seed: func(ctx context.Context, s Scope, since time.Time) (float64, error) {
			if fail {
				return 0, errors.New("database down")
			}
			return 1, nil
		}})
		s3 := tenant("initech", switchboard.Budget{DailyUSD: 10})
		if _, err := l3.Reserve(t.Context(), []Scope{s3}, 1); err == nil {
			t.Errorf("Reserve with a failing Seed: no error")
		}
		fail = false
		if got := mustStatus(t, l3, s3); got[Daily].SpentUSD != 1 {
			t.Errorf("after Seed recovered: spent %v, want 1", got[Daily].SpentUSD)
		}
	})
}

// TestReservationExpires checks that a reservation never settled (its
// replica died) gives its amount back after the TTL, and that settling it
// late still counts the spend without releasing twice.
func TestReservationExpires(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		clock := newClock(t0)
		l := newStore(t)(Options{Now: clock.Now})
		s := tenant("acme", switchboard.Budget{DailyUSD: 10, RollingUSD: 10, RollingWindow: 24 * time.Hour})
		old := mustReserve(t, l, []Scope{s}, 8)
		if d := mustReserve(t, l, []Scope{s}, 8); d.Allowed {
			t.Fatalf("second $8 of $10 allowed")
		}
		if old.Reservation.ExpiresAt() != t0.Add(DefaultReservationTTL) {
			t.Errorf("ExpiresAt = %v, want now + %v", old.Reservation.ExpiresAt(), DefaultReservationTTL)
		}
		clock.Add(DefaultReservationTTL)
		d := mustReserve(t, l, []Scope{s}, 8)
		if !d.Allowed {
			t.Fatalf("$8 after the first reservation expired: denied by %+v", d.Denied)
		}
		mustSettle(t, l, old.Reservation, 1)
		for name, w := range mustStatus(t, l, s) {
			if w.SpentUSD != 1 || w.ReservedUSD != 8 {
				t.Errorf("%s: spent %v reserved %v, want 1, 8", name, w.SpentUSD, w.ReservedUSD)
			}
		}
	})
}

func TestClosed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(*testing.T) store) {
		l := newStore(t)(Options{})
		s := tenant("acme", switchboard.Budget{DailyUSD: 10})
		d := mustReserve(t, l, []Scope{s}, 1)
		mustClose(t, l)
		if _, err := l.Reserve(t.Context(), []Scope{s}, 1); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("Reserve after Close: %v, want ErrClosed", err)
		}
		if err := l.Settle(t.Context(), d.Reservation, 1); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("Settle after Close: %v, want ErrClosed", err)
		}
		if err := l.Charge(t.Context(), []Scope{s}, 1); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("Charge after Close: %v, want ErrClosed", err)
		}
	})
}
