package budget

import (
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// TestRedisKeys checks the key layout and that every key expires: window
// state once its window has ended plus the reservation TTL and an hour.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	c := mustRedisClient(t)
	prefix := mustRedisPrefix(t)
	clock := newClock(t0) // 8h59m50s before midnight UTC
	l := NewRedis(c, prefix, Options{Now: clock.Now})
	closeAtEnd(t, l)
	s := tenant("acme", switchboard.Budget{DailyUSD: 10, RollingUSD: 10, RollingWindow: 24 * time.Hour})
	d := mustReserve(t, l, []Scope{s}, 1)
	mustSettle(t, l, d.Reservation, 0.5)
	held := mustReserve(t, l, []Scope{s}, 2) // keeps the sets of reservations

	keep := DefaultReservationTTL + keepMargin
	for k, want := range map[string]time.Duration{
		"w:d:20261125:tenant:acme": 9*time.Hour - 10*time.Second + keep,
		"z:d:20261125:tenant:acme": 9*time.Hour - 10*time.Second + keep,
		"w:r:86400000:tenant:acme": 24*time.Hour + keep,
		"z:r:86400000:tenant:acme": 24*time.Hour + keep,
		"settled":                  2 * settleDedupe,
	} {
		ttl, err := c.PTTL(t.Context(), prefix+k).Result()
		if err != nil || ttl > want || ttl < want-5*time.Second {
			t.Errorf("PTTL %s = %v, %v; want about %v", k, ttl, err, want)
		}
	}
	got, err := c.HGetAll(t.Context(), prefix+"w:d:20261125:tenant:acme").Result()
	if err != nil || got["s"] != "500000000" || got["r"] != "2000000000" {
		t.Errorf("daily hash = %v, %v; want s=500000000, r=2000000000 (nano-dollars)", got, err)
	}
	z, err := c.ZRangeWithScores(t.Context(), prefix+"z:d:20261125:tenant:acme", 0, -1).Result()
	if err != nil || len(z) != 1 || z[0].Member != held.Reservation.ID()+":2000000000" ||
		int64(z[0].Score) != held.Reservation.ExpiresAt().UnixMilli() {
		t.Errorf("daily reservations = %v, %v; want %s:2000000000 scored by its expiry", z, err, held.Reservation.ID())
	}
}

// TestRedisSettleRetry replays a Settle whose reply was lost: Redis counts
// it once.
func TestRedisSettleRetry(t *testing.T) {
	t.Parallel()
	l := NewRedis(mustRedisClient(t), mustRedisPrefix(t), Options{})
	closeAtEnd(t, l)
	s := tenant("acme", switchboard.Budget{DailyUSD: 10})
	d := mustReserve(t, l, []Scope{s}, 2)
	now := l.now()
	wins, err := windows([]Scope{s}, now, l.loc, l.ttl)
	if err != nil {
		t.Fatal(err)
	}
	l.presetSeeds(wins)
	op := &spendOp{now: now, amount: toNanos(1), wins: wins, settle: d.Reservation}
	for range 2 {
		if _, missing, err := l.be.spend(t.Context(), op); err != nil || missing != nil {
			t.Fatalf("spend: %v, %v", missing, err)
		}
	}
	if got := mustStatus(t, l, s)[Daily]; got.SpentUSD != 1 || got.ReservedUSD != 0 {
		t.Errorf("after a replayed settle: spent %v reserved %v, want 1, 0", got.SpentUSD, got.ReservedUSD)
	}
}
