package budget

// Benchmarks of the request path: one Reserve and one Settle against three
// scopes (global, tenant, key) with a daily and a monthly cap each, that is
// six windows. Run:
//
//	SWITCHBOARD_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench . -benchmem ./budget/
//
// ns/op is the gateway's per-request budget overhead; for Redis it is two
// round trips (one script each), so it tracks the server's latency.

import (
	"context"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

func benchScopes() []Scope {
	b := switchboard.Budget{DailyUSD: 1e6, MonthlyUSD: 1e8}
	return []Scope{{Kind: KindGlobal, Budget: b}, tenant("acme", b), key("k1", b)}
}

func benchReserveSettle(b *testing.B, l *Ledger) {
	ctx := context.Background()
	scopes := benchScopes()
	b.ReportAllocs()
	for b.Loop() {
		d, err := l.Reserve(ctx, scopes, 0.01)
		if err != nil || !d.Allowed {
			b.Fatalf("Reserve: %+v, %v", d, err)
		}
		if err := l.Settle(ctx, d.Reservation, 0.000001); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryReserveSettle(b *testing.B) {
	l := NewMemory(Options{})
	closeAtEnd(b, l)
	benchReserveSettle(b, l)
}

func BenchmarkRedisReserveSettle(b *testing.B) {
	l := NewRedis(mustRedisClient(b), mustRedisPrefix(b), Options{})
	closeAtEnd(b, l)
	benchReserveSettle(b, l)
}
