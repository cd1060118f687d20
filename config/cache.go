package config

import (
	"time"

	"github.com/switchboard-ai/switchboard"
	"go.yaml.in/yaml/v3"
)

// Cache configures the response cache. The tier blocks (memory, disk, redis)
// belong to the cache plugins, which decode them through CacheTier.Decoder.
type Cache struct {
	// Enabled turns the response cache on.
	Enabled bool `yaml:"enabled"`
	// TTL is how long an answer is kept (a request may ask for less, or more
	// up to MaxTTL).
	TTL time.Duration `yaml:"ttl"`
	// MaxTTL caps the TTL a request may ask for.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// Mode is deterministic (temperature 0 or a seed, or a request that opts
	// in), always, or off. Models may override it.
	Mode string `yaml:"mode"`
	// Semantic configures the semantic tier.
	Semantic SemanticCache `yaml:"semantic"`
	// Tenants are per-tenant policies, by tenant ID (a model's own policy
	// wins over its tenant's).
	Tenants map[string]ModelCache `yaml:"tenants,omitempty"`
	// Tiers are the memory, disk and redis blocks, in that order (fastest
	// first), each optional.
	Tiers []*CacheTier `yaml:"-"`
}

// SemanticCache configures the semantic cache tier.
type SemanticCache struct {
	// Enabled turns the semantic tier on.
	Enabled bool `yaml:"enabled"`
	// Threshold is the least cosine similarity of a hit; a request may raise
	// it, never lower it.
	Threshold float64 `yaml:"threshold"`
	// Embedder is "local" (built in, offline) or the name of a model under
	// models: whose provider serves embeddings.
	Embedder string `yaml:"embedder"`
	// Shadow looks up and records what would have hit, without serving it.
	Shadow bool `yaml:"shadow"`
}

// CacheTier is one tier block of the cache section.
type CacheTier struct {
	// Type is the tier's plugin name: memory, disk or redis.
	Type string
	node *yaml.Node
	src  *sources
}

// Decoder strictly decodes the tier's block into the tier plugin's config.
func (t *CacheTier) Decoder() switchboard.Decoder {
	return func(v any) error {
		n := t.node
		if n == nil || isNull(n) {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		return decodeInto(t.src, n, v, "cache."+t.Type, nil)
	}
}

// ModelCache is a model's (or a tenant's) own cache policy.
type ModelCache struct {
	// Mode overrides cache.mode for this model.
	Mode string `yaml:"mode,omitempty"`
	// TTL overrides cache.ttl for this model.
	TTL time.Duration `yaml:"ttl,omitempty"`
}

// CacheModes are the values cache.mode may take.
var CacheModes = []string{"deterministic", "always", "off"}

// cacheTierTypes are the tier blocks of the cache section, fastest first.
var cacheTierTypes = []string{"memory", "disk", "redis"}
