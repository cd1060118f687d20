package disk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/config"
	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestCache(t *testing.T) {
	t.Parallel()
	sbtest.TestCache(t, func(t *testing.T) switchboard.Cache {
		return mustNew(t, Config{Path: t.TempDir(), MaxBytes: 64 << 20}, nil)
	})
}

func TestRestartKeepsEntries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	c := mustNew(t, Config{Path: dir}, nil)
	want := map[string]string{"a": "alpha", "b": "", "tenant/x:1": strings.Repeat("z", 5000)}
	for k, v := range want {
		mustSet(t, c, k, v, 0)
	}
	mustSet(t, c, "short", "gone after the restart", 50*time.Millisecond)
	mustSet(t, c, "deleted", "x", 0)
	if err := c.Delete(ctx, "deleted"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, wantBytes, _ := c.CacheStats(ctx)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	time.Sleep(60 * time.Millisecond) // let "short" expire while closed

	c = mustNew(t, Config{Path: dir}, nil)
	for k, v := range want {
		got, ok, err := c.Get(ctx, k)
		if err != nil || !ok || string(got) != v {
			t.Errorf("Get(%q) after restart: got (%.20q, %v, %v), want (%.20q, true, nil)", k, got, ok, err, v)
		}
	}
	for _, k := range []string{"short", "deleted"} {
		if _, ok, _ := c.Get(ctx, k); ok {
			t.Errorf("Get(%q) after restart: hit, want a miss", k)
		}
	}
	n, size, err := c.CacheStats(ctx)
	if err != nil || n != len(want) || size != wantBytes-int64(headerSize+len("short")+len("gone after the restart")) {
		t.Errorf("CacheStats after restart: got (%d, %d, %v), want (%d, %d, nil)", n, size, err, len(want), wantBytes)
	}
	if files := countFiles(t, dir); files != len(want) {
		t.Errorf("files after restart: got %d, want %d (the expired one deleted)", files, len(want))
	}
}

func TestCorruptFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	c := mustNew(t, Config{Path: dir}, nil)
	for _, k := range []string{"good", "truncated", "flipped", "garbage", "renamed"} {
		mustSet(t, c, k, "value of "+k, 0)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	path := func(key string) string { return hashKey(key).path(dir) }
	mustWrite := func(p string, b []byte) {
		t.Helper()
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := mustRead(t, path("truncated"))
	mustWrite(path("truncated"), b[:len(b)-3])
	b = mustRead(t, path("flipped"))
	b[len(b)-1] ^= 0xff // caught by the checksum, on Get
	mustWrite(path("flipped"), b)
	mustWrite(path("garbage"), []byte("not a cache file"))
	// A well-formed file whose name does not match its key.
	misnamed := path("renamed")
	misnamed = misnamed[:len(misnamed)-1] + string("10"[misnamed[len(misnamed)-1]&1])
	if err := os.Rename(path("renamed"), misnamed); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(filepath.Dir(path("good")), tmpPrefix+"123")
	mustWrite(leftover, []byte("half a write"))
	foreign := filepath.Join(dir, "README")
	mustWrite(foreign, []byte("not ours"))

	c = mustNew(t, Config{Path: dir}, nil)
	if got, ok, err := c.Get(ctx, "good"); err != nil || !ok || string(got) != "value of good" {
		t.Errorf("Get(good): got (%q, %v, %v), want a hit", got, ok, err)
	}
	for _, k := range []string{"truncated", "flipped", "garbage", "renamed"} {
		if got, ok, err := c.Get(ctx, k); ok || err != nil {
			t.Errorf("Get(%q): got (%q, %v, %v), want a miss", k, got, ok, err)
		}
	}
	for _, p := range []string{path("truncated"), path("flipped"), path("garbage"), misnamed, leftover} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: got %v, want it deleted", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a file that is not a cache entry was touched: %v", err)
	}
	if n, _, _ := c.CacheStats(ctx); n != 1 {
		t.Errorf("CacheStats: got %d entries, want 1", n)
	}
}

func TestEviction(t *testing.T) {
	t.Parallel()
	const maxBytes = 32 << 10
	dir := t.TempDir()
	ctx := t.Context()
	c := mustNew(t, Config{Path: dir, MaxBytes: maxBytes}, nil)
	value := strings.Repeat("v", 1000)
	entrySize := int64(headerSize + len("key:00") + len(value))
	for i := range 100 {
		mustSet(t, c, key(i), value, 0)
		if i == 10 {
			// Keep key 0 recently used: it must outlive its neighbours.
			if _, ok, _ := c.Get(ctx, key(0)); !ok {
				t.Fatal("Get(key:00): miss before eviction started")
			}
		}
		if i > 10 && i%5 == 0 {
			_, _, _ = c.Get(ctx, key(0))
		}
		n, size, err := c.CacheStats(ctx)
		if err != nil {
			t.Fatalf("CacheStats: %v", err)
		}
		if size > maxBytes {
			t.Fatalf("after %d sets: %d bytes, want at most %d", i+1, size, maxBytes)
		}
		if size != int64(n)*entrySize {
			t.Fatalf("after %d sets: %d bytes for %d entries, want %d", i+1, size, n, int64(n)*entrySize)
		}
	}
	if _, ok, _ := c.Get(ctx, key(0)); !ok {
		t.Error("Get(key:00): evicted, want it kept as recently used")
	}
	if _, ok, _ := c.Get(ctx, key(1)); ok {
		t.Error("Get(key:01): hit, want it evicted as least recently used")
	}
	if _, ok, _ := c.Get(ctx, key(99)); !ok {
		t.Error("Get(key:99): miss, want the newest entry kept")
	}
	if got, want := diskBytes(t, dir), int64(maxBytes); got > want {
		t.Errorf("files on disk: %d bytes, want at most %d", got, want)
	}

	// Reopening with a smaller bound evicts at start.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = mustNew(t, Config{Path: dir, MaxBytes: config.ByteSize(4 * entrySize)}, nil)
	if n, size, _ := c.CacheStats(ctx); n != 4 || size != 4*entrySize {
		t.Errorf("CacheStats after reopening smaller: got (%d, %d), want (4, %d)", n, size, 4*entrySize)
	}
	if got := countFiles(t, dir); got != 4 {
		t.Errorf("files after reopening smaller: got %d, want 4", got)
	}
	if _, ok, _ := c.Get(ctx, key(99)); !ok {
		t.Error("Get(key:99) after reopening smaller: miss, want the newest entry kept")
	}

	// A value larger than the whole cache is not stored, and replaces nothing.
	mustSet(t, c, "big", "old", 0)
	if err := c.Set(ctx, "big", make([]byte, 5*entrySize), 0); err != nil {
		t.Fatalf("Set of an oversized value: %v", err)
	}
	if _, ok, _ := c.Get(ctx, "big"); ok {
		t.Error("Get(big) after an oversized Set: hit, want a miss")
	}
}

func TestSweeper(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, err := newCacheAt(t.Context(), Config{Path: dir, SweepInterval: 5 * time.Millisecond}, switchboard.Deps{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for i := range 10 {
		mustSet(t, c, key(i), "v", time.Minute)
	}
	mustSet(t, c, "hour", "v", time.Hour)
	v, ttl, ok, err := c.GetWithTTL(t.Context(), "hour")
	if err != nil || !ok || string(v) != "v" || ttl != time.Hour {
		t.Errorf("GetWithTTL(hour): got (%q, %v, %v, %v), want (\"v\", 1h, true, nil)", v, ttl, ok, err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for countFiles(t, dir) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("files after expiry: %d, want the sweeper to leave 1", countFiles(t, dir))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, _, _ := c.CacheStats(t.Context()); n != 1 {
		t.Errorf("CacheStats after the sweep: got %d entries, want 1", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, doc string
		wantErr   string // "" = valid
	}{
		{"full", "path: " + filepath.Join(dir, "nested", "cache") + "\nmax_bytes: 2GiB\ndefault_ttl: 1h\nsweep_interval: 10s", ""},
		{"negative max_bytes", "max_bytes: -1", "max_bytes: must not be negative"},
		{"bad max_bytes", "max_bytes: lots", "invalid byte size"},
		{"negative ttl", "default_ttl: -1s", "default_ttl: must not be negative"},
		{"negative sweep", "sweep_interval: -1s", "sweep_interval: must not be negative"},
		{"unknown key", "dir: /tmp", "dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := switchboard.Caches.New(t.Context(), "disk", yamlDecoder(tc.doc), switchboard.Deps{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Caches.New(disk, %q): %v", tc.doc, err)
				}
				dc, ok := c.(*Cache)
				if !ok {
					t.Fatalf("Caches.New(disk) returned %T, want *disk.Cache", c)
				}
				_ = dc.Close()
				if _, err := os.Stat(filepath.Join(dir, "nested", "cache")); err != nil {
					t.Errorf("cache directory: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Caches.New(disk, %q): got error %v, want one containing %q", tc.doc, err, tc.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg := Config{}.withDefaults()
	want := Config{Path: DefaultPath, MaxBytes: DefaultMaxBytes, DefaultTTL: DefaultTTL, SweepInterval: DefaultSweepInterval}
	if cfg != want {
		t.Errorf("withDefaults: got %+v, want %+v", cfg, want)
	}
}

func TestNewCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "ab"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, Config{Path: dir}, switchboard.Deps{}); !errors.Is(err, context.Canceled) {
		t.Errorf("New with a canceled context: got %v, want context.Canceled", err)
	}
}

func key(i int) string { return "key:" + strconv.Itoa(i/10) + strconv.Itoa(i%10) }

// yamlDecoder stands in for the config package's Decoder: it strictly
// decodes a YAML document into v.
func yamlDecoder(doc string) switchboard.Decoder {
	return func(v any) error {
		d := yaml.NewDecoder(strings.NewReader(doc))
		d.KnownFields(true)
		return d.Decode(v)
	}
}

func mustNew(tb testing.TB, cfg Config, now func() time.Time) *Cache {
	tb.Helper()
	if now == nil {
		now = time.Now
	}
	c, err := newCacheAt(context.Background(), cfg, switchboard.Deps{}, now)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func mustSet(tb testing.TB, c *Cache, key, value string, ttl time.Duration) {
	tb.Helper()
	if err := c.Set(context.Background(), key, []byte(value), ttl); err != nil {
		tb.Fatalf("Set(%q): %v", key, err)
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(b)
}

// countFiles counts the entry files (not temporary ones) under dir.
func countFiles(tb testing.TB, dir string) int {
	tb.Helper()
	n := 0
	walk(tb, dir, func(string, os.FileInfo) { n++ })
	return n
}

// diskBytes adds up the sizes of the entry files under dir.
func diskBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	walk(tb, dir, func(_ string, fi os.FileInfo) { n += fi.Size() })
	return n
}

func walk(tb testing.TB, dir string, fn func(string, os.FileInfo)) {
	tb.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() && isHex(fi.Name(), 64) {
			fn(p, fi)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}
