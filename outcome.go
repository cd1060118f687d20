package switchboard

import (
	"context"
	"time"
)

// Outcome is what the router reports back about how an inference was served:
// which deployment answered, after how many attempts. httpapi puts an empty
// Outcome in the request's context; the router fills it in.
type Outcome struct {
	// Provider is the configured name of the provider that answered (or failed last).
	Provider string
	// ProviderType is that provider's `type:` ("openai", "mock").
	ProviderType string
	// UpstreamModel is the model name sent to that provider.
	UpstreamModel string
	// Attempts counts upstream calls made, fallbacks and retries included.
	Attempts int
	// UpstreamLatency is the time the answering call took (to the first
	// chunk, for streams).
	UpstreamLatency time.Duration
	// Model is the public model name that answered: the one asked for, or
	// the fallback model that took over.
	Model string
	// Hedged reports that a second, hedged request was sent.
	Hedged bool
	// Cache is the response cache's verdict: "hit", "semantic-hit", "miss"
	// or "bypass"; empty when no cache is configured.
	Cache string
	// CacheTier names the tier that served a hit ("memory", "disk", "redis").
	CacheTier string
	// Similarity is the cosine similarity of a semantic hit.
	Similarity float64
	// CacheKey is the cache entry that served a hit, or that a miss was
	// stored under (purge it by this key).
	CacheKey string
}

type outcomeKey struct{}

// NewContextWithOutcome returns a context carrying o for the router to fill.
func NewContextWithOutcome(ctx context.Context, o *Outcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, o)
}

// OutcomeFromContext returns the Outcome carried by ctx, or nil.
func OutcomeFromContext(ctx context.Context) *Outcome {
	o, _ := ctx.Value(outcomeKey{}).(*Outcome)
	return o
}
