package stats

import "math"

// ProportionsInput is the input of the two-proportion functions of STATS.md
// §2: a binary control and treatment arm, and α (ProportionDiffCI only; zero
// means DefaultAlpha).
type ProportionsInput struct {
	Control   BinaryArm `json:"control"`
	Treatment BinaryArm `json:"treatment"`
	Alpha     float64   `json:"alpha,omitempty"`
}

// TwoProportionZTestPooledResult is the output of TwoProportionZTestPooled.
type TwoProportionZTestPooledResult struct {
	PControl   float64 `json:"p_control"`
	PTreatment float64 `json:"p_treatment"`
	Diff       float64 `json:"diff"`
	PooledP    float64 `json:"pooled_p"`
	SE         float64 `json:"se"`
	Z          float64 `json:"z"`
	PValue     float64 `json:"p_value"`
}

// TwoProportionZTestUnpooledResult is the output of TwoProportionZTestUnpooled.
type TwoProportionZTestUnpooledResult struct {
	PControl   float64 `json:"p_control"`
	PTreatment float64 `json:"p_treatment"`
	Diff       float64 `json:"diff"`
	SE         float64 `json:"se"`
	Z          float64 `json:"z"`
	PValue     float64 `json:"p_value"`
}

// ProportionDiffCIResult is the output of ProportionDiffCI.
type ProportionDiffCIResult struct {
	Diff  float64 `json:"diff"`
	SE    float64 `json:"se"`
	ZCrit float64 `json:"z_crit"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

func (in ProportionsInput) check(fn string) error {
	if err := in.Control.check(fn, "control", 1); err != nil {
		return err
	}
	return in.Treatment.check(fn, "treatment", 1)
}

// unpooledSE returns sqrt(p̂_C(1−p̂_C)/n_C + p̂_T(1−p̂_T)/n_T) (§2.2).
func unpooledSE(c, t BinaryArm) float64 {
	mc, mt := c.moments(), t.moments()
	return math.Sqrt(mc.v/mc.n + mt.v/mt.n)
}

// TwoProportionZTestPooled tests H₀: p_T = p_C with the pooled-variance z-test
// of STATS.md §2.1 (the score test; z² equals Pearson's χ² of the 2×2 table
// without continuity correction). When the pooled rate is 0 or 1 the standard
// error is 0 and the result is z = 0, p = 1. Errors: n < 1, x < 0, x > n.
func TwoProportionZTestPooled(in ProportionsInput) (TwoProportionZTestPooledResult, error) {
	const fn = "two_proportion_ztest_pooled"
	if err := in.check(fn); err != nil {
		return TwoProportionZTestPooledResult{}, err
	}
	c, t := in.Control, in.Treatment
	pc, _ := c.rate()
	pt, _ := t.rate()
	nc, nt := float64(c.N), float64(t.N)
	total := nc + nt
	pbar := float64(c.X+t.X) / total
	qbar := float64(c.N-c.X+t.N-t.X) / total
	r := TwoProportionZTestPooledResult{
		PControl:   pc,
		PTreatment: pt,
		Diff:       pt - pc,
		PooledP:    pbar,
		SE:         math.Sqrt(pbar * qbar * (1/nc + 1/nt)),
		PValue:     1,
	}
	if r.SE > 0 {
		r.Z = r.Diff / r.SE
		r.PValue = twoSidedNormalP(r.Z)
	}
	return r, nil
}

// TwoProportionZTestUnpooled is the Wald z-test of STATS.md §2.2 with the
// unpooled standard error sqrt(p̂_C(1−p̂_C)/n_C + p̂_T(1−p̂_T)/n_T). A zero
// standard error with a zero difference gives z = 0, p = 1; with a non-zero
// difference (0/n against n/n) it is an ErrDegenerate error — use the pooled
// test there. Errors also for n < 1, x < 0, x > n.
func TwoProportionZTestUnpooled(in ProportionsInput) (TwoProportionZTestUnpooledResult, error) {
	const fn = "two_proportion_ztest_unpooled"
	if err := in.check(fn); err != nil {
		return TwoProportionZTestUnpooledResult{}, err
	}
	pc, _ := in.Control.rate()
	pt, _ := in.Treatment.rate()
	r := TwoProportionZTestUnpooledResult{
		PControl:   pc,
		PTreatment: pt,
		Diff:       pt - pc,
		SE:         unpooledSE(in.Control, in.Treatment),
		PValue:     1,
	}
	switch {
	case r.SE > 0:
		r.Z = r.Diff / r.SE
		r.PValue = twoSidedNormalP(r.Z)
	case r.Diff != 0:
		return TwoProportionZTestUnpooledResult{}, degenerate(fn, "standard error is 0 with difference %g; use the pooled test", r.Diff)
	}
	return r, nil
}

// ProportionDiffCI returns the Wald confidence interval Δ̂ ± z_{1−α/2}·SE for
// p_T − p_C (STATS.md §2.3, SE of §2.2). A zero standard error gives the
// degenerate interval [Δ̂, Δ̂]. Errors: n < 1, x < 0, x > n, α ∉ (0, 1).
func ProportionDiffCI(in ProportionsInput) (ProportionDiffCIResult, error) {
	const fn = "proportion_diff_ci"
	if err := in.check(fn); err != nil {
		return ProportionDiffCIResult{}, err
	}
	alpha, err := alphaOr(fn, in.Alpha)
	if err != nil {
		return ProportionDiffCIResult{}, err
	}
	pc, _ := in.Control.rate()
	pt, _ := in.Treatment.rate()
	r := ProportionDiffCIResult{
		Diff:  pt - pc,
		SE:    unpooledSE(in.Control, in.Treatment),
		ZCrit: normalCrit(alpha),
	}
	r.Lower = r.Diff - r.ZCrit*r.SE
	r.Upper = r.Diff + r.ZCrit*r.SE
	return r, nil
}
