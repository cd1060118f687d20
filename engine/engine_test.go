package engine

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/mock"
)

// fake is a provider whose behaviour a test scripts per call.
type fake struct {
	name  string
	calls atomic.Int64
	fn    func(ctx context.Context, n int64) error
	delay time.Duration
}

func (f *fake) provider() *Provider {
	p := &mock.Provider{
		ChatFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
			n := f.calls.Add(1)
			if f.delay > 0 {
				select {
				case <-time.After(f.delay):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			if f.fn != nil {
				if err := f.fn(ctx, n); err != nil {
					return nil, err
				}
			}
			return &switchboard.ChatResponse{ID: f.name, Model: model}, nil
		},
		ChatStreamFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
			n := f.calls.Add(1)
			if f.fn != nil {
				if err := f.fn(ctx, n); err != nil {
					return &mock.Stream{Err: err}, nil // fails at the first Recv
				}
			}
			return &mock.Stream{Chunks: []*switchboard.Chunk{{ID: f.name}}}, nil
		},
	}
	return &Provider{Name: f.name, Type: "fake", Provider: p}
}

func unavailable() error {
	return &switchboard.Error{Code: switchboard.CodeUnavailable, Message: "down"}
}

func newEngine(t *testing.T, routes []*Route, fakes ...*fake) (*Engine, *[]time.Duration) {
	t.Helper()
	var provs []*Provider
	byName := map[string]*Provider{}
	for _, f := range fakes {
		p := f.provider()
		provs = append(provs, p)
		byName[f.name] = p
	}
	for _, r := range routes {
		for i := range r.Deployments {
			r.Deployments[i].Provider = byName[r.Deployments[i].Provider.Name]
		}
	}
	var mu sync.Mutex
	slept := &[]time.Duration{}
	e, err := New(t.Context(), provs, routes, Options{Sleep: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*slept = append(*slept, d)
		mu.Unlock()
		return ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e, slept
}

func dep(name string, weight int) Deployment {
	return Deployment{Provider: &Provider{Name: name}, Model: "m-" + name, Weight: weight}
}

func chat(t *testing.T, e *Engine, model string, unit string) (*switchboard.ChatResponse, *switchboard.Outcome, error) {
	t.Helper()
	out := &switchboard.Outcome{}
	ctx := switchboard.NewContextWithOutcome(t.Context(), out)
	if unit != "" {
		ctx = switchboard.NewContextWithUnit(ctx, unit)
	}
	resp, err := e.Chat(ctx, model, &switchboard.ChatRequest{Model: model})
	return resp, out, err
}

func TestFallbackAcrossDeployments(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a", fn: func(context.Context, int64) error { return unavailable() }}
	b := &fake{name: "b"}
	e, slept := newEngine(t, []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}}}, a, b)
	resp, out, err := chat(t, e, "x", "")
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "b" || out.Attempts != 2 || out.Provider != "b" || out.UpstreamModel != "m-b" || out.Model != "x" {
		t.Errorf("got %s %+v", resp.ID, out)
	}
	if len(*slept) != 0 {
		t.Errorf("slept %v between different deployments, want no wait", *slept)
	}
}

func TestNoRetryOnInvalidRequest(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a", fn: func(context.Context, int64) error {
		return &switchboard.Error{Code: switchboard.CodeInvalidRequest, Message: "bad"}
	}}
	b := &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}}}, a, b)
	if _, _, err := chat(t, e, "x", ""); switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
		t.Fatalf("got %v", err)
	}
	if b.calls.Load() != 0 {
		t.Errorf("b called %d times, want 0", b.calls.Load())
	}
}

func TestRetryBackoffAndRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter time.Duration
		wantCalls  int64
		wantErr    bool
		minSleep   time.Duration
	}{
		{"backoff then success", 0, 2, false, 0},
		{"retry-after honoured", 2 * time.Second, 2, false, 2 * time.Second},
		{"retry-after beyond max_backoff", 30 * time.Second, 1, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := &fake{name: "a", fn: func(_ context.Context, n int64) error {
				if n == 1 {
					return &switchboard.Error{Code: switchboard.CodeRateLimited, RetryAfter: tc.retryAfter, Message: "slow down"}
				}
				return nil
			}}
			e, slept := newEngine(t, []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0)},
				Retry: RetryPolicy{Attempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 5 * time.Second}}}, a)
			_, _, err := chat(t, e, "x", "")
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %v, want error %v", err, tc.wantErr)
			}
			if got := a.calls.Load(); got != tc.wantCalls {
				t.Errorf("got %d calls, want %d", got, tc.wantCalls)
			}
			if tc.wantCalls == 2 && (len(*slept) != 1 || (*slept)[0] < tc.minSleep || (*slept)[0] > 5*time.Second) {
				t.Errorf("slept %v, want one wait in [%v, 5s]", *slept, tc.minSleep)
			}
		})
	}
}

func TestRetriesBoundedByDeadline(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a", fn: func(context.Context, int64) error { return unavailable() }}
	e, slept := newEngine(t, []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0)},
		Retry: RetryPolicy{Attempts: 5, Backoff: time.Second, MaxBackoff: time.Second}}}, a)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := e.Chat(ctx, "x", &switchboard.ChatRequest{})
	if err == nil || len(*slept) > 0 && (*slept)[0] > 10*time.Millisecond {
		t.Errorf("got %v after sleeping %v: waits must fit the deadline", err, *slept)
	}
}

func TestWeighted(t *testing.T) {
	t.Parallel()
	a, b := &fake{name: "a"}, &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Strategy: StrategyWeighted, Deployments: []Deployment{dep("a", 3), dep("b", 1)}}}, a, b)
	const n = 4000
	for i := 0; i < n; i++ {
		if _, _, err := chat(t, e, "x", ""); err != nil {
			t.Fatal(err)
		}
	}
	share := float64(a.calls.Load()) / n
	if share < 0.72 || share > 0.78 {
		t.Errorf("got share %.3f for weight 3 of 4, want 0.75 ± 0.03", share)
	}
}

func TestSticky(t *testing.T) {
	t.Parallel()
	a, b := &fake{name: "a"}, &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Strategy: StrategyWeighted, Sticky: true, Deployments: []Deployment{dep("a", 1), dep("b", 1)}}}, a, b)
	seen := map[string]string{}
	for i := 0; i < 50; i++ {
		for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"} {
			resp, _, err := chat(t, e, "x", u)
			if err != nil {
				t.Fatal(err)
			}
			if prev, ok := seen[u]; ok && prev != resp.ID {
				t.Fatalf("unit %s moved from %s to %s", u, prev, resp.ID)
			}
			seen[u] = resp.ID
		}
	}
	if a.calls.Load() == 0 || b.calls.Load() == 0 {
		t.Errorf("8 units all on one deployment: a=%d b=%d", a.calls.Load(), b.calls.Load())
	}
}

func TestLeastInFlight(t *testing.T) {
	t.Parallel()
	a, b := &fake{name: "a"}, &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Strategy: StrategyLeastInFlight, Deployments: []Deployment{dep("a", 1), dep("b", 1)}}}, a, b)
	e.deployments["a/m-a"].inflight.Add(3) // a is busy with three calls
	for i := 0; i < 20; i++ {
		resp, _, err := chat(t, e, "x", "")
		if err != nil || resp.ID != "b" {
			t.Fatalf("request %d went to %v (%v), want b while a is busy", i, resp, err)
		}
	}
	e.deployments["a/m-a"].inflight.Add(-3)
	for i := 0; i < 50 && a.calls.Load() == 0; i++ {
		_, _, _ = chat(t, e, "x", "")
	}
	if a.calls.Load() == 0 {
		t.Error("a never chosen once idle")
	}
}

func TestLatencyStrategy(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a", delay: 20 * time.Millisecond}
	b := &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Strategy: StrategyLatency, Deployments: []Deployment{dep("a", 1), dep("b", 1)}}}, a, b)
	for i := 0; i < 4; i++ { // warm both EWMAs
		e.deployments["a/m-a"].addLatency(20 * time.Millisecond)
		e.deployments["b/m-b"].addLatency(time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		if resp, _, err := chat(t, e, "x", ""); err != nil || resp.ID != "b" {
			t.Fatalf("got %v %v, want b (lower latency)", resp, err)
		}
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	a := &fake{name: "a", fn: func(context.Context, int64) error {
		if healthy.Load() {
			return nil
		}
		return unavailable()
	}}
	b := &fake{name: "b"}
	routes := []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}}}
	e, _ := newEngine(t, routes, a, b)
	e.deployments["a/m-a"] = newDeployment(e.providers["a"], "m-a", BreakerConfig{Failures: 3, Cooldown: 100 * time.Millisecond}, nil)
	e.routes["x"].deps[0] = e.deployments["a/m-a"]
	for i := 0; i < 10; i++ {
		if resp, _, err := chat(t, e, "x", ""); err != nil || resp.ID != "b" {
			t.Fatalf("request %d: got %v %v", i, resp, err)
		}
	}
	if got := a.calls.Load(); got != 3 {
		t.Errorf("a called %d times, want 3 (the breaker opens after 3 failures)", got)
	}
	if st := e.deployments["a/m-a"].state(); st != StateOpen {
		t.Errorf("breaker %s, want open", st)
	}
	if err := e.Ping(t.Context()); err != nil {
		t.Errorf("ping with one breaker open: %v", err)
	}
	healthy.Store(true)
	time.Sleep(120 * time.Millisecond) // cooldown: half-open
	if resp, _, err := chat(t, e, "x", ""); err != nil || resp.ID != "a" {
		t.Fatalf("half-open probe: got %v %v, want a", resp, err)
	}
	if st := e.deployments["a/m-a"].state(); st != StateClosed {
		t.Errorf("breaker %s after a good probe, want closed", st)
	}
}

func TestRateLimitCooldown(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a", fn: func(_ context.Context, n int64) error {
		return &switchboard.Error{Code: switchboard.CodeRateLimited, RetryAfter: time.Minute, Message: "429"}
	}}
	b := &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}}}, a, b)
	for i := 0; i < 5; i++ {
		if resp, _, err := chat(t, e, "x", ""); err != nil || resp.ID != "b" {
			t.Fatalf("got %v %v", resp, err)
		}
	}
	if got := a.calls.Load(); got != 1 {
		t.Errorf("a called %d times, want 1: it rests for its Retry-After", got)
	}
}

func TestFallbackModels(t *testing.T) {
	t.Parallel()
	limited := &fake{name: "limited", fn: func(context.Context, int64) error {
		return &switchboard.Error{Code: switchboard.CodeRateLimited, Message: "429"}
	}}
	small := &fake{name: "small", fn: func(context.Context, int64) error {
		return &switchboard.Error{Code: switchboard.CodeInvalidRequest, VendorCode: ClassContextLength, Message: "too long"}
	}}
	filtered := &fake{name: "filtered", fn: func(context.Context, int64) error {
		return &switchboard.Error{Code: switchboard.CodeInvalidRequest, VendorCode: ClassContentFilter, Message: "filtered"}
	}}
	big := &fake{name: "big"}
	routes := []*Route{
		{Name: "primary", Deployments: []Deployment{dep("limited", 0)}, Retry: RetryPolicy{Attempts: 1},
			Fallbacks: []Fallback{{To: []string{"secondary"}}}},
		{Name: "secondary", Deployments: []Deployment{dep("big", 0)}},
		{Name: "short", Deployments: []Deployment{dep("small", 0)}, Fallbacks: []Fallback{{On: []string{ClassContextLength}, To: []string{"secondary"}}}},
		{Name: "strict", Deployments: []Deployment{dep("filtered", 0)}, Fallbacks: []Fallback{{To: []string{"secondary"}}}},
	}
	e, _ := newEngine(t, routes, limited, small, filtered, big)
	resp, out, err := chat(t, e, "primary", "")
	if err != nil || resp.ID != "big" || out.Model != "secondary" {
		t.Errorf("rate limited: got %v %+v %v, want big via secondary", resp, out, err)
	}
	resp, out, err = chat(t, e, "short", "")
	if err != nil || resp.ID != "big" || out.Model != "secondary" {
		t.Errorf("context length: got %v %+v %v, want big via secondary", resp, out, err)
	}
	if _, _, err := chat(t, e, "strict", ""); ErrorClass(err) != ClassContentFilter {
		t.Errorf("content filter: got %v, want the content_filter error (no fallback unless configured)", err)
	}
}

func TestStreamRetriedBeforeFirstByte(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a", fn: func(context.Context, int64) error { return unavailable() }}
	b := &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Deployments: []Deployment{dep("a", 0), dep("b", 0)}}}, a, b)
	s, err := e.ChatStream(t.Context(), "x", &switchboard.ChatRequest{Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Recv()
	if err != nil || c.ID != "b" {
		t.Fatalf("got %v %v, want b's chunk", c, err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("got %v, want io.EOF", err)
	}
}

func TestHedge(t *testing.T) {
	t.Parallel()
	var slowCanceled atomic.Bool
	a := &fake{name: "a", fn: func(ctx context.Context, n int64) error {
		select {
		case <-time.After(2 * time.Second):
			return nil
		case <-ctx.Done():
			slowCanceled.Store(true)
			return ctx.Err()
		}
	}}
	b := &fake{name: "b"}
	e, _ := newEngine(t, []*Route{{Name: "x", Hedge: HedgePolicy{Enabled: true, Quantile: 0.95, MinDelay: time.Millisecond},
		Deployments: []Deployment{dep("a", 0), dep("b", 0)}}}, a, b)
	for i := 0; i < minHedgeSamples; i++ {
		e.deployments["a/m-a"].addLatency(5 * time.Millisecond)
	}
	start := time.Now()
	resp, out, err := chat(t, e, "x", "")
	if err != nil || resp.ID != "b" || !out.Hedged {
		t.Fatalf("got %v %+v %v, want b's answer, hedged", resp, out, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v: the hedge did not answer first", d)
	}
	deadline := time.Now().Add(time.Second)
	for !slowCanceled.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !slowCanceled.Load() {
		t.Error("the slow request was not cancelled after the hedge won")
	}
}

func TestDirectAddressing(t *testing.T) {
	t.Parallel()
	a := &fake{name: "a"}
	e, _ := newEngine(t, nil, a)
	resp, out, err := chat(t, e, "a/anything", "")
	if err != nil || resp.Model != "anything" || out.Provider != "a" {
		t.Errorf("got %v %+v %v", resp, out, err)
	}
	if _, _, err := chat(t, e, "nope", ""); switchboard.ErrorCodeOf(err) != switchboard.CodeNotFound {
		t.Errorf("got %v, want not_found", err)
	}
}

type counter struct{ mock.Provider }

func (*counter) CountTokens(_ context.Context, model string, _ *switchboard.ChatRequest) (int, error) {
	return len(model), nil
}

func TestCountTokens(t *testing.T) {
	t.Parallel()
	plain := &Provider{Name: "plain", Provider: &mock.Provider{}}
	counting := &Provider{Name: "counting", Provider: &counter{}}
	e, err := New(t.Context(), []*Provider{plain, counting}, []*Route{
		{Name: "x", Deployments: []Deployment{{Provider: plain, Model: "p"}, {Provider: counting, Model: "twelve-chars"}}},
		{Name: "y", Deployments: []Deployment{{Provider: plain, Model: "p"}}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.CountTokens(t.Context(), "x", &switchboard.ChatRequest{}); err != nil || n != 12 {
		t.Errorf("got %d %v, want 12 from the counting deployment", n, err)
	}
	if _, err := e.CountTokens(t.Context(), "y", &switchboard.ChatRequest{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("got %v, want ErrUnsupported", err)
	}
}
