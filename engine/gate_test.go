package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

// countingGate is a Gate that records every admission and its releases.
// policy decides each admission: an error denies it, nil admits it (after
// any wait policy chooses to make).
type countingGate struct {
	policy func(ctx context.Context, provider, model string) error

	mu      sync.Mutex
	tickets []*gateTicket
	denied  map[string]int // provider/model → denials
}

// gateTicket is one admitted attempt and how it was released.
type gateTicket struct {
	target   string // provider/model (the public model name)
	releases []bool
}

func (g *countingGate) AdmitAttempt(ctx context.Context, provider, model string) (func(ok bool), error) {
	target := provider + "/" + model
	if g.policy != nil {
		if err := g.policy(ctx, provider, model); err != nil {
			g.mu.Lock()
			if g.denied == nil {
				g.denied = map[string]int{}
			}
			g.denied[target]++
			g.mu.Unlock()
			return nil, err
		}
	}
	tk := &gateTicket{target: target}
	g.mu.Lock()
	g.tickets = append(g.tickets, tk)
	g.mu.Unlock()
	return func(ok bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		tk.releases = append(tk.releases, ok)
	}, nil
}

// releases returns, per target, the ok of each admission's releases in
// admission order ("a/x": "ok", "a/x": "fail", "a/x": "ok,ok" for a double
// release, "a/x": "" for one never released).
func (g *countingGate) releases() map[string][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]string{}
	for _, tk := range g.tickets {
		s := ""
		for i, ok := range tk.releases {
			if i > 0 {
				s += ","
			}
			s += map[bool]string{true: "ok", false: "fail"}[ok]
		}
		out[tk.target] = append(out[tk.target], s)
	}
	return out
}

// admitted returns the admissions per provider.
func (g *countingGate) admitted() map[string]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int64{}
	for _, tk := range g.tickets {
		p, _, _ := strings.Cut(tk.target, "/")
		out[p]++
	}
	return out
}

func rateLimited(what string) error {
	return &switchboard.Error{Code: switchboard.CodeRateLimited, VendorCode: "rate_limit_exceeded",
		RetryAfter: 7 * time.Second, Message: "gate: " + what}
}

// sleepFor returns a fake behaviour that answers after d, or fails with the
// context's error if cancelled first.
func sleepFor(d time.Duration, then error) func(ctx context.Context, n int64) error {
	return func(ctx context.Context, _ int64) error {
		select {
		case <-time.After(d):
			return then
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// warm gives deployment p/m-p enough first-byte samples of 5ms to hedge.
func warm(e *Engine, p string) {
	for range minHedgeSamples {
		e.deployments[p+"/m-"+p].addLatency(5 * time.Millisecond)
	}
}

var hedgeFast = HedgePolicy{Enabled: true, Quantile: 0.95, MinDelay: time.Millisecond}

// TestGateCountsEveryAttempt checks that every upstream call — primary,
// retry, fallback deployment, fallback model, hedge — passes the gate once
// and is released once, with ok only for the answer the client gets, and
// that a denial moves on to the next deployment, then the fallbacks, and
// ends in the gate's 429. It runs in a synctest bubble: hedge delays are
// fake time, and synctest.Wait lets a hedge's loser finish before counting.
func TestGateCountsEveryAttempt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		routes []*Route
		fakes  []*fake
		policy func(ctx context.Context, provider, model string) error
		warm   []string // deployments to warm for hedging
		stream bool
		// breakerOpen names a deployment whose breaker is open.
		breakerOpen string

		wantID       string // the answering fake; "" for an error
		wantCode     switchboard.ErrorCode
		wantHedged   bool
		wantReleases map[string][]string
		wantCalls    map[string]int64
		wantDenied   map[string]int
	}{
		{
			name:         "primary",
			routes:       []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0)}}},
			fakes:        []*fake{{name: "a"}},
			wantID:       "a",
			wantReleases: map[string][]string{"a/x": {"ok"}},
			wantCalls:    map[string]int64{"a": 1},
		},
		{
			name:   "retry on the same deployment",
			routes: []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0)}, Retry: RetryPolicy{Attempts: 3}}},
			fakes: []*fake{{name: "a", fn: func(_ context.Context, n int64) error {
				if n == 1 {
					return unavailable()
				}
				return nil
			}}},
			wantID:       "a",
			wantReleases: map[string][]string{"a/x": {"fail", "ok"}},
			wantCalls:    map[string]int64{"a": 2},
		},
		{
			name:   "stream retried on the next deployment",
			routes: []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes: []*fake{{name: "a", fn: func(context.Context, int64) error { return unavailable() }},
				{name: "b"}},
			stream:       true,
			wantID:       "b",
			wantReleases: map[string][]string{"a/x": {"fail"}, "b/x": {"ok"}},
			wantCalls:    map[string]int64{"a": 1, "b": 1},
		},
		{
			name: "fallback model",
			routes: []*Route{
				{Name: "x", Deployments: []Deployment{dep("a", 0)}, Retry: RetryPolicy{Attempts: 1},
					Fallbacks: []Fallback{{To: []string{"y"}}}},
				{Name: "y", Deployments: []Deployment{dep("b", 0)}},
			},
			fakes: []*fake{{name: "a", fn: func(context.Context, int64) error {
				return &switchboard.Error{Code: switchboard.CodeRateLimited, Message: "upstream 429"}
			}}, {name: "b"}},
			wantID: "b",
			// The fallback counts against the model that served it.
			wantReleases: map[string][]string{"a/x": {"fail"}, "b/y": {"ok"}},
			wantCalls:    map[string]int64{"a": 1, "b": 1},
		},
		{
			name:         "hedge: the alternative wins",
			routes:       []*Route{{Name: "x", Hedge: hedgeFast, Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes:        []*fake{{name: "a", fn: sleepFor(2*time.Second, nil)}, {name: "b"}},
			warm:         []string{"a"},
			wantID:       "b",
			wantHedged:   true,
			wantReleases: map[string][]string{"a/x": {"fail"}, "b/x": {"ok"}},
			wantCalls:    map[string]int64{"a": 1, "b": 1},
		},
		{
			name:   "hedge: the primary wins after the alternative started",
			routes: []*Route{{Name: "x", Hedge: hedgeFast, Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes: []*fake{{name: "a", fn: sleepFor(50*time.Millisecond, nil)},
				{name: "b", fn: sleepFor(time.Second, nil)}},
			warm:         []string{"a"},
			wantID:       "a",
			wantHedged:   true,
			wantReleases: map[string][]string{"a/x": {"ok"}, "b/x": {"fail"}},
			wantCalls:    map[string]int64{"a": 1, "b": 1},
		},
		{
			name:   "hedge: both fail",
			routes: []*Route{{Name: "x", Hedge: hedgeFast, Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes: []*fake{{name: "a", fn: sleepFor(50*time.Millisecond, unavailable())},
				{name: "b", fn: sleepFor(10*time.Millisecond, unavailable())}},
			warm:         []string{"a"},
			wantCode:     switchboard.CodeUnavailable,
			wantHedged:   true,
			wantReleases: map[string][]string{"a/x": {"fail"}, "b/x": {"fail"}},
			wantCalls:    map[string]int64{"a": 1, "b": 1},
		},
		{
			name:   "hedge: the gate denies the alternative",
			routes: []*Route{{Name: "x", Hedge: hedgeFast, Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes:  []*fake{{name: "a", fn: sleepFor(50*time.Millisecond, nil)}, {name: "b"}},
			policy: func(_ context.Context, p, _ string) error {
				if p == "b" {
					return rateLimited("b is full")
				}
				return nil
			},
			warm:         []string{"a"},
			wantID:       "a",
			wantReleases: map[string][]string{"a/x": {"ok"}},
			wantCalls:    map[string]int64{"a": 1},
			wantDenied:   map[string]int{"b/x": 1},
		},
		{
			name:   "hedge: the alternative is still queued when the primary answers",
			routes: []*Route{{Name: "x", Hedge: hedgeFast, Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes:  []*fake{{name: "a", fn: sleepFor(50*time.Millisecond, nil)}, {name: "b"}},
			policy: func(ctx context.Context, p, _ string) error {
				if p == "b" {
					<-ctx.Done() // queued until the hedge gives up on it
					return ctx.Err()
				}
				return nil
			},
			warm:         []string{"a"},
			wantID:       "a",
			wantReleases: map[string][]string{"a/x": {"ok"}},
			wantCalls:    map[string]int64{"a": 1},
			wantDenied:   map[string]int{"b/x": 1},
		},
		{
			name:   "hedge: a gate that admits after the primary answered is released",
			routes: []*Route{{Name: "x", Hedge: hedgeFast, Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes:  []*fake{{name: "a", fn: sleepFor(50*time.Millisecond, nil)}, {name: "b"}},
			policy: func(ctx context.Context, p, _ string) error {
				if p == "b" {
					<-ctx.Done()
					return nil // admitted all the same
				}
				return nil
			},
			warm:         []string{"a"},
			wantID:       "a",
			wantReleases: map[string][]string{"a/x": {"ok"}, "b/x": {"fail"}},
			wantCalls:    map[string]int64{"a": 1},
		},
		{
			name:   "hedge: the alternative's breaker is open",
			routes: []*Route{{Name: "x", Hedge: hedgeFast, Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes:  []*fake{{name: "a", fn: sleepFor(50*time.Millisecond, nil)}, {name: "b"}},
			// b's breaker is open, so b sorts last: the hedge is a → b.
			breakerOpen:  "b",
			warm:         []string{"a"},
			wantID:       "a",
			wantReleases: map[string][]string{"a/x": {"ok"}, "b/x": {"fail"}},
			wantCalls:    map[string]int64{"a": 1},
		},
		{
			name:   "denied deployment: the next one serves",
			routes: []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}}},
			fakes:  []*fake{{name: "a"}, {name: "b"}},
			policy: func(_ context.Context, p, _ string) error {
				if p == "a" {
					return rateLimited("a is full")
				}
				return nil
			},
			wantID:       "b",
			wantReleases: map[string][]string{"b/x": {"ok"}},
			wantCalls:    map[string]int64{"b": 1},
			wantDenied:   map[string]int{"a/x": 1},
		},
		{
			name: "denied on every deployment: the fallback model serves",
			routes: []*Route{
				{Name: "x", Deployments: []Deployment{dep("a", 0)}, Fallbacks: []Fallback{{To: []string{"y"}}}},
				{Name: "y", Deployments: []Deployment{dep("b", 0)}},
			},
			fakes: []*fake{{name: "a"}, {name: "b"}},
			policy: func(_ context.Context, _, m string) error {
				if m == "x" {
					return rateLimited("model x is full")
				}
				return nil
			},
			wantID:       "b",
			wantReleases: map[string][]string{"b/y": {"ok"}},
			wantCalls:    map[string]int64{"b": 1},
			wantDenied:   map[string]int{"a/x": 1},
		},
		{
			name: "denied on a fallback: the next fallback serves",
			routes: []*Route{
				{Name: "x", Deployments: []Deployment{dep("a", 0)}, Retry: RetryPolicy{Attempts: 1},
					Fallbacks: []Fallback{{To: []string{"y", "z"}}}},
				{Name: "y", Deployments: []Deployment{dep("b", 0)}},
				{Name: "z", Deployments: []Deployment{dep("c", 0)}},
			},
			fakes: []*fake{{name: "a", fn: func(context.Context, int64) error { return unavailable() }},
				{name: "b"}, {name: "c"}},
			policy: func(_ context.Context, p, _ string) error {
				if p == "b" {
					return rateLimited("b is full")
				}
				return nil
			},
			wantID:       "c",
			wantReleases: map[string][]string{"a/x": {"fail"}, "c/z": {"ok"}},
			wantCalls:    map[string]int64{"a": 1, "c": 1},
			wantDenied:   map[string]int{"b/y": 1},
		},
		{
			name: "denied everywhere: the gate's 429",
			routes: []*Route{
				{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}, Fallbacks: []Fallback{{To: []string{"y"}}}},
				{Name: "y", Deployments: []Deployment{dep("c", 0)}},
			},
			fakes: []*fake{{name: "a"}, {name: "b"}, {name: "c"}},
			policy: func(_ context.Context, p, _ string) error {
				return rateLimited(p + " is full")
			},
			wantCode:     switchboard.CodeRateLimited,
			wantReleases: map[string][]string{},
			wantCalls:    map[string]int64{},
			wantDenied:   map[string]int{"a/x": 1, "b/x": 1, "c/y": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e, _ := newEngine(t, tc.routes, tc.fakes...)
				g := &countingGate{policy: tc.policy}
				e.SetGate(g)
				for _, p := range tc.warm {
					warm(e, p)
				}
				if p := tc.breakerOpen; p != "" {
					bd := newDeployment(e.providers[p], "m-"+p, BreakerConfig{Failures: 1, Cooldown: time.Hour}, nil)
					done, err := bd.acquire()
					if err != nil {
						t.Fatal(err)
					}
					done(unavailable())
					e.deployments[p+"/m-"+p] = bd
					for _, r := range e.routes {
						for i, d := range r.deps {
							if d.provider.Name == p {
								r.deps[i] = bd
							}
						}
					}
				}

				out := &switchboard.Outcome{}
				ctx := switchboard.NewContextWithOutcome(t.Context(), out)
				req := &switchboard.ChatRequest{Model: tc.routes[0].Name}
				var id string
				var err error
				if tc.stream {
					var s switchboard.ChatStream
					if s, err = e.ChatStream(ctx, tc.routes[0].Name, req); err == nil {
						c, rerr := s.Recv()
						if rerr != nil {
							t.Fatalf("Recv: %v", rerr)
						}
						id = c.ID
						_ = s.Close()
					}
				} else {
					var resp *switchboard.ChatResponse
					if resp, err = e.Chat(ctx, tc.routes[0].Name, req); err == nil {
						id = resp.ID
					}
				}
				synctest.Wait() // a hedge's loser releases its admission when it ends

				switch {
				case tc.wantID != "" && (err != nil || id != tc.wantID):
					t.Fatalf("got %q, %v; want %s's answer", id, err, tc.wantID)
				case tc.wantID == "" && switchboard.ErrorCodeOf(err) != tc.wantCode:
					t.Fatalf("got %q, %v; want a %s error", id, err, tc.wantCode)
				}
				if tc.wantCode == switchboard.CodeRateLimited {
					if ra := retryAfterOf(err); ra != 7*time.Second {
						t.Errorf("got Retry-After %v, want the gate's 7s", ra)
					}
				}
				if out.Hedged != tc.wantHedged {
					t.Errorf("got hedged %v, want %v", out.Hedged, tc.wantHedged)
				}
				// The outcome describes the answer the client got, and
				// counts every call made.
				var made int64
				for _, f := range tc.fakes {
					made += f.calls.Load()
				}
				if tc.wantID != "" && (out.Provider != tc.wantID || out.UpstreamModel != "m-"+tc.wantID) || int64(out.Attempts) != made {
					t.Errorf("got outcome %+v, want provider %q and %d attempts", out, tc.wantID, made)
				}
				if diff := cmp.Diff(tc.wantReleases, g.releases()); diff != "" {
					t.Errorf("admissions and their releases (-want +got):\n%s", diff)
				}
				calls := map[string]int64{}
				for _, f := range tc.fakes {
					if n := f.calls.Load(); n > 0 {
						calls[f.name] = n
					}
				}
				if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
					t.Errorf("upstream calls (-want +got):\n%s", diff)
				}
				// Every upstream call was admitted (an admission whose
				// breaker then refused it makes no call).
				admitted := g.admitted()
				for p, n := range calls {
					if admitted[p] < n {
						t.Errorf("%s: %d calls but %d admissions", p, n, admitted[p])
					}
				}
				wantDenied := tc.wantDenied
				if wantDenied == nil {
					wantDenied = map[string]int{}
				}
				gotDenied := g.denied
				if gotDenied == nil {
					gotDenied = map[string]int{}
				}
				if diff := cmp.Diff(wantDenied, gotDenied); diff != "" {
					t.Errorf("denials (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestGateHedgeUnderLoad runs hedged requests concurrently and checks the
// invariant on every admission: released exactly once, one ok per request
// served, one admission per upstream call.
func TestGateHedgeUnderLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a := &fake{name: "a", fn: func(ctx context.Context, n int64) error {
			d := time.Millisecond
			if n%2 == 0 {
				d = 30 * time.Millisecond // slow enough to be hedged
			}
			return sleepFor(d, nil)(ctx, n)
		}}
		b := &fake{name: "b", fn: func(ctx context.Context, n int64) error {
			if n%5 == 0 {
				return unavailable()
			}
			return sleepFor(time.Duration(n%3)*20*time.Millisecond, nil)(ctx, n)
		}}
		e, _ := newEngine(t, []*Route{{Name: "x", Hedge: hedgeFast, Retry: RetryPolicy{Attempts: 4},
			Deployments: []Deployment{dep("a", 0), dep("b", 0)}}}, a, b)
		warm(e, "a")
		g := &countingGate{}
		e.SetGate(g)
		const n = 40
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range n {
			wg.Go(func() {
				if _, _, err := chat(t, e, "x", ""); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		synctest.Wait() // hedge losers release once their calls return
		var bad []string
		oks := 0
		for target, rs := range g.releases() {
			for i, r := range rs {
				switch r {
				case "ok":
					oks++
				case "fail":
				default:
					bad = append(bad, fmt.Sprintf("%s#%d=%q", target, i, r))
				}
			}
		}
		slices.Sort(bad)
		if len(bad) > 0 {
			t.Errorf("admissions not released exactly once: %v", bad)
		}
		if served := n - int(failed.Load()); oks != served {
			t.Errorf("got %d ok releases, want one per request served (%d)", oks, served)
		}
		adm := g.admitted()
		if got, calls := adm["a"]+adm["b"], a.calls.Load()+b.calls.Load(); got != calls {
			t.Errorf("got %d admissions for %d upstream calls, want one each", got, calls)
		}
	})
}
