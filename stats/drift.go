package stats

import "math"

// KSInput is the input of KS2SampAsymp: the two samples.
type KSInput struct {
	A []float64 `json:"a"`
	B []float64 `json:"b"`
}

// KS2SampAsympResult is the output of KS2SampAsymp: the statistic D, the
// effective size en = nm/(n+m), λ = √en·D and the asymptotic p-value Q_KS(λ).
type KS2SampAsympResult struct {
	D      float64 `json:"D"`
	En     float64 `json:"en"`
	Lambda float64 `json:"lambda"`
	PValue float64 `json:"p_value"`
}

// JSDistanceResult is the output of JSDistance.
type JSDistanceResult struct {
	JSDistance float64 `json:"js_distance"`
	Drift      bool    `json:"drift"`
}

// WassersteinInput is the input of WassersteinNorm: reference and current
// samples.
type WassersteinInput struct {
	Reference []float64 `json:"reference"`
	Current   []float64 `json:"current"`
}

// WassersteinNormResult is the output of WassersteinNorm.
type WassersteinNormResult struct {
	Wasserstein float64 `json:"wasserstein"`
	Normed      float64 `json:"normed"`
	Drift       bool    `json:"drift"`
}

// Drift thresholds of STATS.md §10–§11 (Evidently defaults).
const (
	// KSDriftPValue is the KS p-value below which a feature has drifted
	// (KS2SampAsymp reports the p-value; the caller compares).
	KSDriftPValue = 0.05
	// JSDriftThreshold is the Jensen–Shannon distance at or above which a
	// feature has drifted.
	JSDriftThreshold = 0.1
	// WassersteinDriftThreshold is the normalised Wasserstein distance at or
	// above which a feature has drifted.
	WassersteinDriftThreshold = 0.1
	// wassersteinStdFloor floors the reference standard deviation.
	wassersteinStdFloor = 0.001
)

// KS2SampAsymp is the two-sample Kolmogorov–Smirnov test with the asymptotic
// (Kolmogorov limiting distribution) p-value of STATS.md §10:
// D = max_x |F_a(x) − F_b(x)| over the pooled values with right-continuous
// empirical CDFs, λ = √(nm/(n+m))·D, p = Q_KS(λ) (1 for λ = 0). This is
// scipy.stats.kstwobign.sf(λ), not ks_2samp's default exact p-value. Drift is
// p < KSDriftPValue. Errors: an empty sample, a non-finite value.
func KS2SampAsymp(in KSInput) (KS2SampAsympResult, error) {
	const fn = "ks_2samp_asymp"
	if len(in.A) == 0 || len(in.B) == 0 {
		return KS2SampAsympResult{}, invalid(fn, "empty sample (a %d, b %d values)", len(in.A), len(in.B))
	}
	a, okA := sortedFinite(in.A)
	b, okB := sortedFinite(in.B)
	if !okA || !okB {
		return KS2SampAsympResult{}, invalid(fn, "values must be finite")
	}
	n, m := float64(len(a)), float64(len(b))
	var d float64
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Step past every copy of the next pooled value in both samples.
		var x float64
		switch {
		case j == len(b) || (i < len(a) && a[i] <= b[j]):
			x = a[i]
		default:
			x = b[j]
		}
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/n-float64(j)/m))
	}
	en := n * m / (n + m)
	lambda := math.Sqrt(en) * d
	return KS2SampAsympResult{D: d, En: en, Lambda: lambda, PValue: kolmogorovQ(lambda)}, nil
}

// kolmogorovQ returns Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2j²λ²), using for
// λ < 1.18 the fast-converging theta-function form
// 1 − (√(2π)/λ) Σ_{j≥1} exp(−(2j−1)²π²/(8λ²)); both are accurate to < 1e-12.
func kolmogorovQ(lambda float64) float64 {
	if lambda <= 0 {
		return 1
	}
	var q float64
	if lambda < 1.18 {
		k := -math.Pi * math.Pi / (8 * lambda * lambda)
		var s float64
		for j := 1; j <= 100; j++ {
			odd := float64(2*j - 1)
			t := math.Exp(odd * odd * k)
			s += t
			if t <= 1e-17*s {
				break
			}
		}
		q = 1 - math.Sqrt(2*math.Pi)/lambda*s
	} else {
		l2 := -2 * lambda * lambda
		sign := 1.0
		for j := 1; j <= 100; j++ {
			fj := float64(j)
			t := math.Exp(l2 * fj * fj)
			q += sign * t
			if t <= 1e-17*q {
				break
			}
			sign = -sign
		}
		q *= 2
	}
	return math.Min(1, math.Max(0, q))
}

// JSDistance is the Jensen–Shannon distance between two categorical
// distributions (STATS.md §11.1): with P, Q the proportions over the union of
// categories (no ε) and M = (P+Q)/2, JS = sqrt(½KL(P‖M) + ½KL(Q‖M)) with
// base-2 logarithms (∈ [0, 1]); Drift is JS ≥ JSDriftThreshold. Errors: a
// negative or non-finite count, a window with total 0.
func JSDistance(in CategoricalInput) (JSDistanceResult, error) {
	const fn = "js_distance"
	rc, cc, nr, nc, err := categories(fn, in.Reference, in.Current)
	if err != nil {
		return JSDistanceResult{}, err
	}
	var kl float64 // KL(P‖M) + KL(Q‖M), natural log
	for i := range rc {
		p, q := rc[i]/nr, cc[i]/nc
		m := (p + q) / 2
		if p > 0 {
			kl += p * math.Log(p/m)
		}
		if q > 0 {
			kl += q * math.Log(q/m)
		}
	}
	js := math.Sqrt(math.Max(0, kl/(2*math.Ln2)))
	return JSDistanceResult{JSDistance: js, Drift: js >= JSDriftThreshold}, nil
}

// WassersteinNorm is the Wasserstein-1 distance between the empirical
// distributions of the reference and current samples, ∫|F_ref − F_cur| dx,
// divided by max(std_ref, 0.001) with std_ref the population (ddof = 0)
// standard deviation of the reference (STATS.md §11.2, Evidently's
// wasserstein_distance_norm). Drift is normed ≥ WassersteinDriftThreshold.
// Errors: an empty sample, a non-finite value.
func WassersteinNorm(in WassersteinInput) (WassersteinNormResult, error) {
	const fn = "wasserstein_norm"
	if len(in.Reference) == 0 || len(in.Current) == 0 {
		return WassersteinNormResult{}, invalid(fn, "empty sample (reference %d, current %d values)", len(in.Reference), len(in.Current))
	}
	r, okR := sortedFinite(in.Reference)
	c, okC := sortedFinite(in.Current)
	if !okR || !okC {
		return WassersteinNormResult{}, invalid(fn, "values must be finite")
	}
	n, m := float64(len(r)), float64(len(c))
	var w float64
	i, j := 0, 0
	prev := math.Min(r[0], c[0])
	for i < len(r) || j < len(c) {
		var x float64
		switch {
		case j == len(c) || (i < len(r) && r[i] <= c[j]):
			x = r[i]
		default:
			x = c[j]
		}
		// On [prev, x) the CDFs are constant at i/n and j/m.
		w += math.Abs(float64(i)/n-float64(j)/m) * (x - prev)
		for i < len(r) && r[i] == x {
			i++
		}
		for j < len(c) && c[j] == x {
			j++
		}
		prev = x
	}
	normed := w / math.Max(popStd(r), wassersteinStdFloor)
	if !finite(w) || !finite(normed) {
		return WassersteinNormResult{}, invalid(fn, "distance overflows")
	}
	return WassersteinNormResult{Wasserstein: w, Normed: normed, Drift: normed >= WassersteinDriftThreshold}, nil
}

// popStd returns the population (ddof = 0) standard deviation of xs, two-pass.
func popStd(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	n := float64(len(xs))
	mean := s / n
	var ss float64
	for _, x := range xs {
		d := x - mean
		ss += d * d
	}
	return math.Sqrt(ss / n)
}
