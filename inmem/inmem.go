// Package inmem holds the single-node, in-process backends. Its Cache is the
// "memory" tier of the response cache: a W-TinyLFU cache
// (github.com/maypok86/otter/v2) bounded by the bytes its entries hold, with
// a time to live per entry.
//
// An entry weighs len(key) + len(value) + EntryOverhead bytes, an estimate
// of what it really costs; the bound applies to that weight. Eviction runs
// asynchronously, so the cache may exceed MaxBytes briefly while it catches
// up. A value that alone weighs more than MaxBytes is not stored.
package inmem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/config"
)

// Interface guards.
var (
	_ switchboard.Cache        = (*Cache)(nil)
	_ switchboard.CachePurger  = (*Cache)(nil)
	_ switchboard.CacheStatser = (*Cache)(nil)
)

func init() { switchboard.Caches.Register("memory", newCache) }

// Defaults of Config.
const (
	// DefaultMaxBytes is the byte bound when Config.MaxBytes is zero: 256 MiB.
	DefaultMaxBytes = 256 << 20
	// DefaultTTL is the time to live when Config.DefaultTTL is zero.
	DefaultTTL = 24 * time.Hour
	// EntryOverhead is the weight added to every entry for the cache's own
	// bookkeeping (node, hash table slot, eviction and expiry links).
	EntryOverhead = 128
)

// Config is the config block of the memory cache tier.
type Config struct {
	// MaxBytes bounds the total weight of the entries (see EntryOverhead),
	// as bytes or a size like "256MiB"; zero means DefaultMaxBytes.
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// DefaultTTL is the time to live of an entry set with ttl <= 0; zero
	// means DefaultTTL.
	DefaultTTL time.Duration `yaml:"default_ttl"`
}

// Validate reports whether the config is usable. Messages start with the
// YAML key at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBytes < 0 {
		errs = append(errs, errors.New("max_bytes: must not be negative"))
	}
	if c.DefaultTTL < 0 {
		errs = append(errs, errors.New("default_ttl: must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultTTL
	}
	return c
}

// item is what the otter cache holds for a key: the value and the time to
// live it was set with, which the expiry calculator reads.
type item struct {
	value []byte
	ttl   time.Duration
}

// Cache is the in-process memory cache tier. It is safe for concurrent use.
//
// Set stores a copy of the value; Get returns the stored slice itself, without
// copying, so callers must not modify a value they get.
type Cache struct {
	c          *otter.Cache[string, item]
	maxBytes   int64
	defaultTTL time.Duration
	log        *slog.Logger
	closed     atomic.Bool
}

func newCache(_ context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Cache, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, fmt.Errorf("inmem: decode config: %w", err)
	}
	c, err := New(cfg, deps)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// New returns an empty memory cache tier. Only deps.Log is used; it may be
// nil.
func New(cfg Config, deps switchboard.Deps) (*Cache, error) {
	return newWithClock(cfg, deps, nil)
}

// newWithClock is New with an otter clock for tests (nil: the real clock).
func newWithClock(cfg Config, deps switchboard.Deps, clock otter.Clock) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("inmem: %w", err)
	}
	cfg = cfg.withDefaults()
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := otter.New(&otter.Options[string, item]{
		MaximumWeight:    uint64(cfg.MaxBytes),
		Weigher:          weigh,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, item]) time.Duration { return e.Value.ttl }),
		Clock:            clock,
		Logger:           otterLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("inmem: %w", err)
	}
	log.Info("cache ready", "max_bytes", cfg.MaxBytes.String(), "default_ttl", cfg.DefaultTTL)
	return &Cache{c: c, maxBytes: int64(cfg.MaxBytes), defaultTTL: cfg.DefaultTTL, log: log}, nil
}

// weight is the weight of an entry, in bytes, before it is capped to uint32.
func weight(key string, value []byte) int64 {
	return int64(len(key)) + int64(len(value)) + EntryOverhead
}

// weigh is the otter weigher.
func weigh(key string, it item) uint32 {
	return uint32(min(weight(key, it.value), math.MaxUint32))
}

// Get returns the value stored under key. The slice is shared with the
// cache: the caller must not modify it.
func (c *Cache) Get(_ context.Context, key string) ([]byte, bool, error) {
	if c.closed.Load() {
		return nil, false, fmt.Errorf("inmem: get: %w", switchboard.ErrClosed)
	}
	it, ok := c.c.GetIfPresent(key)
	if !ok {
		return nil, false, nil
	}
	return it.value, true, nil
}

// GetWithTTL is Get that also returns how long the entry has left to live.
// caching.Tiered uses it to promote a value with its remaining lifetime.
func (c *Cache) GetWithTTL(_ context.Context, key string) ([]byte, time.Duration, bool, error) {
	if c.closed.Load() {
		return nil, 0, false, fmt.Errorf("inmem: get: %w", switchboard.ErrClosed)
	}
	e, ok := c.c.GetEntry(key)
	if !ok || e.HasExpired() {
		return nil, 0, false, nil
	}
	return e.Value.value, e.ExpiresAfter(), true, nil
}

// Set stores a copy of value under key for ttl (ttl <= 0: the default). A
// value too large for the cache is not stored, and the key's old value, if
// any, is removed.
func (c *Cache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if c.closed.Load() {
		return fmt.Errorf("inmem: set: %w", switchboard.ErrClosed)
	}
	if ttl <= 0 {
		ttl = c.defaultTTL
	}
	if weight(key, value) > c.maxBytes {
		c.c.Invalidate(key)
		return nil
	}
	// A non-nil copy, so an empty value reads back as a non-nil empty slice.
	v := make([]byte, len(value))
	copy(v, value)
	c.c.Set(key, item{value: v, ttl: ttl})
	return nil
}

// Delete removes key.
func (c *Cache) Delete(_ context.Context, key string) error {
	if c.closed.Load() {
		return fmt.Errorf("inmem: delete: %w", switchboard.ErrClosed)
	}
	c.c.Invalidate(key)
	return nil
}

// DeletePrefix removes every key starting with prefix ("" = all) and returns
// how many live entries it removed. It iterates over every key.
func (c *Cache) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if c.closed.Load() {
		return 0, fmt.Errorf("inmem: delete prefix: %w", switchboard.ErrClosed)
	}
	n := 0
	i := 0
	for key := range c.c.Keys() {
		if i++; i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return n, fmt.Errorf("inmem: delete prefix: %w", err)
			}
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if _, ok := c.c.Invalidate(key); ok {
			n++
		}
	}
	return n, nil
}

// CacheStats returns the number of entries and their total weight (see
// EntryOverhead). It first runs pending maintenance, so recent writes and
// deletes are counted; entries that expired but were not yet removed may
// still be counted.
func (c *Cache) CacheStats(context.Context) (int, int64, error) {
	if c.closed.Load() {
		return 0, 0, fmt.Errorf("inmem: stats: %w", switchboard.ErrClosed)
	}
	c.c.CleanUp()
	return c.c.EstimatedSize(), int64(c.c.WeightedSize()), nil
}

// Close drops every entry and stops the cache's goroutines. Operations
// after Close return an error wrapping switchboard.ErrClosed; a second Close
// does nothing.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.c.InvalidateAll()
	c.c.StopAllGoroutines()
	return nil
}

// otterLogger sends otter's warnings and errors to the plugin's logger.
type otterLogger struct{ log *slog.Logger }

// Warn logs at Warn level.
func (l otterLogger) Warn(ctx context.Context, msg string, err error) {
	l.log.WarnContext(ctx, msg, switchboard.LogKeyErr, err)
}

// Error logs at Error level: otter reports errors an operator must see.
func (l otterLogger) Error(ctx context.Context, msg string, err error) {
	l.log.ErrorContext(ctx, msg, switchboard.LogKeyErr, err)
}
