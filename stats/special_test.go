package stats

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// Internal consistency tests: identities from STATS.md and agreement of the
// accurate special-function routes with the plain formulas where the latter
// are still accurate. Reference values against SciPy live in the vectors.

func relDiff(a, b float64) float64 { return math.Abs(a-b) / math.Max(math.Abs(b), 1e-300) }

func TestLnBetaMatchesLgamma(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]float64{{0.5, 0.5}, {1, 1}, {3, 9.5}, {12, 0.5}, {12, 3}, {15, 40}, {250, 11}, {1e3, 2e3}} {
		want := lgamma(c[0]) + lgamma(c[1]) - lgamma(c[0]+c[1])
		if got := lnBeta(c[0], c[1]); math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("lnBeta(%g, %g) = %.17g, want %.17g", c[0], c[1], got, want)
		}
	}
}

func TestSRMStableLogBFMatchesFormula(t *testing.T) {
	t.Parallel()
	// Moderate counts, where the literal log-gamma formula is still accurate.
	p0 := []float64{0.25, 0.5, 0.25}
	for _, x := range [][]float64{{0, 0, 0}, {10, 25, 12}, {260, 480, 255}, {3000, 5200, 2100}} {
		const c = 10_000
		var n float64
		lit := 0.0
		for i := range x {
			n += x[i]
			lit += lgamma(c*p0[i]+x[i]) - lgamma(c*p0[i]) - x[i]*math.Log(p0[i])
		}
		lit += lgamma(c) - lgamma(c+n)
		if got := dirichletMultinomialLogBF(x, p0, c); math.Abs(got-lit) > 1e-9 {
			t.Errorf("ln BF(%v) = %.15g, want %.15g", x, got, lit)
		}
	}
}

func TestStudentAgainstGonumModerateNu(t *testing.T) {
	t.Parallel()
	for _, nu := range []float64{1, 2.5, 7, 30, 150, 1500} {
		d := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: nu}
		for _, x := range []float64{0.1, 1, 2.5, 6} {
			if got, want := studentTwoSidedP(x, nu), 2*d.Survival(x); relDiff(got, want) > 1e-9 {
				t.Errorf("P(|T_%g| ≥ %g) = %.15g, gonum %.15g", nu, x, got, want)
			}
		}
		for _, a := range []float64{0.2, 0.05, 0.01} {
			got := studentCrit(a, nu)
			if want := d.Quantile(1 - a/2); relDiff(got, want) > 1e-8 {
				t.Errorf("T_%g⁻¹(1 − %g/2) = %.15g, gonum %.15g", nu, a, got, want)
			}
			if p := studentTwoSidedP(got, nu); relDiff(p, a) > 1e-13 {
				t.Errorf("studentCrit(%g, %g) = %g does not invert: P = %.17g", a, nu, got, p)
			}
		}
	}
}

func TestStudentQuadratureSeam(t *testing.T) {
	t.Parallel()
	// Just below and above the switch from the incomplete beta to quadrature.
	for _, x := range []float64{0.5, 1, 1.0001, 2, 4, 9} {
		lo := studentTwoSidedP(x, studentQuadMinNu)
		hi := studentTwoSidedPQuad(x, studentQuadMinNu)
		if relDiff(hi, lo) > 1e-12 {
			t.Errorf("t = %g at ν = %d: beta %.17g, quadrature %.17g", x, studentQuadMinNu, lo, hi)
		}
	}
}

func TestKolmogorovQSeam(t *testing.T) {
	t.Parallel()
	// The two series agree where they meet.
	const lambda = 1.18
	alt := 0.0
	for j := 1; j <= 100; j++ {
		alt += 2 * math.Pow(-1, float64(j-1)) * math.Exp(-2*float64(j*j)*lambda*lambda)
	}
	if got := kolmogorovQ(math.Nextafter(lambda, 0)); math.Abs(got-alt) > 1e-13 {
		t.Errorf("Q_KS(1.18⁻) = %.17g, alternating series %.17g", got, alt)
	}
	if kolmogorovQ(0) != 1 || kolmogorovQ(1e-3) != 1 || kolmogorovQ(50) != 0 {
		t.Error("Q_KS limits")
	}
}

func TestAlwaysValidIdentities(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		nc, nt := 10+rng.Float64()*5000, 10+rng.Float64()*5000
		vc, vt := rng.Float64()*4, rng.Float64()*4+0.01
		alpha := 0.001 + rng.Float64()*0.2
		s := 50 + rng.Float64()*20000
		diff := rng.NormFloat64() * 0.2
		v := vc/nc + vt/nt
		n := nc + nt
		r := alwaysValid(diff, v, n, alpha, s, 0)

		// GrowthBook form of the half-width.
		rho2 := r.Rho2
		gb := math.Sqrt(n*v) * math.Sqrt(2*(n*rho2+1)*math.Log(math.Sqrt(n*rho2+1)/alpha)/(n*n*rho2))
		if relDiff(r.HalfWidth, gb) > 1e-12 {
			t.Fatalf("half-width %.17g, GrowthBook form %.17g", r.HalfWidth, gb)
		}
		// Literal ln Λ.
		lit := 0.5*math.Log(v/(v+r.Tau2)) + r.Tau2*diff*diff/(2*v*(v+r.Tau2))
		if math.Abs(r.LogLambda-lit) > 1e-12*math.Max(1, math.Abs(lit)) {
			t.Fatalf("ln Λ %.17g, literal %.17g", r.LogLambda, lit)
		}
		// Duality p ≤ α ⇔ |Δ̂ − θ₀| ≥ h, away from the boundary.
		if math.Abs(math.Abs(diff)-r.HalfWidth) > 1e-9*r.HalfWidth && (r.PValue <= alpha) != (math.Abs(diff) >= r.HalfWidth) {
			t.Fatalf("duality broken: p = %g, α = %g, |Δ| = %g, h = %g", r.PValue, alpha, math.Abs(diff), r.HalfWidth)
		}
	}
	// Johari et al. two-sample form with n per arm and known σ²: V = 2σ²/n.
	n, s2, tau2, d := 400.0, 2.5, 0.01, 0.3
	lam := math.Sqrt(2*s2/(2*s2+n*tau2)) * math.Exp(n*n*tau2*d*d/(4*s2*(2*s2+n*tau2)))
	v := 2 * s2 / n
	lit := 0.5*math.Log(v/(v+tau2)) + tau2*d*d/(2*v*(v+tau2))
	if relDiff(math.Log(lam), lit) > 1e-12 {
		t.Errorf("Johari form %.17g, ours %.17g", math.Log(lam), lit)
	}
}

func TestHolmStepDownEquivalence(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		m := 1 + rng.IntN(8)
		p := make([]float64, m)
		for i := range p {
			p[i] = math.Pow(rng.Float64(), 3) * 0.2
		}
		r, err := HolmBonferroni(HolmInput{PValues: p, Alpha: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		// Step-down: reject H_(1..k−1), k the first i with p_(i) > α/(m − i + 1).
		idx := make([]int, m)
		for i := range idx {
			idx[i] = i
		}
		for i := 1; i < m; i++ { // insertion sort, stable
			for j := i; j > 0 && p[idx[j]] < p[idx[j-1]]; j-- {
				idx[j], idx[j-1] = idx[j-1], idx[j]
			}
		}
		stop := false
		for i, k := range idx {
			if p[k] > 0.05/float64(m-i) {
				stop = true
			}
			if r.Reject[k] == stop {
				t.Fatalf("p = %v: reject %v disagrees with the step-down rule at %d", p, r.Reject, k)
			}
		}
	}
}

func TestProbBestConsistency(t *testing.T) {
	t.Parallel()
	arms := []BinaryArm{{N: 300, X: 30}, {N: 310, X: 41}}
	pb, err := BetaBinomialProbBest(ProbBestInput{Arms: arms})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := BetaBinomialProbBeatControl(BetaBinomialInput{Control: arms[0], Treatment: arms[1]})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(pb.ProbBest[1]-bc.ProbTreatmentBeatsControl) > 1e-10 {
		t.Errorf("P(best) = %.15g, closed form P(T > C) = %.15g", pb.ProbBest[1], bc.ProbTreatmentBeatsControl)
	}
	// Non-integer prior: the quadrature route of BetaBinomialProbBeatControl.
	arms5 := []BinaryArm{{N: 50, X: 5}, {N: 60, X: 9}, {N: 40, X: 2}, {N: 55, X: 7}, {N: 0, X: 0}}
	pb5, err := BetaBinomialProbBest(ProbBestInput{Prior: BetaParams{Alpha: 0.5, Beta: 0.5}, Arms: arms5})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, p := range pb5.ProbBest {
		sum += p
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("Σ P(best) = %.15g, want 1", sum)
	}
	sym, err := BetaBinomialProbBeatControl(BetaBinomialInput{
		Prior: BetaParams{Alpha: 0.5, Beta: 0.5}, Control: BinaryArm{N: 7, X: 0}, Treatment: BinaryArm{N: 7, X: 0}})
	if err != nil || sym.ProbTreatmentBeatsControl != 0.5 {
		t.Errorf("identical posteriors: got %v, %v; want exactly 0.5", sym.ProbTreatmentBeatsControl, err)
	}
}

func TestExactDegenerateValues(t *testing.T) {
	t.Parallel()
	xs := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9}
	p, err := PSINumeric(PSINumericInput{Reference: xs, Current: xs})
	if err != nil || p.PSI != 0 || p.Band != BandNone {
		t.Errorf("PSI of identical samples = %v (%v), want exactly 0", p.PSI, err)
	}
	k, err := KS2SampAsymp(KSInput{A: xs, B: xs})
	if err != nil || k.D != 0 || k.PValue != 1 {
		t.Errorf("KS of identical samples: D = %v, p = %v (%v); want 0, 1", k.D, k.PValue, err)
	}
	w, err := WassersteinNorm(WassersteinInput{Reference: xs, Current: xs})
	if err != nil || w.Wasserstein != 0 {
		t.Errorf("W₁ of identical samples = %v (%v), want 0", w.Wasserstein, err)
	}
	js, err := JSDistance(CategoricalInput{Reference: map[string]float64{"a": 1, "b": 3}, Current: map[string]float64{"a": 2, "b": 6}})
	if err != nil || js.JSDistance != 0 {
		t.Errorf("JS of equal proportions = %v (%v), want 0", js.JSDistance, err)
	}
}

func TestErrorsWrapSentinels(t *testing.T) {
	t.Parallel()
	_, err := TwoProportionZTestPooled(ProportionsInput{Control: BinaryArm{N: 0}, Treatment: BinaryArm{N: 1}})
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("n = 0: got %v, want ErrInvalidInput", err)
	}
	_, err = RelativeLiftCI(MeansInput{Control: NumericArm{N: 5, Mean: 0, Var: 1}, Treatment: NumericArm{N: 5, Mean: 1, Var: 1}})
	if !errors.Is(err, ErrDegenerate) {
		t.Errorf("zero control mean: got %v, want ErrDegenerate", err)
	}
	_, err = AlwaysValidSequence(AlwaysValidSequenceInput{MetricType: MetricBinary, Looks: []Look{
		{Control: Arm{N: 10, X: 1}, Treatment: Arm{N: 10, X: 2}},
		{Control: Arm{N: 20, X: 21}, Treatment: Arm{N: 20, X: 2}},
	}})
	if !errors.Is(err, ErrInvalidInput) || !contains(err.Error(), "looks[1]") {
		t.Errorf("bad second look: got %v, want ErrInvalidInput naming looks[1]", err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	// Zero α, S and θ₀ mean the STATS.md defaults.
	in := AlwaysValidInput{Control: NumericArm{N: 100, Mean: 1, Var: 1}, Treatment: NumericArm{N: 100, Mean: 1.3, Var: 1}}
	got, err := AlwaysValidTest(in)
	if err != nil {
		t.Fatal(err)
	}
	in.Alpha, in.TuningS = DefaultAlpha, DefaultTuningS
	want, _ := AlwaysValidTest(in)
	if got != want {
		t.Errorf("defaults: got %+v, want %+v", got, want)
	}
	// nil gates mean 100 units / 10 events; explicit 0 disables them.
	g := Guardrail{Name: "err", Type: MetricBinary, HigherIsWorse: true, Margin: 0.005, MarginType: MarginAbsolute,
		Control: Arm{N: 20, X: 0}, Treatment: Arm{N: 20, X: 12}}
	r, err := RollbackDecision(RollbackInput{Guardrails: []Guardrail{g}})
	if err != nil || r.Action != ActionContinue || r.Metrics[0].Eligible {
		t.Errorf("default gates: got %+v, %v; want continue, not eligible", r, err)
	}
	zero := 0
	r, err = RollbackDecision(RollbackInput{NMin: &zero, MinEventsBinary: &zero, Guardrails: []Guardrail{g}})
	if err != nil || r.Action != ActionRollback {
		t.Errorf("gates disabled: got %+v, %v; want rollback", r, err)
	}
}
