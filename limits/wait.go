package limits

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Errors of Gate.
var (
	// ErrLimited is wrapped by the *LimitedError of a call that could not be
	// admitted in time.
	ErrLimited = errors.New("rate limited")
	// ErrUnknownService is returned for a service a Gate has no limits for.
	ErrUnknownService = errors.New("unknown service")
)

// Wait admits a request, queueing instead of rejecting: while Admit denies
// it, Wait sleeps for the RetryAfter (cut short by maxWait and ctx) and
// tries again. It returns the first allowed Decision, or the last denied one
// with a nil error once maxWait has passed. A TooLarge denial is returned at
// once, as no wait can help it; with maxWait <= 0 Wait is one Admit. If ctx
// ends first, Wait returns the last Decision and the context's error.
//
// A waiter does not hold a place in a queue: when many wait for one limit,
// whoever retries first after it frees up gets in.
func Wait(ctx context.Context, l Limiter, rules []Rule, tokens int64, maxWait time.Duration) (Decision, error) {
	deadline := time.Now().Add(maxWait)
	var timer *time.Timer
	for {
		d, err := l.Admit(ctx, rules, tokens)
		if err != nil || d.Allowed || d.TooLarge {
			return d, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return d, nil
		}
		sleep := min(d.RetryAfter, left)
		if timer == nil {
			timer = time.NewTimer(sleep)
			defer timer.Stop()
		} else {
			timer.Reset(sleep)
		}
		select {
		case <-ctx.Done():
			return d, context.Cause(ctx)
		case <-timer.C:
		}
	}
}

// LimitedError is the error of a Gate call that could not be admitted in
// time. It wraps ErrLimited.
type LimitedError struct {
	Service string
	// Denied is the limit that denied the call last.
	Denied Status
	// RetryAfter is how long until the call could be admitted.
	RetryAfter time.Duration
	// TooLarge reports a cost above the service's whole TPM limit.
	TooLarge bool
}

// Error implements error.
func (e *LimitedError) Error() string {
	if e.TooLarge {
		return fmt.Sprintf("limits: %s: %s: cost exceeds the %s limit of %d a minute",
			e.Service, ErrLimited, e.Denied.Kind, e.Denied.Limit)
	}
	return fmt.Sprintf("limits: %s: %s by its %s limit, retry after %s",
		e.Service, ErrLimited, e.Denied.Kind, e.RetryAfter)
}

// Unwrap returns ErrLimited.
func (e *LimitedError) Unwrap() error { return ErrLimited }

// Gate rate-limits calls to named services in process: the Go form of a
// `@rate_limited(service, cost)` decorator. Each service has Limits: RPM
// caps its calls a minute, TPM the sum of their costs a minute, and
// Concurrency the calls running at once. A Gate on a Redis limiter shares
// the limits with every replica. It is safe for concurrent use.
type Gate struct {
	l       Limiter
	maxWait time.Duration
	rules   map[string][]Rule
}

// NewGate returns a Gate that admits calls to services through l, waiting
// up to maxWait for room (0: never wait).
func NewGate(l Limiter, services map[string]switchboard.Limits, maxWait time.Duration) *Gate {
	g := &Gate{l: l, maxWait: maxWait, rules: make(map[string][]Rule, len(services))}
	for name, lim := range services {
		g.rules[name] = []Rule{{Scope: ScopeService, ID: name, Limits: lim}}
	}
	return g
}

// Do runs fn once service admits a call of cost units, and then releases
// it. It returns a *LimitedError (wrapping ErrLimited) without running fn if
// the call is not admitted within the Gate's maxWait, and fn's error
// otherwise, joined with the limiter's error if releasing the call failed.
func (g *Gate) Do(ctx context.Context, service string, cost int64, fn func(context.Context) error) (err error) {
	rules, ok := g.rules[service]
	if !ok {
		return fmt.Errorf("limits: %w %q", ErrUnknownService, service)
	}
	d, err := Wait(ctx, g.l, rules, cost, g.maxWait)
	if err != nil {
		return fmt.Errorf("limits: %s: %w", service, err)
	}
	if !d.Allowed {
		return &LimitedError{Service: service, Denied: d.Denied, RetryAfter: d.RetryAfter, TooLarge: d.TooLarge}
	}
	defer func() {
		if serr := g.l.Settle(context.WithoutCancel(ctx), &d.Lease, cost); serr != nil {
			err = errors.Join(err, fmt.Errorf("limits: %s: %w", service, serr))
		}
	}()
	return fn(ctx)
}

// Call is Gate.Do for a function that returns a value.
func Call[T any](ctx context.Context, g *Gate, service string, cost int64, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err := g.Do(ctx, service, cost, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}
