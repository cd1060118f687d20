// Package disk is the "disk" tier of the response cache: one file per entry
// under a directory, so the cache survives restarts.
//
// Files live in 256 subdirectories named by the first two hex digits of the
// SHA-256 of their key (see file.go for the format). A write goes to a
// temporary file that is renamed into place, so a reader sees the old entry
// or the new one, never a mix. Writes are not fsynced: after a crash a torn
// file fails its size or checksum check and is dropped, so a crash can lose
// entries but never serves a wrong one.
//
// An in-memory index (key → size, expiry, recency) is rebuilt on start by
// reading the header of every file; files that are partial, corrupt, expired
// or left over from an unfinished write are deleted. The checksum covering the
// value is checked on every Get, and a file that fails it is deleted. When the
// files add up to more than MaxBytes, the least recently used entries are
// deleted. Expired entries are deleted when a Get finds them and by a sweeper
// goroutine that Close stops.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/config"
)

// Interface guards.
var (
	_ switchboard.Cache        = (*Cache)(nil)
	_ switchboard.CachePurger  = (*Cache)(nil)
	_ switchboard.CacheStatser = (*Cache)(nil)
)

func init() { switchboard.Caches.Register("disk", newCache) }

// Defaults of Config.
const (
	// DefaultPath is the directory used when Config.Path is empty.
	DefaultPath = "./data/cache"
	// DefaultMaxBytes is the bound when Config.MaxBytes is zero: 2 GiB.
	DefaultMaxBytes = 2 << 30
	// DefaultTTL is the time to live when Config.DefaultTTL is zero.
	DefaultTTL = 24 * time.Hour
	// DefaultSweepInterval is how often expired entries are deleted when
	// Config.SweepInterval is zero.
	DefaultSweepInterval = time.Minute
)

// removeBatch is how many files a purge or sweep deletes per hold of the
// index lock, so that Gets are not held up for long.
const removeBatch = 256

// Config is the config block of the disk cache tier.
type Config struct {
	// Path is the cache directory, created if missing; empty means
	// DefaultPath. Two caches must not share a directory.
	Path string `yaml:"path"`
	// MaxBytes bounds the total size of the entry files (header, key and
	// value), as bytes or a size like "2GiB"; zero means DefaultMaxBytes.
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// DefaultTTL is the time to live of an entry set with ttl <= 0; zero
	// means DefaultTTL.
	DefaultTTL time.Duration `yaml:"default_ttl"`
	// SweepInterval is how often expired entries are deleted in the
	// background; zero means DefaultSweepInterval.
	SweepInterval time.Duration `yaml:"sweep_interval"`
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
	if c.SweepInterval < 0 {
		errs = append(errs, errors.New("sweep_interval: must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultTTL
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	return c
}

// entry is the index record of one file. It is a node of the recency list
// (front: most recently used). A new record replaces an entry on every Set,
// so a pointer identifies one version of a file.
type entry struct {
	key        string
	hash       keyHash
	size       int64
	expires    int64 // Unix nanoseconds
	prev, next *entry
}

// Cache is the disk cache tier. It is safe for concurrent use.
type Cache struct {
	root       string
	maxBytes   int64
	defaultTTL time.Duration
	log        *slog.Logger
	now        func() time.Time

	// mu guards the index and the files it describes: a file is renamed
	// into place or deleted only while mu is held, together with the index
	// change. Files are written and read without it.
	mu     sync.Mutex
	index  map[string]*entry
	lru    entry // sentinel of the recency list
	total  int64 // bytes of the indexed files
	closed bool

	stop chan struct{}
	done chan struct{}
}

func newCache(ctx context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Cache, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, fmt.Errorf("disk: decode config: %w", err)
	}
	c, err := New(ctx, cfg, deps)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// New opens the cache directory, creating it if needed, and rebuilds the
// index from the files in it. Only deps.Log is used; it may be nil. ctx
// bounds the scan.
func New(ctx context.Context, cfg Config, deps switchboard.Deps) (*Cache, error) {
	return newCacheAt(ctx, cfg, deps, time.Now)
}

// newCacheAt is New with a clock, for tests.
func newCacheAt(ctx context.Context, cfg Config, deps switchboard.Deps, now func() time.Time) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	cfg = cfg.withDefaults()
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Path, 0o750); err != nil {
		return nil, fmt.Errorf("disk: create cache directory: %w", err)
	}
	c := &Cache{
		root:       cfg.Path,
		maxBytes:   int64(cfg.MaxBytes),
		defaultTTL: cfg.DefaultTTL,
		log:        log,
		now:        now,
		index:      map[string]*entry{},
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.lru.prev, c.lru.next = &c.lru, &c.lru

	start := time.Now()
	res, err := scan(ctx, cfg.Path, now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("disk: scan cache directory: %w", err)
	}
	// Oldest first, each pushed to the front: the newest file ends up most
	// recently used.
	slices.SortFunc(res.entries, func(a, b scanned) int { return a.mtime.Compare(b.mtime) })
	c.mu.Lock()
	for _, s := range res.entries {
		e := &entry{key: s.key, hash: s.hash, size: s.size, expires: s.expires}
		c.index[s.key] = e
		c.pushFront(e)
		c.total += s.size
	}
	evicted := c.evictLocked(nil)
	c.mu.Unlock()

	go c.sweeper(cfg.SweepInterval)
	log.Info("cache ready", "path", cfg.Path, "entries", len(c.index), "bytes", c.total,
		"removed", res.removed, "evicted", evicted, "max_bytes", cfg.MaxBytes.String(),
		"default_ttl", cfg.DefaultTTL, "took", time.Since(start))
	return c, nil
}

// Get returns the value stored under key.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, ok, err := c.GetWithTTL(ctx, key)
	return v, ok, err
}

// GetWithTTL is Get that also returns how long the entry has left to live.
// caching.Tiered uses it to promote a value with its remaining lifetime.
func (c *Cache) GetWithTTL(_ context.Context, key string) ([]byte, time.Duration, bool, error) {
	now := c.now().UnixNano()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, 0, false, fmt.Errorf("disk: get: %w", switchboard.ErrClosed)
	}
	e := c.index[key]
	if e == nil {
		c.mu.Unlock()
		return nil, 0, false, nil
	}
	if e.expires <= now {
		c.removeLocked(e, true)
		c.mu.Unlock()
		return nil, 0, false, nil
	}
	c.moveToFront(e)
	c.mu.Unlock()

	b, err := os.ReadFile(e.hash.path(c.root))
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted behind our back: forget it.
		c.drop(e, false)
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("disk: get: %w", err)
	}
	value, expires, err := decodeEntry(b, key)
	if err != nil {
		c.log.Warn("corrupt cache file deleted", "file", e.hash.path(c.root), switchboard.LogKeyErr, err)
		c.drop(e, true)
		return nil, 0, false, nil
	}
	// The file may have been replaced since the index was read; its own
	// expiry is the one that counts.
	if expires <= now {
		c.drop(e, true)
		return nil, 0, false, nil
	}
	return value, time.Duration(expires - now), true, nil
}

// Set stores value under key for ttl (ttl <= 0: the default). A value too
// large for the cache is not stored, and the key's old value, if any, is
// removed. Set may delete least recently used entries to stay under
// MaxBytes.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = c.defaultTTL
	}
	h := hashKey(key)
	size := headerSize + int64(len(key)) + int64(len(value))
	if size > c.maxBytes || len(key) > maxKeyLen {
		return c.Delete(ctx, key)
	}
	if c.isClosed() {
		return fmt.Errorf("disk: set: %w", switchboard.ErrClosed)
	}
	expires := c.now().Add(ttl).UnixNano()
	final := h.path(c.root)
	tmp, err := writeEntry(filepath.Dir(final), key, value, expires)
	if err != nil {
		return fmt.Errorf("disk: set: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = os.Remove(tmp)
		return fmt.Errorf("disk: set: %w", switchboard.ErrClosed)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("disk: set: %w", err)
	}
	if old := c.index[key]; old != nil {
		c.removeLocked(old, false) // its file was just replaced
	}
	e := &entry{key: key, hash: h, size: size, expires: expires}
	c.index[key] = e
	c.pushFront(e)
	c.total += size
	c.evictLocked(e)
	return nil
}

// Delete removes key.
func (c *Cache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("disk: delete: %w", switchboard.ErrClosed)
	}
	if e := c.index[key]; e != nil {
		c.removeLocked(e, true)
	}
	return nil
}

// DeletePrefix removes every key starting with prefix ("" = all) and returns
// how many live entries it removed. It deletes files in batches, letting
// other operations run in between; entries set while it runs may survive.
func (c *Cache) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, fmt.Errorf("disk: delete prefix: %w", switchboard.ErrClosed)
	}
	var victims []*entry
	for k, e := range c.index {
		if strings.HasPrefix(k, prefix) {
			victims = append(victims, e)
		}
	}
	c.mu.Unlock()
	n, err := c.removeAll(ctx, victims)
	if err != nil {
		return n, fmt.Errorf("disk: delete prefix: %w", err)
	}
	return n, nil
}

// CacheStats returns the number of live entries and the total size of
// their files. It walks the index, so it takes time in proportion to the
// number of entries.
func (c *Cache) CacheStats(context.Context) (int, int64, error) {
	now := c.now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, 0, fmt.Errorf("disk: stats: %w", switchboard.ErrClosed)
	}
	n, size := 0, int64(0)
	for _, e := range c.index {
		if e.expires > now {
			n++
			size += e.size
		}
	}
	return n, size, nil
}

// Close stops the sweeper. The files stay for the next start. Operations
// after Close return an error wrapping switchboard.ErrClosed; a second Close
// does nothing.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	return nil
}

func (c *Cache) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// sweeper deletes expired entries every interval until Close.
func (c *Cache) sweeper(interval time.Duration) {
	defer close(c.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if n := c.sweep(); n > 0 {
				c.log.Debug("expired cache entries deleted", "entries", n)
			}
		}
	}
}

// sweep deletes the expired entries and returns how many it deleted.
func (c *Cache) sweep() int {
	now := c.now().UnixNano()
	c.mu.Lock()
	var victims []*entry
	for _, e := range c.index {
		if e.expires <= now {
			victims = append(victims, e)
		}
	}
	c.mu.Unlock()
	// The context is never done: a sweep runs to the end unless Close
	// interrupts it.
	_, _ = c.removeAll(context.Background(), victims)
	return len(victims)
}

// removeAll deletes the given entries, removeBatch at a time, skipping any
// that a Set replaced in the meantime. It returns how many of them were
// still live.
func (c *Cache) removeAll(ctx context.Context, victims []*entry) (int, error) {
	n := 0
	for batch := range slices.Chunk(victims, removeBatch) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		now := c.now().UnixNano()
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return n, switchboard.ErrClosed
		}
		for _, e := range batch {
			if c.index[e.key] != e {
				continue
			}
			if e.expires > now {
				n++
			}
			c.removeLocked(e, true)
		}
		c.mu.Unlock()
	}
	return n, nil
}

// drop removes e if it is still the key's current entry, deleting its file
// when unlink is set.
func (c *Cache) drop(e *entry, unlink bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index[e.key] == e {
		c.removeLocked(e, unlink)
	}
}

// removeLocked takes e out of the index and, if unlink is set, deletes its
// file. c.mu must be held and e must be in the index.
func (c *Cache) removeLocked(e *entry, unlink bool) {
	delete(c.index, e.key)
	c.unlinkList(e)
	c.total -= e.size
	if !unlink {
		return
	}
	if err := os.Remove(e.hash.path(c.root)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("delete cache file", "file", e.hash.path(c.root), switchboard.LogKeyErr, err)
	}
}

// evictLocked deletes least recently used entries, never keep, until the
// files fit in maxBytes, and returns how many it deleted. c.mu must be held.
func (c *Cache) evictLocked(keep *entry) int {
	n := 0
	for c.total > c.maxBytes {
		e := c.lru.prev
		if e == &c.lru || e == keep {
			break
		}
		c.removeLocked(e, true)
		n++
	}
	return n
}

func (c *Cache) pushFront(e *entry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

func (c *Cache) unlinkList(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache) moveToFront(e *entry) {
	if c.lru.next == e {
		return
	}
	c.unlinkList(e)
	c.pushFront(e)
}
