package engine

import (
	"cmp"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Strategy names, as in config.
const (
	StrategyOrdered       = "ordered"
	StrategyWeighted      = "weighted"
	StrategyLeastInFlight = "least_inflight"
	StrategyLatency       = "latency"
)

// Deployment is one way to serve a model name: a provider, the model name
// that provider knows it by, and its weight under the weighted strategy.
type Deployment struct {
	Provider *Provider
	Model    string
	Weight   int
}

// RetryPolicy bounds the attempts made for one request on one model.
type RetryPolicy struct {
	// Attempts is the most upstream calls (default: one per deployment, at least 2).
	Attempts int
	// Backoff is the base of the exponential backoff with full jitter (default 100ms).
	Backoff time.Duration
	// MaxBackoff caps one wait; a longer Retry-After ends the retries (default 5s).
	MaxBackoff time.Duration
}

// Fallback sends a request that failed with one of the error classes On to
// the models To.
type Fallback struct {
	On []string
	To []string
}

// HedgePolicy configures hedged requests.
type HedgePolicy struct {
	Enabled  bool
	Quantile float64
	MinDelay time.Duration
}

// Route maps a public model name to its deployments and routing policy.
type Route struct {
	Name        string
	Deployments []Deployment
	Strategy    string
	Sticky      bool
	Retry       RetryPolicy
	Fallbacks   []Fallback
	Hedge       HedgePolicy
}

// route is a Route bound to the shared deployment states.
type route struct {
	Route
	deps    []*deployment
	weights []int
}

// order returns the deployments in the order to try them for one request:
// by strategy, then those resting (breaker open, rate-limit cooldown) last.
func (r *route) order(unit string, now time.Time) []*deployment {
	out := make([]*deployment, len(r.deps))
	copy(out, r.deps)
	if len(out) > 1 {
		switch r.Strategy {
		case StrategyWeighted:
			r.shuffleWeighted(out, unit)
		case StrategyLeastInFlight:
			r.shuffleWeighted(out, unit)
			slices.SortStableFunc(out, func(a, b *deployment) int { return cmp.Compare(a.inflight.Load(), b.inflight.Load()) })
		case StrategyLatency:
			r.shuffleWeighted(out, unit)
			// Deployments without a sample yet go first, to get one.
			slices.SortStableFunc(out, func(a, b *deployment) int { return cmp.Compare(a.ewma(), b.ewma()) })
		default:
			if r.Sticky && unit != "" {
				r.shuffleWeighted(out, unit)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *deployment) int {
		ra, rb := a.resting(now), b.resting(now)
		switch {
		case ra == rb:
			return 0
		case ra:
			return 1
		}
		return -1
	})
	return out
}

// shuffleWeighted orders deps as a weighted random permutation
// (Efraimidis–Spirakis keys u^(1/w)); with a sticky unit the randomness is
// seeded by the unit, so a unit always sees the same order.
func (r *route) shuffleWeighted(deps []*deployment, unit string) {
	var rng *rand.Rand
	if r.Sticky && unit != "" {
		h := fnv.New64a()
		_, _ = h.Write([]byte(r.Name))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(unit))
		s := h.Sum64()
		rng = rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	}
	keys := make(map[*deployment]float64, len(deps))
	for i, d := range deps {
		w := 1
		if i < len(r.weights) {
			w = r.weights[i]
		}
		u := rand.Float64()
		if rng != nil {
			u = rng.Float64()
		}
		if w <= 0 {
			keys[d] = -1
			continue
		}
		keys[d] = math.Pow(u, 1/float64(w))
	}
	// weights are indexed like r.deps, and deps is a copy in that order.
	slices.SortStableFunc(deps, func(a, b *deployment) int { return cmp.Compare(keys[b], keys[a]) })
}
