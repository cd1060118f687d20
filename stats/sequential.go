package stats

import (
	"math"
	"strconv"
)

// AlwaysValidInput is the input of AlwaysValidTest (STATS.md §6.2): numeric
// control and treatment arms (binary metrics enter as mean = x/n,
// var = p(1−p)), α and the tuning parameter S (zero means DefaultAlpha and
// DefaultTuningS), and the null value θ₀.
type AlwaysValidInput struct {
	Control   NumericArm `json:"control"`
	Treatment NumericArm `json:"treatment"`
	Alpha     float64    `json:"alpha,omitempty"`
	TuningS   float64    `json:"tuning_S,omitempty"`
	Theta0    float64    `json:"theta0"`
}

// AlwaysValidTestResult is the output of AlwaysValidTest. [Lower, Upper] is the
// (1 − α) confidence sequence Diff ± HalfWidth.
type AlwaysValidTestResult struct {
	Diff      float64 `json:"diff"`
	VarDiff   float64 `json:"var_diff"`
	Rho2      float64 `json:"rho2"`
	Tau2      float64 `json:"tau2"`
	LogLambda float64 `json:"log_lambda"`
	PValue    float64 `json:"p_value"`
	HalfWidth float64 `json:"half_width"`
	Lower     float64 `json:"lower"`
	Upper     float64 `json:"upper"`
}

// Look is one monitoring look of AlwaysValidSequence: cumulative control and
// treatment arms, read according to the sequence's MetricType.
type Look struct {
	Control   Arm `json:"control"`
	Treatment Arm `json:"treatment"`
}

// AlwaysValidSequenceInput is the input of AlwaysValidSequence (§6.3).
type AlwaysValidSequenceInput struct {
	Looks      []Look     `json:"looks"`
	MetricType MetricType `json:"metric_type"`
	Alpha      float64    `json:"alpha,omitempty"`
	TuningS    float64    `json:"tuning_S,omitempty"`
	Theta0     float64    `json:"theta0"`
}

// AlwaysValidSequenceResult is the output of AlwaysValidSequence:
// PValueAtLook[t] = p_t, AlwaysValidPValue[t] = min_{s≤t} p_s, and the 0-based
// index of the first look with running p ≤ α (nil if none).
type AlwaysValidSequenceResult struct {
	PValueAtLook       []float64 `json:"p_value_at_look"`
	AlwaysValidPValue  []float64 `json:"always_valid_p_value"`
	FirstRejectionLook *int      `json:"first_rejection_look"`
}

// mixtureRho2 returns ρ² = (−2 ln α + ln(1 − 2 ln α))/S.
func mixtureRho2(alpha, s float64) float64 {
	l := -2 * math.Log(alpha)
	return (l + math.Log1p(l)) / s
}

// avHalfWidth returns the half-width h of the (1 − α) confidence sequence for
// a difference with variance v > 0 at total sample size n (§6.2):
// h = sqrt(V(V + τ²)/τ² · (2 ln(1/α) + ln((V + τ²)/V))), with τ² = ρ²·N·V,
// written through r = τ²/V = ρ²·N.
func avHalfWidth(v, n, alpha, s float64) float64 {
	r := mixtureRho2(alpha, s) * n
	return math.Sqrt(v * (1 + r) / r * (-2*math.Log(alpha) + math.Log1p(r)))
}

// alwaysValid evaluates §6.2 for a difference diff with variance v > 0 at total
// sample size n.
func alwaysValid(diff, v, n, alpha, s, theta0 float64) AlwaysValidTestResult {
	rho2 := mixtureRho2(alpha, s)
	r := rho2 * n // τ²/V
	d := diff - theta0
	// ln Λ = ½ ln(V/(V+τ²)) + τ²(Δ̂−θ₀)²/(2V(V+τ²)) = −½ ln(1+r) + r/(1+r)·(Δ̂−θ₀)²/(2V).
	logLambda := -0.5*math.Log1p(r) + r/(1+r)*(d*d)/(2*v)
	h := avHalfWidth(v, n, alpha, s)
	return AlwaysValidTestResult{
		Diff:      diff,
		VarDiff:   v,
		Rho2:      rho2,
		Tau2:      r * v,
		LogLambda: logLambda,
		PValue:    math.Min(1, math.Exp(-logLambda)),
		HalfWidth: h,
		Lower:     diff - h,
		Upper:     diff + h,
	}
}

// avParams validates α and S, applying the defaults.
func avParams(fn string, alpha, s, theta0 float64) (float64, float64, error) {
	alpha, err := alphaOr(fn, alpha)
	if err != nil {
		return 0, 0, err
	}
	s, err = positiveOr(fn, "tuning_S", s, DefaultTuningS)
	if err != nil {
		return 0, 0, err
	}
	if !finite(theta0) {
		return 0, 0, invalid(fn, "theta0 must be finite")
	}
	return alpha, s, nil
}

// avFromMoments applies §6.2 to two arms; V ≤ 0 is an ErrDegenerate error.
func avFromMoments(fn string, c, t moments, alpha, s, theta0 float64) (AlwaysValidTestResult, error) {
	v := c.v/c.n + t.v/t.n
	diff := t.mean - c.mean
	switch {
	case !(v > 0):
		return AlwaysValidTestResult{}, degenerate(fn, "variance of the difference is 0")
	case !finite(v) || !finite(diff):
		return AlwaysValidTestResult{}, invalid(fn, "difference or variance overflows")
	}
	return alwaysValid(diff, v, c.n+t.n, alpha, s, theta0), nil
}

// AlwaysValidTest is the normal-mixture mSPRT / asymptotic confidence sequence
// of STATS.md §6.2 for Δ = mean_T − mean_C: an always-valid p-value (reject
// H₀: Δ = θ₀ when p ≤ α, at any look, any number of times) and the dual
// confidence sequence Δ̂ ± h (p ≤ α ⇔ |Δ̂ − θ₀| ≥ h). Errors: n < 1,
// var < 0, α ∉ (0, 1), S < 0; V = 0 is ErrDegenerate.
func AlwaysValidTest(in AlwaysValidInput) (AlwaysValidTestResult, error) {
	const fn = "always_valid_test"
	alpha, s, err := avParams(fn, in.Alpha, in.TuningS, in.Theta0)
	if err != nil {
		return AlwaysValidTestResult{}, err
	}
	c, err := in.Control.moments(fn, "control", 1)
	if err != nil {
		return AlwaysValidTestResult{}, err
	}
	t, err := in.Treatment.moments(fn, "treatment", 1)
	if err != nil {
		return AlwaysValidTestResult{}, err
	}
	return avFromMoments(fn, c, t, alpha, s, in.Theta0)
}

// AlwaysValidSequence monitors an experiment over looks (STATS.md §6.3): at
// each look it applies AlwaysValidTest to the cumulative arms and keeps the
// running minimum p*_t = min(p*_{t−1}, p_t); H₀ is rejected, permanently, at
// the first look with p*_t ≤ α. Errors: as AlwaysValidTest at any look
// (including V = 0 at a look, e.g. no events yet in either binary arm), and an
// unknown metric type.
func AlwaysValidSequence(in AlwaysValidSequenceInput) (AlwaysValidSequenceResult, error) {
	const fn = "always_valid_sequence"
	alpha, s, err := avParams(fn, in.Alpha, in.TuningS, in.Theta0)
	if err != nil {
		return AlwaysValidSequenceResult{}, err
	}
	if in.MetricType != MetricBinary && in.MetricType != MetricContinuous {
		return AlwaysValidSequenceResult{}, invalid(fn, "metric_type %q, want %q or %q", in.MetricType, MetricBinary, MetricContinuous)
	}
	r := AlwaysValidSequenceResult{
		PValueAtLook:      make([]float64, len(in.Looks)),
		AlwaysValidPValue: make([]float64, len(in.Looks)),
	}
	pstar := 1.0
	for i, l := range in.Looks {
		fnl := fn + ": looks[" + strconv.Itoa(i) + "]"
		c, err := l.Control.moments(fnl, "control", in.MetricType)
		if err != nil {
			return AlwaysValidSequenceResult{}, err
		}
		t, err := l.Treatment.moments(fnl, "treatment", in.MetricType)
		if err != nil {
			return AlwaysValidSequenceResult{}, err
		}
		res, err := avFromMoments(fnl, c, t, alpha, s, in.Theta0)
		if err != nil {
			return AlwaysValidSequenceResult{}, err
		}
		pstar = math.Min(pstar, res.PValue)
		r.PValueAtLook[i] = res.PValue
		r.AlwaysValidPValue[i] = pstar
		if pstar <= alpha && r.FirstRejectionLook == nil {
			r.FirstRejectionLook = new(i)
		}
	}
	return r, nil
}
