package experiment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/stats"
)

// Monte Carlo checks of the experiment engine's decision path: units are
// assigned by Assign, outcomes drawn per unit, sufficient statistics built
// in memory as the store would return them, and every look goes through
// Analyze with the running p-values merged as the monitor merges them.
// Seeded: every run draws the same numbers. Bounds are the nominal rate
// plus three binomial standard errors.

// simArm accumulates one variant's per-unit outcomes.
type simArm struct {
	n, x      int64   // units, binary successes
	mean, m2  float64 // Welford over the numeric outcome
	lastCount int64   // units at the previous look (for periods)
	periods   []switchboard.PeriodCount
}

func (a *simArm) add(success bool, y float64) {
	a.n++
	if success {
		a.x++
	}
	d := y - a.mean
	a.mean += d / float64(a.n)
	a.m2 += d * (y - a.mean)
}

// look closes a period and returns the arm as the store reports it.
func (a *simArm) look(name string, period int, binary, numeric string) switchboard.VariantStats {
	a.periods = append(a.periods, switchboard.PeriodCount{Start: time.Unix(int64(period)*3600, 0).UTC(), Units: a.n - a.lastCount})
	a.lastCount = a.n
	ms := map[string]switchboard.MetricSums{binary: binarySums(a.n, a.x)}
	if numeric != "" {
		ms[numeric] = switchboard.MetricSums{Units: a.n, Count: a.n, Sum: a.mean * float64(a.n), M2: a.m2}
	}
	return switchboard.VariantStats{Variant: name, Units: a.n, Requests: a.n, Periods: slices.Clone(a.periods), Metrics: ms}
}

// mergeLooks folds a report's looks into the running minima, as
// MergeRunningPValues does.
func mergeLooks(running map[[2]string]switchboard.RunningPValue, r *Report) []switchboard.RunningPValue {
	for _, p := range r.Looks() {
		k := [2]string{p.Metric, p.Variant}
		if old, ok := running[k]; ok {
			p.PValue, p.Looks = math.Min(p.PValue, old.PValue), p.Looks+old.Looks
		}
		running[k] = p
	}
	out := make([]switchboard.RunningPValue, 0, len(running))
	for _, p := range running {
		out = append(out, p)
	}
	return out
}

func upperBound(rate float64, runs int) float64 {
	return rate + 3*math.Sqrt(rate*(1-rate)/float64(runs))
}

func simRuns(t *testing.T, full int) int {
	if testing.Short() {
		return full / 5
	}
	return full
}

// aaRun monitors one A/A(/A…) experiment: every look adds step units split
// by Assign, thumbs-up rate p in every arm; it returns the look at which
// the engine first decided to ship (−1 if never) and whether a naive
// fixed-horizon z-test would ever have been significant.
func aaRun(t *testing.T, e *switchboard.Experiment, rng *rand.Rand, run, step, looks int, p float64) (shipLook int, naive bool) {
	t.Helper()
	arms := make([]simArm, len(e.Variants))
	running := map[[2]string]switchboard.RunningPValue{}
	var prev []switchboard.RunningPValue
	st := switchboard.ExperimentStats{Variants: make([]switchboard.VariantStats, len(arms))}
	unit := 0
	for l := range looks {
		for range step {
			a := Assign(e, fmt.Sprintf("run%d-u%d", run, unit))
			unit++
			arms[a.Index].add(rng.Float64() < p, 0)
		}
		for i := range arms {
			st.Variants[i] = arms[i].look(e.Variants[i].Name, l, "thumbs", "")
		}
		r, err := Analyze(e, st, prev, time.Unix(int64(l)*3600, 0))
		if err != nil {
			t.Fatal(err)
		}
		prev = mergeLooks(running, r)
		for _, c := range r.Metrics[0].Comparisons {
			naive = naive || (c.Fixed != nil && c.Fixed.PValue <= e.Alpha)
		}
		if r.Decision.Action == switchboard.DecisionShip {
			return l, naive
		}
	}
	return -1, naive
}

// TestSimulationAA: 1,000 A/A experiments (thumbs-up 10 % in both arms),
// looked at after every 200 units up to 4,000, must ship a "winner" in at
// most α of the runs; a naive fixed-horizon test at the same looks would
// have declared one far more often. Three arms (Holm) likewise.
func TestSimulationAA(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		treatments []string
		runs       int
	}{
		{"A/A", []string{"b"}, 1000},
		{"A/A/A", []string{"b", "c"}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runs := simRuns(t, tc.runs)
			rng := rand.New(rand.NewPCG(2025, uint64(len(tc.treatments))))
			ships, naive := 0, 0
			for run := range runs {
				e := abExp(tc.treatments...)
				e.Salt = fmt.Sprint("aa-", run)
				look, nv := aaRun(t, e, rng, run, 200, 20, 0.10)
				if look >= 0 {
					ships++
				}
				if nv {
					naive++
				}
			}
			rate := float64(ships) / float64(runs)
			t.Logf("%s, %d runs, 20 looks: engine shipped a false winner in %d (%.1f %%), a naive fixed-horizon test was ever significant in %d (%.1f %%)",
				tc.name, runs, ships, 100*rate, naive, 100*float64(naive)/float64(runs))
			if bound := upperBound(DefaultAlpha, runs); rate > bound {
				t.Errorf("false ship rate %.4f, want ≤ %.4f", rate, bound)
			}
			if naive <= ships {
				t.Errorf("naive peeking was significant in %d runs, the engine shipped in %d: no peeking inflation shown", naive, ships)
			}
		})
	}
}

// TestSimulationABPower: a real lift (10 % → 13 %) is shipped, so the A/A
// guarantee is not bought by never deciding.
func TestSimulationABPower(t *testing.T) {
	t.Parallel()
	runs := simRuns(t, 100)
	rng := rand.New(rand.NewPCG(7, 7))
	ships := 0
	for run := range runs {
		e := abExp("b")
		e.Salt = fmt.Sprint("power-", run)
		arms := [2]simArm{}
		running := map[[2]string]switchboard.RunningPValue{}
		var prev []switchboard.RunningPValue
		st := switchboard.ExperimentStats{Variants: make([]switchboard.VariantStats, 2)}
		for l := range 40 {
			for u := range 200 {
				a := Assign(e, fmt.Sprintf("%d-%d-%d", run, l, u))
				arms[a.Index].add(rng.Float64() < []float64{0.10, 0.13}[a.Index], 0)
			}
			for i := range arms {
				st.Variants[i] = arms[i].look(e.Variants[i].Name, l, "thumbs", "")
			}
			r, err := Analyze(e, st, prev, time.Unix(int64(l)*3600, 0))
			if err != nil {
				t.Fatal(err)
			}
			prev = mergeLooks(running, r)
			if r.Decision.Action == switchboard.DecisionShip {
				if r.Decision.Variant != "b" {
					t.Fatalf("shipped %s", r.Decision.Variant)
				}
				ships++
				break
			}
		}
	}
	t.Logf("10 %% → 13 %% thumbs-up: shipped b in %d/%d runs within 8,000 units", ships, runs)
	if ships < runs*8/10 {
		t.Errorf("shipped the better variant in %d/%d runs, want ≥ 80 %%", ships, runs)
	}
}

// canaryRun simulates one guarded rollout at 10 % traffic with guards error
// (+0.5 points) and latency (+10 %): error rates pc → pt, latency
// N(800, 200²) ms in both arms. Every look adds step units. It returns the
// decision that ended the rollout (keep_running if none did within
// maxUnits) and the units (total, canary) at that look.
func canaryRun(t *testing.T, rng *rand.Rand, run int, pc, pt float64, step, planned, maxUnits int64) (string, int64, int64) {
	t.Helper()
	e := Canary("sim", "rag", "production", "1", "2", 10, planned)
	e.Salt = fmt.Sprint("canary-", run)
	arms := [2]simArm{}
	running := map[[2]string]switchboard.RunningPValue{}
	var prev []switchboard.RunningPValue
	st := switchboard.ExperimentStats{Variants: make([]switchboard.VariantStats, 2)}
	unit := 0
	for l := 0; int64(l)*step < maxUnits; l++ {
		for range step {
			a := Assign(&e, fmt.Sprintf("u%d", unit))
			unit++
			p := []float64{pc, pt}[a.Index]
			arms[a.Index].add(rng.Float64() < p, 800+200*rng.NormFloat64())
		}
		for i := range arms {
			st.Variants[i] = arms[i].look(e.Variants[i].Name, l, switchboard.MetricError, switchboard.MetricLatency)
		}
		r, err := Analyze(&e, st, prev, time.Unix(int64(l)*3600, 0))
		if err != nil {
			t.Fatal(err)
		}
		prev = mergeLooks(running, r)
		if r.Decision.Action != switchboard.DecisionKeepRunning {
			return r.Decision.Action, arms[0].n + arms[1].n, arms[1].n
		}
	}
	return switchboard.DecisionKeepRunning, arms[0].n + arms[1].n, arms[1].n
}

// expectedRollbackUnits returns the smallest total sample size at which the
// expected harm of a canary at share q (error pc → pt) clears the margin
// δ by the always-valid half-width at level α/G (§12.2) — the sample at
// which a rollback is expected.
func expectedRollbackUnits(t *testing.T, pc, pt, q, delta, alphaM, s float64) int64 {
	t.Helper()
	for n := int64(100); n < 10_000_000; n += 100 {
		nc, nt := int(float64(n)*(1-q)), int(float64(n)*q)
		av, err := stats.AlwaysValidTest(stats.AlwaysValidInput{
			Control:   stats.NumericArm{N: nc, Mean: pc, Var: pc * (1 - pc)},
			Treatment: stats.NumericArm{N: nt, Mean: pt, Var: pt * (1 - pt)},
			Alpha:     alphaM, TuningS: s,
		})
		if err != nil {
			t.Fatal(err)
		}
		if pt-pc-av.HalfWidth > delta && nt >= DefaultMinSamples {
			return n
		}
	}
	t.Fatal("no expected sample size below 10M")
	return 0
}

// TestSimulationCanary: a degraded canary (errors 2 % → 5 %) at 10 % of the
// traffic is rolled back in every run, around the expected sample size
// (the look where the expected harm clears the margin by the always-valid
// half-width); a healthy canary is rolled back in at most α of the runs
// and promoted otherwise: at its planned sample, or a few looks later when
// a guard's point harm is above its margin there (the error rate's, by
// chance, in about 1 % of the runs), never before it.
func TestSimulationCanary(t *testing.T) {
	t.Parallel()
	const (
		step    = 500
		planned = 40_000
	)
	expected := expectedRollbackUnits(t, 0.02, 0.05, 0.10, 0.005, DefaultAlpha/2, planned)

	t.Run("degraded", func(t *testing.T) {
		t.Parallel()
		runs := simRuns(t, 200)
		rng := rand.New(rand.NewPCG(12, 7))
		var at, canaryAt []int64
		for run := range runs {
			action, n, nt := canaryRun(t, rng, run, 0.02, 0.05, step, planned, planned)
			if action != switchboard.DecisionRollback {
				t.Errorf("run %d: %s after %d units, want rollback", run, action, n)
				continue
			}
			at, canaryAt = append(at, n), append(canaryAt, nt)
		}
		slices.Sort(at)
		slices.Sort(canaryAt)
		if len(at) == 0 {
			return
		}
		median, p95 := at[len(at)/2], at[len(at)*95/100]
		t.Logf("degraded canary (2 %% → 5 %% errors, 10 %% traffic, margin 0.5 points): rolled back in %d/%d runs; units at rollback median %d (canary %d), p95 %d (canary %d), max %d; expected %d",
			len(at), runs, median, canaryAt[len(canaryAt)/2], p95, canaryAt[len(canaryAt)*95/100], at[len(at)-1], expected)
		if median > expected*3/2 || p95 > 2*expected {
			t.Errorf("rollback after a median of %d units (p95 %d), want ≤ 1.5× (2×) the expected %d", median, p95, expected)
		}
	})

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		runs := simRuns(t, 300)
		rng := rand.New(rand.NewPCG(21, 3))
		rollbacks, ships, atPlanned := 0, 0, 0
		var at []int64
		for run := range runs {
			switch action, n, _ := canaryRun(t, rng, run, 0.02, 0.02, 2000, planned, 2*planned); action {
			case switchboard.DecisionRollback:
				rollbacks++
			case switchboard.DecisionShip:
				ships++
				at = append(at, n)
				if n == planned {
					atPlanned++
				}
				if n < planned {
					t.Errorf("run %d: shipped after %d units, before the planned %d", run, n, planned)
				}
			}
		}
		slices.Sort(at)
		if len(at) > 0 {
			t.Logf("healthy canary: rolled back in %d/%d runs, promoted in %d (%d at the planned %d units); units at promotion median %d, p95 %d, max %d",
				rollbacks, runs, ships, atPlanned, planned, at[len(at)/2], at[len(at)*95/100], at[len(at)-1])
		}
		if atPlanned < runs*9/10 {
			t.Errorf("promoted at the planned sample in %d/%d runs, want ≥ 90 %%", atPlanned, runs)
		}
		if bound := upperBound(DefaultAlpha, runs); float64(rollbacks)/float64(runs) > bound {
			t.Errorf("false rollback rate %.4f, want ≤ %.4f", float64(rollbacks)/float64(runs), bound)
		}
		if rollbacks+ships != runs {
			t.Errorf("%d runs neither rolled back nor shipped", runs-rollbacks-ships)
		}
	})
}
