// Package quota is the admission stage of the pipeline: before a request is
// served it must fit every rate limit of its key, its tenant and the whole
// gateway, and the worst case of what it can cost must fit every budget of
// those scopes; each upstream attempt must then fit the limits of the model
// that would serve it and of the upstream service. Afterwards the
// reservations are settled to what the request actually used, so limits and
// budgets count what was served, exactly once.
package quota

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/budget"
	"github.com/switchboard-ai/switchboard/httpapi"
	"github.com/switchboard-ai/switchboard/limits"
	"github.com/switchboard-ai/switchboard/metrics"
	"github.com/switchboard-ai/switchboard/pricing"
	"github.com/switchboard-ai/switchboard/tokenize"
)

// Target is a deployment a model may be served by.
type Target struct{ Provider, Model string }

// Upstream is the limits of one upstream service (a provider account).
type Upstream struct {
	Limits switchboard.Limits
	// Queue is how long an attempt may wait for room before it is refused.
	Queue time.Duration
}

// Weights weigh input, cached input and output tokens in token limits.
type Weights struct{ Input, Cached, Output float64 }

// Options configure a Quota.
type Options struct {
	// Limiter enforces rate limits (memory or Redis).
	Limiter limits.Limiter
	// Ledger enforces budgets; nil means no budgets anywhere.
	Ledger *budget.Ledger
	// Prices prices the worst case of a request for budget reservations.
	Prices *pricing.Table
	// Candidates returns the deployments that may serve a model.
	Candidates func(model string) ([]Target, error)
	// Global are the gateway-wide limits and budget.
	Global       switchboard.Limits
	GlobalBudget switchboard.Budget
	// Models are per-model limits, counted against the model that served.
	Models map[string]switchboard.Limits
	// CountFallbacks names the models whose limits also count the calls of
	// a fallback model that served one of their requests.
	CountFallbacks map[string]bool
	// Upstreams are per-provider limits, by provider name.
	Upstreams map[string]Upstream
	// Weights weigh tokens; zero value means 1, 1, 1.
	Weights Weights
	// RejectUnpriced refuses requests for models the price table cannot price.
	RejectUnpriced bool
	// Unpriced lists the deployments known to be unpriced (for the admin API).
	Unpriced []string
	// Budgets lists the budgets of tenants and keys for the admin API: of
	// one tenant or key (kind "tenant" or "key" and its id), or all (kind "").
	Budgets func(kind, id string) []budget.Scope
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// Quota implements httpapi.Quota and engine.Gate.
type Quota struct {
	o Options
	// gated reports model or upstream limits: attempts need a ticket.
	gated bool
}

// New returns a Quota.
func New(o Options) *Quota {
	if o.Weights == (Weights{}) {
		o.Weights = Weights{1, 1, 1}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Quota{o: o, gated: len(o.Models) > 0 || len(o.Upstreams) > 0}
}

func hasTPM(rules []limits.Rule) bool {
	for _, r := range rules {
		if r.TPM > 0 {
			return true
		}
	}
	return false
}

var _ httpapi.Quota = (*Quota)(nil)

// ticket is one admitted request's reservations.
type ticket struct {
	q          *Quota
	lease      limits.Lease
	hasLease   bool
	reserve    *budget.Reservation
	tokens     int64  // the weighted estimate: prompt plus output asked for
	model      string // the model the client asked for
	statuses   []limits.Status
	budgetLeft float64 // NaN when no budget applies
	scope      string  // the tightest scope, for x-switchboard-limit-scope

	mu       sync.Mutex
	upstream []limits.Lease // the successful attempts' leases
	settled  bool
}

type ticketKey struct{}

func (t *ticket) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

// weighted returns the tokens of u as token limits count them.
func (q *Quota) weighted(u switchboard.Usage) int64 {
	cached := u.CachedTokens()
	in := max(u.PromptTokens-cached, 0)
	w := q.o.Weights
	return int64(math.Ceil(float64(in)*w.Input + float64(cached)*w.Cached + float64(u.CompletionTokens)*w.Output))
}

// estimate returns the prompt tokens of a request and the output tokens it
// asked for (0: no cap).
func estimate(a httpapi.Admission) (prompt, maxOut int) {
	switch {
	case a.Chat != nil:
		return tokenize.CountChat(a.Model, a.Chat), a.Chat.MaxOutputTokens()
	case a.Embed != nil:
		return tokenize.CountEmbeddingInput(a.Model, a.Embed.Texts()), 0
	}
	return 0, 0
}

// Admit implements httpapi.Quota.
func (q *Quota) Admit(ctx context.Context, a httpapi.Admission, h http.Header) (httpapi.Ticket, error) {
	rules := make([]limits.Rule, 0, 3)
	if !q.o.Global.IsZero() {
		rules = append(rules, limits.Rule{Scope: limits.ScopeGlobal, Limits: q.o.Global})
	}
	var scopes []budget.Scope
	if !q.o.GlobalBudget.IsZero() {
		scopes = append(scopes, budget.Scope{Kind: budget.KindGlobal, Budget: q.o.GlobalBudget})
	}
	if c := a.Caller; c != nil {
		if !c.Tenant.Limits.IsZero() {
			rules = append(rules, limits.Rule{Scope: limits.ScopeTenant, ID: c.Tenant.Name, Limits: c.Tenant.Limits})
		}
		if !c.Key.Limits.IsZero() {
			rules = append(rules, limits.Rule{Scope: limits.ScopeKey, ID: c.Key.ID, Limits: c.Key.Limits})
		}
		if !c.Tenant.Budget.IsZero() {
			scopes = append(scopes, budget.Scope{Kind: budget.KindTenant, ID: c.Tenant.Name, Budget: c.Tenant.Budget})
		}
		if !c.Key.Budget.IsZero() {
			scopes = append(scopes, budget.Scope{Kind: budget.KindKey, ID: c.Key.ID, Budget: c.Key.Budget})
		}
	}
	if q.o.Ledger == nil {
		scopes = nil
	}
	needCost := len(scopes) > 0 || q.o.RejectUnpriced
	if len(rules) == 0 && !needCost && !q.gated {
		return nil, nil // nothing to enforce: no tokenizing, no ticket
	}
	var prompt, maxOut int
	if needCost || q.gated || hasTPM(rules) {
		prompt, maxOut = estimate(a)
	}
	// Token limits admit on the prompt plus the output asked for.
	tokens := int64(math.Ceil(float64(prompt)*q.o.Weights.Input + float64(maxOut)*q.o.Weights.Output))
	t := &ticket{q: q, tokens: tokens, model: a.Model, budgetLeft: math.NaN()}
	var worst float64
	if needCost {
		var priced bool
		worst, priced = q.worstCost(a.Model, prompt, maxOut)
		if !priced && q.o.RejectUnpriced {
			return nil, &switchboard.Error{Code: switchboard.CodeInvalidRequest, Param: "model", VendorCode: "model_unpriced",
				Message: fmt.Sprintf("model %q has no price in the price table and pricing.reject_unpriced is set; add it under pricing.models", a.Model)}
		}
	}
	if len(rules) > 0 {
		d, err := q.o.Limiter.Admit(ctx, rules, tokens)
		if err != nil {
			return nil, fmt.Errorf("rate limiter: %w", err)
		}
		t.note(d)
		if !d.Allowed {
			t.SetHeaders(h)
			return nil, q.limited(d)
		}
		t.lease, t.hasLease = d.Lease, true
	}
	if len(scopes) > 0 {
		d, err := q.o.Ledger.Reserve(ctx, scopes, worst)
		if err != nil {
			t.release(ctx)
			return nil, fmt.Errorf("budget ledger: %w", err)
		}
		if !math.IsInf(d.RemainingUSD, 1) {
			t.budgetLeft = d.RemainingUSD
		}
		if !d.Allowed {
			t.release(ctx)
			t.SetHeaders(h)
			return nil, q.overBudget(d)
		}
		t.reserve = d.Reservation
	}
	return t, nil
}

// worstCost is the most the request can cost on any deployment of model.
func (q *Quota) worstCost(model string, prompt, maxOut int) (usd float64, priced bool) {
	if q.o.Candidates == nil || q.o.Prices == nil {
		return 0, true
	}
	ts, err := q.o.Candidates(model)
	if err != nil || len(ts) == 0 {
		return 0, true // unknown model: the router answers 404
	}
	priced = true
	for _, c := range ts {
		v, ok := q.o.Prices.MaxCost(c.Provider+"/"+c.Model, prompt, maxOut)
		if !ok {
			v, ok = q.o.Prices.MaxCost(c.Model, prompt, maxOut)
		}
		if !ok {
			priced = false
			continue
		}
		usd = max(usd, v)
	}
	return usd, priced
}

// note keeps a decision's statuses for the headers.
func (t *ticket) note(d limits.Decision) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range []limits.Status{d.Requests, d.Tokens} {
		if s.Limit > 0 {
			t.statuses = append(t.statuses, s)
		}
	}
	if !d.Allowed {
		t.scope = scopeName(d.Denied)
	}
}

func scopeName(s limits.Status) string {
	if s.ID == "" {
		return s.Scope
	}
	return s.Scope + ":" + s.ID
}

// limited is the 429 for a rate limit.
func (q *Quota) limited(d limits.Decision) error {
	s := d.Denied
	if q.o.Metrics != nil {
		q.o.Metrics.LimitRejections.WithLabelValues(s.Scope, s.Kind.String()).Inc()
	}
	what := map[limits.Kind]string{limits.Requests: "requests per minute", limits.Tokens: "tokens per minute", limits.Concurrency: "concurrent requests"}[s.Kind]
	msg := fmt.Sprintf("Rate limit reached for %s on %s: limit %d. Please try again in %s.", describeScope(s), what, s.Limit, roundUp(d.RetryAfter))
	if d.TooLarge {
		msg = fmt.Sprintf("Request too large for %s: it needs more tokens than the whole limit of %d tokens per minute. Lower max_tokens or the prompt.", describeScope(s), s.Limit)
	}
	return &switchboard.Error{Code: switchboard.CodeRateLimited, VendorCode: "rate_limit_exceeded", Message: msg, RetryAfter: d.RetryAfter}
}

func describeScope(s limits.Status) string {
	switch s.Scope {
	case limits.ScopeGlobal:
		return "the gateway"
	case limits.ScopeUpstream:
		return "upstream " + strconv.Quote(s.ID)
	}
	return s.Scope + " " + strconv.Quote(s.ID)
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// overBudget is the 429 insufficient_quota for a spent budget. A caller
// learns its own tenant's or key's spend; never the gateway's.
func (q *Quota) overBudget(d budget.Decision) error {
	den := d.Denied
	if den == nil {
		return &switchboard.Error{Code: switchboard.CodeRateLimited, Type: "insufficient_quota", VendorCode: "insufficient_quota",
			Message: "You exceeded your current quota."}
	}
	if q.o.Metrics != nil {
		q.o.Metrics.BudgetRejections.WithLabelValues(den.Kind).Inc()
	}
	e := den.Error(time.Now())
	if den.Kind == budget.KindGlobal {
		e.Message = fmt.Sprintf("You exceeded your current quota: the gateway's %s budget is spent", den.Window)
	} else {
		e.Message = fmt.Sprintf("You exceeded your current quota: %s %q has spent $%.4f (plus $%.4f in flight) of its $%.2f %s budget",
			den.Kind, den.ID, den.SpentUSD, den.ReservedUSD, den.CapUSD, den.Window)
	}
	if !den.ResetAt.IsZero() {
		e.Message += "; it resets at " + den.ResetAt.UTC().Format(time.RFC3339)
	}
	e.Message += "."
	return e
}

// release gives back the front lease of a request refused later in Admit.
func (t *ticket) release(ctx context.Context) {
	if t.hasLease {
		_ = t.q.o.Limiter.Settle(ctx, &t.lease, 0)
		t.hasLease = false
	}
}

// SetHeaders implements httpapi.Ticket: OpenAI's x-ratelimit-* for the
// tightest rule of each kind, the limit scope and the budget left.
func (t *ticket) SetHeaders(h http.Header) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var req, tok limits.Status
	for _, s := range t.statuses {
		switch s.Kind {
		case limits.Requests:
			req = tighter(req, s)
		case limits.Tokens:
			tok = tighter(tok, s)
		}
	}
	if req.Limit > 0 {
		h.Set("X-Ratelimit-Limit-Requests", strconv.FormatInt(req.Limit, 10))
		h.Set("X-Ratelimit-Remaining-Requests", strconv.FormatInt(req.Remaining, 10))
		h.Set("X-Ratelimit-Reset-Requests", formatReset(req.Reset))
	}
	if tok.Limit > 0 {
		h.Set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(tok.Limit, 10))
		h.Set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(tok.Remaining, 10))
		h.Set("X-Ratelimit-Reset-Tokens", formatReset(tok.Reset))
	}
	scope := t.scope
	if scope == "" {
		switch {
		case req.Limit > 0 && (tok.Limit == 0 || frac(req) <= frac(tok)):
			scope = scopeName(req)
		case tok.Limit > 0:
			scope = scopeName(tok)
		}
	}
	if scope != "" {
		h.Set("X-Switchboard-Limit-Scope", scope)
	}
	if !math.IsNaN(t.budgetLeft) {
		h.Set("X-Switchboard-Budget-Remaining-Usd", strconv.FormatFloat(max(t.budgetLeft, 0), 'f', 6, 64))
	}
}

func frac(s limits.Status) float64 { return float64(s.Remaining) / float64(s.Limit) }

func tighter(a, b limits.Status) limits.Status {
	if a.Limit == 0 || (b.Limit > 0 && frac(b) < frac(a)) {
		return b
	}
	return a
}

// formatReset writes a duration as OpenAI does: "1s", "6m0s", "20ms".
func formatReset(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(int64(math.Ceil(float64(d)/float64(time.Millisecond))), 10) + "ms"
	}
	return d.Round(time.Millisecond).String()
}

// Settle implements httpapi.Ticket.
func (t *ticket) Settle(ctx context.Context, s httpapi.Settlement) {
	t.mu.Lock()
	if t.settled {
		t.mu.Unlock()
		return
	}
	t.settled = true
	ups := t.upstream
	t.mu.Unlock()
	q := t.q
	var tokens int64
	if s.HasUsage {
		tokens = q.weighted(s.Usage)
	}
	if t.hasLease {
		if err := q.o.Limiter.Settle(ctx, &t.lease, tokens); err != nil {
			q.o.Log.Warn("settling a rate-limit reservation failed", switchboard.LogKeyErr, err)
		}
	}
	for i := range ups {
		if err := q.o.Limiter.Settle(ctx, &ups[i], tokens); err != nil {
			q.o.Log.Warn("settling an upstream rate-limit reservation failed", switchboard.LogKeyErr, err)
		}
	}
	if t.reserve != nil {
		cost := 0.0
		if s.CostUSD != nil {
			cost = *s.CostUSD
		}
		if err := q.o.Ledger.Settle(ctx, t.reserve, cost); err != nil {
			q.o.Log.Error("settling a budget reservation failed", switchboard.LogKeyErr, err)
		}
	}
}

// AdmitAttempt implements engine.Gate: one upstream call for model on
// provider must fit the model's and the upstream's limits, waiting up to
// the upstream's queue time.
func (q *Quota) AdmitAttempt(ctx context.Context, provider, model string) (func(ok bool), error) {
	up, hasUp := q.o.Upstreams[provider]
	ml, hasModel := q.o.Models[model]
	t, _ := ctx.Value(ticketKey{}).(*ticket)
	// A fallback's call also counts against the requested model's limits
	// when that model asks for it (models.NAME.count_fallbacks).
	var asked string
	if t != nil && t.model != model && q.o.CountFallbacks[t.model] {
		asked = t.model
	}
	if !hasUp && !hasModel && asked == "" {
		return nil, nil
	}
	var rules [3]limits.Rule
	n := 0
	if hasModel && !ml.IsZero() {
		rules[n] = limits.Rule{Scope: limits.ScopeModel, ID: model, Limits: ml}
		n++
	}
	if al := q.o.Models[asked]; asked != "" && !al.IsZero() {
		rules[n] = limits.Rule{Scope: limits.ScopeModel, ID: asked, Limits: al}
		n++
	}
	if hasUp && !up.Limits.IsZero() {
		rules[n] = limits.Rule{Scope: limits.ScopeUpstream, ID: provider, Limits: up.Limits}
		n++
	}
	if n == 0 {
		return nil, nil
	}
	var tokens int64
	if t != nil {
		tokens = t.tokens // the estimate the request's own limits admitted
	}
	var d limits.Decision
	var err error
	if up.Queue > 0 {
		d, err = limits.Wait(ctx, q.o.Limiter, rules[:n], tokens, up.Queue)
	} else {
		d, err = q.o.Limiter.Admit(ctx, rules[:n], tokens)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("rate limiter: %w", err)
	}
	if t != nil {
		t.note(d)
	}
	if !d.Allowed {
		return nil, q.limited(d)
	}
	lease := d.Lease
	return func(ok bool) {
		if ok && t != nil {
			t.mu.Lock()
			if !t.settled {
				t.upstream = append(t.upstream, lease)
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
		}
		// A failed attempt used no tokens; an attempt outside a ticket
		// (an internal call) is settled at once with none.
		_ = q.o.Limiter.Settle(context.WithoutCancel(ctx), &lease, 0)
	}, nil
}

// BudgetStatus implements httpapi.Quota.
func (q *Quota) BudgetStatus(ctx context.Context, kind, id string) (any, error) {
	if q.o.Ledger == nil {
		return []any{}, nil
	}
	var scopes []budget.Scope
	if kind == "" || kind == "global" {
		if !q.o.GlobalBudget.IsZero() {
			scopes = append(scopes, budget.Scope{Kind: budget.KindGlobal, Budget: q.o.GlobalBudget})
		}
	}
	if q.o.Budgets != nil {
		scopes = append(scopes, q.o.Budgets(kind, id)...)
	}
	type row struct {
		Kind    string                `json:"scope"`
		ID      string                `json:"id,omitempty"`
		Windows []budget.WindowStatus `json:"windows"`
	}
	out := []row{}
	for _, s := range scopes {
		ws, err := q.o.Ledger.Status(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, row{Kind: s.Kind, ID: s.ID, Windows: ws})
	}
	return out, nil
}

// Unpriced implements httpapi.Quota.
func (q *Quota) Unpriced() []string { return slices.Clone(q.o.Unpriced) }
