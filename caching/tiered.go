package caching

// This file holds Tiered, the byte cache over several tiers (memory → disk →
// Redis) that the response cache stores its entries in.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Interface guards.
var (
	_ switchboard.Cache        = (*Tiered)(nil)
	_ switchboard.CachePurger  = (*Tiered)(nil)
	_ switchboard.CacheStatser = (*Tiered)(nil)
	_ io.Closer                = (*Tiered)(nil)
	_ ttlGetter                = (*Tiered)(nil)
)

// ttlGetter is a tier that can tell how long an entry has left to live, so
// that a promoted copy expires with the original. The inmem, disk and redis
// caches implement it, and so does Tiered. ttl 0 means unknown.
type ttlGetter interface {
	GetWithTTL(ctx context.Context, key string) (value []byte, ttl time.Duration, ok bool, err error)
}

// Tier is one level of a Tiered cache.
type Tier struct {
	// Name names the tier in GetTier results, logs and stats: "memory",
	// "disk", "redis".
	Name string
	// Cache stores the tier's entries.
	Cache switchboard.Cache
}

// tierState is a tier and whether its last operation failed, so that a
// broken tier is logged when it breaks and when it recovers, not on every
// request.
type tierState struct {
	Tier
	ttl     ttlGetter // nil if the tier cannot tell the TTL
	failing atomic.Bool
}

// Tiered is a switchboard.Cache over an ordered list of tiers, fastest
// first. It is safe for concurrent use.
//
//   - Get reads the tiers in order. A hit in a lower tier is copied into
//     every tier above it, with the entry's remaining time to live when the
//     lower tier can tell it (its Cache has a GetWithTTL method, as the
//     inmem, disk and redis caches do) and with the upper tier's default
//     TTL otherwise.
//   - Set writes to every tier; Delete and DeletePrefix apply to every tier.
//   - A tier that fails is logged and skipped: a broken Redis degrades the
//     cache to the tiers that work. Get and Set return an error only when
//     every tier failed. Delete and DeletePrefix try every tier and return
//     the errors of those that failed, since a purge that missed a tier is
//     incomplete.
//
// A Delete or DeletePrefix that runs while a Get promotes the key it deletes
// does not let the promoted copy survive. A Set racing a promotion of the
// same key may leave the older value in the upper tiers until it expires.
type Tiered struct {
	tiers  []*tierState
	log    *slog.Logger
	gen    atomic.Uint64 // bumped by every Delete and DeletePrefix
	closed atomic.Bool
}

// NewTiered returns a cache over tiers, fastest first. Names must be
// non-empty and distinct. Tiered takes ownership of the tiers: its Close
// closes them. log may be nil.
func NewTiered(log *slog.Logger, tiers ...Tier) (*Tiered, error) {
	if len(tiers) == 0 {
		return nil, errors.New("caching: tiered cache: no tiers")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tiered{log: log}
	for i, tr := range tiers {
		switch {
		case tr.Name == "":
			return nil, fmt.Errorf("caching: tiered cache: tier %d: no name", i)
		case tr.Cache == nil:
			return nil, fmt.Errorf("caching: tiered cache: tier %s: no cache", tr.Name)
		case slices.ContainsFunc(tiers[:i], func(o Tier) bool { return o.Name == tr.Name }):
			return nil, fmt.Errorf("caching: tiered cache: tier %s: duplicate name", tr.Name)
		}
		ts := &tierState{Tier: tr}
		ts.ttl, _ = tr.Cache.(ttlGetter)
		t.tiers = append(t.tiers, ts)
	}
	return t, nil
}

// Tiers returns the names of the tiers, fastest first.
func (t *Tiered) Tiers() []string {
	names := make([]string, len(t.tiers))
	for i, tr := range t.tiers {
		names[i] = tr.Name
	}
	return names
}

// Get returns the value stored under key in the fastest tier that has it.
func (t *Tiered) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, _, ok, err := t.get(ctx, key, false)
	return v, ok, err
}

// GetTier is Get that also returns the name of the tier that served the hit.
func (t *Tiered) GetTier(ctx context.Context, key string) (value []byte, tier string, ok bool, err error) {
	v, _, tier, ok, err := t.get(ctx, key, false)
	return v, tier, ok, err
}

// GetWithTTL is Get that also returns how long the entry has left to live,
// or 0 if the tier that served it cannot tell.
func (t *Tiered) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	v, ttl, _, ok, err := t.get(ctx, key, true)
	return v, ttl, ok, err
}

// get reads the tiers in order and promotes a hit below the first tier.
// The first tier is asked for the TTL only if wantTTL is set.
func (t *Tiered) get(ctx context.Context, key string, wantTTL bool) ([]byte, time.Duration, string, bool, error) {
	if t.closed.Load() {
		return nil, 0, "", false, fmt.Errorf("caching: tiered get: %w", switchboard.ErrClosed)
	}
	gen := t.gen.Load()
	var errs []error
	for i, tr := range t.tiers {
		var (
			v   []byte
			ttl time.Duration
			ok  bool
			err error
		)
		if tr.ttl != nil && (i > 0 || wantTTL) {
			v, ttl, ok, err = tr.ttl.GetWithTTL(ctx, key)
		} else {
			v, ok, err = tr.Cache.Get(ctx, key)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, "", false, fmt.Errorf("caching: tiered get: %w", err)
			}
			t.failed(tr, "read", err)
			errs = append(errs, fmt.Errorf("%s: %w", tr.Name, err))
			continue
		}
		t.succeeded(tr)
		if !ok {
			continue
		}
		if i > 0 {
			t.promote(ctx, key, v, ttl, i, gen)
		}
		return v, ttl, tr.Name, true, nil
	}
	if len(errs) == len(t.tiers) {
		return nil, 0, "", false, fmt.Errorf("caching: tiered get: %w", errors.Join(errs...))
	}
	return nil, 0, "", false, nil
}

// promote copies a value found in tier hit into the tiers above it. gen is
// the delete generation read before the lookup began: if a Delete or
// DeletePrefix started since, it may have missed the copies, so they are
// removed again.
func (t *Tiered) promote(ctx context.Context, key string, v []byte, ttl time.Duration, hit int, gen uint64) {
	for _, tr := range t.tiers[:hit] {
		if err := tr.Cache.Set(ctx, key, v, ttl); err != nil && ctx.Err() == nil {
			t.failed(tr, "promote", err)
		}
	}
	if t.gen.Load() == gen {
		return
	}
	for _, tr := range t.tiers[:hit] {
		if err := tr.Cache.Delete(ctx, key); err != nil && ctx.Err() == nil {
			t.failed(tr, "delete", err)
		}
	}
}

// Set stores value under key in every tier, for ttl (ttl <= 0: each tier's
// default). It returns an error only if every tier failed.
func (t *Tiered) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if t.closed.Load() {
		return fmt.Errorf("caching: tiered set: %w", switchboard.ErrClosed)
	}
	var errs []error
	for _, tr := range t.tiers {
		err := tr.Cache.Set(ctx, key, value, ttl)
		if err == nil {
			t.succeeded(tr)
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("caching: tiered set: %w", err)
		}
		t.failed(tr, "write", err)
		errs = append(errs, fmt.Errorf("%s: %w", tr.Name, err))
	}
	if len(errs) == len(t.tiers) {
		return fmt.Errorf("caching: tiered set: %w", errors.Join(errs...))
	}
	return nil
}

// Delete removes key from every tier. It returns the errors of the tiers
// that failed.
func (t *Tiered) Delete(ctx context.Context, key string) error {
	if t.closed.Load() {
		return fmt.Errorf("caching: tiered delete: %w", switchboard.ErrClosed)
	}
	t.gen.Add(1)
	var errs []error
	for _, tr := range t.tiers {
		if err := tr.Cache.Delete(ctx, key); err != nil {
			t.failed(tr, "delete", err)
			errs = append(errs, fmt.Errorf("%s: %w", tr.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("caching: tiered delete: %w", errors.Join(errs...))
	}
	return nil
}

// DeletePrefix removes every key starting with prefix ("" = all) from every
// tier, and returns the largest count a tier reported: the number of
// distinct keys removed, as long as the lowest tier holds every key the
// tiers above it hold. It returns the errors of the tiers that failed or
// cannot purge, after trying them all.
func (t *Tiered) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if t.closed.Load() {
		return 0, fmt.Errorf("caching: tiered delete prefix: %w", switchboard.ErrClosed)
	}
	t.gen.Add(1)
	n := 0
	var errs []error
	for _, tr := range t.tiers {
		p, ok := tr.Cache.(switchboard.CachePurger)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: cannot delete by prefix", tr.Name))
			continue
		}
		m, err := p.DeletePrefix(ctx, prefix)
		n = max(n, m)
		if err != nil {
			t.failed(tr, "delete prefix", err)
			errs = append(errs, fmt.Errorf("%s: %w", tr.Name, err))
		}
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("caching: tiered delete prefix: %w", errors.Join(errs...))
	}
	return n, nil
}

// CacheStats returns the largest entry count of a tier (the number of
// distinct keys, as long as the lowest tier holds every key) and the bytes
// of all tiers together. Tiers that cannot report are left out; it returns
// an error only if every tier that can report failed.
func (t *Tiered) CacheStats(ctx context.Context) (int, int64, error) {
	stats, err := t.TierStats(ctx)
	if err != nil && len(stats) == 0 {
		return 0, 0, err
	}
	entries, size := 0, int64(0)
	for _, s := range stats {
		entries = max(entries, s.Entries)
		size += s.Bytes
	}
	return entries, size, nil
}

// TierStats returns the size of each tier that can report it
// (switchboard.CacheStatser), fastest first. If some tiers fail it returns
// the stats of the others together with their errors.
func (t *Tiered) TierStats(ctx context.Context) ([]TierStat, error) {
	if t.closed.Load() {
		return nil, fmt.Errorf("caching: tiered stats: %w", switchboard.ErrClosed)
	}
	var stats []TierStat
	var errs []error
	for _, tr := range t.tiers {
		s, ok := tr.Cache.(switchboard.CacheStatser)
		if !ok {
			continue
		}
		n, b, err := s.CacheStats(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tr.Name, err))
			continue
		}
		stats = append(stats, TierStat{Tier: tr.Name, Entries: n, Bytes: b})
	}
	if len(errs) > 0 {
		return stats, fmt.Errorf("caching: tiered stats: %w", errors.Join(errs...))
	}
	return stats, nil
}

// Close closes every tier that is an io.Closer, slowest first. Operations
// after Close return an error wrapping switchboard.ErrClosed; a second Close
// does nothing.
func (t *Tiered) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, tr := range slices.Backward(t.tiers) {
		if c, ok := tr.Cache.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", tr.Name, err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("caching: tiered close: %w", errors.Join(errs...))
	}
	return nil
}

// failed logs a tier's error: at Warn when the tier starts failing, at
// Debug while it keeps failing.
func (t *Tiered) failed(tr *tierState, op string, err error) {
	if tr.failing.Swap(true) {
		t.log.Debug("cache tier error", "tier", tr.Name, "op", op, switchboard.LogKeyErr, err)
		return
	}
	t.log.Warn("cache tier failing", "tier", tr.Name, "op", op, switchboard.LogKeyErr, err)
}

// succeeded notes that a tier answered; it logs at Info when the tier
// recovers. The common case is one atomic load.
func (t *Tiered) succeeded(tr *tierState) {
	if tr.failing.Load() && tr.failing.CompareAndSwap(true, false) {
		t.log.Info("cache tier recovered", "tier", tr.Name)
	}
}
