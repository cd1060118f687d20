package quota_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/budget"
	"github.com/switchboard-ai/switchboard/httpapi"
	"github.com/switchboard-ai/switchboard/limits"
	"github.com/switchboard-ai/switchboard/pricing"
	"github.com/switchboard-ai/switchboard/quota"
	"github.com/switchboard-ai/switchboard/tenancy"
	"github.com/switchboard-ai/switchboard/tokenize"
)

// backend makes the limiters and ledgers a test runs against.
type backend struct {
	name string
	// exact reports a limiter whose clock stands still, so that rate-limit
	// numbers are exact. Redis runs on the server's clock, which drains
	// buckets between two calls: a later Remaining may be a little higher.
	exact   bool
	limiter func(t *testing.T, opts ...limits.Option) limits.Limiter
	// ledger returns a ledger whose clock stands still at the real time
	// it was made (windows never roll over during a test).
	ledger func(t *testing.T) *budget.Ledger
}

var backends = []backend{
	{
		name:  "memory",
		exact: true,
		limiter: func(t *testing.T, opts ...limits.Option) limits.Limiter {
			now := time.Now()
			return limits.NewMemory(append(opts, limits.WithClock(func() time.Time { return now }))...)
		},
		ledger: func(t *testing.T) *budget.Ledger {
			now := time.Now()
			l := budget.NewMemory(budget.Options{Now: func() time.Time { return now }})
			t.Cleanup(func() { _ = l.Close(context.Background()) })
			return l
		},
	},
	{
		name: "redis",
		limiter: func(t *testing.T, opts ...limits.Option) limits.Limiter {
			c := mustRedis(t)
			return limits.NewRedis(c, mustPrefix(t, c)+":limits", opts...)
		},
		ledger: func(t *testing.T) *budget.Ledger {
			c := mustRedis(t)
			now := time.Now()
			l := budget.NewRedis(c, mustPrefix(t, c)+":budget:", budget.Options{Now: func() time.Time { return now }})
			t.Cleanup(func() { _ = l.Close(context.Background()) })
			return l
		},
	},
}

// forEachBackend runs f as a parallel subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// mustRedis returns a client of SWITCHBOARD_TEST_REDIS_URL, closed when the
// test ends, or skips the test.
func mustRedis(tb testing.TB) *redis.Client {
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

// mustPrefix returns a random key prefix whose keys are deleted when the
// test ends.
func mustPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	prefix := "switchboard:test:quota:" + rand.Text()
	tb.Cleanup(func() {
		ctx := context.Background()
		var keys []string
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("clean up %s: %v", prefix, err)
		}
		if len(keys) > 0 {
			_ = c.Unlink(ctx, keys...).Err()
		}
	})
	return prefix
}

// The price table of the tests, in USD per 1M tokens: a token of cheap
// costs $0.001 in and $0.002 out, one of dear $0.002 and $0.003.
var prices = (*pricing.Table)(nil).With(map[string]pricing.Price{
	"m-cheap": {Input: 1000, Output: 2000, MaxOutputTokens: 4000},
	"m-dear":  {Input: 2000, Output: 3000, MaxOutputTokens: 2000},
})

// candidates serves "m" on cheap and dear, "mystery" on an unpriced
// deployment, "mixed" on both kinds; other models are unknown.
func candidates(model string) ([]quota.Target, error) {
	switch model {
	case "m":
		return []quota.Target{{Provider: "cheap", Model: "m-cheap"}, {Provider: "dear", Model: "m-dear"}}, nil
	case "mystery":
		return []quota.Target{{Provider: "p", Model: "m-mystery"}}, nil
	case "mixed":
		return []quota.Target{{Provider: "cheap", Model: "m-cheap"}, {Provider: "p", Model: "m-mystery"}}, nil
	}
	return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Message: "no model " + model}
}

// ask is a chat admission for model with one user message and max_tokens
// (0: none).
func ask(c *tenancy.Caller, model, prompt string, maxTokens int) httpapi.Admission {
	req := &switchboard.ChatRequest{Model: model,
		Messages: []switchboard.Message{{Role: "user", Content: switchboard.TextContent(prompt)}}}
	if maxTokens > 0 {
		req.MaxTokens = &maxTokens
	}
	return httpapi.Admission{Caller: c, Endpoint: "chat", Model: model, Chat: req}
}

// promptOf is the prompt estimate of a, as the quota counts it.
func promptOf(a httpapi.Admission) int64 { return int64(tokenize.CountChat(a.Model, a.Chat)) }

// who is a caller: key key_a of tenant acme with their limits and budgets.
type who struct {
	tenant, key             switchboard.Limits
	tenantBudget, keyBudget switchboard.Budget
}

func (w who) caller() *tenancy.Caller {
	return &tenancy.Caller{
		Key:    &switchboard.APIKey{ID: "key_a", TenantID: "acme", Limits: w.key, Budget: w.keyBudget},
		Tenant: &switchboard.Tenant{Name: "acme", Limits: w.tenant, Budget: w.tenantBudget},
	}
}

func mustAdmit(tb testing.TB, q *quota.Quota, a httpapi.Admission) (httpapi.Ticket, http.Header) {
	tb.Helper()
	h := http.Header{}
	tk, err := q.Admit(tb.Context(), a, h)
	if err != nil {
		tb.Fatalf("Admit: %v", err)
	}
	if tk == nil {
		tb.Fatal("Admit: got no ticket, want one")
	}
	tk.SetHeaders(h)
	return tk, h
}

// mustDeny admits a and returns the *switchboard.Error it must fail with.
func mustDeny(tb testing.TB, q *quota.Quota, a httpapi.Admission) (*switchboard.Error, http.Header) {
	tb.Helper()
	h := http.Header{}
	tk, err := q.Admit(tb.Context(), a, h)
	var e *switchboard.Error
	if !errors.As(err, &e) || tk != nil {
		tb.Fatalf("Admit: got %v, %v; want a *switchboard.Error and no ticket", tk, err)
	}
	return e, h
}

// header names.
const (
	hLimitReq  = "X-Ratelimit-Limit-Requests"
	hRemReq    = "X-Ratelimit-Remaining-Requests"
	hResetReq  = "X-Ratelimit-Reset-Requests"
	hLimitTok  = "X-Ratelimit-Limit-Tokens"
	hRemTok    = "X-Ratelimit-Remaining-Tokens"
	hResetTok  = "X-Ratelimit-Reset-Tokens"
	hScope     = "X-Switchboard-Limit-Scope"
	hBudgetRem = "X-Switchboard-Budget-Remaining-Usd"
)

var allHeaders = []string{hLimitReq, hRemReq, hResetReq, hLimitTok, hRemTok, hResetTok, hScope, hBudgetRem}

// headers returns the quota headers of h ("" for absent ones).
func headers(h http.Header) map[string]string {
	out := map[string]string{}
	for _, k := range allHeaders {
		out[k] = h.Get(k)
	}
	return out
}

// remaining returns the integer header k of h.
func remaining(tb testing.TB, h http.Header, k string) int64 {
	tb.Helper()
	n, err := strconv.ParseInt(h.Get(k), 10, 64)
	if err != nil {
		tb.Fatalf("%s: %q: %v", k, h.Get(k), err)
	}
	return n
}

// checkRemaining compares a Remaining header with want: exactly on a
// backend whose clock stands still, else allowing slack for the bucket
// draining between calls.
func checkRemaining(tb testing.TB, b backend, h http.Header, k string, want, slack int64) {
	tb.Helper()
	got := remaining(tb, h, k)
	if b.exact {
		slack = 0
	}
	if got < want || got > want+slack {
		tb.Errorf("%s: got %d, want %d (+%d)", k, got, want, slack)
	}
}

func TestAdmitNothingToEnforce(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		tests := []struct {
			name   string
			opts   quota.Options
			caller *tenancy.Caller
		}{
			{"no caller, no rules", quota.Options{}, nil},
			{"caller without limits", quota.Options{}, who{}.caller()},
			{"ledger but no budget", quota.Options{Ledger: b.ledger(t), Prices: prices, Candidates: candidates}, who{}.caller()},
			{"budget but no ledger", quota.Options{Prices: prices, Candidates: candidates},
				who{keyBudget: switchboard.Budget{DailyUSD: 1}}.caller()},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.opts.Limiter = b.limiter(t)
				q := quota.New(tc.opts)
				h := http.Header{}
				tk, err := q.Admit(t.Context(), ask(tc.caller, "m", "hello", 10), h)
				if tk != nil || err != nil {
					t.Errorf("got %v, %v; want no ticket and no error", tk, err)
				}
				if len(h) != 0 {
					t.Errorf("got headers %v, want none", h)
				}
			})
		}
	})
}

// TestAdmitHeaders checks that each kind's headers come from its tightest
// rule, and the scope from the tighter of the two kinds.
func TestAdmitHeaders(t *testing.T) {
	t.Parallel()
	a := ask(nil, "m", "What is the capital of France?", 400)
	cost := promptOf(a) + 400
	tokReset := (time.Duration(cost) * time.Minute / 1000).String() // TPM 1000
	tests := []struct {
		name   string
		global switchboard.Limits
		who    who
		want   map[string]string
	}{
		{
			name: "key tighter than tenant",
			who:  who{tenant: switchboard.Limits{RPM: 100}, key: switchboard.Limits{RPM: 10}},
			want: map[string]string{hLimitReq: "10", hRemReq: "9", hResetReq: "6s", hScope: "key:key_a"},
		},
		{
			name: "tenant tighter than key",
			who:  who{tenant: switchboard.Limits{RPM: 5}, key: switchboard.Limits{RPM: 50}},
			want: map[string]string{hLimitReq: "5", hRemReq: "4", hResetReq: "12s", hScope: "tenant:acme"},
		},
		{
			name:   "global tightest",
			global: switchboard.Limits{RPM: 3},
			who:    who{key: switchboard.Limits{RPM: 30}},
			want:   map[string]string{hLimitReq: "3", hRemReq: "2", hResetReq: "20s", hScope: "global"},
		},
		{
			name: "tokens tighter than requests",
			who:  who{tenant: switchboard.Limits{TPM: 1000}, key: switchboard.Limits{RPM: 1000}},
			want: map[string]string{hLimitReq: "1000", hRemReq: "999", hResetReq: "60ms",
				hLimitTok: "1000", hRemTok: strconv.FormatInt(1000-cost, 10), hResetTok: tokReset, hScope: "tenant:acme"},
		},
		{
			name: "requests tighter than tokens",
			who:  who{tenant: switchboard.Limits{TPM: 1000}, key: switchboard.Limits{RPM: 2}},
			want: map[string]string{hLimitReq: "2", hRemReq: "1", hResetReq: "30s",
				hLimitTok: "1000", hRemTok: strconv.FormatInt(1000-cost, 10), hResetTok: tokReset, hScope: "key:key_a"},
		},
		{
			name: "concurrency only: no rate headers",
			who:  who{key: switchboard.Limits{Concurrency: 5}},
			want: map[string]string{},
		},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				q := quota.New(quota.Options{Limiter: b.limiter(t), Global: tc.global})
				a := a
				a.Caller = tc.who.caller()
				tk, h := mustAdmit(t, q, a)
				defer tk.Settle(t.Context(), httpapi.Settlement{})
				want := map[string]string{}
				for _, k := range allHeaders {
					want[k] = tc.want[k]
				}
				// The first call on a fresh bucket is exact on every backend.
				if diff := cmp.Diff(want, headers(h)); diff != "" {
					t.Errorf("headers (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestTokenEstimateSettles checks that token limits admit on the prompt
// plus max_tokens (weighted) and then count the usage reported instead.
func TestTokenEstimateSettles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		weights quota.Weights
		usage   switchboard.Usage
		// wantUsed is the weighted tokens of usage.
		wantUsed int64
		// estimate returns the weighted estimate of prompt and max_tokens.
		estimate func(prompt, maxOut int64) int64
	}{
		{
			name:     "default weights",
			usage:    switchboard.Usage{PromptTokens: 20, CompletionTokens: 7},
			wantUsed: 27,
			estimate: func(p, m int64) int64 { return p + m },
		},
		{
			name:    "weighted, with cached tokens",
			weights: quota.Weights{Input: 1, Cached: 0.5, Output: 2},
			usage: switchboard.Usage{PromptTokens: 100, CompletionTokens: 10,
				PromptTokensDetails: &switchboard.PromptTokensDetails{CachedTokens: 40}},
			wantUsed: 60 + 20 + 20,
			estimate: func(p, m int64) int64 { return p + 2*m },
		},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				const tpm = 10000
				q := quota.New(quota.Options{Limiter: b.limiter(t), Weights: tc.weights})
				c := who{key: switchboard.Limits{TPM: tpm}}.caller()

				a1 := ask(c, "gpt-4o", "Tell me a long story about a lighthouse keeper.", 1000)
				t1, h := mustAdmit(t, q, a1)
				est1 := tc.estimate(promptOf(a1), 1000)
				checkRemaining(t, b, h, hRemTok, tpm-est1, 0)
				t1.Settle(t.Context(), httpapi.Settlement{Usage: tc.usage, HasUsage: true})

				// The next request sees the usage, not the estimate.
				a2 := ask(c, "gpt-4o", "hi", 0)
				t2, h := mustAdmit(t, q, a2)
				est2 := tc.estimate(promptOf(a2), 0)
				checkRemaining(t, b, h, hRemTok, tpm-tc.wantUsed-est2, 100)
				// A request that failed used nothing: its estimate comes back.
				t2.Settle(t.Context(), httpapi.Settlement{})
				t2.Settle(t.Context(), httpapi.Settlement{Usage: tc.usage, HasUsage: true}) // once only

				t3, h := mustAdmit(t, q, a2)
				defer t3.Settle(t.Context(), httpapi.Settlement{})
				checkRemaining(t, b, h, hRemTok, tpm-tc.wantUsed-est2, 100)
			})
		}
	})
}

// TestEmbeddingEstimate checks that an embeddings request admits on the
// tokens of its inputs.
func TestEmbeddingEstimate(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		q := quota.New(quota.Options{Limiter: b.limiter(t)})
		inputs := []string{"the quick brown fox", "jumps over the lazy dog"}
		a := httpapi.Admission{Caller: who{key: switchboard.Limits{TPM: 1000}}.caller(), Endpoint: "embeddings",
			Model: "text-embedding-3-small", Embed: &switchboard.EmbeddingRequest{Model: "text-embedding-3-small",
				Input: json.RawMessage(`["the quick brown fox", "jumps over the lazy dog"]`)}}
		tk, h := mustAdmit(t, q, a)
		defer tk.Settle(t.Context(), httpapi.Settlement{})
		want := int64(tokenize.CountEmbeddingInput(a.Model, inputs))
		if want <= 0 {
			t.Fatalf("CountEmbeddingInput = %d, want > 0", want)
		}
		checkRemaining(t, b, h, hRemTok, 1000-want, 0)
	})
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("requests", func(t *testing.T) {
			q := quota.New(quota.Options{Limiter: b.limiter(t)})
			c := who{tenant: switchboard.Limits{RPM: 100}, key: switchboard.Limits{RPM: 2}}.caller()
			a := ask(c, "m", "hello", 0)
			for range 2 {
				tk, _ := mustAdmit(t, q, a)
				tk.Settle(t.Context(), httpapi.Settlement{})
			}
			e, h := mustDeny(t, q, a)
			if e.Code != switchboard.CodeRateLimited || e.VendorCode != "rate_limit_exceeded" {
				t.Errorf("got code %s/%s, want rate_limited/rate_limit_exceeded", e.Code, e.VendorCode)
			}
			if e.RetryAfter <= 0 || e.RetryAfter > 30*time.Second || b.exact && e.RetryAfter != 30*time.Second {
				t.Errorf("got Retry-After %v, want 30s (one request of 2 a minute)", e.RetryAfter)
			}
			for _, s := range []string{`key "key_a"`, "requests per minute", "limit 2"} {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not say %q", e.Message, s)
				}
			}
			if got := headers(h); got[hLimitReq] != "2" || got[hRemReq] != "0" || got[hScope] != "key:key_a" {
				t.Errorf("got headers %v, want limit 2, remaining 0, scope key:key_a", got)
			}
			// The denied request consumed nothing at the tenant's scope.
			other := who{tenant: switchboard.Limits{RPM: 100}}.caller()
			other.Key.ID = "key_b"
			tk, h := mustAdmit(t, q, ask(other, "m", "hello", 0))
			tk.Settle(t.Context(), httpapi.Settlement{})
			checkRemaining(t, b, h, hRemReq, 97, 1) // 2 admitted, 1 denied, this one
		})
		t.Run("too large", func(t *testing.T) {
			q := quota.New(quota.Options{Limiter: b.limiter(t)})
			e, h := mustDeny(t, q, ask(who{key: switchboard.Limits{TPM: 500}}.caller(), "m", "hello", 1000))
			if e.Code != switchboard.CodeRateLimited || e.RetryAfter != time.Minute || !strings.Contains(e.Message, "Request too large") {
				t.Errorf("got %s %v %q, want rate_limited, 1m, too large", e.Code, e.RetryAfter, e.Message)
			}
			if h.Get(hLimitTok) != "500" || h.Get(hScope) != "key:key_a" {
				t.Errorf("got headers %v", headers(h))
			}
		})
		t.Run("concurrency", func(t *testing.T) {
			q := quota.New(quota.Options{Limiter: b.limiter(t)})
			a := ask(who{key: switchboard.Limits{Concurrency: 1}}.caller(), "m", "hello", 0)
			tk, _ := mustAdmit(t, q, a)
			e, _ := mustDeny(t, q, a)
			if e.Code != switchboard.CodeRateLimited || !strings.Contains(e.Message, "concurrent requests") {
				t.Errorf("got %s %q, want rate_limited on concurrent requests", e.Code, e.Message)
			}
			tk.Settle(t.Context(), httpapi.Settlement{})
			tk, _ = mustAdmit(t, q, a)
			tk.Settle(t.Context(), httpapi.Settlement{})
		})
	})
}

// window returns the daily window of s in l.
func window(tb testing.TB, l *budget.Ledger, s budget.Scope) budget.WindowStatus {
	tb.Helper()
	ws, err := l.Status(tb.Context(), s)
	if err != nil {
		tb.Fatalf("Status: %v", err)
	}
	for _, w := range ws {
		if w.Window == budget.Daily {
			return w
		}
	}
	tb.Fatalf("no daily window in %v", ws)
	return budget.WindowStatus{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-8 }

func usd(v float64) *float64 { return &v }

// TestBudgetReservesWorstCase checks that admission reserves what the
// request can cost at the dearest deployment, and settles to the cost.
func TestBudgetReservesWorstCase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		model     string
		maxTokens int
		// worst returns the reservation for a prompt of p tokens.
		worst func(p float64) float64
	}{
		// dear: 0.002p + 100 × 0.003 beats cheap: 0.001p + 100 × 0.002.
		{"max_tokens: the dearest deployment", "m", 100, func(p float64) float64 { return 0.002*p + 0.3 }},
		// No max_tokens: each deployment's max output from the table;
		// cheap: 0.001p + 4000 × 0.002 = 8 beats dear: 0.002p + 2000 × 0.003 = 6.
		{"no max_tokens: the model's max output", "m", 0, func(p float64) float64 { return 0.001*p + 8 }},
		{"max_tokens capped at the model's max output", "m", 10000, func(p float64) float64 { return 0.001*p + 8 }},
		// An unpriced deployment: the priced ones still reserve.
		{"unpriced deployment among priced ones", "mixed", 100, func(p float64) float64 { return 0.001*p + 0.2 }},
		// Unpriced: its cost is unknown, so nothing is reserved.
		{"unpriced model", "mystery", 100, func(float64) float64 { return 0 }},
		// The router answers 404 for an unknown model; nothing to reserve.
		{"unknown model", "nope", 100, func(float64) float64 { return 0 }},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ledger := b.ledger(t)
				q := quota.New(quota.Options{Limiter: b.limiter(t), Ledger: ledger, Prices: prices, Candidates: candidates})
				w := who{tenantBudget: switchboard.Budget{DailyUSD: 1000}, keyBudget: switchboard.Budget{DailyUSD: 100}}
				a := ask(w.caller(), tc.model, "Summarize the plot of Hamlet in three sentences.", tc.maxTokens)
				worst := tc.worst(float64(promptOf(a)))
				tk, h := mustAdmit(t, q, a)
				keyScope := budget.Scope{Kind: budget.KindKey, ID: "key_a", Budget: w.keyBudget}
				tenantScope := budget.Scope{Kind: budget.KindTenant, ID: "acme", Budget: w.tenantBudget}
				for _, s := range []budget.Scope{keyScope, tenantScope} {
					if got := window(t, ledger, s); !near(got.ReservedUSD, worst) || got.SpentUSD != 0 {
						t.Errorf("%s: reserved %v, spent %v; want %v, 0", s.Kind, got.ReservedUSD, got.SpentUSD, worst)
					}
				}
				if got, want := h.Get(hBudgetRem), strconv.FormatFloat(100-worst, 'f', 6, 64); got != want {
					t.Errorf("%s: got %s, want %s (the key's cap less the reservation)", hBudgetRem, got, want)
				}

				// Settled to the actual cost; unknown (unpriced) counts nothing.
				var cost *float64
				if worst > 0 {
					cost = usd(0.25)
				}
				tk.Settle(t.Context(), httpapi.Settlement{CostUSD: cost})
				tk.Settle(t.Context(), httpapi.Settlement{CostUSD: usd(50)}) // once only
				wantSpent := 0.0
				if cost != nil {
					wantSpent = *cost
				}
				for _, s := range []budget.Scope{keyScope, tenantScope} {
					if got := window(t, ledger, s); got.ReservedUSD != 0 || !near(got.SpentUSD, wantSpent) {
						t.Errorf("%s after Settle: reserved %v, spent %v; want 0, %v", s.Kind, got.ReservedUSD, got.SpentUSD, wantSpent)
					}
				}
			})
		}
	})
}

func TestInsufficientQuota(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		newQuota := func(t *testing.T, global switchboard.Budget) *quota.Quota {
			return quota.New(quota.Options{Limiter: b.limiter(t), Ledger: b.ledger(t), Prices: prices,
				Candidates: candidates, GlobalBudget: global})
		}
		t.Run("key budget", func(t *testing.T) {
			q := newQuota(t, switchboard.Budget{})
			a := ask(who{keyBudget: switchboard.Budget{DailyUSD: 10}}.caller(), "m", "hello", 0)
			worst := 0.001*float64(promptOf(a)) + 8
			first, _ := mustAdmit(t, q, a)
			// A second worst case does not fit next to the first.
			e, h := mustDeny(t, q, a)
			if e.Code != switchboard.CodeRateLimited || e.Type != "insufficient_quota" || e.VendorCode != "insufficient_quota" {
				t.Errorf("got %s/%s/%s, want rate_limited/insufficient_quota/insufficient_quota", e.Code, e.Type, e.VendorCode)
			}
			if e.RetryAfter < time.Second {
				t.Errorf("got Retry-After %v, want at least 1s (until the day ends)", e.RetryAfter)
			}
			for _, s := range []string{`key "key_a"`, "daily", "You exceeded your current quota"} {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not say %q", e.Message, s)
				}
			}
			if got, want := h.Get(hBudgetRem), strconv.FormatFloat(10-worst, 'f', 6, 64); got != want {
				t.Errorf("%s: got %s, want %s", hBudgetRem, got, want)
			}
			// Once the first settles for less, the next one fits.
			first.Settle(t.Context(), httpapi.Settlement{CostUSD: usd(0.5)})
			tk, _ := mustAdmit(t, q, a)
			tk.Settle(t.Context(), httpapi.Settlement{CostUSD: usd(0.5)})
		})
		t.Run("global budget", func(t *testing.T) {
			q := newQuota(t, switchboard.Budget{DailyUSD: 5})
			e, _ := mustDeny(t, q, ask(who{}.caller(), "m", "hello", 0))
			if e.Type != "insufficient_quota" || !strings.Contains(e.Message, "the gateway's daily budget is spent") ||
				strings.Contains(e.Message, "$") {
				t.Errorf("got %s %q, want insufficient_quota naming no amounts", e.Type, e.Message)
			}
		})
		t.Run("alert only", func(t *testing.T) {
			q := newQuota(t, switchboard.Budget{})
			tk, h := mustAdmit(t, q, ask(who{keyBudget: switchboard.Budget{DailyUSD: 1, Action: "alert"}}.caller(), "m", "hello", 0))
			tk.Settle(t.Context(), httpapi.Settlement{CostUSD: usd(0.1)})
			if got := h.Get(hBudgetRem); got != "0.000000" {
				t.Errorf("%s: got %s, want 0.000000 (over an alert-only cap)", hBudgetRem, got)
			}
		})
		t.Run("a refusal gives back the rate-limit lease", func(t *testing.T) {
			q := newQuota(t, switchboard.Budget{})
			w := who{key: switchboard.Limits{Concurrency: 1}, keyBudget: switchboard.Budget{DailyUSD: 5}}
			mustDeny(t, q, ask(w.caller(), "m", "hello", 0)) // worst case 8 > 5
			tk, _ := mustAdmit(t, q, ask(w.caller(), "m", "hello", 1))
			tk.Settle(t.Context(), httpapi.Settlement{CostUSD: usd(0.01)})
		})
	})
}

func TestRejectUnpriced(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		q := quota.New(quota.Options{Limiter: b.limiter(t), Prices: prices, Candidates: candidates,
			RejectUnpriced: true, Unpriced: []string{"p/m-mystery"}})
		c := who{key: switchboard.Limits{RPM: 1}}.caller()
		for _, model := range []string{"mystery", "mixed"} {
			e, _ := mustDeny(t, q, ask(c, model, "hello", 10))
			if e.Code != switchboard.CodeInvalidRequest || e.VendorCode != "model_unpriced" || e.Param != "model" {
				t.Errorf("%s: got %s/%s/%s, want invalid_request/model_unpriced/model", model, e.Code, e.VendorCode, e.Param)
			}
		}
		// The refusals consumed no rate limit: the one request a minute is left.
		tk, _ := mustAdmit(t, q, ask(c, "m", "hello", 10))
		tk.Settle(t.Context(), httpapi.Settlement{CostUSD: usd(0.01)})

		got := q.Unpriced()
		got[0] = "changed"
		if diff := cmp.Diff([]string{"p/m-mystery"}, q.Unpriced()); diff != "" {
			t.Errorf("Unpriced (-want +got):\n%s", diff)
		}
	})
}

// countingLimiter counts Admit calls.
type countingLimiter struct {
	limits.Limiter
	admits atomic.Int64
}

func (c *countingLimiter) Admit(ctx context.Context, rules []limits.Rule, tokens int64) (limits.Decision, error) {
	c.admits.Add(1)
	return c.Limiter.Admit(ctx, rules, tokens)
}

func mustAttempt(tb testing.TB, ctx context.Context, q *quota.Quota, provider, model string) func(ok bool) {
	tb.Helper()
	done, err := q.AdmitAttempt(ctx, provider, model)
	if err != nil || done == nil {
		tb.Fatalf("AdmitAttempt(%s, %s): got %v; want admitted", provider, model, err)
	}
	return done
}

func mustLimitAttempt(tb testing.TB, ctx context.Context, q *quota.Quota, provider, model, says string) {
	tb.Helper()
	done, err := q.AdmitAttempt(ctx, provider, model)
	var e *switchboard.Error
	if done != nil || !errors.As(err, &e) || e.Code != switchboard.CodeRateLimited || e.RetryAfter <= 0 {
		tb.Fatalf("AdmitAttempt(%s, %s): got %v; want rate_limited with a Retry-After", provider, model, err)
	}
	if !strings.Contains(e.Message, says) {
		tb.Errorf("message %q does not say %q", e.Message, says)
	}
}

// TestAdmitAttempt checks the engine gate: model and upstream limits per
// upstream call, settled with the request's ticket.
func TestAdmitAttempt(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("no limits", func(t *testing.T) {
			q := quota.New(quota.Options{Limiter: b.limiter(t), Models: map[string]switchboard.Limits{"other": {RPM: 1}}})
			if done, err := q.AdmitAttempt(t.Context(), "p", "m"); done != nil || err != nil {
				t.Errorf("got release %t, %v; want nothing to admit", done != nil, err)
			}
		})
		t.Run("model and upstream RPM", func(t *testing.T) {
			q := quota.New(quota.Options{Limiter: b.limiter(t),
				Models:    map[string]switchboard.Limits{"m": {RPM: 2}},
				Upstreams: map[string]quota.Upstream{"p": {Limits: switchboard.Limits{RPM: 3}}}})
			ctx := t.Context()
			mustAttempt(t, ctx, q, "p", "m")(true)
			mustAttempt(t, ctx, q, "p", "m")(false) // a failed call still was a request
			mustLimitAttempt(t, ctx, q, "p", "m", `model "m"`)
			mustAttempt(t, ctx, q, "p", "n")(true) // another model on p: p's third request
			mustLimitAttempt(t, ctx, q, "p", "n", `upstream "p"`)
			if done, err := q.AdmitAttempt(ctx, "other", "n"); done != nil || err != nil {
				t.Errorf("a provider and model without limits: got release %t, %v; want nothing to admit", done != nil, err)
			}
		})
		t.Run("headers name the model when it is tightest", func(t *testing.T) {
			q := quota.New(quota.Options{Limiter: b.limiter(t), Models: map[string]switchboard.Limits{"m": {RPM: 4}}})
			tk, _ := mustAdmit(t, q, ask(who{key: switchboard.Limits{RPM: 100}}.caller(), "m", "hello", 0))
			mustAttempt(t, tk.Context(t.Context()), q, "p", "m")(true)
			h := http.Header{}
			tk.SetHeaders(h)
			tk.Settle(t.Context(), httpapi.Settlement{})
			if got := headers(h); got[hLimitReq] != "4" || got[hRemReq] != "3" || got[hScope] != "model:m" {
				t.Errorf("got headers %v, want limit 4, remaining 3, scope model:m", got)
			}
		})
		t.Run("upstream TPM settles to usage", func(t *testing.T) {
			const tpm = 10000
			q := quota.New(quota.Options{Limiter: b.limiter(t),
				Upstreams: map[string]quota.Upstream{"p": {Limits: switchboard.Limits{TPM: tpm}}}})
			a1 := ask(nil, "m", "Tell me a long story about a lighthouse keeper.", 1000)
			t1, _ := mustAdmit(t, q, a1) // limits per attempt: a ticket even with no caller
			mustAttempt(t, t1.Context(t.Context()), q, "p", "m")(true)
			t1.Settle(t.Context(), httpapi.Settlement{Usage: switchboard.Usage{PromptTokens: 12, CompletionTokens: 30}, HasUsage: true})

			// A failed attempt gives its tokens back at once.
			a2 := ask(nil, "m", "hi", 50)
			t2, _ := mustAdmit(t, q, a2)
			mustAttempt(t, t2.Context(t.Context()), q, "p", "m")(false)
			t2.Settle(t.Context(), httpapi.Settlement{})

			t3, _ := mustAdmit(t, q, a2)
			mustAttempt(t, t3.Context(t.Context()), q, "p", "m")(true)
			h := http.Header{}
			t3.SetHeaders(h)
			t3.Settle(t.Context(), httpapi.Settlement{})
			// The attempt admits on the prompt plus max_tokens, as the
			// request's own token limits do.
			checkRemaining(t, b, h, hRemTok, tpm-42-(promptOf(a2)+50), 100)
			if got := h.Get(hScope); got != "upstream:p" {
				t.Errorf("scope: got %q, want upstream:p", got)
			}
		})
		t.Run("concurrency held until the ticket settles", func(t *testing.T) {
			q := quota.New(quota.Options{Limiter: b.limiter(t),
				Upstreams: map[string]quota.Upstream{"p": {Limits: switchboard.Limits{Concurrency: 1}}}})
			tk, _ := mustAdmit(t, q, ask(nil, "m", "hello", 0))
			mustAttempt(t, tk.Context(t.Context()), q, "p", "m")(true) // a stream still open
			mustLimitAttempt(t, t.Context(), q, "p", "m", "concurrent requests")
			tk.Settle(t.Context(), httpapi.Settlement{})
			// Without a ticket (an internal call), done settles at once.
			mustAttempt(t, t.Context(), q, "p", "m")(true)
			mustAttempt(t, t.Context(), q, "p", "m")(true)
			// A call that ends after its request settled gives its slot back.
			late, _ := mustAdmit(t, q, ask(nil, "m", "hello", 0))
			done := mustAttempt(t, late.Context(t.Context()), q, "p", "m")
			late.Settle(t.Context(), httpapi.Settlement{})
			done(true)
			mustAttempt(t, t.Context(), q, "p", "m")(true)
		})
		t.Run("queue", func(t *testing.T) {
			newQuota := func(t *testing.T, wait time.Duration) (*quota.Quota, *countingLimiter) {
				l := &countingLimiter{Limiter: b.limiter(t, limits.WithConcurrencyRetry(5*time.Millisecond))}
				return quota.New(quota.Options{Limiter: l,
					Upstreams: map[string]quota.Upstream{"p": {Limits: switchboard.Limits{Concurrency: 1}, Queue: wait}}}), l
			}
			// waiting starts AdmitAttempt in the background once the slot is
			// taken, and returns its result channel once the attempt was
			// refused at least once and tried again: it is queued.
			waiting := func(t *testing.T, ctx context.Context, q *quota.Quota, l *countingLimiter) <-chan error {
				t.Helper()
				res := make(chan error, 1)
				go func() {
					done, err := q.AdmitAttempt(ctx, "p", "m")
					if done != nil {
						done(true)
					}
					res <- err
				}()
				deadline := time.Now().Add(10 * time.Second)
				for l.admits.Load() < 3 && len(res) == 0 { // the holder's admit, then two tries
					if time.Now().After(deadline) {
						t.Fatal("the attempt never retried")
					}
					time.Sleep(time.Millisecond)
				}
				return res
			}
			t.Run("admitted once the slot frees", func(t *testing.T) {
				q, l := newQuota(t, time.Minute)
				hold := mustAttempt(t, t.Context(), q, "p", "m")
				res := waiting(t, t.Context(), q, l)
				hold(false)
				if err := <-res; err != nil {
					t.Errorf("got %v, want admitted after the wait", err)
				}
			})
			t.Run("refused after the queue time", func(t *testing.T) {
				q, l := newQuota(t, 50*time.Millisecond)
				hold := mustAttempt(t, t.Context(), q, "p", "m")
				defer hold(false)
				start := time.Now()
				err := <-waiting(t, t.Context(), q, l)
				if switchboard.ErrorCodeOf(err) != switchboard.CodeRateLimited || time.Since(start) > 10*time.Second {
					t.Errorf("got %v, want rate_limited after the queue time", err)
				}
			})
			t.Run("cancelled while queued", func(t *testing.T) {
				q, l := newQuota(t, time.Minute)
				hold := mustAttempt(t, t.Context(), q, "p", "m")
				defer hold(false)
				ctx, cancel := context.WithCancel(t.Context())
				res := waiting(t, ctx, q, l)
				cancel()
				if err := <-res; !errors.Is(err, context.Canceled) {
					t.Errorf("got %v, want context.Canceled", err)
				}
			})
		})
	})
}

func TestBudgetStatus(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		if got, err := quota.New(quota.Options{Limiter: b.limiter(t)}).BudgetStatus(t.Context(), "", ""); err != nil || !cmp.Equal(got, []any{}) {
			t.Errorf("without a ledger: got %v, %v; want an empty list", got, err)
		}
		keyScope := budget.Scope{Kind: budget.KindKey, ID: "key_a", Budget: switchboard.Budget{DailyUSD: 100}}
		var asked []string
		q := quota.New(quota.Options{Limiter: b.limiter(t), Ledger: b.ledger(t), Prices: prices, Candidates: candidates,
			GlobalBudget: switchboard.Budget{MonthlyUSD: 1000},
			Budgets: func(kind, id string) []budget.Scope {
				asked = append(asked, kind+":"+id)
				return []budget.Scope{keyScope}
			}})
		tk, _ := mustAdmit(t, q, ask(who{keyBudget: keyScope.Budget}.caller(), "m", "hello", 100))
		defer tk.Settle(t.Context(), httpapi.Settlement{})
		for _, tc := range []struct{ kind, id, want string }{
			{"", "", `[{global [monthly]} {key key_a [daily]}]`},
			{"key", "key_a", `[{key key_a [daily]}]`},
		} {
			got, err := q.BudgetStatus(t.Context(), tc.kind, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if s := summarize(t, got); s != tc.want {
				t.Errorf("BudgetStatus(%q, %q): got %s, want %s", tc.kind, tc.id, s, tc.want)
			}
		}
		if diff := cmp.Diff([]string{":", "key:key_a"}, asked); diff != "" {
			t.Errorf("Budgets asked (-want +got):\n%s", diff)
		}
	})
}

// summarize renders BudgetStatus rows as [{scope id [windows]} …] from
// their JSON form.
func summarize(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var rows []struct {
		Scope   string `json:"scope"`
		ID      string `json:"id"`
		Windows []struct {
			Window string `json:"window"`
		} `json:"windows"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		tb.Fatal(err)
	}
	var parts []string
	for _, r := range rows {
		var ws []string
		for _, w := range r.Windows {
			ws = append(ws, w.Window)
		}
		s := "{" + r.Scope
		if r.ID != "" {
			s += " " + r.ID
		}
		parts = append(parts, s+" ["+strings.Join(ws, " ")+"]}")
	}
	return "[" + strings.Join(parts, " ") + "]"
}
