package sbtest

// This file holds TestExperimentStore, the conformance suite of
// switchboard.ExperimentStore and of the exposure columns of inference
// records.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/switchboard-ai/switchboard"
)

// TestExperimentStore runs the conformance suite for
// switchboard.ExperimentStore: experiments and their conditional status
// change, feedback idempotency, the running p-values, and the SQL
// aggregations (ExperimentStats, VersionStats) checked against the same
// sums computed in Go from the raw records. newStore is as for TestStore.
func TestExperimentStore(t *testing.T, newStore func(t *testing.T) switchboard.Store) {
	t.Helper()
	open := func(t *testing.T) switchboard.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	base := time.Date(2025, 9, 1, 10, 0, 0, 123456000, time.UTC)

	t.Run("ExperimentCRUD", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		e1 := testExperiment("rag-v2", "rag", "production", base)
		e2 := testExperiment("rag-v3", "rag", "production", base.Add(time.Minute))
		e3 := testExperiment("model-exp", "", "", base.Add(2*time.Minute))
		e3.Model, e3.Variants[0].PromptVersion, e3.Variants[1].PromptVersion = "gpt-4o", "", ""
		e3.Variants[0].Model, e3.Variants[1].Model = "gpt-4o", "claude-sonnet"
		e4 := testExperiment("rag-staging", "rag", "staging", base.Add(3*time.Minute))
		for _, e := range []switchboard.Experiment{e1, e3, e4} {
			if err := s.CreateExperiment(ctx, e); err != nil {
				t.Fatalf("CreateExperiment(%s): %v", e.Name, err)
			}
		}
		got, err := s.GetExperiment(ctx, e1.Name)
		if err != nil {
			t.Fatalf("GetExperiment: %v", err)
		}
		if diff := cmp.Diff(e1, got); diff != "" {
			t.Errorf("GetExperiment (-want +got):\n%s", diff)
		}
		dup := e3
		dup.Model = "other"
		if err := s.CreateExperiment(ctx, dup); !errors.Is(err, switchboard.ErrExists) {
			t.Errorf("CreateExperiment of a taken name: got %v, want ErrExists", err)
		}
		if err := s.CreateExperiment(ctx, e2); !errors.Is(err, switchboard.ErrExists) {
			t.Errorf("CreateExperiment of a second running experiment on rag/production: got %v, want ErrExists", err)
		}
		if _, err := s.GetExperiment(ctx, "nope"); !errors.Is(err, switchboard.ErrNotFound) {
			t.Errorf("GetExperiment(nope): got %v, want ErrNotFound", err)
		}
		for _, tc := range []struct {
			f    switchboard.ExperimentFilter
			want []string
		}{
			{switchboard.ExperimentFilter{}, []string{"rag-staging", "model-exp", "rag-v2"}},
			{switchboard.ExperimentFilter{Prompt: "rag"}, []string{"rag-staging", "rag-v2"}},
			{switchboard.ExperimentFilter{Prompt: "rag", Label: "production"}, []string{"rag-v2"}},
			{switchboard.ExperimentFilter{Model: "gpt-4o"}, []string{"model-exp"}},
			{switchboard.ExperimentFilter{Status: switchboard.ExperimentShipped}, nil},
		} {
			list, err := s.ListExperiments(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListExperiments(%+v): %v", tc.f, err)
			}
			var names []string
			for _, e := range list {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("ListExperiments(%+v): got %v, want %v (newest first)", tc.f, names, tc.want)
			}
		}

		d := &switchboard.ExperimentDecision{Action: switchboard.DecisionShip, Variant: "b", Reason: "b wins: p = 0.01",
			Actor: "system", Time: base.Add(time.Hour)}
		ok, err := s.SetExperimentStatus(ctx, e1.Name, switchboard.ExperimentRunning, switchboard.ExperimentShipped, d)
		if err != nil || !ok {
			t.Fatalf("SetExperimentStatus running→shipped: got %v, %v; want true, nil", ok, err)
		}
		ok, err = s.SetExperimentStatus(ctx, e1.Name, switchboard.ExperimentRunning, switchboard.ExperimentStopped, d)
		if err != nil || ok {
			t.Errorf("SetExperimentStatus from a status it no longer has: got %v, %v; want false, nil", ok, err)
		}
		want := e1
		want.Status, want.StoppedAt, want.Decision = switchboard.ExperimentShipped, d.Time, d
		got, err = s.GetExperiment(ctx, e1.Name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetExperiment after shipping (-want +got):\n%s", diff)
		}
		if _, err := s.SetExperimentStatus(ctx, "nope", switchboard.ExperimentRunning, switchboard.ExperimentStopped, d); !errors.Is(err, switchboard.ErrNotFound) {
			t.Errorf("SetExperimentStatus(nope): got %v, want ErrNotFound", err)
		}
		// Once rag-v2 ended, rag/production is free.
		if err := s.CreateExperiment(ctx, e2); err != nil {
			t.Errorf("CreateExperiment on a target whose experiment ended: %v", err)
		}
	})

	t.Run("ConcurrentStatusChange", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		e := testExperiment("canary", "p", "production", base)
		if err := s.CreateExperiment(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		const replicas = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for i := range replicas {
			wg.Go(func() {
				d := &switchboard.ExperimentDecision{Action: switchboard.DecisionRollback, Reason: fmt.Sprint("replica ", i), Time: base.Add(time.Hour)}
				ok, err := s.SetExperimentStatus(t.Context(), e.Name, switchboard.ExperimentRunning, switchboard.ExperimentRolledBack, d)
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d replicas won the same status change, want exactly 1", wins)
		}
	})

	t.Run("FeedbackIdempotent", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		fb := switchboard.Feedback{InferenceID: "inf-1", Metric: "thumbs_up", Value: 1, TenantID: "acme", Time: base}
		steps := []struct {
			f    switchboard.Feedback
			want switchboard.FeedbackResult
		}{
			{fb, switchboard.FeedbackCreated},
			{fb, switchboard.FeedbackUnchanged},
			{withValue(fb, 0, base.Add(time.Minute)), switchboard.FeedbackUpdated},
			{withValue(fb, 0, base.Add(2*time.Minute)), switchboard.FeedbackUnchanged},
			{switchboard.Feedback{InferenceID: "inf-1", Metric: "score", Value: 4.5, TenantID: "acme", Time: base}, switchboard.FeedbackCreated},
		}
		for i, st := range steps {
			got, err := s.UpsertFeedback(ctx, st.f)
			if err != nil || got != st.want {
				t.Errorf("step %d: UpsertFeedback(%+v): got %q, %v; want %q", i, st.f, got, err, st.want)
			}
		}
		// Feedback is keyed by (inference, tenant, metric): another tenant
		// writes its own row and never touches (nor blocks) the owner's.
		other := withValue(fb, 1, base.Add(3*time.Minute))
		other.TenantID = "intruder"
		for i, want := range []switchboard.FeedbackResult{switchboard.FeedbackCreated, switchboard.FeedbackUnchanged} {
			if got, err := s.UpsertFeedback(ctx, other); err != nil || got != want {
				t.Errorf("UpsertFeedback #%d by another tenant: got %q, %v; want %q", i, got, err, want)
			}
		}
		if got, err := s.UpsertFeedback(ctx, withValue(fb, 0, base.Add(4*time.Minute))); err != nil || got != switchboard.FeedbackUnchanged {
			t.Errorf("owner's UpsertFeedback after another tenant's: got %q, %v; want unchanged", got, err)
		}
		// A tenant posting first does not lock the inference's owner out.
		first := switchboard.Feedback{InferenceID: "inf-3", Metric: "thumbs_up", Value: 0, TenantID: "intruder", Time: base}
		owner := switchboard.Feedback{InferenceID: "inf-3", Metric: "thumbs_up", Value: 1, TenantID: "acme", Time: base.Add(time.Second)}
		for _, f := range []switchboard.Feedback{first, owner} {
			if got, err := s.UpsertFeedback(ctx, f); err != nil || got != switchboard.FeedbackCreated {
				t.Errorf("UpsertFeedback(%+v): got %q, %v; want created", f, got, err)
			}
		}
		for _, tc := range []struct {
			id   string
			want []switchboard.Feedback
		}{
			{"inf-1", []switchboard.Feedback{
				{InferenceID: "inf-1", Metric: "score", Value: 4.5, TenantID: "acme", Time: base},
				{InferenceID: "inf-1", Metric: "thumbs_up", Value: 0, TenantID: "acme", Time: base.Add(time.Minute)},
				{InferenceID: "inf-1", Metric: "thumbs_up", Value: 1, TenantID: "intruder", Time: base.Add(3 * time.Minute)},
			}},
			{"inf-3", []switchboard.Feedback{owner, first}},
		} {
			got, err := s.ListFeedback(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ListFeedback(%s), by metric then tenant (-want +got):\n%s", tc.id, diff)
			}
		}

		// Concurrent duplicates of one new triple: one creates, the others
		// see it; per tenant.
		const n = 8
		results := make([]switchboard.FeedbackResult, 2*n)
		var wg sync.WaitGroup
		for i := range 2 * n {
			wg.Go(func() {
				tenant := []string{"acme", "other"}[i%2]
				r, err := s.UpsertFeedback(ctx, switchboard.Feedback{InferenceID: "inf-2", Metric: "thumbs_up", Value: 1, TenantID: tenant, Time: base})
				if err != nil {
					t.Errorf("concurrent UpsertFeedback: %v", err)
				}
				results[i] = r
			})
		}
		wg.Wait()
		if c := countOf(results, switchboard.FeedbackCreated); c != 2 || countOf(results, switchboard.FeedbackUnchanged) != 2*n-2 {
			t.Errorf("concurrent duplicates of two tenants: got %v, want 2 created and %d unchanged", results, 2*n-2)
		}
	})

	t.Run("ExposureColumns", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		in := switchboard.Inference{ID: "inf-x", Time: base, Endpoint: "/v1/chat/completions", Model: "gpt-4o", Status: 200,
			PromptID: "rag", PromptVersion: "7", PromptLabel: "production", Experiment: "rag-v7", Variant: "treatment", Unit: "0123456789abcdef"}
		plain := switchboard.Inference{ID: "inf-y", Time: base.Add(time.Second), Endpoint: "/v1/chat/completions", Model: "gpt-4o", Status: 200}
		mustInsertInferences(t, s, []switchboard.Inference{in, plain})
		for _, f := range []switchboard.InferenceFilter{{Experiment: "rag-v7"}, {PromptID: "rag"}} {
			got := mustListInferences(t, s, f)
			if diff := cmp.Diff([]switchboard.Inference{in}, got); diff != "" {
				t.Errorf("ListInferences(%+v) (-want +got):\n%s", f, diff)
			}
			if n := mustCountInferences(t, s, f); n != 1 {
				t.Errorf("CountInferences(%+v): got %d, want 1", f, n)
			}
		}
	})

	t.Run("RunningPValues", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		merge := func(exp string, ps ...switchboard.RunningPValue) []switchboard.RunningPValue {
			t.Helper()
			got, err := s.MergeRunningPValues(ctx, exp, ps)
			if err != nil {
				t.Fatalf("MergeRunningPValues: %v", err)
			}
			return got
		}
		rp := func(m, v string, p float64, looks int64, at time.Time) switchboard.RunningPValue {
			return switchboard.RunningPValue{Metric: m, Variant: v, PValue: p, Looks: looks, UpdatedAt: at}
		}
		if got := merge("e"); len(got) != 0 {
			t.Errorf("read of a new experiment: got %v, want none", got)
		}
		merge("e", rp("thumbs", "b", 0.5, 1, base), rp("error", "b", 0.3, 1, base))
		merge("other", rp("thumbs", "b", 0.001, 1, base))
		merge("e", rp("thumbs", "b", 0.7, 1, base.Add(time.Minute)))
		got := merge("e", rp("error", "b", 0.1, 1, base.Add(2*time.Minute)))
		want := []switchboard.RunningPValue{rp("error", "b", 0.1, 2, base.Add(2*time.Minute)), rp("thumbs", "b", 0.5, 2, base.Add(time.Minute))}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("MergeRunningPValues keeps the minimum and adds looks (-want +got):\n%s", diff)
		}
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				if _, err := s.MergeRunningPValues(ctx, "c", []switchboard.RunningPValue{rp("m", "v", 0.9-float64(i)*0.05, 1, base)}); err != nil {
					t.Errorf("concurrent merge: %v", err)
				}
			})
		}
		wg.Wait()
		if got := merge("c"); len(got) != 1 || got[0].Looks != 10 || !near(got[0].PValue, 0.45) {
			t.Errorf("concurrent merges: got %+v, want p = 0.45 after 10 looks", got)
		}
	})

	t.Run("ExperimentStats", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		infs, fbs := experimentData(base)
		mustInsertInferences(t, s, infs)
		for _, f := range fbs {
			if _, err := s.UpsertFeedback(t.Context(), f); err != nil {
				t.Fatal(err)
			}
		}
		metrics := []switchboard.MetricSpec{
			{Name: switchboard.MetricError, Kind: switchboard.MetricBinary},
			{Name: switchboard.MetricLatency, Kind: switchboard.MetricNumeric},
			{Name: switchboard.MetricCost, Kind: switchboard.MetricNumeric},
			{Name: switchboard.MetricOutputTokens, Kind: switchboard.MetricNumeric, Cap: 700},
			{Name: "thumbs", Kind: switchboard.MetricBinary},
			{Name: "score", Kind: switchboard.MetricNumeric, Cap: 4},
			{Name: "never", Kind: switchboard.MetricNumeric},
		}
		for _, q := range []switchboard.ExperimentStatsQuery{
			{Experiment: "exp-a", Metrics: metrics, Period: time.Hour},
			{Experiment: "exp-a", Metrics: metrics, Period: 17 * time.Minute, Since: base.Add(30 * time.Minute), Until: base.Add(150 * time.Minute)},
			{Experiment: "exp-a", Metrics: metrics[:1]},
			{Experiment: "missing", Metrics: metrics},
		} {
			got, err := s.ExperimentStats(t.Context(), q)
			if err != nil {
				t.Fatalf("ExperimentStats(%s, %v–%v): %v", q.Experiment, q.Since, q.Until, err)
			}
			want := refExperimentStats(infs, fbs, q)
			opts := cmp.Options{cmpopts.EquateApprox(1e-9, 1e-6), cmpopts.EquateEmpty()}
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Errorf("ExperimentStats(%s, since %v, until %v, period %v) (-want +got):\n%s", q.Experiment, q.Since, q.Until, q.Period, diff)
			}
		}
	})

	t.Run("ErrorMetric", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// error counts server failures and assigned prompt variants that
		// could not be rendered (400 prompt_variant_failed); no other 4xx.
		var infs []switchboard.Inference
		for i, c := range []struct {
			status int
			code   string
		}{
			{200, ""}, {503, "unavailable"}, {500, "internal"}, {400, switchboard.CodePromptVariantFailed},
			{400, "invalid_request"}, {429, "rate_limited"}, {499, "canceled"},
		} {
			infs = append(infs, switchboard.Inference{ID: fmt.Sprintf("e-%d", i), Time: base.Add(time.Duration(i) * time.Second),
				Endpoint: "/v1/chat/completions", Model: "m", Status: c.status, ErrorCode: c.code,
				Experiment: "exp-e", Variant: "canary", Unit: fmt.Sprintf("u%d", i)})
		}
		mustInsertInferences(t, s, infs)
		got, err := s.ExperimentStats(t.Context(), switchboard.ExperimentStatsQuery{Experiment: "exp-e",
			Metrics: []switchboard.MetricSpec{{Name: switchboard.MetricError, Kind: switchboard.MetricBinary}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Variants) != 1 {
			t.Fatalf("ExperimentStats: %+v", got)
		}
		if ms := got.Variants[0].Metrics[switchboard.MetricError]; ms.Units != 7 || ms.Count != 7 || ms.Sum != 3 {
			t.Errorf("error sums %+v, want 3 errors in 7 requests (500, 503 and 400 %s)", ms, switchboard.CodePromptVariantFailed)
		}
	})

	t.Run("VersionStats", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		infs, fbs := versionData(base)
		mustInsertInferences(t, s, infs)
		for _, f := range fbs {
			if _, err := s.UpsertFeedback(t.Context(), f); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []switchboard.VersionStatsFilter{
			{Prompt: "rag"},
			{Prompt: "rag", ByLabel: true},
			{Prompt: "rag", ByLabel: true, TenantID: "t1", Since: base.Add(10 * time.Minute), Until: base.Add(50 * time.Minute)},
			{Prompt: "none"},
		} {
			got, err := s.VersionStats(t.Context(), f)
			if err != nil {
				t.Fatalf("VersionStats(%+v): %v", f, err)
			}
			want := refVersionStats(infs, fbs, f)
			opts := cmp.Options{cmpopts.EquateApprox(1e-9, 1e-9), cmpopts.EquateEmpty(),
				cmp.Comparer(func(a, b time.Duration) bool { return a-b <= 1 && b-a <= 1 })}
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Errorf("VersionStats(%+v) (-want +got):\n%s", f, diff)
			}
		}
	})

	t.Run("AfterClose", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		_ = s.Close()
		if err := s.CreateExperiment(t.Context(), testExperiment("x", "p", "l", base)); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("CreateExperiment after Close: got %v, want ErrClosed", err)
		}
		if _, err := s.UpsertFeedback(t.Context(), switchboard.Feedback{InferenceID: "i", Metric: "m", Time: base}); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("UpsertFeedback after Close: got %v, want ErrClosed", err)
		}
	})
}

func testExperiment(name, prompt, label string, created time.Time) switchboard.Experiment {
	return switchboard.Experiment{
		Name: name, Description: "ünïcödé ✓", Kind: switchboard.ExperimentAB, Prompt: prompt, Label: label, Salt: "s-" + name,
		Variants: []switchboard.Variant{{Name: "a", PromptVersion: "1", Weight: 50}, {Name: "b", PromptVersion: "2.0-beta", Weight: 50}},
		Control:  "a",
		Metrics: []switchboard.MetricSpec{
			{Name: "thumbs_up", Kind: switchboard.MetricBinary, Direction: switchboard.HigherIsBetter, Margin: ptr(0.02), MarginType: switchboard.MarginAbsolute},
			{Name: switchboard.MetricError, Kind: switchboard.MetricBinary, Direction: switchboard.LowerIsBetter, Guard: true, Margin: ptr(0.005), MarginType: switchboard.MarginAbsolute},
			{Name: switchboard.MetricLatency, Kind: switchboard.MetricNumeric, Direction: switchboard.LowerIsBetter, Guard: true, Margin: ptr(0.1), MarginType: switchboard.MarginRelative, Cap: 30000},
		},
		Alpha: 0.05, TuningS: 2000, PlannedSampleSize: 2000, MinSamples: 100, AutoStop: true,
		Status: switchboard.ExperimentRunning, CreatedAt: created, CreatedBy: "cli",
	}
}

func withValue(f switchboard.Feedback, v float64, at time.Time) switchboard.Feedback {
	f.Value, f.Time = v, at
	return f
}

func countOf[T comparable](xs []T, x T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// experimentData returns seeded exposures of exp-a (three variants, units
// with one to five requests, requests without a unit), noise (another
// experiment, no experiment) and feedback, some from the wrong tenant.
func experimentData(base time.Time) ([]switchboard.Inference, []switchboard.Feedback) {
	rng := rand.New(rand.NewPCG(6, 2025))
	variants := []string{"control", "t1", "t2"}
	statuses := []int{200, 200, 200, 200, 200, 200, 400, 429, 499, 500, 502}
	var infs []switchboard.Inference
	var fbs []switchboard.Feedback
	add := func(exp, unit, tenant string) {
		i := len(infs)
		in := switchboard.Inference{
			ID: fmt.Sprintf("inf-%04d", i), Time: base.Add(time.Duration(rng.IntN(180*60)) * time.Second),
			TenantID: tenant, Endpoint: "/v1/chat/completions", Model: "m", Status: statuses[rng.IntN(len(statuses))],
			Latency:      time.Duration(50+rng.IntN(5000)) * time.Millisecond / 7,
			OutputTokens: rng.IntN(1000), Experiment: exp, Variant: variants[rng.IntN(3)], Unit: unit,
		}
		if rng.IntN(5) > 0 {
			in.CostUSD = ptr(float64(rng.IntN(100000)) / 1e7)
		}
		if in.Status == 400 {
			// Half are assigned prompt variants that failed to render: errors.
			in.ErrorCode = []string{switchboard.CodePromptVariantFailed, "invalid_request"}[rng.IntN(2)]
		}
		infs = append(infs, in)
		if rng.IntN(2) == 0 {
			fbs = append(fbs, switchboard.Feedback{InferenceID: in.ID, Metric: "thumbs", Value: float64(rng.IntN(4) - 1), TenantID: tenant, Time: in.Time})
		}
		if rng.IntN(3) == 0 {
			if rng.IntN(3) == 0 {
				// Another tenant rates first (never counted); the owner
				// sometimes rates too, and that counts.
				fbs = append(fbs, switchboard.Feedback{InferenceID: in.ID, Metric: "score", Value: 5, TenantID: "someone-else", Time: in.Time})
				if rng.IntN(2) == 0 {
					return
				}
			}
			fbs = append(fbs, switchboard.Feedback{InferenceID: in.ID, Metric: "score", Value: float64(rng.IntN(11)) / 2, TenantID: tenant, Time: in.Time})
		}
	}
	for u := range 60 {
		unit := fmt.Sprintf("%016x", rng.Uint64())
		variant := variants[u%3]
		for range 1 + rng.IntN(5) {
			add("exp-a", unit, "acme")
			infs[len(infs)-1].Variant = variant // sticky
		}
	}
	for range 25 {
		add("exp-a", "", "acme")
	}
	for range 15 {
		add("exp-b", fmt.Sprintf("u%d", rng.IntN(4)), "acme")
	}
	for range 10 {
		add("", "", "acme")
	}
	return infs, fbs
}

// refExperimentStats computes ExperimentStats in Go from the raw records,
// following the documented semantics.
func refExperimentStats(infs []switchboard.Inference, fbs []switchboard.Feedback, q switchboard.ExperimentStatsQuery) switchboard.ExperimentStats {
	type key struct{ variant, unit string }
	fb := map[[3]string]switchboard.Feedback{}
	for _, f := range fbs {
		fb[[3]string{f.InferenceID, f.TenantID, f.Metric}] = f
	}
	var sel []switchboard.Inference
	for _, in := range infs {
		if in.Experiment == q.Experiment && q.Experiment != "" && !in.Time.Before(q.Since) && (q.Until.IsZero() || in.Time.Before(q.Until)) {
			sel = append(sel, in)
		}
	}
	unitOf := func(in switchboard.Inference) key {
		if in.Unit == "" {
			return key{in.Variant, in.ID}
		}
		return key{in.Variant, in.Unit}
	}
	first := map[key]time.Time{}
	reqs := map[string]int64{}
	for _, in := range sel {
		k := unitOf(in)
		if t, ok := first[k]; !ok || in.Time.Before(t) {
			first[k] = in.Time
		}
		reqs[in.Variant]++
	}
	byVariant := map[string]*switchboard.VariantStats{}
	periods := map[string]map[int64]int64{}
	for k, t := range first {
		v := byVariant[k.variant]
		if v == nil {
			v = &switchboard.VariantStats{Variant: k.variant, Requests: reqs[k.variant], Metrics: map[string]switchboard.MetricSums{}}
			byVariant[k.variant], periods[k.variant] = v, map[int64]int64{}
		}
		v.Units++
		var p int64
		if q.Period > 0 {
			p = t.UnixNano() / int64(q.Period)
		}
		periods[k.variant][p]++
	}
	for name, v := range byVariant {
		ps := make([]int64, 0, len(periods[name]))
		for p := range periods[name] {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		for _, p := range ps {
			var start time.Time
			if q.Period > 0 {
				start = time.Unix(0, p*int64(q.Period)).UTC()
			}
			v.Periods = append(v.Periods, switchboard.PeriodCount{Start: start, Units: periods[name][p]})
		}
	}
	for _, m := range q.Metrics {
		type md struct{ m, d float64 }
		units := map[key]*md{}
		for _, in := range sel {
			y, ok := observation(in, m, fb)
			if !ok {
				continue
			}
			if m.Cap > 0 && m.Kind != switchboard.MetricBinary {
				y = math.Min(y, m.Cap)
			}
			k := unitOf(in)
			if units[k] == nil {
				units[k] = &md{}
			}
			units[k].m += y
			units[k].d++
		}
		per := map[string][]md{}
		for k, u := range units {
			per[k.variant] = append(per[k.variant], *u)
		}
		for variant, us := range per {
			var s switchboard.MetricSums
			var sd float64
			for _, u := range us {
				s.Units++
				s.Count += int64(u.d)
				s.Sum += u.m
				sd += u.d
			}
			am, ad := s.Sum/float64(s.Units), sd/float64(s.Units)
			for _, u := range us {
				s.M2 += (u.m - am) * (u.m - am)
				s.D2 += (u.d - ad) * (u.d - ad)
				s.MD += (u.m - am) * (u.d - ad)
			}
			byVariant[variant].Metrics[m.Name] = s
		}
	}
	var out switchboard.ExperimentStats
	for _, v := range byVariant {
		out.Variants = append(out.Variants, *v)
	}
	sort.Slice(out.Variants, func(i, j int) bool { return out.Variants[i].Variant < out.Variants[j].Variant })
	return out
}

// observation returns the value of metric m for one inference, and whether
// the inference is an observation of m. Feedback counts only from the
// inference's own tenant.
func observation(in switchboard.Inference, m switchboard.MetricSpec, fb map[[3]string]switchboard.Feedback) (float64, bool) {
	switch m.Name {
	case switchboard.MetricLatency:
		return float64(in.Latency) / 1e6, in.Status < 400
	case switchboard.MetricCost:
		if in.CostUSD == nil {
			return 0, false
		}
		return *in.CostUSD, true
	case switchboard.MetricError:
		if in.Status >= 500 || in.ErrorCode == switchboard.CodePromptVariantFailed {
			return 1, true
		}
		return 0, true
	case switchboard.MetricOutputTokens:
		return float64(in.OutputTokens), in.Status < 400
	}
	f, ok := fb[[3]string{in.ID, in.TenantID, m.Name}]
	if !ok {
		return 0, false
	}
	if m.Kind == switchboard.MetricBinary {
		if f.Value > 0 {
			return 1, true
		}
		return 0, true
	}
	return f.Value, true
}

// versionData returns seeded calls of prompt rag (three versions, two
// labels, two tenants) and of another prompt, with feedback.
func versionData(base time.Time) ([]switchboard.Inference, []switchboard.Feedback) {
	rng := rand.New(rand.NewPCG(3, 14))
	statuses := []int{200, 200, 200, 200, 201, 400, 429, 500, 503}
	var infs []switchboard.Inference
	var fbs []switchboard.Feedback
	for i := range 300 {
		in := switchboard.Inference{
			ID: fmt.Sprintf("v-%04d", i), Time: base.Add(time.Duration(rng.IntN(3600)) * time.Second),
			TenantID: []string{"t1", "t2"}[rng.IntN(2)], Endpoint: "/v1/chat/completions", Model: "m",
			Status: statuses[rng.IntN(len(statuses))], Latency: time.Duration(1+rng.IntN(2_000_000)) * time.Microsecond,
			InputTokens: rng.IntN(2000), OutputTokens: rng.IntN(500),
			PromptID: "rag", PromptVersion: []string{"2", "10", "1.0-rc"}[rng.IntN(3)], PromptLabel: []string{"production", "staging"}[rng.IntN(2)],
		}
		if i%10 == 0 {
			in.PromptID = "other"
		}
		if in.Status == 400 && rng.IntN(2) == 0 {
			in.ErrorCode = switchboard.CodePromptVariantFailed // an error of the version
		}
		if rng.IntN(4) > 0 {
			in.CostUSD = ptr(float64(rng.IntN(10000)) / 1e6)
		}
		infs = append(infs, in)
		if rng.IntN(2) == 0 {
			fbs = append(fbs, switchboard.Feedback{InferenceID: in.ID, Metric: "thumbs_up", Value: float64(rng.IntN(2)), TenantID: in.TenantID, Time: in.Time})
		}
		if rng.IntN(3) == 0 {
			t := in.TenantID
			if rng.IntN(5) == 0 {
				// Another tenant's value is never counted; sometimes the
				// owner rates as well, and that counts.
				t = "x"
				if rng.IntN(2) == 0 {
					fbs = append(fbs, switchboard.Feedback{InferenceID: in.ID, Metric: "judge", Value: 4.9, TenantID: t, Time: in.Time})
					t = in.TenantID
				}
			}
			fbs = append(fbs, switchboard.Feedback{InferenceID: in.ID, Metric: "judge", Value: float64(rng.IntN(50)) / 10, TenantID: t, Time: in.Time})
		}
	}
	return infs, fbs
}

// refVersionStats computes VersionStats in Go from the raw records.
func refVersionStats(infs []switchboard.Inference, fbs []switchboard.Feedback, f switchboard.VersionStatsFilter) []switchboard.VersionStats {
	type key struct{ version, label string }
	groups := map[key]*switchboard.VersionStats{}
	lat := map[key][]float64{}
	type acc struct {
		n   int64
		sum float64
	}
	fbAcc := map[key]map[string]*acc{}
	byID := map[string][]switchboard.Feedback{}
	for _, fb := range fbs {
		byID[fb.InferenceID] = append(byID[fb.InferenceID], fb)
	}
	for _, in := range infs {
		if in.PromptID != f.Prompt || in.Time.Before(f.Since) || (!f.Until.IsZero() && !in.Time.Before(f.Until)) ||
			(f.TenantID != "" && in.TenantID != f.TenantID) {
			continue
		}
		k := key{in.PromptVersion, ""}
		if f.ByLabel {
			k.label = in.PromptLabel
		}
		g := groups[k]
		if g == nil {
			g = &switchboard.VersionStats{Prompt: f.Prompt, Version: k.version, Label: k.label}
			groups[k], fbAcc[k] = g, map[string]*acc{}
		}
		g.Calls++
		if in.Status >= 500 || in.ErrorCode == switchboard.CodePromptVariantFailed {
			g.Errors++
		}
		if in.Status < 400 {
			lat[k] = append(lat[k], float64(in.Latency))
		}
		g.InputTokens += int64(in.InputTokens)
		g.OutputTokens += int64(in.OutputTokens)
		if in.CostUSD != nil {
			g.CostUSD += *in.CostUSD
		}
		for _, fb := range byID[in.ID] {
			if fb.TenantID != in.TenantID {
				continue
			}
			a := fbAcc[k][fb.Metric]
			if a == nil {
				a = &acc{}
				fbAcc[k][fb.Metric] = a
			}
			a.n++
			a.sum += fb.Value
		}
	}
	out := []switchboard.VersionStats{}
	for k, g := range groups {
		xs := lat[k]
		slices.Sort(xs)
		g.LatencyP50, g.LatencyP95 = percentile(xs, 0.5), percentile(xs, 0.95)
		metrics := make([]string, 0, len(fbAcc[k]))
		for m := range fbAcc[k] {
			metrics = append(metrics, m)
		}
		slices.Sort(metrics)
		for _, m := range metrics {
			a := fbAcc[k][m]
			g.Feedback = append(g.Feedback, switchboard.FeedbackMean{Metric: m, N: a.n, Mean: a.sum / float64(a.n)})
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := switchboard.CompareVersions(out[i].Version, out[j].Version); c != 0 {
			return c < 0
		}
		return out[i].Label < out[j].Label
	})
	return out
}

// percentile is the linear-interpolation (type 7) quantile of sorted xs.
func percentile(xs []float64, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	pos := p * float64(len(xs)-1)
	lo := int(pos)
	v := xs[lo]
	if frac := pos - float64(lo); frac > 0 && lo+1 < len(xs) {
		v += frac * (xs[lo+1] - v)
	}
	return time.Duration(math.Round(v))
}
