package inmem

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestCache(t *testing.T) {
	t.Parallel()
	sbtest.TestCache(t, func(t *testing.T) switchboard.Cache {
		return mustNew(t, Config{MaxBytes: 64 << 20}, nil)
	})
}

func TestByteBound(t *testing.T) {
	t.Parallel()
	const maxBytes = 64 << 10
	c := mustNew(t, Config{MaxBytes: maxBytes}, nil)
	value := bytes.Repeat([]byte{'v'}, 1000)
	for i := range 1000 {
		if err := c.Set(t.Context(), "key:"+strconv.Itoa(i), value, 0); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	entries, size, err := c.CacheStats(t.Context())
	if err != nil {
		t.Fatalf("CacheStats: %v", err)
	}
	if size > maxBytes {
		t.Errorf("weighted size: got %d bytes, want at most %d", size, maxBytes)
	}
	perEntry := int64(len("key:999") + len(value) + EntryOverhead)
	if want := maxBytes / perEntry; int64(entries) > want || entries == 0 {
		t.Errorf("entries: got %d, want 1 to %d", entries, want)
	}
	if got := int64(entries) * perEntry; got < size-int64(entries)*3 || got > size+int64(entries)*3 {
		t.Errorf("weighted size: got %d bytes for %d entries, want about %d", size, entries, got)
	}
}

func TestOversizedValue(t *testing.T) {
	t.Parallel()
	c := mustNew(t, Config{MaxBytes: 4096}, nil)
	ctx := t.Context()
	if err := c.Set(ctx, "k", []byte("small"), 0); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := c.Set(ctx, "k", make([]byte, 4096), 0); err != nil {
		t.Fatalf("Set of an oversized value: got %v, want nil", err)
	}
	if v, ok, err := c.Get(ctx, "k"); ok || err != nil {
		t.Errorf("Get after an oversized Set: got (%q, %v, %v), want a miss (the old value is gone)", v, ok, err)
	}
}

// fakeClock is an otter.Clock moved by hand; it never ticks, so only reads
// and writes expire entries.
type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) NowNano() int64                      { return f.ns.Load() }
func (f *fakeClock) Tick(time.Duration) <-chan time.Time { return nil }
func (f *fakeClock) advance(d time.Duration)             { f.ns.Add(int64(d)) }

func TestTTLWithClock(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c := mustNew(t, Config{DefaultTTL: time.Hour}, clock)
	ctx := t.Context()
	mustSet(t, c, "minute", "m", time.Minute)
	mustSet(t, c, "default", "d", 0)

	clock.advance(59 * time.Second)
	v, ttl, ok, err := c.GetWithTTL(ctx, "minute")
	if err != nil || !ok || string(v) != "m" || ttl != time.Second {
		t.Errorf("GetWithTTL(minute) after 59s: got (%q, %v, %v, %v), want (\"m\", 1s, true, nil)", v, ttl, ok, err)
	}
	// Reads do not extend the lifetime.
	clock.advance(2 * time.Second)
	if v, ok, err := c.Get(ctx, "minute"); ok || err != nil {
		t.Errorf("Get(minute) after 61s: got (%q, %v, %v), want a miss", v, ok, err)
	}
	if _, ttl, ok, _ := c.GetWithTTL(ctx, "default"); !ok || ttl != time.Hour-61*time.Second {
		t.Errorf("GetWithTTL(default): got (%v, %v), want (%v, true)", ttl, ok, time.Hour-61*time.Second)
	}
	clock.advance(time.Hour)
	if _, ok, _ := c.Get(ctx, "default"); ok {
		t.Error("Get(default) after its default TTL: hit, want a miss")
	}
	if _, _, ok, _ := c.GetWithTTL(ctx, "default"); ok {
		t.Error("GetWithTTL(default) after its default TTL: hit, want a miss")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		wantErr   string // "" = valid
	}{
		{"empty", "{}", ""},
		{"full", "max_bytes: 1048576\ndefault_ttl: 1h30m", ""},
		{"size string", "max_bytes: 16MiB", ""},
		{"negative max_bytes", "max_bytes: -1", "max_bytes: must not be negative"},
		{"bad max_bytes", "max_bytes: lots", "invalid byte size"},
		{"negative ttl", "default_ttl: -1s", "default_ttl: must not be negative"},
		{"unknown key", "max_entries: 10", "max_entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := switchboard.Caches.New(t.Context(), "memory", yamlDecoder(tc.doc), switchboard.Deps{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Caches.New(memory, %q): %v", tc.doc, err)
				}
				if _, ok := c.(*Cache); !ok {
					t.Errorf("Caches.New(memory) returned %T, want *inmem.Cache", c)
				}
				_ = c.(*Cache).Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Caches.New(memory, %q): got error %v, want one containing %q", tc.doc, err, tc.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := mustNew(t, Config{}, nil)
	if c.maxBytes != DefaultMaxBytes || c.defaultTTL != DefaultTTL {
		t.Errorf("defaults: got (%d, %v), want (%d, %v)", c.maxBytes, c.defaultTTL, DefaultMaxBytes, DefaultTTL)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Set(t.Context(), "k", nil, 0); !errors.Is(err, switchboard.ErrClosed) {
		t.Errorf("Set after Close: got %v, want switchboard.ErrClosed", err)
	}
}

// yamlDecoder stands in for the config package's Decoder: it strictly
// decodes a YAML document into v.
func yamlDecoder(doc string) switchboard.Decoder {
	return func(v any) error {
		d := yaml.NewDecoder(strings.NewReader(doc))
		d.KnownFields(true)
		return d.Decode(v)
	}
}

func mustNew(tb testing.TB, cfg Config, clock *fakeClock) *Cache {
	tb.Helper()
	var c *Cache
	var err error
	if clock != nil {
		c, err = newWithClock(cfg, switchboard.Deps{}, clock)
	} else {
		c, err = New(cfg, switchboard.Deps{})
	}
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func mustSet(tb testing.TB, c *Cache, key, value string, ttl time.Duration) {
	tb.Helper()
	if err := c.Set(tb.Context(), key, []byte(value), ttl); err != nil {
		tb.Fatalf("Set(%q): %v", key, err)
	}
}
