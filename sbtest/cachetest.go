package sbtest

// This file holds TestCache, the conformance suite every switchboard.Cache
// tier passes.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// TestCache runs the conformance suite for switchboard.Cache. newCache
// returns a new, empty cache for each subtest with a default TTL of at least
// a minute and room for a few MiB, and releases anything else it allocates
// (a directory, a key prefix) with t.Cleanup. Subtests run in parallel.
//
// The suite closes every cache that implements io.Closer, and may close one
// twice: the second Close must return nil, and a Get after Close must return
// an error wrapping switchboard.ErrClosed. The CachePurger and CacheStatser
// subtests are skipped for a cache that lacks them.
//
// TTL expiry is tested with real time: entries set for 50ms must be gone
// within a few seconds, so a tier may expire entries lazily but not late.
func TestCache(t *testing.T, newCache func(t *testing.T) switchboard.Cache) {
	t.Helper()
	open := func(t *testing.T) switchboard.Cache {
		t.Helper()
		c := newCache(t)
		if cl, ok := c.(io.Closer); ok {
			t.Cleanup(func() { _ = cl.Close() })
		}
		return c
	}

	t.Run("Miss", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		v, ok, err := c.Get(t.Context(), "missing")
		if v != nil || ok || err != nil {
			t.Errorf("Get(missing): got (%q, %v, %v), want (nil, false, nil)", v, ok, err)
		}
		if err := c.Delete(t.Context(), "missing"); err != nil {
			t.Errorf("Delete(missing): got %v, want nil", err)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		allBytes := make([]byte, 256)
		for i := range allBytes {
			allBytes[i] = byte(i)
		}
		for _, tc := range []struct {
			name, key string
			value     []byte
		}{
			{"text", "k:text", []byte(`{"id":"chatcmpl-1","choices":[]}`)},
			{"binary", "k:binary", allBytes},
			{"empty", "k:empty", []byte{}},
			{"nil", "k:nil", nil},
			{"key with slashes and dots", "tenant/../model/./x", []byte("slashes")},
			{"unicode key", "clé ✓ 鍵", []byte("unicode")},
			{"glob characters in key", "a*b?[c]\\d", []byte("glob")},
			{"long key", strings.Repeat("k", 1000), []byte("long")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mustSetCache(t, c, tc.key, tc.value, 0)
				got, ok := mustGetCache(t, c, tc.key)
				if !ok {
					t.Fatalf("Get(%q): miss, want a hit", tc.key)
				}
				if got == nil {
					t.Errorf("Get(%q): got a nil value with ok, want non-nil", tc.key)
				}
				if !bytes.Equal(got, tc.value) {
					t.Errorf("Get(%q): got %q, want %q", tc.key, got, tc.value)
				}
			})
		}
	})

	t.Run("SetCopiesValue", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		v := []byte("original")
		mustSetCache(t, c, "k", v, 0)
		copy(v, "mutated!")
		if got, _ := mustGetCache(t, c, "k"); string(got) != "original" {
			t.Errorf("Get after the caller reused its buffer: got %q, want %q", got, "original")
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		mustSetCache(t, c, "k", []byte("first, longer value"), 0)
		mustSetCache(t, c, "k", []byte("second"), 0)
		if got, ok := mustGetCache(t, c, "k"); !ok || string(got) != "second" {
			t.Errorf("Get after overwrite: got (%q, %v), want (%q, true)", got, ok, "second")
		}
		mustSetCache(t, c, "k", []byte{}, 0)
		if got, ok := mustGetCache(t, c, "k"); !ok || len(got) != 0 {
			t.Errorf("Get after overwrite with empty: got (%q, %v), want (\"\", true)", got, ok)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		mustSetCache(t, c, "a", []byte("1"), 0)
		mustSetCache(t, c, "b", []byte("2"), 0)
		if err := c.Delete(t.Context(), "a"); err != nil {
			t.Fatalf("Delete(a): %v", err)
		}
		if got, ok := mustGetCache(t, c, "a"); ok {
			t.Errorf("Get(a) after Delete: got %q, want a miss", got)
		}
		if got, ok := mustGetCache(t, c, "b"); !ok || string(got) != "2" {
			t.Errorf("Get(b): got (%q, %v), want (\"2\", true)", got, ok)
		}
		if err := c.Delete(t.Context(), "a"); err != nil {
			t.Errorf("Delete(a) twice: got %v, want nil", err)
		}
	})

	t.Run("TTL", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		const ttl = 50 * time.Millisecond
		start := time.Now()
		mustSetCache(t, c, "short", []byte("short"), ttl)
		mustSetCache(t, c, "default", []byte("default"), 0)
		mustSetCache(t, c, "negative", []byte("negative"), -time.Second)
		mustSetCache(t, c, "hour", []byte("hour"), time.Hour)
		got, ok := mustGetCache(t, c, "short")
		if time.Since(start) < ttl && (!ok || string(got) != "short") {
			t.Errorf("Get(short) before its TTL: got (%q, %v), want (\"short\", true)", got, ok)
		}
		waitForMiss(t, c, "short", 5*time.Second)
		if elapsed := time.Since(start); elapsed < ttl {
			t.Errorf("short entry gone after %v, want not before its TTL of %v", elapsed, ttl)
		}
		for _, key := range []string{"default", "negative", "hour"} {
			if got, ok := mustGetCache(t, c, key); !ok || string(got) != key {
				t.Errorf("Get(%s) after the short entry expired: got (%q, %v), want (%q, true)", key, got, ok, key)
			}
		}
		// A new Set restarts the TTL.
		mustSetCache(t, c, "short", []byte("again"), time.Hour)
		if got, ok := mustGetCache(t, c, "short"); !ok || string(got) != "again" {
			t.Errorf("Get(short) after a new Set: got (%q, %v), want (\"again\", true)", got, ok)
		}
	})

	t.Run("DeletePrefix", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		p, ok := c.(switchboard.CachePurger)
		if !ok {
			t.Skipf("%T does not implement switchboard.CachePurger", c)
		}
		keys := []string{
			"tenant-a:m1:1", "tenant-a:m1:2", "tenant-a:m2:1", "tenant-ab:m1:1", "tenant-b:m1:1",
			"glob*:1", "glob?:1", "globX:1", "glob[X]:1", "globX]:1", `glob\:1`,
		}
		for _, k := range keys {
			mustSetCache(t, c, k, []byte(k), 0)
		}
		for _, tc := range []struct {
			prefix string
			want   []string // removed
		}{
			{"tenant-a:m1:", []string{"tenant-a:m1:1", "tenant-a:m1:2"}},
			{"tenant-a:", []string{"tenant-a:m2:1"}},
			{"nothing", nil},
			{"glob*", []string{"glob*:1"}},
			{"glob?", []string{"glob?:1"}},
			{"glob[X]", []string{"glob[X]:1"}},
			{`glob\`, []string{`glob\:1`}},
			{"globX", []string{"globX:1", "globX]:1"}},
		} {
			n, err := p.DeletePrefix(t.Context(), tc.prefix)
			if err != nil {
				t.Fatalf("DeletePrefix(%q): %v", tc.prefix, err)
			}
			if n != len(tc.want) {
				t.Errorf("DeletePrefix(%q): got %d removed, want %d", tc.prefix, n, len(tc.want))
			}
			for _, k := range tc.want {
				if _, ok := mustGetCache(t, c, k); ok {
					t.Errorf("Get(%q) after DeletePrefix(%q): hit, want a miss", k, tc.prefix)
				}
			}
		}
		for _, k := range []string{"tenant-ab:m1:1", "tenant-b:m1:1"} {
			if got, ok := mustGetCache(t, c, k); !ok || string(got) != k {
				t.Errorf("Get(%q) after the other prefixes were deleted: got (%q, %v), want a hit", k, got, ok)
			}
		}
		n, err := p.DeletePrefix(t.Context(), "")
		if err != nil {
			t.Fatalf(`DeletePrefix(""): %v`, err)
		}
		if n != 2 {
			t.Errorf(`DeletePrefix(""): got %d removed, want 2`, n)
		}
		for _, k := range keys {
			if _, ok := mustGetCache(t, c, k); ok {
				t.Errorf(`Get(%q) after DeletePrefix(""): hit, want a miss`, k)
			}
		}
	})

	t.Run("CacheStats", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		s, ok := c.(switchboard.CacheStatser)
		if !ok {
			t.Skipf("%T does not implement switchboard.CacheStatser", c)
		}
		wantStats(t, s, "empty", 0, 0, 0)
		const n, size = 10, 100
		for i := range n {
			mustSetCache(t, c, "stats:"+strconv.Itoa(i), bytes.Repeat([]byte{'x'}, size), 0)
		}
		wantStats(t, s, "after 10 sets", n, n*size, 1<<20)
		mustSetCache(t, c, "stats:0", bytes.Repeat([]byte{'y'}, size), 0)
		wantStats(t, s, "after an overwrite", n, n*size, 1<<20)
		if err := c.Delete(t.Context(), "stats:1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantStats(t, s, "after a delete", n-1, (n-1)*size, 1<<20)
		if p, ok := c.(switchboard.CachePurger); ok {
			if _, err := p.DeletePrefix(t.Context(), ""); err != nil {
				t.Fatalf(`DeletePrefix(""): %v`, err)
			}
			wantStats(t, s, "after purging", 0, 0, 0)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		testCacheConcurrent(t, c)
	})

	t.Run("LargeValue", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		v := make([]byte, 1<<20)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range v {
			v[i] = byte(r.Uint32())
		}
		mustSetCache(t, c, "large", v, 0)
		got, ok := mustGetCache(t, c, "large")
		if !ok {
			t.Fatal("Get(large): miss, want a hit")
		}
		if !bytes.Equal(got, v) {
			t.Errorf("Get(large): got %d bytes that differ from the %d set", len(got), len(v))
		}
	})

	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		c := open(t)
		cl, ok := c.(io.Closer)
		if !ok {
			t.Skipf("%T does not implement io.Closer", c)
		}
		mustSetCache(t, c, "k", []byte("v"), 0)
		if err := cl.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := cl.Close(); err != nil {
			t.Errorf("second Close: got %v, want nil", err)
		}
		if _, _, err := c.Get(t.Context(), "k"); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("Get after Close: got %v, want an error wrapping switchboard.ErrClosed", err)
		}
	})
}

// testCacheConcurrent runs 16 goroutines of 200 mixed operations each, on
// shared and private keys. A value always starts with its key, so a read that
// returns another key's value is caught.
func testCacheConcurrent(t *testing.T, c switchboard.Cache) {
	const workers, ops, shared = 16, 200, 24
	p, _ := c.(switchboard.CachePurger)
	s, _ := c.(switchboard.CacheStatser)
	value := func(key string, n int) []byte {
		return fmt.Appendf(nil, "%s#%d#%s", key, n, strings.Repeat("v", n%300))
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			own := fmt.Sprintf("own:%d:", w)
			for i := range ops {
				key := "shared:" + strconv.Itoa(r.IntN(shared))
				if r.IntN(2) == 0 {
					key = own + strconv.Itoa(r.IntN(8))
				}
				var err error
				switch op := r.IntN(100); {
				case op < 45:
					var got []byte
					var ok bool
					got, ok, err = c.Get(ctx, key)
					if ok && !bytes.HasPrefix(got, []byte(key+"#")) {
						t.Errorf("Get(%q): got a value for another key: %.40q", key, got)
					}
				case op < 85:
					err = c.Set(ctx, key, value(key, i), 0)
				case op < 95:
					err = c.Delete(ctx, key)
				case op < 98 && p != nil:
					_, err = p.DeletePrefix(ctx, own)
				case s != nil:
					_, _, err = s.CacheStats(ctx)
				}
				if err != nil {
					t.Errorf("worker %d op %d on %q: %v", w, i, key, err)
					return
				}
			}
			// The last write of a private key is what a read returns.
			key := own + "final"
			want := value(key, w)
			if err := c.Set(ctx, key, want, 0); err != nil {
				t.Errorf("Set(%q): %v", key, err)
				return
			}
			if got, ok, err := c.Get(ctx, key); err != nil || !ok || !bytes.Equal(got, want) {
				t.Errorf("Get(%q): got (%.40q, %v, %v), want (%.40q, true, nil)", key, got, ok, err, want)
			}
		})
	}
	wg.Wait()
}

// waitForMiss polls key until it misses, failing the test after limit.
func waitForMiss(t *testing.T, c switchboard.Cache, key string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, ok := mustGetCache(t, c, key)
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get(%q): still %q after %v, want a miss once its TTL passed", key, got, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantStats checks CacheStats: exactly entries, and minBytes <= bytes <=
// minBytes+slack (tiers count keys and their own overhead in bytes).
func wantStats(t *testing.T, s switchboard.CacheStatser, when string, entries int, minBytes, slack int64) {
	t.Helper()
	n, b, err := s.CacheStats(t.Context())
	if err != nil {
		t.Fatalf("CacheStats %s: %v", when, err)
	}
	if n != entries {
		t.Errorf("CacheStats %s: got %d entries, want %d", when, n, entries)
	}
	if b < minBytes || b > minBytes+slack {
		t.Errorf("CacheStats %s: got %d bytes, want %d to %d", when, b, minBytes, minBytes+slack)
	}
}

func mustSetCache(tb testing.TB, c switchboard.Cache, key string, value []byte, ttl time.Duration) {
	tb.Helper()
	if err := c.Set(tb.Context(), key, value, ttl); err != nil {
		tb.Fatalf("Set(%q, %d bytes, %v): %v", key, len(value), ttl, err)
	}
}

func mustGetCache(tb testing.TB, c switchboard.Cache, key string) ([]byte, bool) {
	tb.Helper()
	v, ok, err := c.Get(tb.Context(), key)
	if err != nil {
		tb.Fatalf("Get(%q): %v", key, err)
	}
	if !ok && v != nil {
		tb.Errorf("Get(%q): got %q with ok=false, want nil", key, v)
	}
	return v, ok
}
