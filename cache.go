package switchboard

import (
	"context"
	"time"
)

// Cache is one tier of the response cache: a byte store with per-entry
// expiry. Keys are opaque strings chosen by the caching layer; a miss is
// (nil, false, nil), never an error. Implementations are safe for
// concurrent use.
type Cache interface {
	// Get returns the value stored under key, if present and not expired.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl (ttl <= 0: the tier's default).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// CachePurger is a Cache that can delete every key with a prefix (the
// caching layer puts the tenant and model first in its keys, so purging a
// tenant or a model is a prefix delete).
type CachePurger interface {
	// DeletePrefix removes every key starting with prefix ("" = all) and
	// returns how many it removed.
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// CacheStatser is a Cache that reports its size.
type CacheStatser interface {
	// CacheStats returns the entries held and their total size in bytes.
	CacheStats(ctx context.Context) (entries int, bytes int64, err error)
}

// Caches holds cache tiers, keyed by their `type:` (memory, disk, redis).
var Caches = NewRegistry[Cache]("cache")

// CacheControl is what a request asks of the response cache: the HTTP
// Cache-Control request directives, merged with a `cache` object in the body.
type CacheControl struct {
	// NoCache skips the lookup and refreshes the entry with a fresh answer.
	NoCache bool
	// NoStore bypasses the cache: no lookup, nothing stored.
	NoStore bool
	// MaxAge, when set, accepts only entries younger than it.
	MaxAge *time.Duration
	// TTL, when positive, is how long to keep the answer (capped by config).
	TTL time.Duration
	// Namespace partitions the tenant's entries further.
	Namespace string
	// Force caches the answer even when the request is not deterministic
	// (the client opted in).
	Force bool
	// MinSimilarity raises the semantic tier's threshold for this request
	// (it can never lower it below the configured one).
	MinSimilarity float32
}

type cacheControlKey struct{}

// NewContextWithCacheControl returns a context carrying the request's cache directives.
func NewContextWithCacheControl(ctx context.Context, cc CacheControl) context.Context {
	return context.WithValue(ctx, cacheControlKey{}, cc)
}

// CacheControlFromContext returns the request's cache directives, if any.
func CacheControlFromContext(ctx context.Context) CacheControl {
	cc, _ := ctx.Value(cacheControlKey{}).(CacheControl)
	return cc
}
