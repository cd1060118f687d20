package limits_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/limits"
)

// A Gate rate-limits calls to a service in process, like a Python
// @rate_limited("geocoder", 1) decorator.
func ExampleGate() {
	g := limits.NewGate(limits.NewMemory(), map[string]switchboard.Limits{
		"geocoder": {RPM: 2, Concurrency: 1},
	}, 0) // 0: fail at once instead of waiting
	lookup := func(ctx context.Context) (string, error) { return "52.52,13.40", nil }

	for range 3 {
		pos, err := limits.Call(context.Background(), g, "geocoder", 1, lookup)
		var limited *limits.LimitedError
		switch {
		case errors.As(err, &limited):
			fmt.Println("limited, retry after", limited.RetryAfter.Round(time.Second))
		case err != nil:
			fmt.Println("error:", err)
		default:
			fmt.Println(pos)
		}
	}
	// Output:
	// 52.52,13.40
	// 52.52,13.40
	// limited, retry after 30s
}

// A gateway admits a request against every rule that applies to it,
// reserving its estimated tokens, and settles the lease with the tokens
// actually used when the response is done.
func ExampleLimiter() {
	ctx := context.Background()
	var l limits.Limiter = limits.NewMemory()
	rules := []limits.Rule{
		{Scope: limits.ScopeTenant, ID: "acme", Limits: switchboard.Limits{RPM: 60, TPM: 10_000, Concurrency: 4}},
		{Scope: limits.ScopeModel, ID: "gpt-4o", Limits: switchboard.Limits{TPM: 5_000}},
	}
	d, err := l.Admit(ctx, rules, 1200)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	if !d.Allowed {
		fmt.Println("429, Retry-After:", d.RetryAfter)
		return
	}
	fmt.Println("x-ratelimit-remaining-requests:", d.Requests.Remaining)
	fmt.Println("x-ratelimit-remaining-tokens:", d.Tokens.Remaining, "of", d.Tokens.Scope, d.Tokens.ID)
	fmt.Println("x-ratelimit-reset-tokens:", d.Tokens.Reset.Round(time.Second))

	// … the upstream call, which used 800 tokens …
	if err := l.Settle(context.WithoutCancel(ctx), &d.Lease, 800); err != nil {
		fmt.Println("error:", err)
	}
	// Output:
	// x-ratelimit-remaining-requests: 59
	// x-ratelimit-remaining-tokens: 3800 of model gpt-4o
	// x-ratelimit-reset-tokens: 14s
}
