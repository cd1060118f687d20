package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Monte Carlo checks of the guarantees of STATS.md §6 and §12: seeded, so
// every run draws the same numbers. Each bound is the nominal rate plus three
// binomial standard errors over the runs.

const (
	simRuns      = 1000
	simStep      = 100  // units per arm between looks
	simMaxPerArm = 5000 // last look
)

func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("Monte Carlo simulation (≈ 1e8 draws) skipped in -short mode")
	}
}

// binomial draws Binomial(n, p) as a sum of Bernoulli draws.
func binomial(rng *rand.Rand, n int, p float64) int {
	x := 0
	for range n {
		if rng.Float64() < p {
			x++
		}
	}
	return x
}

func upperBound(rate float64) float64 {
	return rate + 3*math.Sqrt(rate*(1-rate)/simRuns)
}

// TestSimulationAlwaysValidAA monitors 1,000 A/A experiments (Bernoulli 0.1
// per unit) with a look every 100 units per arm up to 5,000 and counts the
// experiments in which the always-valid test ever rejects at α = 0.05.
func TestSimulationAlwaysValidAA(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	const alpha, p = 0.05, 0.1
	rng := rand.New(rand.NewPCG(2024, 6))
	var everAV, everNaive int
	for range simRuns {
		var xc, xt int
		rejectedAV, rejectedNaive := false, false
		for n := simStep; n <= simMaxPerArm; n += simStep {
			xc += binomial(rng, simStep, p)
			xt += binomial(rng, simStep, p)
			c, tr := BinaryArm{N: n, X: xc}.moments(), BinaryArm{N: n, X: xt}.moments()
			r, err := avFromMoments("sim", c, tr, alpha, DefaultTuningS, 0)
			if err != nil {
				continue // V = 0: no events yet, no evidence
			}
			rejectedAV = rejectedAV || r.PValue <= alpha
			// Naive fixed-horizon z-test repeated at every look, for contrast.
			z, _ := TwoProportionZTestUnpooled(ProportionsInput{Control: BinaryArm{N: n, X: xc}, Treatment: BinaryArm{N: n, X: xt}})
			rejectedNaive = rejectedNaive || z.PValue <= alpha
		}
		if rejectedAV {
			everAV++
		}
		if rejectedNaive {
			everNaive++
		}
	}
	rate := float64(everAV) / simRuns
	t.Logf("A/A, 50 looks: always-valid ever rejects in %.1f %% of runs, naive repeated z-test in %.1f %%",
		100*rate, 100*float64(everNaive)/simRuns)
	if bound := upperBound(alpha); rate > bound {
		t.Errorf("always-valid false-positive rate %.4f, want ≤ %.4f", rate, bound)
	}
	if everNaive <= everAV {
		t.Errorf("naive peeking rejected %d times, always-valid %d: the simulation shows no peeking inflation", everNaive, everAV)
	}
}

// canary simulates one guarded rollout: error rates pc (control) and pt
// (treatment), units assigned 50/50 at random, RollbackDecision evaluated
// every 200 assigned units with the assignment counts as SRM periods. It
// returns the first action other than continue (or continue) and the look.
func canary(t *testing.T, rng *rand.Rand, pc, pt float64) (Action, int) {
	t.Helper()
	g := Guardrail{
		Name: "error_rate", Type: MetricBinary, HigherIsWorse: true,
		Margin: 0.005, MarginType: MarginAbsolute,
	}
	in := RollbackInput{
		SRM:        &SRMConfig{Weights: []float64{1, 1}},
		Guardrails: []Guardrail{g},
	}
	var nc, nt, xc, xt int
	for look := 0; nc+nt < 2*simMaxPerArm; look++ {
		toC := binomial(rng, 2*simStep, 0.5)
		toT := 2*simStep - toC
		nc, nt = nc+toC, nt+toT
		xc += binomial(rng, toC, pc)
		xt += binomial(rng, toT, pt)
		in.SRM.PeriodCounts = append(in.SRM.PeriodCounts, []int{toC, toT})
		in.Guardrails[0].Control = Arm{N: nc, X: xc}
		in.Guardrails[0].Treatment = Arm{N: nt, X: xt}
		r, err := RollbackDecision(in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Action != ActionContinue {
			return r.Action, look
		}
	}
	return ActionContinue, -1
}

// TestSimulationRollback checks §12.3: a degraded canary (error rate 2 % →
// 5 %, margin +0.5 pp) is rolled back; with true harm 0, and with true harm
// exactly at the margin (2 % → 2.5 %), a rollback fires in at most α_rb of
// the runs; the sequential SRM gate stays quiet under correct randomisation.
func TestSimulationRollback(t *testing.T) {
	skipIfShort(t)
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 12))

	var fired, lookSum int
	const degradedRuns = 200
	for range degradedRuns {
		a, look := canary(t, rng, 0.02, 0.05)
		if a == ActionRollback {
			fired++
			lookSum += look
		}
	}
	t.Logf("degraded canary (2 %% → 5 %%): rolled back in %d/%d runs, on average after %.0f units per arm",
		fired, degradedRuns, float64(lookSum)/float64(max(fired, 1))*simStep+simStep)
	if fired < degradedRuns*99/100 {
		t.Errorf("degraded canary rolled back in %d/%d runs, want ≥ 99 %%", fired, degradedRuns)
	}

	for _, tc := range []struct {
		name string
		pt   float64
	}{
		{"A/A (harm 0)", 0.02},
		{"harm at the margin", 0.025},
	} {
		var rollbacks, halts int
		for range simRuns {
			switch a, _ := canary(t, rng, 0.02, tc.pt); a {
			case ActionRollback:
				rollbacks++
			case ActionHaltSRM:
				halts++
			}
		}
		rate := float64(rollbacks) / simRuns
		t.Logf("%s: rollback in %d/%d runs, halt_srm in %d", tc.name, rollbacks, simRuns, halts)
		if bound := upperBound(DefaultAlpha); rate > bound {
			t.Errorf("%s: false rollback rate %.4f, want ≤ %.4f", tc.name, rate, bound)
		}
		if bound := upperBound(SRMThreshold); float64(halts)/simRuns > bound {
			t.Errorf("%s: false halt_srm rate %.4f, want ≤ %.4f", tc.name, float64(halts)/simRuns, bound)
		}
	}
}
