package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sbtest"
)

// testURL returns SWITCHBOARD_TEST_REDIS_URL or skips the test.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if u == "" {
		tb.Skip("SWITCHBOARD_TEST_REDIS_URL not set: skipping Redis tests")
	}
	return u
}

// mustNew returns a cache on the test server under a random prefix of its
// own, whose keys are deleted when the test ends.
func mustNew(tb testing.TB, cfg Config) *Cache {
	tb.Helper()
	cfg.URL = testURL(tb)
	if cfg.Prefix == "" {
		cfg.Prefix = "switchboard:test:" + rand.Text() + ":"
	}
	c, err := New(context.Background(), cfg, switchboard.Deps{})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		_ = c.Close()
		// The test may have closed c: clean up through a cache of our own.
		cl, err := New(context.Background(), cfg, switchboard.Deps{})
		if err != nil {
			tb.Errorf("clean up %s: %v", cfg.Prefix, err)
			return
		}
		defer func() { _ = cl.Close() }()
		if _, err := cl.DeletePrefix(context.Background(), ""); err != nil {
			tb.Errorf("clean up %s: %v", cfg.Prefix, err)
		}
	})
	return c
}

func TestCache(t *testing.T) {
	t.Parallel()
	testURL(t)
	sbtest.TestCache(t, func(t *testing.T) switchboard.Cache {
		return mustNew(t, Config{})
	})
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	c := mustNew(t, Config{DefaultTTL: time.Hour})
	ctx := t.Context()
	if err := c.Set(ctx, "k", []byte("v"), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "d", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Plain strings under the prefix, with a millisecond TTL.
	if got, err := c.rdb.Get(ctx, c.prefix+"k").Result(); err != nil || got != "v" {
		t.Errorf("GET %sk: got (%q, %v), want (\"v\", nil)", c.prefix, got, err)
	}
	for key, want := range map[string]time.Duration{"k": 1500 * time.Millisecond, "d": time.Hour} {
		ttl, err := c.rdb.PTTL(ctx, c.prefix+key).Result()
		if err != nil || ttl > want || ttl < want-time.Second {
			t.Errorf("PTTL %s%s: got (%v, %v), want about %v", c.prefix, key, ttl, err, want)
		}
		v, left, ok, err := c.GetWithTTL(ctx, key)
		if err != nil || !ok || string(v) != "v" || left > want || left < want-time.Second {
			t.Errorf("GetWithTTL(%s): got (%q, %v, %v, %v), want (\"v\", about %v, true, nil)", key, v, left, ok, err, want)
		}
	}
	// A key without expiry, set by someone else, reports 0.
	if err := c.rdb.Set(ctx, c.prefix+"forever", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, left, ok, err := c.GetWithTTL(ctx, "forever"); err != nil || !ok || left != 0 {
		t.Errorf("GetWithTTL(forever): got (%v, %v, %v), want (0, true, nil)", left, ok, err)
	}
	if _, _, ok, err := c.GetWithTTL(ctx, "missing"); ok || err != nil {
		t.Errorf("GetWithTTL(missing): got (%v, %v), want a miss", ok, err)
	}
}

func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	a := mustNew(t, Config{})
	b := mustNew(t, Config{})
	ctx := t.Context()
	if err := a.Set(ctx, "k", []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "k", []byte("b"), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := a.DeletePrefix(ctx, ""); err != nil || n != 1 {
		t.Errorf(`a.DeletePrefix(""): got (%d, %v), want (1, nil)`, n, err)
	}
	if got, ok, err := b.Get(ctx, "k"); err != nil || !ok || string(got) != "b" {
		t.Errorf("b.Get(k) after purging a: got (%q, %v, %v), want (\"b\", true, nil)", got, ok, err)
	}
	if n, _, err := b.CacheStats(ctx); err != nil || n != 1 {
		t.Errorf("b.CacheStats: got (%d, %v), want (1, nil)", n, err)
	}
}

func TestManyKeys(t *testing.T) {
	t.Parallel()
	c := mustNew(t, Config{})
	ctx := t.Context()
	const n = 2500 // several SCAN batches
	pipe := c.rdb.Pipeline()
	for i := range n {
		pipe.Set(ctx, c.prefix+"bulk:"+string(rune('a'+i%26))+":"+time.Duration(i).String(), "v", time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got, size, err := c.CacheStats(ctx); err != nil || got != n || size <= n {
		t.Errorf("CacheStats: got (%d, %d, %v), want (%d, > %d, nil)", got, size, err, n, n)
	}
	if got, err := c.DeletePrefix(ctx, "bulk:"); err != nil || got != n {
		t.Errorf("DeletePrefix(bulk:): got (%d, %v), want (%d, nil)", got, err, n)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := New(ctx, Config{URL: "redis://user:s3cret@127.0.0.1:1/0?dial_timeout=100ms&max_retries=-1"}, switchboard.Deps{})
	if err == nil {
		t.Fatal("New with nothing listening: got nil error, want one")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		wantErr   string
	}{
		{"no url", "{}", "url: required"},
		{"bad scheme", "url: http://localhost:6379", `url: scheme "http"`},
		{"bad url keeps password out", "url: \"redis://u:s3cret@host:port:bad/0\"", "url: invalid URL"},
		{"bad option", "url: redis://localhost:6379/0?pool_size=x", "url: invalid redis URL"},
		{"negative ttl", "url: redis://localhost:6379\ndefault_ttl: -1s", "default_ttl: must not be negative"},
		{"unknown key", "url: redis://localhost:6379\nttl: 1s", "ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := switchboard.Caches.New(t.Context(), "redis", yamlDecoder(tc.doc), switchboard.Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Caches.New(redis, %q): got error %v, want one containing %q", tc.doc, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		u := testURL(t)
		c, err := switchboard.Caches.New(t.Context(), "redis", yamlDecoder("url: "+u+"\nprefix: \"switchboard:test:"+rand.Text()+":\"\ndefault_ttl: 1h"), switchboard.Deps{})
		if err != nil {
			t.Fatalf("Caches.New(redis): %v", err)
		}
		rc, ok := c.(*Cache)
		if !ok {
			t.Fatalf("Caches.New(redis) returned %T, want *redis.Cache", c)
		}
		if rc.defaultTTL != time.Hour {
			t.Errorf("default TTL: got %v, want 1h", rc.defaultTTL)
		}
		if err := rc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := rc.Set(t.Context(), "k", nil, 0); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("Set after Close: got %v, want switchboard.ErrClosed", err)
		}
	})
}

func TestGlobEscape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"switchboard:cache:", "switchboard:cache:"},
		{"a*b?c[d]e\\f^g-h", `a\*b\?c\[d\]e\\f\^g\-h`},
		{"\xff*", "\xff\\*"},
	} {
		if got := globEscape(tc.in); got != tc.want {
			t.Errorf("globEscape(%q): got %q, want %q", tc.in, got, tc.want)
		}
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
