package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"
)

// This file holds the special functions the tests rest on. Where gonum is
// accurate to well below the 1e-9 tolerance of STATS.md §14 against SciPy
// (normal quantile, chi-square survival) it is used directly; where it is not,
// the replacement and the reason are documented next to it:
//
//   - normal survival: distuv.Normal.Survival is 0.5·(1 − erf), which loses all
//     relative precision in the upper tail; we use 0.5·erfc(z/√2).
//   - Student-t survival: distuv.StudentsT.Survival calls mathext.RegIncBeta,
//     whose log-gamma prefactor cancels catastrophically for large ν (relative
//     error 4e-9 at ν = 1e5, 1e-7 at ν = 1e7 against SciPy). We use our own
//     regularised incomplete beta with a cancellation-free log Beta function.
//   - Student-t quantile: distuv.StudentsT.Quantile is off by 1e-6 at ν = 1000
//     and α = 1e-10 and diverges for ν ≥ 1e5 in the far tail; we invert our
//     accurate survival function by bisection on the float64 bit pattern.

// twoSidedNormalP returns 2·Φ̄(|z|) = erfc(|z|/√2).
func twoSidedNormalP(z float64) float64 {
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}

// normalCrit returns Φ⁻¹(1 − α/2), computed as −Φ⁻¹(α/2) so that small α keep
// full precision.
func normalCrit(alpha float64) float64 {
	return -mathext.NormalQuantile(alpha / 2)
}

// chiSquareSF returns the chi-square survival function χ̄²_k(x) (gonum's
// regularised upper incomplete gamma, accurate to ~1e-13 relative).
func chiSquareSF(x float64, k int) float64 {
	return distuv.ChiSquared{K: float64(k)}.Survival(x)
}

// stirlingTail returns ω(z) = lnΓ(z) − [(z − ½)ln z − z + ½ln 2π], the
// remainder of Stirling's series, for z ≥ 10 (eight Bernoulli terms; absolute
// error < 1e-17 there).
func stirlingTail(z float64) float64 {
	z2 := z * z
	// Horner form of Σ B_{2k} / (2k(2k−1) z^{2k−1}), k = 1..8.
	s := -3617.0 / 122400.0
	s = s/z2 + 1.0/156.0
	s = s/z2 - 691.0/360360.0
	s = s/z2 + 1.0/1188.0
	s = s/z2 - 1.0/1680.0
	s = s/z2 + 1.0/1260.0
	s = s/z2 - 1.0/360.0
	s = s/z2 + 1.0/12.0
	return s / z
}

const stirlingMin = 10

// lgamma is math.Lgamma without the sign (all our arguments are positive).
func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// lgammaRatio returns lnΓ(a + x) − lnΓ(a) − x·ln a for a > 0, x ≥ 0. For
// a ≥ 10 it uses the difference of Stirling series, which avoids the
// cancellation between two large log-gamma values.
func lgammaRatio(a, x float64) float64 {
	if x == 0 {
		return 0
	}
	if a < stirlingMin {
		return lgamma(a+x) - lgamma(a) - x*math.Log(a)
	}
	return (a+x-0.5)*math.Log1p(x/a) - x + stirlingTail(a+x) - stirlingTail(a)
}

// lnBeta returns ln B(a, b) for a, b > 0 without the catastrophic
// cancellation of lnΓ(a) + lnΓ(b) − lnΓ(a + b) when a or b is large.
func lnBeta(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	switch {
	case a < stirlingMin:
		return lgamma(a) + lgamma(b) - lgamma(a+b)
	case b < stirlingMin:
		// lnΓ(b) − [lnΓ(a+b) − lnΓ(a)], the bracket by Stirling differences.
		d := (a-0.5)*math.Log1p(b/a) + b*math.Log(a+b) - b + stirlingTail(a+b) - stirlingTail(a)
		return lgamma(b) - d
	default:
		// Stirling for all three terms; the O(z ln z) parts cancel analytically:
		// lnB = −a·ln(1 + b/a) + b·ln(b/(a+b)) + ½ln(1/a + 1/b) + ½ln 2π + Δω.
		return -a*math.Log1p(b/a) + b*math.Log(b/(a+b)) + 0.5*math.Log(1/a+1/b) +
			0.5*math.Log(2*math.Pi) + stirlingTail(a) + stirlingTail(b) - stirlingTail(a+b)
	}
}

// betaInc returns the regularised incomplete beta function I_x(a, b) and its
// complement 1 − I_x(a, b). The caller passes x and xc = 1 − x separately, so
// a complement known more accurately than 1 − x (Student's t: t²/(ν + t²))
// keeps full precision. The continued fraction (modified Lentz) is evaluated
// on the side where it converges, so the smaller of the two results carries
// full relative precision; the prefactor uses lnBeta, which keeps it accurate
// for parameters in the millions.
func betaInc(a, b, x, xc float64) (p, q float64) {
	switch {
	case x <= 0:
		return 0, 1
	case xc <= 0:
		return 1, 0
	}
	if x < (a+1)/(a+b+2) {
		p = betaIncFront(a, b, x, xc) * betaCF(a, b, x) / a
		return p, 1 - p
	}
	q = betaIncFront(b, a, xc, x) * betaCF(b, a, xc) / b
	return 1 - q, q
}

// betaIncFront returns x^a·(1−x)^b / B(a, b).
func betaIncFront(a, b, x, xc float64) float64 {
	return math.Exp(a*logAccurate(x, xc) + b*logAccurate(xc, x) - lnBeta(a, b))
}

// logAccurate returns ln x given x and xc = 1 − x, using log1p(−xc) when x is
// close to 1.
func logAccurate(x, xc float64) float64 {
	if x < 0.5 {
		return math.Log(x)
	}
	return math.Log1p(-xc)
}

// betaCF evaluates the continued fraction of I_x(a, b) (Numerical Recipes
// §6.4, modified Lentz); it converges fast for x < (a+1)/(a+b+2), in
// O(√max(a, b)) terms at worst.
func betaCF(a, b, x float64) float64 {
	const (
		tiny    = 1e-300
		eps     = 2.3e-16
		maxIter = 10_000_000
	)
	qab, qap, qam := a+b, a+1, a-1
	c := 1.0
	d := 1 - qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}

// studentQuadMinNu is the ν above which studentTwoSidedP integrates the
// density instead of using the incomplete beta: for a = ν/2 in the thousands
// and b = ½ the continued fraction's per-step stopping rule fires long before
// the fraction has converged (relative error 1e-10 at ν = 1e5, 2e-8 at
// ν = 1e9), whereas the density is smooth and near-Gaussian there.
const studentQuadMinNu = 2000

// studentTwoSidedP returns P(|T_ν| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, ½) for real ν > 0.
func studentTwoSidedP(t, nu float64) float64 {
	t = math.Abs(t)
	if t == 0 {
		return 1
	}
	if nu > studentQuadMinNu {
		return studentTwoSidedPQuad(t, nu)
	}
	t2 := t * t
	den := nu + t2
	if math.IsInf(den, 1) {
		return 0 // beyond 1e154 standard errors; the exact value underflows or is negligible
	}
	p, _ := betaInc(nu/2, 0.5, nu/den, t2/den)
	return p
}

// studentTwoSidedPQuad computes P(|T_ν| ≥ t) for large ν by integrating the
// density: 1 − 2∫₀ᵗ f for t ≤ 1 and 2∫ₜ^{t+40} f beyond (for ν > 2000 the
// density beyond t + 40 is below e⁻⁸⁰⁰ of its value at t).
func studentTwoSidedPQuad(t, nu float64) float64 {
	logNorm := -lnBeta(nu/2, 0.5) - 0.5*math.Log(nu)
	pdf := func(y float64) float64 {
		return math.Exp(logNorm - 0.5*(nu+1)*math.Log1p(y*y/nu))
	}
	const relTol = 1e-14
	if t <= 1 {
		return 1 - 2*integrate(pdf, []float64{0, t}, relTol)
	}
	return math.Min(1, 2*integrate(pdf, []float64{t, t + 1, t + 40}, relTol))
}

// studentCrit returns T_ν⁻¹(1 − α/2): the y > 0 with P(|T_ν| ≥ y) = α. It
// brackets the root and bisects on the float64 bit pattern (at most 64 steps
// to adjacent floats), so its accuracy is that of studentTwoSidedP.
func studentCrit(alpha, nu float64) float64 {
	lo, hi := 0.0, math.Max(normalCrit(alpha), 1)
	for studentTwoSidedP(hi, nu) > alpha {
		lo = hi
		hi *= 2
		if math.IsInf(hi, 1) {
			return math.MaxFloat64
		}
	}
	// Invariant: P(lo) > α ≥ P(hi). Positive floats order like their bits.
	bl, bh := math.Float64bits(lo), math.Float64bits(hi)
	for bh-bl > 1 {
		mid := bl + (bh-bl)/2
		if studentTwoSidedP(math.Float64frombits(mid), nu) > alpha {
			bl = mid
		} else {
			bh = mid
		}
	}
	lo, hi = math.Float64frombits(bl), math.Float64frombits(bh)
	if math.Abs(studentTwoSidedP(lo, nu)-alpha) < math.Abs(studentTwoSidedP(hi, nu)-alpha) {
		return lo
	}
	return hi
}
