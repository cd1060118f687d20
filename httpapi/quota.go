package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// Quota admits inferences against rate limits and budgets before they are
// served, and settles them with what they actually used afterwards.
type Quota interface {
	// Admit reserves room for a request (a nil Ticket when nothing applies
	// to it), or returns a 429 *switchboard.Error
	// (rate_limited, or insufficient_quota for a spent budget) whose
	// headers are already in h.
	Admit(ctx context.Context, a Admission, h http.Header) (Ticket, error)
	// BudgetStatus reports budgets' windows and spend: of one scope ("tenant",
	// "key" with an id) or, with kind "", every budget.
	BudgetStatus(ctx context.Context, kind, id string) (any, error)
	// Unpriced lists the deployments the price table cannot price.
	Unpriced() []string
}

// Admission is what Quota.Admit needs to know about a request.
type Admission struct {
	Caller   *tenancy.Caller // nil when the server runs open
	Endpoint string          // "chat" or "embeddings"
	Model    string
	Chat     *switchboard.ChatRequest      // set for chat
	Embed    *switchboard.EmbeddingRequest // set for embeddings
}

// Ticket is an admitted request's reservations.
type Ticket interface {
	// Context returns ctx carrying the ticket, so the router can admit each
	// upstream attempt against the model's and the upstream's limits.
	Context(ctx context.Context) context.Context
	// SetHeaders writes x-ratelimit-* (the tightest scope), the limit scope
	// and the remaining budget.
	SetHeaders(h http.Header)
	// Settle replaces the reservations with what was used. It runs exactly
	// once per admitted request.
	Settle(ctx context.Context, s Settlement)
}

// Settlement is what an inference used.
type Settlement struct {
	Usage    switchboard.Usage
	HasUsage bool
	// CostUSD is what the upstream call cost; nil when unknown (unpriced).
	CostUSD *float64
	// Outcome says which model and deployment served it, and whether the
	// cache did.
	Outcome *switchboard.Outcome
}

// admit runs the quota for an inference whose endpoint, model and request
// are in e; the ticket is kept in e and settled in finish.
func (s *Server) admit(ctx context.Context, w http.ResponseWriter, e *entry, a Admission) (context.Context, error) {
	if err := checkModel(e, a.Model); err != nil {
		return ctx, err
	}
	if s.quota == nil {
		return ctx, nil
	}
	a.Caller = e.caller
	t, err := s.quota.Admit(ctx, a, w.Header())
	if err != nil || t == nil {
		return ctx, err
	}
	e.ticket = t
	return t.Context(ctx), nil
}

// price computes, once, what the inference cost and (for a cache hit) saved.
func (s *Server) price(e *entry) {
	if e.priced || !e.hasUsage {
		return
	}
	e.priced = true
	if s.costs == nil {
		return
	}
	inf := switchboard.Inference{Provider: e.outcome.Provider, UpstreamModel: e.outcome.UpstreamModel, Cache: e.outcome.Cache}
	s.costs(&inf, e.usage)
	e.cost, e.saved = inf.CostUSD, inf.SavedUSD
}

// setCostHeader sets x-switchboard-cost-usd once the cost is known.
func setCostHeader(h http.Header, e *entry) {
	if e.cost != nil {
		h.Set("X-Switchboard-Cost-Usd", strconv.FormatFloat(*e.cost, 'f', -1, 64))
	}
}

// settle settles the request's ticket, once, from what the entry recorded.
func (s *Server) settle(ctx context.Context, e *entry) {
	if e.ticket == nil {
		return
	}
	t := e.ticket
	e.ticket = nil
	s.price(e)
	t.Settle(ctx, Settlement{Usage: e.usage, HasUsage: e.hasUsage, CostUSD: e.cost, Outcome: &e.outcome})
}
