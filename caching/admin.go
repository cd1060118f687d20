package caching

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// PurgeRequest selects the entries to delete. Exactly one of All, Key, or
// Tenants/Model is used: All deletes everything; Key deletes one entry (its
// key is sent in the x-switchboard-cache-key header); otherwise every entry
// of the tenants (empty: the tenant-less namespace of a server without
// tenants) narrowed to Model's deployments when Model is set.
type PurgeRequest struct {
	Tenants []string `json:"tenants,omitempty"`
	Model   string   `json:"model,omitempty"`
	Key     string   `json:"key,omitempty"`
	All     bool     `json:"all,omitempty"`
}

// Purge deletes the entries r selects and returns how many it deleted. The
// semantic index forgets them too.
func (c *Cache) Purge(ctx context.Context, r PurgeRequest) (int, error) {
	purger, ok := c.opts.Store.(switchboard.CachePurger)
	if !ok {
		return 0, errors.New("caching: the cache tiers cannot purge")
	}
	if r.Key != "" {
		if !strings.HasPrefix(r.Key, keyVersion+"/") {
			return 0, switchboard.InvalidParam("key", "not a cache key: %q", r.Key)
		}
		return 1, c.opts.Store.Delete(ctx, r.Key)
	}
	if r.All {
		return purger.DeletePrefix(ctx, keyVersion+"/")
	}
	tenants := r.Tenants
	if len(tenants) == 0 {
		tenants = []string{""}
	}
	var prefixes []string
	for _, t := range tenants {
		if r.Model == "" {
			prefixes = append(prefixes, Prefix(t, "", ""))
			continue
		}
		targets, err := c.opts.Resolver.Candidates(r.Model)
		if err != nil {
			return 0, switchboard.InvalidParam("model", "unknown model %q", r.Model)
		}
		for _, d := range targets {
			prefixes = append(prefixes, Prefix(t, d.Provider, d.Model))
		}
	}
	total := 0
	for _, p := range prefixes {
		n, err := purger.DeletePrefix(ctx, p)
		total += n
		if err != nil {
			return total, fmt.Errorf("caching: purge %s: %w", p, err)
		}
	}
	return total, nil
}

// TierStat is the size of one cache tier.
type TierStat struct {
	Tier    string `json:"tier"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

type tierStatser interface {
	TierStats(ctx context.Context) ([]TierStat, error)
}

// TierStats reports the size of each tier.
func (c *Cache) TierStats(ctx context.Context) ([]TierStat, error) {
	if ts, ok := c.opts.Store.(tierStatser); ok {
		return ts.TierStats(ctx)
	}
	if s, ok := c.opts.Store.(switchboard.CacheStatser); ok {
		n, b, err := s.CacheStats(ctx)
		return []TierStat{{Tier: "cache", Entries: n, Bytes: b}}, err
	}
	return nil, nil
}
