package limits

import (
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// Benchmarks of Admit and Settle. Run them with
//
//	SWITCHBOARD_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench . -benchmem ./limits/
//
// (the Redis ones skip without the variable). Memory's Admit should stay
// well under 1µs with 1 allocation (the Lease) when a rule has TPM or
// concurrency, and none when denied; Redis's is one round trip.

// benchRules returns n rules with every kind of rate set high enough never
// to deny.
func benchRules(n int) []Rule {
	scopes := []Rule{
		{Scope: ScopeGlobal},
		{Scope: ScopeTenant, ID: "acme"},
		{Scope: ScopeModel, ID: "gpt-4o-mini"},
	}
	rules := scopes[:n]
	for i := range rules {
		rules[i].Limits = switchboard.Limits{RPM: MaxLimit, TPM: MaxLimit}
	}
	return rules
}

func benchAdmit(b *testing.B, l Limiter, rules []Rule) {
	b.ReportAllocs()
	for b.Loop() {
		if d, err := l.Admit(b.Context(), rules, 100); err != nil || !d.Allowed {
			b.Fatalf("Admit: %v, %v", d.Allowed, err)
		}
	}
}

func benchAdmitParallel(b *testing.B, l Limiter, rules []Rule) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, err := l.Admit(b.Context(), rules, 100); err != nil || !d.Allowed {
				b.Errorf("Admit: %v, %v", d.Allowed, err)
				return
			}
		}
	})
}

func BenchmarkMemoryAdmit(b *testing.B) {
	b.Run("1rule", func(b *testing.B) { benchAdmit(b, NewMemory(), benchRules(1)) })
	b.Run("3rules", func(b *testing.B) { benchAdmit(b, NewMemory(), benchRules(3)) })
	b.Run("3rules-parallel", func(b *testing.B) { benchAdmitParallel(b, NewMemory(), benchRules(3)) })
	b.Run("3rules-rpm-only", func(b *testing.B) {
		rules := benchRules(3)
		for i := range rules {
			rules[i].TPM = 0
		}
		benchAdmit(b, NewMemory(), rules)
	})
	b.Run("denied", func(b *testing.B) {
		l := NewMemory()
		rules := append(benchRules(2), rpm(ScopeKey, "k1", 1))
		mustAllow(b, l, rules, 100)
		b.ReportAllocs()
		for b.Loop() {
			if d, err := l.Admit(b.Context(), rules, 100); err != nil || d.Allowed {
				b.Fatalf("Admit: %v, %v", d.Allowed, err)
			}
		}
	})
}

func BenchmarkRedisAdmit(b *testing.B) {
	b.Run("1rule", func(b *testing.B) {
		l, _ := newTestRedis(b)
		benchAdmit(b, l, benchRules(1))
	})
	b.Run("3rules", func(b *testing.B) {
		l, _ := newTestRedis(b)
		benchAdmit(b, l, benchRules(3))
	})
	b.Run("3rules-parallel", func(b *testing.B) {
		l, _ := newTestRedis(b)
		benchAdmitParallel(b, l, benchRules(3))
	})
}

// BenchmarkSettle measures an Admit and its Settle (with a refund and a
// concurrency slot) together.
func BenchmarkSettle(b *testing.B) {
	rules := benchRules(3)
	rules[1].Concurrency = 1000
	bench := func(b *testing.B, l Limiter) {
		b.ReportAllocs()
		for b.Loop() {
			d, err := l.Admit(b.Context(), rules, 100)
			if err != nil || !d.Allowed {
				b.Fatalf("Admit: %v, %v", d.Allowed, err)
			}
			lease := d.Lease // &d.Lease would move all of d to the heap
			if err := l.Settle(b.Context(), &lease, 60); err != nil {
				b.Fatalf("Settle: %v", err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) { bench(b, NewMemory()) })
	b.Run("redis", func(b *testing.B) {
		l, _ := newTestRedis(b)
		bench(b, l)
	})
}
