package experiment

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/stats"
)

// arm is one variant's sample of one metric, as the tests read it.
type arm struct {
	n     int64   // units with observations
	count int64   // observations
	x     int64   // successes of a binary metric
	mean  float64 // rate, mean, or per-unit ratio
	v     float64 // per-unit variance (§0.1; n·Var(R̂) for a ratio, §4.3)
	// overflow marks an arm whose mean or variance is not finite (absurd
	// values); it is left out like an arm without data.
	overflow bool
}

// usable reports whether the tests can use the arm.
func (a arm) usable() bool { return a.n >= 1 && !a.overflow }

// armOf reads MetricSums. At request level a binary arm has mean x/n and
// variance p(1−p), a numeric arm the sample mean and unbiased variance; in
// ratio mode the mean is R = ΣM/ΣD and the per-unit variance
// (s²_M − 2R·s_MD + R²·s²_D)/μ_D² (STATS.md §4.3), which reduces to s²_M
// when every unit has one observation.
func armOf(ms switchboard.MetricSums, kind string, ratio bool) arm {
	a := arm{n: ms.Units, count: ms.Count}
	if ms.Units <= 0 || ms.Count <= 0 {
		return arm{}
	}
	if kind == switchboard.MetricBinary {
		a.x = int64(math.Round(ms.Sum))
	}
	n := float64(ms.Units)
	switch {
	case kind == switchboard.MetricBinary && !ratio:
		p := float64(a.x) / n
		a.mean, a.v = p, p*(1-p)
	case !ratio:
		a.mean = ms.Sum / n
		if ms.Units > 1 {
			a.v = math.Max(ms.M2/(n-1), 0)
		}
	default:
		r := ms.Sum / float64(ms.Count)
		muD := float64(ms.Count) / n
		a.mean = r
		if ms.Units > 1 {
			s2m, s2d, smd := ms.M2/(n-1), ms.D2/(n-1), ms.MD/(n-1)
			a.v = math.Max((s2m-2*r*smd+r*r*s2d)/(muD*muD), 0)
		}
	}
	if math.IsNaN(a.mean) || math.IsInf(a.mean, 0) || math.IsNaN(a.v) || math.IsInf(a.v, 0) {
		return arm{n: a.n, count: a.count, overflow: true}
	}
	return a
}

func (a arm) numeric() stats.NumericArm { return stats.NumericArm{N: int(a.n), Mean: a.mean, Var: a.v} }
func (a arm) binary() stats.BinaryArm   { return stats.BinaryArm{N: int(a.n), X: int(a.x)} }

// Analyze builds the report of experiment e at one look from the sufficient
// statistics of its exposures and the running minima of its always-valid
// p-values stored so far (nil at the first look). It does no I/O; Report
// and the monitor call it, and so can a simulation. The returned report's
// Looks are this look's p-values, to merge into the store.
func Analyze(e *switchboard.Experiment, st switchboard.ExperimentStats, running []switchboard.RunningPValue, now time.Time) (*Report, error) {
	if err := Validate(*e); err != nil {
		return nil, fmt.Errorf("experiment: analyze %q: %w", e.Name, err)
	}
	r := &Report{
		Experiment: e.Name, Description: e.Description, Kind: e.Kind, Status: e.Status,
		Prompt: e.Prompt, Label: e.Label, Model: e.Model, Control: e.Control,
		Alpha: e.Alpha, TuningS: e.TuningS, MinSamples: e.MinSamples, Planned: e.PlannedSampleSize,
		CreatedAt: e.CreatedAt, GeneratedAt: now,
		Variants: make([]VariantReport, len(e.Variants)),
		Metrics:  make([]MetricReport, 0, len(e.Metrics)),
	}
	ctrl := variantIndex(e, e.Control)
	vs := make([]*switchboard.VariantStats, len(e.Variants))
	for i := range st.Variants {
		s := &st.Variants[i]
		if j := variantIndex(e, s.Variant); j >= 0 {
			vs[j] = s
		} else {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%d units were exposed to variant %q, which the experiment does not have; they are left out", s.Units, s.Variant))
		}
	}
	total := 0.0
	for _, v := range e.Variants {
		total += v.Weight
	}
	for i, v := range e.Variants {
		vr := VariantReport{Name: v.Name, PromptVersion: v.PromptVersion, Model: v.Model, Weight: v.Weight, ExpectedShare: v.Weight / total}
		if vs[i] != nil {
			vr.Units, vr.Requests = vs[i].Units, vs[i].Requests
		}
		if v.Weight == 0 && vr.Units > 0 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("variant %q has weight 0 but %d units", v.Name, vr.Units))
		}
		r.Units += vr.Units
		r.Requests += vr.Requests
		r.Variants[i] = vr
	}
	for i := range r.Variants {
		if r.Units > 0 {
			r.Variants[i].ObservedShare = float64(r.Variants[i].Units) / float64(r.Units)
		}
	}
	srm, err := srmCheck(e, vs)
	if err != nil {
		return nil, fmt.Errorf("experiment: analyze %q: %w", e.Name, err)
	}
	r.SRM = srm
	if srm != nil && srm.PValue < stats.SRMThreshold && !srm.Mismatch {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the fixed-look chi-square test flags a sample ratio mismatch (p = %.3g); the sequential test, valid under repeated looks, does not (yet)", srm.PValue))
	}

	prev := map[[2]string]float64{}
	for _, p := range running {
		prev[[2]string{p.Metric, p.Variant}] = p.PValue
	}
	primary, _ := Primary(e)
	arms := make([][]arm, len(e.Metrics))
	for k, m := range e.Metrics {
		mr, as := analyzeMetric(e, m, vs, ctrl, prev, &r.looks, now)
		mr.Primary = e.Kind == switchboard.ExperimentAB && m.Name == primary.Name && !m.Guard
		r.Metrics = append(r.Metrics, mr)
		arms[k] = as
	}
	if err := evalGuardrails(e, r, arms, ctrl); err != nil {
		return nil, fmt.Errorf("experiment: analyze %q: %w", e.Name, err)
	}
	r.Decision = decide(e, r, ctrl)
	r.Decision.Time = now
	if e.Status != switchboard.ExperimentRunning {
		r.Ended = e.Decision
	}
	return r, nil
}

// srmCheck runs §5.1 and §5.2 on the units of the variants with a positive
// weight; nil before the first exposure.
func srmCheck(e *switchboard.Experiment, vs []*switchboard.VariantStats) (*SRMReport, error) {
	var (
		counts  []int64
		weights []float64
		idx     []int
		n       int64
	)
	for i, v := range e.Variants {
		if v.Weight <= 0 {
			continue
		}
		var c int64
		if vs[i] != nil {
			c = vs[i].Units
		}
		counts, weights, idx = append(counts, c), append(weights, v.Weight), append(idx, i)
		n += c
	}
	if n == 0 || len(counts) < 2 {
		return nil, nil
	}
	ic := make([]int, len(counts))
	for i, c := range counts {
		ic[i] = int(c)
	}
	chi, err := stats.SRMChiSq(stats.SRMChiSqInput{Counts: ic, Weights: weights})
	if err != nil {
		return nil, err
	}
	// Period × variant matrix, periods in time order.
	var starts []time.Time
	for _, i := range idx {
		if vs[i] == nil {
			continue
		}
		for _, p := range vs[i].Periods {
			starts = append(starts, p.Start)
		}
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	starts = slices.CompactFunc(starts, func(a, b time.Time) bool { return a.Equal(b) })
	periods := make([][]int, len(starts))
	for t := range periods {
		periods[t] = make([]int, len(idx))
	}
	for k, i := range idx {
		if vs[i] == nil {
			continue
		}
		for _, p := range vs[i].Periods {
			t, _ := slices.BinarySearchFunc(starts, p.Start, func(a, b time.Time) int { return a.Compare(b) })
			periods[t][k] += int(p.Units)
		}
	}
	seq, err := stats.SRMSequential(stats.SRMSequentialInput{PeriodCounts: periods, Weights: weights})
	if err != nil {
		return nil, err
	}
	p := seq.PValue[len(seq.PValue)-1]
	return &SRMReport{
		Method: MethodSRM, Counts: counts, Weights: weights,
		ChiSquare: chi.Chi2, DF: chi.DF, PValue: chi.PValue,
		SequentialPValue: p, Threshold: stats.SRMThreshold, Mismatch: p < stats.SRMThreshold,
	}, nil
}

// metricUnit names the unit of an automatic metric's values.
func metricUnit(m switchboard.MetricSpec) string {
	switch {
	case m.Name == switchboard.MetricLatency:
		return "ms"
	case m.Name == switchboard.MetricCost:
		return "usd"
	case m.Name == switchboard.MetricOutputTokens:
		return "tokens"
	case m.Kind == switchboard.MetricBinary:
		return "rate"
	}
	return ""
}

// analyzeMetric compares every treatment with control on m: the
// fixed-horizon test and CI, the relative lift, the always-valid test with
// its running minimum, Holm across treatments, and the outcome.
func analyzeMetric(e *switchboard.Experiment, m switchboard.MetricSpec, vs []*switchboard.VariantStats, ctrl int,
	prev map[[2]string]float64, looks *[]switchboard.RunningPValue, now time.Time) (MetricReport, []arm) {
	mr := MetricReport{Name: m.Name, Kind: m.Kind, Direction: m.Direction, Guard: m.Guard, Unit: metricUnit(m), Analysis: AnalysisRequest}
	sums := make([]switchboard.MetricSums, len(e.Variants))
	ratio := false
	for i := range e.Variants {
		if vs[i] != nil {
			sums[i] = vs[i].Metrics[m.Name]
		}
		if sums[i].Units > 0 && sums[i].Count != sums[i].Units {
			ratio = true
		}
	}
	if ratio {
		mr.Analysis = AnalysisUnitRatio
	}
	binaryTest := m.Kind == switchboard.MetricBinary && !ratio
	arms := make([]arm, len(e.Variants))
	for i, v := range e.Variants {
		arms[i] = armOf(sums[i], m.Kind, ratio)
		ar := ArmReport{Variant: v.Name, Units: arms[i].n, Observations: arms[i].count, Mean: arms[i].mean, Var: arms[i].v, SD: math.Sqrt(arms[i].v)}
		if m.Kind == switchboard.MetricBinary {
			ar.Successes = ptr(arms[i].x)
		}
		mr.Arms = append(mr.Arms, ar)
	}

	c := arms[ctrl]
	var fixedP, seqP []float64
	for i, v := range e.Variants {
		if i == ctrl {
			continue
		}
		t := arms[i]
		cmp := Comparison{Variant: v.Name, Outcome: OutcomeInconclusive}
		fp, sp := 1.0, 1.0
		switch {
		case c.overflow || t.overflow:
			cmp.Notes = append(cmp.Notes, "values too large to analyse (mean or variance overflows)")
		case c.n < 1 || t.n < 1:
			cmp.Notes = append(cmp.Notes, "no observations yet")
		default:
			cmp.Diff = t.mean - c.mean
			cmp.Fixed = fixedTest(binaryTest, ratio, c, t, e.Alpha, &cmp.Notes)
			if cmp.Fixed != nil {
				fp = cmp.Fixed.PValue
			}
			if l, err := stats.RelativeLiftCI(stats.MeansInput{Control: c.numeric(), Treatment: t.numeric(), Alpha: e.Alpha}); err == nil {
				cmp.Lift = &LiftResult{Method: MethodLift, Lift: l.Lift, PValue: l.PValue, Lower: l.Lower, Upper: l.Upper}
			} else {
				cmp.Notes = append(cmp.Notes, note("relative lift", err))
			}
			if av, err := stats.AlwaysValidTest(stats.AlwaysValidInput{Control: c.numeric(), Treatment: t.numeric(), Alpha: e.Alpha, TuningS: e.TuningS}); err == nil {
				running := av.PValue
				if p, ok := prev[[2]string{m.Name, v.Name}]; ok {
					running = math.Min(running, p)
				}
				cmp.Sequential = &SequentialResult{Method: MethodAlwaysValid, PValue: av.PValue, RunningPValue: running, Lower: av.Lower, Upper: av.Upper}
				sp = running
				*looks = append(*looks, switchboard.RunningPValue{Metric: m.Name, Variant: v.Name, PValue: av.PValue, Looks: 1, UpdatedAt: now})
			} else {
				cmp.Notes = append(cmp.Notes, note("always-valid test", err))
			}
		}
		fixedP, seqP = append(fixedP, fp), append(seqP, sp)
		mr.Comparisons = append(mr.Comparisons, cmp)
	}
	if len(mr.Comparisons) == 0 {
		return mr, arms
	}
	// Holm across treatments; a comparison without a p-value enters as 1.
	hf, err1 := stats.HolmBonferroni(stats.HolmInput{PValues: fixedP, Alpha: e.Alpha})
	hs, err2 := stats.HolmBonferroni(stats.HolmInput{PValues: seqP, Alpha: e.Alpha})
	if err1 != nil || err2 != nil { // p-values in [0, 1] and α in (0, 0.5]: cannot happen
		mr.Notes = append(mr.Notes, "Holm correction failed")
		return mr, arms
	}
	if len(mr.Comparisons) > 1 {
		mr.Notes = append(mr.Notes, fmt.Sprintf("p-values adjusted by %s, m = %d", MethodHolm, len(mr.Comparisons)))
	}
	k := 0
	for i := range e.Variants {
		if i == ctrl {
			continue
		}
		cmp := &mr.Comparisons[k]
		if cmp.Fixed != nil {
			cmp.Fixed.AdjustedPValue = hf.AdjustedPValues[k]
		}
		if s := cmp.Sequential; s != nil {
			s.AdjustedPValue = hs.AdjustedPValues[k]
			s.Significant = hs.Reject[k]
			gated := gate(e, m, c, arms[i])
			switch {
			case s.Significant && gated != "":
				cmp.Notes = append(cmp.Notes, gated)
			case s.Significant && favourable(m, cmp.Diff):
				cmp.Outcome = OutcomeBetter
			case s.Significant && cmp.Diff != 0:
				cmp.Outcome = OutcomeWorse
			}
		}
		k++
	}
	return mr, arms
}

// fixedTest runs the fixed-horizon test and CI: the pooled two-proportion
// z-test with the Wald CI for a binary metric at request level, else Welch.
func fixedTest(binaryTest, ratio bool, c, t arm, alpha float64, notes *[]string) *FixedResult {
	if binaryTest {
		in := stats.ProportionsInput{Control: c.binary(), Treatment: t.binary(), Alpha: alpha}
		z, err := stats.TwoProportionZTestPooled(in)
		if err != nil {
			*notes = append(*notes, note("fixed-horizon test", err))
			return nil
		}
		ci, err := stats.ProportionDiffCI(in)
		if err != nil {
			*notes = append(*notes, note("fixed-horizon CI", err))
			return nil
		}
		return &FixedResult{Method: MethodTwoProportion, Statistic: z.Z, PValue: z.PValue, Lower: ci.Lower, Upper: ci.Upper}
	}
	in := stats.MeansInput{Control: c.numeric(), Treatment: t.numeric(), Alpha: alpha}
	w, err := stats.WelchTTest(in)
	if err != nil {
		*notes = append(*notes, note("fixed-horizon test", err))
		return nil
	}
	ci, err := stats.MeanDiffCI(in)
	if err != nil {
		*notes = append(*notes, note("fixed-horizon CI", err))
		return nil
	}
	method := MethodWelch
	if ratio {
		method = MethodWelchRatio
	}
	return &FixedResult{Method: method, Statistic: w.T, DF: ptr(w.DF), PValue: w.PValue, Lower: ci.Lower, Upper: ci.Upper}
}

// gate returns why a significant comparison may not be acted on yet (fewer
// than n_min units in an arm, fewer than 10 events in a binary metric), or
// "" (STATS.md §2.3, §12.1).
func gate(e *switchboard.Experiment, m switchboard.MetricSpec, c, t arm) string {
	switch {
	case c.n < int64(e.MinSamples) || t.n < int64(e.MinSamples):
		return fmt.Sprintf("significant, but below min_samples (%d units per variant)", e.MinSamples)
	case m.Kind == switchboard.MetricBinary && c.x+t.x < stats.DefaultMinEventsBinary:
		return fmt.Sprintf("significant, but fewer than %d events in control and treatment", stats.DefaultMinEventsBinary)
	}
	return ""
}

// favourable reports whether a difference is in the good direction of m.
func favourable(m switchboard.MetricSpec, diff float64) bool {
	if m.Direction == switchboard.LowerIsBetter {
		return diff < 0
	}
	return diff > 0
}

// note turns a stats error into a short note.
func note(what string, err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		// "stats: welch_ttest: control: n = 1, want n ≥ 2: invalid input" → keep the middle.
		msg = strings.TrimPrefix(msg[:i], "stats: ")
	}
	return what + " not computed: " + msg
}

// guardName names one (metric, treatment) guardrail in §12 results.
func guardName(metric, variant string) string { return metric + "/" + variant }

// evalGuardrails applies STATS.md §12 to every guard metric and treatment
// of positive weight (the Bonferroni family, fixed for the experiment's
// life). A comparison without data enters as an ineligible placeholder, so
// the family never shrinks.
func evalGuardrails(e *switchboard.Experiment, r *Report, arms [][]arm, ctrl int) error {
	type ref struct{ metric, cmp int }
	var (
		gs      []stats.Guardrail
		refs    []ref
		hasData []bool
	)
	for k, m := range e.Metrics {
		if !m.Guard {
			continue
		}
		mr := &r.Metrics[k]
		j := 0
		for i, v := range e.Variants {
			if i == ctrl {
				continue
			}
			cmpIdx := j
			j++
			if v.Weight <= 0 {
				continue
			}
			c, t := arms[k][ctrl], arms[k][i]
			g := stats.Guardrail{
				Name: guardName(m.Name, v.Name), Type: stats.MetricContinuous,
				HigherIsWorse: m.Direction == switchboard.LowerIsBetter,
				Margin:        *m.Margin, MarginType: stats.MarginType(m.MarginType),
			}
			ok := c.usable() && t.usable()
			switch {
			case !ok && mr.Analysis == AnalysisRequest && m.Kind == switchboard.MetricBinary:
				g.Type, g.Control, g.Treatment = stats.MetricBinary, stats.Arm{N: 1}, stats.Arm{N: 1}
			case !ok:
				g.Control, g.Treatment = stats.Arm{N: 1}, stats.Arm{N: 1}
			case mr.Analysis == AnalysisRequest && m.Kind == switchboard.MetricBinary:
				g.Type = stats.MetricBinary
				g.Control, g.Treatment = stats.Arm{N: int(c.n), X: int(c.x)}, stats.Arm{N: int(t.n), X: int(t.x)}
			default:
				g.Control = stats.Arm{N: int(c.n), Mean: c.mean, Var: c.v}
				g.Treatment = stats.Arm{N: int(t.n), Mean: t.mean, Var: t.v}
			}
			gs, refs, hasData = append(gs, g), append(refs, ref{k, cmpIdx}), append(hasData, ok)
		}
	}
	if len(gs) == 0 {
		return nil
	}
	nMin := max(e.MinSamples, 2) // placeholders have n = 1: never eligible
	res, err := stats.RollbackDecision(stats.RollbackInput{Alpha: e.Alpha, TuningS: e.TuningS, NMin: &nMin, Guardrails: gs})
	if err != nil {
		return err
	}
	gr := &GuardrailReport{Method: MethodRollback, Action: string(res.Action), Triggered: res.Triggered, Alpha: e.Alpha}
	if res.Action == stats.ActionRollback {
		gr.Action = badAction(e) // what a breach does to this experiment
	}
	if r.SRM != nil && r.SRM.Mismatch {
		gr.Action = string(stats.ActionHaltSRM)
	}
	r.Guardrails = gr
	for i, m := range res.Metrics {
		cmp := &r.Metrics[refs[i].metric].Comparisons[refs[i].cmp]
		if !hasData[i] {
			continue
		}
		cmp.Guard = &GuardResult{
			Harm: m.Harm, MarginAbs: m.MarginAbs, AlphaMetric: m.AlphaMetric, Eligible: m.Eligible,
			HalfWidth: m.HalfWidth, LowerBound: m.LowerBound, Breached: m.Breached,
		}
	}
	return nil
}

// decide turns a report into the decision of STATS.md §12 (canary) or §13
// (A/B): SRM first, then guardrails, then the primary metric and the
// planned sample.
func decide(e *switchboard.Experiment, r *Report, ctrl int) switchboard.ExperimentDecision {
	keep := switchboard.ExperimentDecision{Action: switchboard.DecisionKeepRunning}
	treatment := ""
	if e.Kind == switchboard.ExperimentCanary {
		treatment = e.Variants[1-ctrl].Name
	}
	bad := badAction(e)
	if r.Units == 0 {
		keep.Reason = "no exposures yet"
		return keep
	}
	if s := r.SRM; s != nil && s.Mismatch {
		return switchboard.ExperimentDecision{Action: bad, Variant: treatment, Reason: fmt.Sprintf(
			"sample ratio mismatch: units %v for weights %v, sequential SRM p = %.3g < %g (chi-square p = %.3g); the results are untrustworthy",
			s.Counts, s.Weights, s.SequentialPValue, s.Threshold, s.PValue)}
	}
	if g := r.Guardrails; g != nil && len(g.Triggered) > 0 {
		var parts []string
		variant := ""
		for _, mr := range r.Metrics {
			for _, c := range mr.Comparisons {
				if c.Guard == nil || !c.Guard.Breached {
					continue
				}
				if variant == "" {
					variant = c.Variant
				}
				parts = append(parts, fmt.Sprintf("%s of %s: harm %.4g, always-valid %.4g%% lower bound %.4g > margin %.4g",
					mr.Name, c.Variant, c.Guard.Harm, 100*(1-c.Guard.AlphaMetric), *c.Guard.LowerBound, c.Guard.MarginAbs))
			}
		}
		if treatment != "" {
			variant = treatment
		}
		return switchboard.ExperimentDecision{Action: bad, Variant: variant,
			Reason: "guardrail breached: " + strings.Join(parts, "; ")}
	}
	if d, ok := hardBreaker(r, ctrl, bad, treatment); ok {
		return d
	}
	if e.Kind == switchboard.ExperimentCanary {
		return decideCanary(e, r, ctrl)
	}

	var pm *MetricReport
	for i := range r.Metrics {
		if r.Metrics[i].Primary {
			pm = &r.Metrics[i]
		}
	}
	if pm == nil { // Validate requires a primary metric
		keep.Reason = "no primary metric"
		return keep
	}
	var best *Comparison
	var held []string // winners held back by a guard's point harm
	worse, active := 0, 0
	for i, c := range pm.Comparisons {
		if e.Variants[variantIndexSkip(ctrl, i)].Weight > 0 {
			active++
		}
		switch c.Outcome {
		case OutcomeBetter:
			if why := shipBlockers(e, r, ctrl, c.Variant, false); len(why) > 0 {
				held = append(held, fmt.Sprintf("%s beats %s on %s, but %s", c.Variant, e.Control, pm.Name, strings.Join(why, "; ")))
				continue
			}
			if best == nil || math.Abs(c.Diff) > math.Abs(best.Diff) {
				best = &pm.Comparisons[i]
			}
		case OutcomeWorse:
			worse++
		}
	}
	switch {
	case best == nil && len(held) > 0:
		keep.Reason = strings.Join(held, "; ") + ": keep running until the harm is within the margin or breaches it"
		return keep
	case best != nil:
		s := best.Sequential
		return switchboard.ExperimentDecision{Action: switchboard.DecisionShip, Variant: best.Variant, Reason: fmt.Sprintf(
			"%s beats %s on %s: difference %.4g (always-valid CS [%.4g, %.4g]), running p = %.3g, Holm-adjusted p = %.3g ≤ α = %g; no guardrail breached, no sample ratio mismatch",
			best.Variant, e.Control, pm.Name, best.Diff, s.Lower, s.Upper, s.RunningPValue, s.AdjustedPValue, e.Alpha)}
	case active > 0 && worse >= active:
		return switchboard.ExperimentDecision{Action: switchboard.DecisionStop, Reason: fmt.Sprintf(
			"every treatment is worse than %s on %s (always-valid, Holm-adjusted, α = %g)", e.Control, pm.Name, e.Alpha)}
	case e.PlannedSampleSize > 0 && r.Units >= e.PlannedSampleSize:
		return switchboard.ExperimentDecision{Action: switchboard.DecisionStop, Reason: fmt.Sprintf(
			"planned sample of %d units reached (%d) without a significant difference on %s", e.PlannedSampleSize, r.Units, pm.Name)}
	}
	keep.Reason = fmt.Sprintf("no significant difference on %s yet (%d units)", pm.Name, r.Units)
	return keep
}

// badAction is what a breached guardrail or a broken split does to e:
// rollback for a canary, stop for an A/B test.
func badAction(e *switchboard.Experiment) string {
	if e.Kind == switchboard.ExperimentCanary {
		return switchboard.DecisionRollback
	}
	return switchboard.DecisionStop
}

// decideCanary decides a canary that is neither breached nor broken
// (STATS.md §12 gives when to roll back; shipping needs evidence too): it
// ships only at or after its planned sample, with at least min_samples
// canary units, and when every guard comparison has min_samples units in
// each arm, is not breached, and its point harm is within the margin. A
// comparison that is not eligible (§12.2) only for want of events or
// variance — a rate of rare errors, or none at all — ships on its point
// harm: with no errors in either arm, the canary is not worse. Otherwise it
// keeps running and says what it waits for.
func decideCanary(e *switchboard.Experiment, r *Report, ctrl int) switchboard.ExperimentDecision {
	keep := switchboard.ExperimentDecision{Action: switchboard.DecisionKeepRunning}
	treatment := e.Variants[1-ctrl].Name
	if r.Units < e.PlannedSampleSize {
		keep.Reason = fmt.Sprintf("%d of %d planned units; no guardrail breached", r.Units, e.PlannedSampleSize)
		return keep
	}
	reached := fmt.Sprintf("planned sample of %d units reached (%d)", e.PlannedSampleSize, r.Units)
	if n := r.Variants[1-ctrl].Units; n < int64(e.MinSamples) {
		keep.Reason = fmt.Sprintf("%s, but %s has %d units, fewer than min_samples (%d): keep running until it has them",
			reached, treatment, n, e.MinSamples)
		return keep
	}
	if why := shipBlockers(e, r, ctrl, treatment, true); len(why) > 0 {
		keep.Reason = fmt.Sprintf("%s, but %s cannot ship yet: %s", reached, treatment, strings.Join(why, "; "))
		return keep
	}
	return switchboard.ExperimentDecision{Action: switchboard.DecisionShip, Variant: treatment, Reason: fmt.Sprintf(
		"%s is not worse than %s beyond the guard margins after %d units (planned %d): %s",
		treatment, e.Control, r.Units, e.PlannedSampleSize, guardSummary(r))}
}

// shipBlockers returns why variant may not ship on its guard comparisons:
// a point harm above the margin, and, when eligible is set (a canary),
// a comparison without data or with fewer than min_samples units in an
// arm. Empty when nothing holds it back.
func shipBlockers(e *switchboard.Experiment, r *Report, ctrl int, variant string, eligible bool) []string {
	var why []string
	for _, mr := range r.Metrics {
		if !mr.Guard {
			continue
		}
		var c *Comparison
		for i := range mr.Comparisons {
			if mr.Comparisons[i].Variant == variant {
				c = &mr.Comparisons[i]
			}
		}
		if c == nil {
			continue
		}
		ca, ta := mr.Arms[ctrl], mr.Arms[variantIndex(e, variant)]
		g := c.Guard
		switch {
		case g == nil && !eligible:
		case g == nil && (ca.Units == 0 || ta.Units == 0):
			why = append(why, fmt.Sprintf("%s: no observations in %s and %s yet", mr.Name, ca.Variant, ta.Variant))
		case g == nil:
			why = append(why, fmt.Sprintf("%s: values too large to analyse", mr.Name))
		case g.Breached:
			why = append(why, fmt.Sprintf("%s: breached", mr.Name))
		case eligible && !g.Eligible && (ca.Units < int64(e.MinSamples) || ta.Units < int64(e.MinSamples)):
			// Too few units: not enough evidence either way. A comparison
			// that is not eligible only for want of events or variance
			// (a rate of rare errors, none at all) is judged on its point
			// harm below.
			why = append(why, fmt.Sprintf("%s: not eligible (%s)", mr.Name, ineligible(e, mr, ca, ta, g)))
		}
		if g != nil && g.Harm > g.MarginAbs {
			why = append(why, fmt.Sprintf("%s: harm %.4g above its margin %.4g", mr.Name, g.Harm, g.MarginAbs))
		}
	}
	return why
}

// ineligible says why a guard comparison is not eligible (§12.2).
func ineligible(e *switchboard.Experiment, mr MetricReport, ca, ta ArmReport, g *GuardResult) string {
	nMin := int64(e.MinSamples)
	switch {
	case ca.Units < nMin || ta.Units < nMin:
		return fmt.Sprintf("%d and %d units in %s and %s, fewer than min_samples (%d) in an arm", ca.Units, ta.Units, ca.Variant, ta.Variant, e.MinSamples)
	case mr.Analysis == AnalysisRequest && mr.Kind == switchboard.MetricBinary && ca.Successes != nil && ta.Successes != nil &&
		*ca.Successes+*ta.Successes < stats.DefaultMinEventsBinary:
		return fmt.Sprintf("%d events in %s and %s, need %d", *ca.Successes+*ta.Successes, ca.Variant, ta.Variant, stats.DefaultMinEventsBinary)
	case g.HalfWidth == nil:
		return "no variance yet"
	}
	return "below the §12.2 gates"
}

// variantIndexSkip maps the i-th comparison to its variant index.
func variantIndexSkip(ctrl, i int) int {
	if i >= ctrl {
		return i + 1
	}
	return i
}

// guardSummary lists each guard comparison's harm and bound.
func guardSummary(r *Report) string {
	var parts []string
	for _, mr := range r.Metrics {
		for _, c := range mr.Comparisons {
			switch g := c.Guard; {
			case g == nil:
			case g.LowerBound == nil:
				parts = append(parts, fmt.Sprintf("%s: harm %.4g, margin %.4g", mr.Name, g.Harm, g.MarginAbs))
			default:
				parts = append(parts, fmt.Sprintf("%s: harm %.4g (lower bound %.4g), margin %.4g", mr.Name, g.Harm, *g.LowerBound, g.MarginAbs))
			}
		}
	}
	if len(parts) == 0 {
		return "no guard data"
	}
	return strings.Join(parts, "; ")
}

// The hard circuit breaker of STATS.md §12.4: an operational rule for
// outages, apart from the statistics. A treatment whose error rate is above
// HardBreakerErrorRate over at least HardBreakerMinRequests requests, while
// the control's is below half of it, is stopped (a canary rolled back) at
// once. It catches what the guardrail test cannot: a treatment failing every
// call next to a control failing none has zero variance, so §12 never
// becomes eligible.
const (
	hardBreakerReason      = "hard circuit breaker"
	HardBreakerErrorRate   = 0.5
	HardBreakerMinRequests = 50
)

func hardBreaker(r *Report, ctrl int, bad, treatment string) (switchboard.ExperimentDecision, bool) {
	for _, mr := range r.Metrics {
		if mr.Name != switchboard.MetricError || len(mr.Arms) == 0 {
			continue
		}
		var control *ArmReport
		for i := range mr.Arms {
			if mr.Arms[i].Variant == r.Control {
				control = &mr.Arms[i]
			}
		}
		if control == nil {
			return switchboard.ExperimentDecision{}, false
		}
		for _, a := range mr.Arms {
			if a.Variant == r.Control || a.Observations < HardBreakerMinRequests || a.Mean <= HardBreakerErrorRate || control.Mean >= a.Mean/2 {
				continue
			}
			v := a.Variant
			if treatment != "" {
				v = treatment
			}
			return switchboard.ExperimentDecision{Action: bad, Variant: v, Reason: fmt.Sprintf(
				hardBreakerReason+" (operational, STATS.md §12.4): %s failed %.1f%% of %d requests, %s %.1f%% of %d",
				a.Variant, 100*a.Mean, a.Observations, control.Variant, 100*control.Mean, control.Observations)}, true
		}
	}
	return switchboard.ExperimentDecision{}, false
}
