package stats

import "math"

// MeansInput is the input of WelchTTest, MeanDiffCI and RelativeLiftCI
// (STATS.md §3, §4.1): a numeric control and treatment arm, and α (zero means
// DefaultAlpha; WelchTTest ignores it).
type MeansInput struct {
	Control   NumericArm `json:"control"`
	Treatment NumericArm `json:"treatment"`
	Alpha     float64    `json:"alpha,omitempty"`
}

// WelchTTestResult is the output of WelchTTest.
type WelchTTestResult struct {
	Diff   float64 `json:"diff"`
	SE     float64 `json:"se"`
	T      float64 `json:"t"`
	DF     float64 `json:"df"`
	PValue float64 `json:"p_value"`
}

// MeanDiffCIResult is the output of MeanDiffCI.
type MeanDiffCIResult struct {
	Diff  float64 `json:"diff"`
	SE    float64 `json:"se"`
	DF    float64 `json:"df"`
	TCrit float64 `json:"t_crit"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// RelativeLiftCIResult is the output of RelativeLiftCI.
type RelativeLiftCIResult struct {
	Lift   float64 `json:"lift"`
	SE     float64 `json:"se"`
	Z      float64 `json:"z"`
	PValue float64 `json:"p_value"`
	Lower  float64 `json:"lower"`
	Upper  float64 `json:"upper"`
}

// RatioMetricInput is the input of RatioMetricStats: per randomisation unit,
// the numerator M_i and denominator D_i of a ratio metric (§4.3).
type RatioMetricInput struct {
	Numerator   []float64 `json:"numerator"`
	Denominator []float64 `json:"denominator"`
}

// RatioMetricStatsResult is the output of RatioMetricStats. Use Ratio as the
// arm mean and N·VarOfRatio as the per-unit variance in §3, §4 and §6.
type RatioMetricStatsResult struct {
	N          int     `json:"n"`
	Ratio      float64 `json:"ratio"`
	VarOfRatio float64 `json:"var_of_ratio"`
	SE         float64 `json:"se"`
}

// welch holds the shared part of §3.
type welch struct {
	diff, se, df float64
}

func welchCore(fn string, in MeansInput) (welch, error) {
	c, err := in.Control.moments(fn, "control", 2)
	if err != nil {
		return welch{}, err
	}
	t, err := in.Treatment.moments(fn, "treatment", 2)
	if err != nil {
		return welch{}, err
	}
	a, b := c.v/c.n, t.v/t.n
	s := a + b
	switch d := t.mean - c.mean; {
	case !(s > 0):
		return welch{}, degenerate(fn, "standard error is 0 (both variances are 0)")
	case !finite(s) || !finite(d):
		return welch{}, invalid(fn, "difference or variance overflows")
	}
	// ν = (a+b)² / (a²/(n_C−1) + b²/(n_T−1)), written in the shares a/(a+b),
	// b/(a+b) so that huge variances cannot overflow.
	fa, fb := a/s, b/s
	return welch{
		diff: t.mean - c.mean,
		se:   math.Sqrt(s),
		df:   1 / (fa*fa/(c.n-1) + fb*fb/(t.n-1)),
	}, nil
}

// WelchTTest is Welch's two-sample t-test of STATS.md §3.1 on mean_T − mean_C
// with the Welch–Satterthwaite (real, unrounded) degrees of freedom and
// p = 2·T̄_ν(|t|). Errors: n < 2 in either arm, var < 0, SE = 0
// (ErrDegenerate).
func WelchTTest(in MeansInput) (WelchTTestResult, error) {
	w, err := welchCore("welch_ttest", in)
	if err != nil {
		return WelchTTestResult{}, err
	}
	t := w.diff / w.se
	return WelchTTestResult{Diff: w.diff, SE: w.se, T: t, DF: w.df, PValue: studentTwoSidedP(t, w.df)}, nil
}

// MeanDiffCI returns the Welch confidence interval Δ̂ ± T_ν⁻¹(1 − α/2)·SE for
// mean_T − mean_C (STATS.md §3.2). Errors as WelchTTest, and α ∉ (0, 1).
func MeanDiffCI(in MeansInput) (MeanDiffCIResult, error) {
	const fn = "mean_diff_ci"
	alpha, err := alphaOr(fn, in.Alpha)
	if err != nil {
		return MeanDiffCIResult{}, err
	}
	w, err := welchCore(fn, in)
	if err != nil {
		return MeanDiffCIResult{}, err
	}
	tc := studentCrit(alpha, w.df)
	return MeanDiffCIResult{
		Diff: w.diff, SE: w.se, DF: w.df, TCrit: tc,
		Lower: w.diff - tc*w.se, Upper: w.diff + tc*w.se,
	}, nil
}

// RelativeLiftCI returns the relative lift L = (mean_T − mean_C)/mean_C with
// its delta-method standard error, z-test and normal confidence interval
// (STATS.md §4.1). var are per-unit variances (binary: p(1−p)). Errors: n < 1,
// var < 0, α ∉ (0, 1); mean_C = 0 and SE = 0 are ErrDegenerate.
func RelativeLiftCI(in MeansInput) (RelativeLiftCIResult, error) {
	const fn = "relative_lift_ci"
	alpha, err := alphaOr(fn, in.Alpha)
	if err != nil {
		return RelativeLiftCIResult{}, err
	}
	c, err := in.Control.moments(fn, "control", 1)
	if err != nil {
		return RelativeLiftCIResult{}, err
	}
	t, err := in.Treatment.moments(fn, "treatment", 1)
	if err != nil {
		return RelativeLiftCIResult{}, err
	}
	if c.mean == 0 {
		return RelativeLiftCIResult{}, degenerate(fn, "control mean is 0")
	}
	lift, se := relativeLift(c, t)
	if !finite(lift) {
		return RelativeLiftCIResult{}, invalid(fn, "lift overflows")
	}
	if !(se > 0) || !finite(se) {
		return RelativeLiftCIResult{}, degenerate(fn, "standard error of the lift is %g", se)
	}
	z := lift / se
	zc := normalCrit(alpha)
	return RelativeLiftCIResult{
		Lift: lift, SE: se, Z: z, PValue: twoSidedNormalP(z),
		Lower: lift - zc*se, Upper: lift + zc*se,
	}, nil
}

// relativeLift returns L and its delta-method SE:
// Var = var_C·mean_T²/(mean_C⁴·n_C) + var_T/(mean_C²·n_T).
func relativeLift(c, t moments) (lift, se float64) {
	r := t.mean / c.mean // mean_T / mean_C
	m2 := c.mean * c.mean
	v := c.v*r*r/(m2*c.n) + t.v/(m2*t.n)
	return (t.mean - c.mean) / c.mean, math.Sqrt(v)
}

// RatioMetricStats returns the ratio R = ΣM_i/ΣD_i of a ratio metric and the
// delta-method variance of R̂ (STATS.md §4.3):
// Var(R̂) = (s²_M − 2R·s_MD + R²·s²_D)/(n·μ̂_D²), computed in the equivalent,
// cancellation-free form Σ(M_i − R·D_i)²/((n−1)·n·μ̂_D²). Errors: length
// mismatch, n < 2, non-finite values; μ̂_D = 0 is ErrDegenerate.
func RatioMetricStats(in RatioMetricInput) (RatioMetricStatsResult, error) {
	const fn = "ratio_metric_stats"
	m, d := in.Numerator, in.Denominator
	if len(m) != len(d) {
		return RatioMetricStatsResult{}, invalid(fn, "%d numerators but %d denominators", len(m), len(d))
	}
	if len(m) < 2 {
		return RatioMetricStatsResult{}, invalid(fn, "n = %d units, want ≥ 2", len(m))
	}
	var sm, sd float64
	for i := range m {
		if !finite(m[i]) || !finite(d[i]) {
			return RatioMetricStatsResult{}, invalid(fn, "unit %d: values must be finite", i)
		}
		sm += m[i]
		sd += d[i]
	}
	if sd == 0 {
		return RatioMetricStatsResult{}, degenerate(fn, "denominator mean is 0")
	}
	n := float64(len(m))
	ratio := sm / sd
	muD := sd / n
	// Residuals e_i = M_i − R·D_i have mean 0 and sample variance
	// s²_M − 2R·s_MD + R²·s²_D; the corrected two-pass form absorbs rounding.
	var ss, comp float64
	for i := range m {
		e := m[i] - ratio*d[i]
		ss += e * e
		comp += e
	}
	s2 := math.Max((ss-comp*comp/n)/(n-1), 0)
	v := s2 / (n * muD * muD)
	if !finite(v) {
		return RatioMetricStatsResult{}, degenerate(fn, "variance of the ratio overflows")
	}
	return RatioMetricStatsResult{N: len(m), Ratio: ratio, VarOfRatio: v, SE: math.Sqrt(v)}, nil
}
