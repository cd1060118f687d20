package sbtest

// This file holds TestStore, the conformance suite every switchboard.Store
// backend passes.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

// TestStore runs the conformance suite for switchboard.Store. newStore
// returns a new, empty, migrated store for each subtest, and releases
// anything else it allocates (a temporary schema, a file) with t.Cleanup.
// The suite closes every store it gets; it may close one twice, so Close
// must be harmless the second time. Subtests run in parallel.
//
// Backends must keep times to at least microsecond precision, in any
// location (the suite compares with time.Time.Equal).
func TestStore(t *testing.T, newStore func(t *testing.T) switchboard.Store) {
	t.Helper()
	open := func(t *testing.T) switchboard.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
		want := []switchboard.Inference{
			{
				ID:            "inf-full",
				Time:          base.In(time.FixedZone("UTC+5:30", 5*3600+1800)),
				RequestID:     "req-1",
				TenantID:      "tenant-a",
				KeyID:         "key-1",
				Endpoint:      "/v1/chat/completions",
				Model:         "gpt-4o",
				Provider:      "openai",
				UpstreamModel: "gpt-4o-2024-08-06",
				Stream:        true,
				Status:        200,
				ErrorCode:     "",
				Latency:       1234567891 * time.Nanosecond,
				TTFT:          98765432 * time.Nanosecond,
				InputTokens:   1_000_000,
				OutputTokens:  4096,
				CachedTokens:  512,
				Attempts:      2,
				Cache:         "hit",
				CacheTier:     "memory",
				CostUSD:       ptr(0.0),
				SavedUSD:      ptr(0.012345678),
			},
			{
				ID:            "inf-error",
				Time:          base.Add(-time.Microsecond),
				RequestID:     "req-2 ünïcödé ✓",
				TenantID:      "tenant-b",
				KeyID:         "key-2",
				Endpoint:      "/v1/embeddings",
				Model:         "text-embedding-3-small",
				Provider:      "openai-compat",
				UpstreamModel: "te3s",
				Status:        429,
				ErrorCode:     "rate_limited",
				Latency:       time.Millisecond,
				Attempts:      3,
				Cache:         "miss",
				CostUSD:       ptr(1.5e-6),
			},
			{
				ID:       "inf-minimal",
				Time:     base.Add(-time.Hour),
				Endpoint: "/v1/chat/completions",
				Model:    "m",
			},
		}
		mustInsertInferences(t, s, want)
		got := mustListInferences(t, s, switchboard.InferenceFilter{})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListInferences mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.InsertInferences(t.Context(), nil); err != nil {
			t.Fatalf("InsertInferences(nil): got %v, want nil", err)
		}
		if n := mustCountInferences(t, s, switchboard.InferenceFilter{}); n != 0 {
			t.Errorf("count: got %d, want 0", n)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Now().Truncate(time.Microsecond)
		first := makeInferences("a", 10, base)
		mustInsertInferences(t, s, first)
		mustInsertInferences(t, s, first) // a retried batch
		if n := mustCountInferences(t, s, switchboard.InferenceFilter{}); n != 10 {
			t.Fatalf("count after re-inserting the same batch: got %d, want 10", n)
		}

		// Half old IDs (with changed fields), half new: only the new ones count,
		// and the old records keep their first values.
		changed := slices.Clone(first[5:])
		for i := range changed {
			changed[i].Model = "changed"
		}
		mixed := append(changed, makeInferences("b", 5, base)...)
		mustInsertInferences(t, s, mixed)
		if n := mustCountInferences(t, s, switchboard.InferenceFilter{}); n != 15 {
			t.Fatalf("count after a half-new batch: got %d, want 15", n)
		}
		if n := mustCountInferences(t, s, switchboard.InferenceFilter{Model: "changed"}); n != 0 {
			t.Errorf("re-insert overwrote %d records, want 0 (first write wins)", n)
		}

		// The same ID twice in one batch is inserted once.
		dup := makeInferences("c", 1, base)
		mustInsertInferences(t, s, []switchboard.Inference{dup[0], dup[0]})
		if n := mustCountInferences(t, s, switchboard.InferenceFilter{}); n != 16 {
			t.Errorf("count after a batch repeating one ID: got %d, want 16", n)
		}
	})

	t.Run("AnyString", func(t *testing.T) {
		// Strings come from clients; a store that rejected one would fail its
		// whole batch on every retry. It may store a sanitized value.
		t.Parallel()
		s := open(t)
		rec := makeInferences("s", 1, time.Now().Truncate(time.Microsecond))[0]
		rec.Model = "nul\x00byte"
		rec.RequestID = "invalid utf-8 \xff\xfe\xfd"
		rec.TenantID = "emoji 🚀 and \u2028"
		rec.ErrorCode = strings.Repeat("long ", 2000)
		rec.Status, rec.Attempts = 1<<40, -1<<40
		mustInsertInferences(t, s, []switchboard.Inference{rec})
		got := mustListInferences(t, s, switchboard.InferenceFilter{})
		if len(got) != 1 || got[0].ID != rec.ID {
			t.Fatalf("ListInferences: got %v, want the record %s", inferenceIDs(got), rec.ID)
		}
		if got[0].TenantID != rec.TenantID || got[0].ErrorCode != rec.ErrorCode {
			t.Errorf("valid strings changed: got tenant %q, error code of %d bytes; want %q, %d bytes",
				got[0].TenantID, len(got[0].ErrorCode), rec.TenantID, len(rec.ErrorCode))
		}
	})

	t.Run("Filter", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		models := []string{"gpt", "claude", "llama"}
		tenants := []string{"t1", "t2", ""}
		var all []switchboard.Inference
		for i := range 30 {
			all = append(all, switchboard.Inference{
				ID:       fmt.Sprintf("f%02d", i),
				Time:     base.Add(time.Duration(i) * time.Minute),
				Endpoint: "/v1/chat/completions",
				Model:    models[i%3],
				TenantID: tenants[(i/3)%3],
				Status:   200,
			})
		}
		mustInsertInferences(t, s, all)
		at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }

		tests := []struct {
			name string
			f    switchboard.InferenceFilter
		}{
			{"none", switchboard.InferenceFilter{}},
			{"since is inclusive", switchboard.InferenceFilter{Since: at(20)}},
			{"until is exclusive", switchboard.InferenceFilter{Until: at(10)}},
			{"since and until", switchboard.InferenceFilter{Since: at(5), Until: at(15)}},
			{"since in another zone", switchboard.InferenceFilter{Since: at(25).In(time.FixedZone("UTC-7", -7*3600))}},
			{"between records", switchboard.InferenceFilter{Since: at(3).Add(time.Second), Until: at(6).Add(-time.Second)}},
			{"empty range", switchboard.InferenceFilter{Since: at(10), Until: at(10)}},
			{"model", switchboard.InferenceFilter{Model: "claude"}},
			{"unknown model", switchboard.InferenceFilter{Model: "nope"}},
			{"tenant", switchboard.InferenceFilter{TenantID: "t2"}},
			{"model and tenant", switchboard.InferenceFilter{Model: "gpt", TenantID: "t1"}},
			{"all fields", switchboard.InferenceFilter{Since: at(2), Until: at(28), Model: "llama", TenantID: "t1"}},
			{"limit", switchboard.InferenceFilter{Limit: 7}},
			{"limit with model", switchboard.InferenceFilter{Model: "gpt", Limit: 4}},
			{"limit above matches", switchboard.InferenceFilter{Model: "gpt", Limit: 1000}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				want := filterInferences(all, tc.f)
				got := mustListInferences(t, s, tc.f)
				if diff := cmp.Diff(inferenceIDs(want), inferenceIDs(got)); diff != "" {
					t.Errorf("ListInferences(%+v) IDs (-want +got):\n%s", tc.f, diff)
				}
				nf := tc.f
				nf.Limit = 0
				if got, want := mustCountInferences(t, s, tc.f), len(filterInferences(all, nf)); got != want {
					t.Errorf("CountInferences(%+v): got %d, want %d (Limit does not apply)", tc.f, got, want)
				}
			})
		}
	})

	t.Run("NewestFirst", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Now().Truncate(time.Microsecond)
		all := makeInferences("o", 50, base)
		// Insert in a scrambled order, across several batches.
		scrambled := make([]switchboard.Inference, 0, len(all))
		for i := range all {
			scrambled = append(scrambled, all[(i*37)%len(all)])
		}
		for b := range slices.Chunk(scrambled, 7) {
			mustInsertInferences(t, s, b)
		}
		got := mustListInferences(t, s, switchboard.InferenceFilter{})
		if diff := cmp.Diff(inferenceIDs(filterInferences(all, switchboard.InferenceFilter{})), inferenceIDs(got)); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
	})

	t.Run("DefaultAndMaxLimit", func(t *testing.T) {
		if testing.Short() {
			t.Skip("inserts 10001 records; skipped in -short mode")
		}
		t.Parallel()
		s := open(t)
		all := makeInferences("l", 10001, time.Now().Truncate(time.Microsecond))
		for b := range slices.Chunk(all, 2500) {
			mustInsertInferences(t, s, b)
		}
		if got := len(mustListInferences(t, s, switchboard.InferenceFilter{})); got != 100 {
			t.Errorf("Limit 0: got %d records, want 100", got)
		}
		if got := len(mustListInferences(t, s, switchboard.InferenceFilter{Limit: 20000})); got != 10000 {
			t.Errorf("Limit 20000: got %d records, want 10000 (the maximum)", got)
		}
		if got := mustCountInferences(t, s, switchboard.InferenceFilter{}); got != 10001 {
			t.Errorf("count: got %d, want 10001", got)
		}
	})

	t.Run("ConcurrentInserts", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const writers, perWriter, batch = 8, 250, 5
		base := time.Now().Truncate(time.Microsecond)
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				recs := makeInferences(fmt.Sprintf("w%d-", w), perWriter, base)
				for b := range slices.Chunk(recs, batch) {
					if err := s.InsertInferences(context.Background(), b); err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := mustCountInferences(t, s, switchboard.InferenceFilter{}); got != writers*perWriter {
			t.Errorf("count: got %d, want %d", got, writers*perWriter)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.InsertInferences(ctx, makeInferences("x", 3, time.Now())); err == nil {
			t.Error("InsertInferences with a canceled context: got nil error, want one")
		}
		if n := mustCountInferences(t, s, switchboard.InferenceFilter{}); n != 0 {
			t.Errorf("count after a canceled insert: got %d, want 0", n)
		}
	})

	t.Run("Sum", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		day1 := time.Date(2025, 6, 1, 23, 59, 0, 0, time.UTC)
		day2 := day1.Add(2 * time.Minute)
		var batch []switchboard.Inference
		add := func(id, tenant, model, cache string, at time.Time, in, out int, cost *float64, saved *float64) {
			batch = append(batch, switchboard.Inference{ID: id, Time: at, TenantID: tenant, KeyID: "k-" + tenant, Model: model,
				Endpoint: "chat", Status: 200, InputTokens: in, OutputTokens: out, Cache: cache, CostUSD: cost, SavedUSD: saved})
		}
		add("s1", "acme", "m1", "miss", day1, 10, 5, ptr(0.5), nil)
		add("s2", "acme", "m1", "hit", day2, 10, 5, ptr(0.0), ptr(0.5))
		add("s3", "acme", "m2", "miss", day2, 1, 1, nil, nil) // unpriced
		add("s4", "globex", "m1", "", day2, 100, 50, ptr(2.25), nil)
		if err := s.InsertInferences(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		all, err := s.SumInferences(t.Context(), switchboard.InferenceFilter{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].Requests != 4 || all[0].InputTokens != 121 || all[0].OutputTokens != 61 ||
			!near(all[0].CostUSD, 2.75) || !near(all[0].SavedUSD, 0.5) {
			t.Errorf("total: got %+v", all)
		}
		rows, err := s.SumInferences(t.Context(), switchboard.InferenceFilter{TenantID: "acme"}, []string{switchboard.GroupDay, switchboard.GroupModel, switchboard.GroupCache})
		if err != nil {
			t.Fatal(err)
		}
		want := []switchboard.InferenceSum{
			{Day: "2025-06-01", Model: "m1", Cache: "miss", Requests: 1, InputTokens: 10, OutputTokens: 5, CostUSD: 0.5},
			{Day: "2025-06-02", Model: "m1", Cache: "hit", Requests: 1, InputTokens: 10, OutputTokens: 5, SavedUSD: 0.5},
			{Day: "2025-06-02", Model: "m2", Cache: "miss", Requests: 1, InputTokens: 1, OutputTokens: 1},
		}
		if len(rows) != len(want) {
			t.Fatalf("got %+v, want %+v", rows, want)
		}
		for i := range want {
			g, w := rows[i], want[i]
			if g.Day != w.Day || g.Model != w.Model || g.Cache != w.Cache || g.Requests != w.Requests || g.InputTokens != w.InputTokens ||
				!near(g.CostUSD, w.CostUSD) || !near(g.SavedUSD, w.SavedUSD) || g.Tenant != "" {
				t.Errorf("row %d: got %+v, want %+v", i, g, w)
			}
		}
		byKey, err := s.SumInferences(t.Context(), switchboard.InferenceFilter{}, []string{switchboard.GroupTenant, switchboard.GroupKey})
		if err != nil || len(byKey) != 2 || byKey[0].Tenant != "acme" || byKey[0].KeyID != "k-acme" || byKey[1].Requests != 1 {
			t.Errorf("by tenant and key: got %+v %v", byKey, err)
		}
		if _, err := s.SumInferences(t.Context(), switchboard.InferenceFilter{}, []string{"colour"}); err == nil {
			t.Error("an unknown dimension was accepted")
		}
	})

	t.Run("KeyFilter", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		keys, tenants := []string{"k1", "k2", ""}, []string{"t1", "t2"}
		var all []switchboard.Inference
		for i := range 12 {
			all = append(all, switchboard.Inference{
				ID: fmt.Sprintf("kf%02d", i), Time: base.Add(time.Duration(i) * time.Minute), Endpoint: "chat", Model: "m",
				TenantID: tenants[i%2], KeyID: keys[i%3], Status: 200, InputTokens: i + 1, CostUSD: ptr(float64(i)),
			})
		}
		mustInsertInferences(t, s, all)
		for _, f := range []switchboard.InferenceFilter{
			{KeyID: "k1"},
			{KeyID: "k2", TenantID: "t1"},
			{KeyID: "k2", Since: base.Add(5 * time.Minute)},
			{KeyID: "k1", Limit: 2},
			{KeyID: "unknown"},
			{ID: "kf03"},
			{ID: "kf03", TenantID: "t2"},
			{ID: "kf03", TenantID: "t1"},
			{ID: "nope"},
		} {
			want := filterInferences(all, f)
			if diff := cmp.Diff(inferenceIDs(want), inferenceIDs(mustListInferences(t, s, f))); diff != "" {
				t.Errorf("ListInferences(%+v) IDs (-want +got):\n%s", f, diff)
			}
			nf := f
			nf.Limit = 0
			matches := filterInferences(all, nf)
			if got := mustCountInferences(t, s, f); got != len(matches) {
				t.Errorf("CountInferences(%+v): got %d, want %d", f, got, len(matches))
			}
			var input int64
			var cost float64
			for _, in := range matches {
				input, cost = input+int64(in.InputTokens), cost+*in.CostUSD
			}
			sums, err := s.SumInferences(t.Context(), f, nil)
			if err != nil {
				t.Fatalf("SumInferences(%+v): %v", f, err)
			}
			if len(sums) != 1 || sums[0].Requests != int64(len(matches)) || sums[0].InputTokens != input || !near(sums[0].CostUSD, cost) {
				t.Errorf("SumInferences(%+v): got %+v, want %d requests, %d input tokens, $%g", f, sums, len(matches), input, cost)
			}
		}
	})

	t.Run("Tenants", func(t *testing.T) {
		t.Parallel()
		testTenants(t, open)
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: got %v, want nil", err)
		}
	})

	t.Run("AfterClose", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		mustInsertInferences(t, s, makeInferences("z", 1, time.Now()))
		if err := s.Close(); err != nil {
			t.Fatalf("Close: got %v, want nil", err)
		}
		ctx := t.Context()
		var f switchboard.InferenceFilter
		_, listErr := s.ListInferences(ctx, f)
		_, countErr := s.CountInferences(ctx, f)
		_, tenantsErr := s.ListTenants(ctx)
		_, keysErr := s.ListKeys(ctx)
		_, versionErr := s.TenantsVersion(ctx)
		for name, err := range map[string]error{
			"InsertInferences": s.InsertInferences(ctx, makeInferences("y", 1, time.Now())),
			"ListInferences":   listErr,
			"CountInferences":  countErr,
			"Ping":             s.Ping(ctx),
			"CreateTenant":     s.CreateTenant(ctx, switchboard.Tenant{Name: "t"}),
			"UpdateTenant":     s.UpdateTenant(ctx, switchboard.Tenant{Name: "t"}),
			"DeleteTenant":     s.DeleteTenant(ctx, "t"),
			"ListTenants":      tenantsErr,
			"CreateKey":        s.CreateKey(ctx, makeKey("k", "t", time.Now())),
			"RevokeKey":        s.RevokeKey(ctx, "k", time.Now()),
			"ListKeys":         keysErr,
			"TenantsVersion":   versionErr,
		} {
			if !errors.Is(err, switchboard.ErrClosed) {
				t.Errorf("%s after Close: got %v, want an error wrapping switchboard.ErrClosed", name, err)
			}
		}
	})
}

// makeInferences returns n records with IDs prefix0000…, one millisecond
// apart starting at base, with every field set.
func makeInferences(prefix string, n int, base time.Time) []switchboard.Inference {
	out := make([]switchboard.Inference, n)
	for i := range out {
		out[i] = switchboard.Inference{
			ID:            fmt.Sprintf("%s%05d", prefix, i),
			Time:          base.Add(time.Duration(i) * time.Millisecond),
			RequestID:     fmt.Sprintf("req-%s%d", prefix, i),
			TenantID:      "tenant",
			KeyID:         "key",
			Endpoint:      "/v1/chat/completions",
			Model:         "model",
			Provider:      "provider",
			UpstreamModel: "upstream-model",
			Stream:        i%2 == 0,
			Status:        200,
			Latency:       time.Duration(i) * time.Millisecond,
			TTFT:          time.Duration(i) * time.Microsecond,
			InputTokens:   i,
			OutputTokens:  2 * i,
			CachedTokens:  i / 2,
			Attempts:      1,
		}
	}
	return out
}

// filterInferences is the reference implementation of InferenceFilter:
// matching records, newest first, ties by ID descending, at most Limit
// (when positive).
func filterInferences(all []switchboard.Inference, f switchboard.InferenceFilter) []switchboard.Inference {
	var out []switchboard.Inference
	for _, in := range all {
		if (f.ID != "" && in.ID != f.ID) ||
			(!f.Since.IsZero() && in.Time.Before(f.Since)) ||
			(!f.Until.IsZero() && !in.Time.Before(f.Until)) ||
			(f.Model != "" && in.Model != f.Model) ||
			(f.TenantID != "" && in.TenantID != f.TenantID) ||
			(f.KeyID != "" && in.KeyID != f.KeyID) {
			continue
		}
		out = append(out, in)
	}
	slices.SortStableFunc(out, func(a, b switchboard.Inference) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

func inferenceIDs(recs []switchboard.Inference) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func mustInsertInferences(tb testing.TB, s switchboard.InferenceStore, batch []switchboard.Inference) {
	tb.Helper()
	if err := s.InsertInferences(context.Background(), batch); err != nil {
		tb.Fatalf("InsertInferences(%d records): %v", len(batch), err)
	}
}

func mustListInferences(tb testing.TB, s switchboard.InferenceStore, f switchboard.InferenceFilter) []switchboard.Inference {
	tb.Helper()
	got, err := s.ListInferences(context.Background(), f)
	if err != nil {
		tb.Fatalf("ListInferences(%+v): %v", f, err)
	}
	return got
}

func mustCountInferences(tb testing.TB, s switchboard.InferenceStore, f switchboard.InferenceFilter) int {
	tb.Helper()
	n, err := s.CountInferences(context.Background(), f)
	if err != nil {
		tb.Fatalf("CountInferences(%+v): %v", f, err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
