// Package redis is the "redis" tier of the response cache, shared by every
// replica, through github.com/redis/go-redis/v9.
//
// Every key is stored as Prefix + key, a plain string set with SET … PX.
// DeletePrefix and CacheStats walk the prefix's keys with SCAN (never KEYS),
// so they take time in proportion to the number of keys in the database, and
// are meant for admin calls, not for the request path. The client talks to a
// single Redis server (or a proxy in front of several); Redis Cluster is not
// supported.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchboard-ai/switchboard"
)

// Interface guards.
var (
	_ switchboard.Cache        = (*Cache)(nil)
	_ switchboard.CachePurger  = (*Cache)(nil)
	_ switchboard.CacheStatser = (*Cache)(nil)
)

func init() { switchboard.Caches.Register("redis", newCache) }

// Defaults of Config.
const (
	// DefaultPrefix is the key prefix when Config.Prefix is empty.
	DefaultPrefix = "switchboard:cache:"
	// DefaultTTL is the time to live when Config.DefaultTTL is zero.
	DefaultTTL = 24 * time.Hour
)

// scanCount is the COUNT hint of SCAN, and so roughly the size of the
// batches DeletePrefix unlinks.
const scanCount = 1000

// Config is the config block of the redis cache tier.
type Config struct {
	// URL locates the server: redis://[user:password@]host:port/db or
	// rediss:// for TLS. Query parameters tune the client as go-redis
	// documents (dial_timeout, read_timeout, pool_size, …). It may hold a
	// password, so it never appears in logs or errors.
	URL string `yaml:"url"`
	// Prefix starts every key this tier stores; empty means DefaultPrefix.
	// Instances that share a server and a prefix share their entries.
	Prefix string `yaml:"prefix"`
	// DefaultTTL is the time to live of an entry set with ttl <= 0; zero
	// means DefaultTTL.
	DefaultTTL time.Duration `yaml:"default_ttl"`
}

// Validate reports whether the config is usable. Messages start with the
// YAML key at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if _, err := parseURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	if c.DefaultTTL < 0 {
		errs = append(errs, errors.New("default_ttl: must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultTTL
	}
	return c
}

// parseURL parses a redis URL into client options. Its errors never
// contain the URL, which may hold a password.
func parseURL(s string) (*goredis.Options, error) {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("scheme %q: want redis or rediss", u.Scheme)
	}
	opt, err := goredis.ParseURL(s)
	if err != nil {
		return nil, errors.New("invalid redis URL (see the go-redis ParseURL documentation)")
	}
	return opt, nil
}

// Cache is the redis cache tier. It is safe for concurrent use.
type Cache struct {
	rdb        *goredis.Client
	prefix     string
	defaultTTL time.Duration
	log        *slog.Logger
	closed     atomic.Bool
}

func newCache(ctx context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Cache, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, fmt.Errorf("redis: decode config: %w", err)
	}
	c, err := New(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// New connects to the server and checks it answers a PING within ctx. Only
// deps.Log is used; it may be nil.
func New(ctx context.Context, cfg Config, deps switchboard.Deps) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	cfg = cfg.withDefaults()
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opt, err := parseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: url: %w", err)
	}
	// Request deadlines bound every command.
	opt.ContextTimeoutEnabled = true
	// Maintenance notifications are a Redis Enterprise / Cloud feature; a
	// plain server would only answer the handshake with an error.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	rdb := goredis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis: ping %s: %w", opt.Addr, err)
	}
	log.Info("cache ready", "addr", opt.Addr, "db", opt.DB, "prefix", cfg.Prefix, "default_ttl", cfg.DefaultTTL)
	return &Cache{rdb: rdb, prefix: cfg.Prefix, defaultTTL: cfg.DefaultTTL, log: log}, nil
}

// Get returns the value stored under key.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if c.closed.Load() {
		return nil, false, fmt.Errorf("redis: get: %w", switchboard.ErrClosed)
	}
	s, err := c.rdb.Get(ctx, c.prefix+key).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: get: %w", err)
	}
	return []byte(s), true, nil
}

// GetWithTTL is Get that also returns how long the entry has left to live
// (GET and PTTL in one round trip), or 0 if the key has no expiry.
// caching.Tiered uses it to promote a value with its remaining lifetime.
func (c *Cache) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	if c.closed.Load() {
		return nil, 0, false, fmt.Errorf("redis: get: %w", switchboard.ErrClosed)
	}
	var get *goredis.StringCmd
	var pttl *goredis.DurationCmd
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, c.prefix+key)
		pttl = p.PTTL(ctx, c.prefix+key)
		return nil
	})
	if errors.Is(err, goredis.Nil) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("redis: get: %w", err)
	}
	ttl := pttl.Val()
	switch {
	case ttl == -2: // expired between GET and PTTL
		return nil, 0, false, nil
	case ttl < 0:
		ttl = 0
	}
	return []byte(get.Val()), ttl, true, nil
}

// Set stores value under key for ttl (ttl <= 0: the default), with
// millisecond precision.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if c.closed.Load() {
		return fmt.Errorf("redis: set: %w", switchboard.ErrClosed)
	}
	if ttl <= 0 {
		ttl = c.defaultTTL
	}
	ms := max(ttl.Milliseconds(), 1)
	if err := c.rdb.Do(ctx, "set", c.prefix+key, value, "px", ms).Err(); err != nil {
		return fmt.Errorf("redis: set: %w", err)
	}
	return nil
}

// Delete removes key.
func (c *Cache) Delete(ctx context.Context, key string) error {
	if c.closed.Load() {
		return fmt.Errorf("redis: delete: %w", switchboard.ErrClosed)
	}
	if err := c.rdb.Unlink(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis: delete: %w", err)
	}
	return nil
}

// DeletePrefix removes every key starting with prefix ("" = all of this
// tier's keys) and returns how many it removed. It walks the keys with SCAN
// and removes each batch with UNLINK, so it takes O(keys in the database)
// time; keys set while it runs may survive.
func (c *Cache) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if c.closed.Load() {
		return 0, fmt.Errorf("redis: delete prefix: %w", switchboard.ErrClosed)
	}
	n := 0
	err := c.scan(ctx, prefix, func(keys []string) error {
		m, err := c.rdb.Unlink(ctx, keys...).Result()
		n += int(m)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("redis: delete prefix: %w", err)
	}
	return n, nil
}

// CacheStats counts this tier's keys and adds up their lengths (key without
// the tier's prefix, and value) with SCAN and pipelined STRLEN: it takes
// O(keys in the database) time, so call it from admin paths only. A key that
// SCAN returns twice (it may, while Redis resizes its table) counts twice.
func (c *Cache) CacheStats(ctx context.Context) (int, int64, error) {
	if c.closed.Load() {
		return 0, 0, fmt.Errorf("redis: stats: %w", switchboard.ErrClosed)
	}
	entries, size := 0, int64(0)
	err := c.scan(ctx, "", func(keys []string) error {
		cmds := make([]*goredis.IntCmd, len(keys))
		_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.StrLen(ctx, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, cmd := range cmds {
			// STRLEN is 0 both for an empty value and for a key that
			// expired since SCAN returned it.
			l := cmd.Val()
			if l == 0 && !c.exists(ctx, keys[i]) {
				continue
			}
			entries++
			size += int64(len(keys[i])-len(c.prefix)) + l
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("redis: stats: %w", err)
	}
	return entries, size, nil
}

// exists reports whether key (with the tier's prefix) is there.
func (c *Cache) exists(ctx context.Context, key string) bool {
	n, err := c.rdb.Exists(ctx, key).Result()
	return err == nil && n > 0
}

// scan calls fn with each batch of full keys (with the tier's prefix) that
// start with the tier's prefix + prefix. Batches may repeat keys.
func (c *Cache) scan(ctx context.Context, prefix string, fn func(keys []string) error) error {
	match := globEscape(c.prefix+prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := c.rdb.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape escapes the characters special to Redis glob patterns, so
// that s matches only itself.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\^-`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := range len(s) { // bytes, not runes: keys may be any bytes
		switch s[i] {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Close closes the connection pool. Operations after Close return an error
// wrapping switchboard.ErrClosed; a second Close does nothing.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.rdb.Close(); err != nil {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}
