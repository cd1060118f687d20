package inmem

// The memory tier's hot path: a hit, and a store of a typical cached chat
// completion (2 KiB), on a cache holding 10k entries.
//
//	go test -run '^$' -bench . -benchmem -count=10 ./inmem/ | tee new.txt
//
// The numbers that should move are ns/op and allocs/op; a Get hit allocates
// nothing, a Set allocates the copy of the value.

import (
	"strconv"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

const (
	benchKeys      = 10_000
	benchValueSize = 2 << 10
)

func benchCache(b *testing.B) (*Cache, []string) {
	b.Helper()
	c, err := New(Config{}, switchboard.Deps{})
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	b.Cleanup(func() { _ = c.Close() })
	keys := make([]string, benchKeys)
	value := make([]byte, benchValueSize)
	for i := range keys {
		keys[i] = "tenant-a:gpt-4o-mini:" + strconv.Itoa(i*7919)
		if err := c.Set(b.Context(), keys[i], value, 0); err != nil {
			b.Fatalf("Set: %v", err)
		}
	}
	return c, keys
}

func BenchmarkGet(b *testing.B) {
	c, keys := benchCache(b)
	ctx := b.Context()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := c.Get(ctx, keys[i%benchKeys]); !ok || err != nil {
			b.Fatalf("Get: got (%v, %v), want a hit", ok, err)
		}
		i++
	}
}

func BenchmarkSet(b *testing.B) {
	c, keys := benchCache(b)
	ctx := b.Context()
	value := make([]byte, benchValueSize)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Set(ctx, keys[i%benchKeys], value, 0); err != nil {
			b.Fatalf("Set: %v", err)
		}
		i++
	}
}
