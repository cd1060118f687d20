package experiment

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/stats"
)

// abExp returns a normalized A/B test: control and the given treatments,
// equal weights, primary metric "thumbs" (binary), guards error and latency.
func abExp(treatments ...string) *switchboard.Experiment {
	vs := []switchboard.Variant{{Name: "control", PromptVersion: "1", Weight: 1}}
	for i, t := range treatments {
		vs = append(vs, switchboard.Variant{Name: t, PromptVersion: strconv.Itoa(i + 2), Weight: 1})
	}
	e := Normalize(switchboard.Experiment{
		Name: "rag-test", Kind: switchboard.ExperimentAB, Prompt: "rag", Label: "production", Salt: "s",
		Variants: vs, Control: "control",
		Metrics: []switchboard.MetricSpec{
			{Name: "thumbs", Kind: switchboard.MetricBinary},
			{Name: switchboard.MetricError, Guard: true},
			{Name: switchboard.MetricLatency, Guard: true},
		},
	})
	return &e
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

func checkNear(t *testing.T, what string, got, want float64) {
	t.Helper()
	if !near(got, want, 1e-9) {
		t.Errorf("%s: got %.12g, want %.12g", what, got, want)
	}
}

// TestAnalyzeBinaryHandChecked: 100/1000 vs 130/1000 thumbs-up. The
// expected numbers were computed by hand from STATS.md §2, §4.1 and §6.2
// (Python math): the fixed-horizon test is significant (p = 0.035), the
// always-valid one is not (p = 0.51), so the decision is to keep running.
func TestAnalyzeBinaryHandChecked(t *testing.T) {
	t.Parallel()
	e := abExp("treatment")
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 1000, map[string]switchboard.MetricSums{"thumbs": binarySums(1000, 100)}),
		variantStats("treatment", 1000, map[string]switchboard.MetricSums{"thumbs": binarySums(1000, 130)}),
	}}
	r := mustAnalyze(t, e, st, nil)
	m := r.Metrics[0]
	if !m.Primary || m.Analysis != AnalysisRequest || m.Unit != "rate" || len(m.Comparisons) != 1 {
		t.Fatalf("metric report: %+v", m)
	}
	if *m.Arms[1].Successes != 130 || m.Arms[1].Mean != 0.13 {
		t.Errorf("treatment arm: %+v", m.Arms[1])
	}
	c := m.Comparisons[0]
	checkNear(t, "diff", c.Diff, 0.03)
	checkNear(t, "z", c.Fixed.Statistic, 2.102740605622114)
	checkNear(t, "p", c.Fixed.PValue, 0.03548845046647473)
	checkNear(t, "CI lower", c.Fixed.Lower, 0.0020679344393763725)
	checkNear(t, "CI upper", c.Fixed.Upper, 0.05793206556062362)
	checkNear(t, "lift", c.Lift.Lift, 0.3)
	checkNear(t, "lift lower", c.Lift.Lower, -0.01917939771358701)
	checkNear(t, "lift upper", c.Lift.Upper, 0.619179397713587)
	checkNear(t, "lift p", c.Lift.PValue, 0.06544731654109269)
	checkNear(t, "always-valid p", c.Sequential.PValue, 0.5109409381154872)
	checkNear(t, "CS half-width", c.Sequential.Upper-c.Diff, 0.043630078442399474)
	if c.Fixed.Method != MethodTwoProportion || c.Sequential.Method != MethodAlwaysValid || c.Lift.Method != MethodLift {
		t.Errorf("methods: %q, %q, %q", c.Fixed.Method, c.Sequential.Method, c.Lift.Method)
	}
	if c.Outcome != OutcomeInconclusive || r.Decision.Action != switchboard.DecisionKeepRunning {
		t.Errorf("outcome %s, decision %+v; want inconclusive, keep_running", c.Outcome, r.Decision)
	}
	if got := r.Looks(); len(got) != 1 || got[0].Metric != "thumbs" || got[0].Variant != "treatment" || got[0].PValue != c.Sequential.PValue {
		t.Errorf("Looks: %+v", got)
	}
	if r.SRM == nil || r.SRM.Mismatch || r.SRM.PValue != 1 {
		t.Errorf("SRM of 1000/1000: %+v", r.SRM)
	}
}

// TestAnalyzeMatchesStats: every number of a comparison is what the stats
// function returns for the same arms.
func TestAnalyzeMatchesStats(t *testing.T) {
	t.Parallel()
	e := abExp("b")
	e.Metrics[0] = normalizeMetric(switchboard.MetricSpec{Name: "score", Kind: switchboard.MetricNumeric})
	ctrl := []float64{3, 4, 4.5, 2, 5, 3.5, 4, 4, 3, 2.5, 4.5, 5}
	treat := []float64{4, 4.5, 5, 3.5, 5, 4, 4.5, 3, 5, 4.5}
	units := func(xs []float64) [][]float64 {
		var u [][]float64
		for _, x := range xs {
			u = append(u, []float64{x})
		}
		return u
	}
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 12, map[string]switchboard.MetricSums{"score": sumsOf(units(ctrl)...)}),
		variantStats("b", 10, map[string]switchboard.MetricSums{"score": sumsOf(units(treat)...)}),
	}}
	r := mustAnalyze(t, e, st, nil)
	c := r.Metrics[0].Comparisons[0]
	in := stats.MeansInput{Control: stats.NumericArm{Values: ctrl}, Treatment: stats.NumericArm{Values: treat}, Alpha: e.Alpha}
	w, _ := stats.WelchTTest(in)
	ci, _ := stats.MeanDiffCI(in)
	checkNear(t, "t", c.Fixed.Statistic, w.T)
	checkNear(t, "df", *c.Fixed.DF, w.DF)
	checkNear(t, "p", c.Fixed.PValue, w.PValue)
	checkNear(t, "lower", c.Fixed.Lower, ci.Lower)
	checkNear(t, "upper", c.Fixed.Upper, ci.Upper)
	if c.Fixed.Method != MethodWelch {
		t.Errorf("method %q, want %q", c.Fixed.Method, MethodWelch)
	}
	lift, _ := stats.RelativeLiftCI(in)
	checkNear(t, "lift", c.Lift.Lift, lift.Lift)
	checkNear(t, "lift lower", c.Lift.Lower, lift.Lower)
	av, _ := stats.AlwaysValidTest(stats.AlwaysValidInput{Control: in.Control, Treatment: in.Treatment, Alpha: e.Alpha, TuningS: e.TuningS})
	checkNear(t, "always-valid p", c.Sequential.PValue, av.PValue)
	checkNear(t, "CS lower", c.Sequential.Lower, av.Lower)
	// 22 units < min_samples: nothing can be decided.
	if c.Outcome != OutcomeInconclusive {
		t.Errorf("outcome %s with 22 units", c.Outcome)
	}
}

// TestAnalyzeRatio: units with several observations are analysed by the
// delta method (§4.3), which gives what stats.RatioMetricStats gives for
// the per-unit sums and counts.
func TestAnalyzeRatio(t *testing.T) {
	t.Parallel()
	e := abExp("b")
	e.Metrics[0] = normalizeMetric(switchboard.MetricSpec{Name: "score", Kind: switchboard.MetricNumeric})
	ctrl := [][]float64{{1, 2}, {3}, {2, 2, 5}, {4}, {1, 1, 1, 2}, {3, 3}}
	treat := [][]float64{{2}, {4, 5}, {3, 3, 3}, {5}, {2, 4}}
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 6, map[string]switchboard.MetricSums{"score": sumsOf(ctrl...)}),
		variantStats("b", 5, map[string]switchboard.MetricSums{"score": sumsOf(treat...)}),
	}}
	r := mustAnalyze(t, e, st, nil)
	m := r.Metrics[0]
	if m.Analysis != AnalysisUnitRatio || m.Comparisons[0].Fixed.Method != MethodWelchRatio {
		t.Fatalf("analysis %q, method %q", m.Analysis, m.Comparisons[0].Fixed.Method)
	}
	for i, units := range [][][]float64{ctrl, treat} {
		var num, den []float64
		for _, u := range units {
			s := 0.0
			for _, y := range u {
				s += y
			}
			num, den = append(num, s), append(den, float64(len(u)))
		}
		want, err := stats.RatioMetricStats(stats.RatioMetricInput{Numerator: num, Denominator: den})
		if err != nil {
			t.Fatal(err)
		}
		a := m.Arms[i]
		checkNear(t, a.Variant+" ratio", a.Mean, want.Ratio)
		checkNear(t, a.Variant+" per-unit variance", a.Var, float64(want.N)*want.VarOfRatio)
		if a.Units != int64(want.N) {
			t.Errorf("%s units: got %d, want %d", a.Variant, a.Units, want.N)
		}
	}
}

// TestAnalyzeHolm: with three treatments the p-values are Holm-adjusted,
// and the decision ships the best treatment that passes.
func TestAnalyzeHolm(t *testing.T) {
	t.Parallel()
	e := abExp("b", "c", "d")
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 4000, map[string]switchboard.MetricSums{"thumbs": binarySums(4000, 400)}),
		variantStats("b", 4000, map[string]switchboard.MetricSums{"thumbs": binarySums(4000, 410)}),
		variantStats("c", 4000, map[string]switchboard.MetricSums{"thumbs": binarySums(4000, 520)}),
		variantStats("d", 4000, map[string]switchboard.MetricSums{"thumbs": binarySums(4000, 560)}),
	}}
	r := mustAnalyze(t, e, st, nil)
	cs := r.Metrics[0].Comparisons
	var fixed, seq []float64
	for _, c := range cs {
		fixed, seq = append(fixed, c.Fixed.PValue), append(seq, c.Sequential.RunningPValue)
	}
	hf, _ := stats.HolmBonferroni(stats.HolmInput{PValues: fixed, Alpha: e.Alpha})
	hs, _ := stats.HolmBonferroni(stats.HolmInput{PValues: seq, Alpha: e.Alpha})
	for i, c := range cs {
		checkNear(t, c.Variant+" adjusted fixed p", c.Fixed.AdjustedPValue, hf.AdjustedPValues[i])
		checkNear(t, c.Variant+" adjusted always-valid p", c.Sequential.AdjustedPValue, hs.AdjustedPValues[i])
		if c.Sequential.Significant != hs.Reject[i] {
			t.Errorf("%s significant = %v, want %v", c.Variant, c.Sequential.Significant, hs.Reject[i])
		}
	}
	if got := []string{cs[0].Outcome, cs[1].Outcome, cs[2].Outcome}; !slices.Equal(got, []string{OutcomeInconclusive, OutcomeBetter, OutcomeBetter}) {
		t.Errorf("outcomes %v", got)
	}
	if r.Decision.Action != switchboard.DecisionShip || r.Decision.Variant != "d" {
		t.Errorf("decision %+v, want ship d (the larger of two winners)", r.Decision)
	}
	if !strings.Contains(strings.Join(r.Metrics[0].Notes, " "), "Holm") {
		t.Errorf("notes %v do not name Holm", r.Metrics[0].Notes)
	}
}

// TestAnalyzeRunningPValue: a lower p-value from an earlier look stands
// (§6.3), and this look's own p-value is what gets merged.
func TestAnalyzeRunningPValue(t *testing.T) {
	t.Parallel()
	e := abExp("b")
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 500, map[string]switchboard.MetricSums{"thumbs": binarySums(500, 50)}),
		variantStats("b", 500, map[string]switchboard.MetricSums{"thumbs": binarySums(500, 55)}),
	}}
	prev := []switchboard.RunningPValue{{Metric: "thumbs", Variant: "b", PValue: 0.001, Looks: 7}}
	r := mustAnalyze(t, e, st, prev)
	s := r.Metrics[0].Comparisons[0].Sequential
	if s.RunningPValue != 0.001 || s.PValue <= 0.001 || !s.Significant {
		t.Errorf("sequential %+v: want running p 0.001 from the earlier look, significant", s)
	}
	if r.Decision.Action != switchboard.DecisionShip || r.Decision.Variant != "b" {
		t.Errorf("decision %+v, want ship b (rejection is permanent)", r.Decision)
	}
	if l := r.Looks(); len(l) != 1 || l[0].PValue != s.PValue {
		t.Errorf("Looks %+v, want this look's p %g", l, s.PValue)
	}
}

func TestAnalyzeDecisions(t *testing.T) {
	t.Parallel()
	lat := func(n int64, mean, sd float64) switchboard.MetricSums { return numericSums(n, mean, sd*sd) }
	canary := Canary("rag-canary", "rag", "production", "3", "4", 10, 5000)
	for _, tc := range []struct {
		name    string
		e       *switchboard.Experiment
		st      []switchboard.VariantStats
		action  string
		variant string
		reason  string
	}{
		{"no data", abExp("b"), nil, switchboard.DecisionKeepRunning, "", "no exposures"},
		{"below min_samples", abExp("b"), []switchboard.VariantStats{
			variantStats("control", 50, map[string]switchboard.MetricSums{"thumbs": binarySums(50, 2)}),
			variantStats("b", 50, map[string]switchboard.MetricSums{"thumbs": binarySums(50, 40)}),
		}, switchboard.DecisionKeepRunning, "", "no significant"},
		{"winner", abExp("b"), []switchboard.VariantStats{
			variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600), "error": binarySums(3000, 30)}),
			variantStats("b", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 750), "error": binarySums(3000, 31)}),
		}, switchboard.DecisionShip, "b", "b beats control on thumbs"},
		{"worse", abExp("b"), []switchboard.VariantStats{
			variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 750)}),
			variantStats("b", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600)}),
		}, switchboard.DecisionStop, "", "every treatment is worse"},
		{"guardrail", abExp("b"), []switchboard.VariantStats{
			variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600), "error": binarySums(3000, 30)}),
			variantStats("b", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 750), "error": binarySums(3000, 150)}),
		}, switchboard.DecisionStop, "b", "guardrail breached: error of b"},
		{"srm", abExp("b"), []switchboard.VariantStats{
			variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600)}),
			variantStats("b", 2500, map[string]switchboard.MetricSums{"thumbs": binarySums(2500, 500)}),
		}, switchboard.DecisionStop, "", "sample ratio mismatch"},
		{"planned sample", func() *switchboard.Experiment { e := abExp("b"); e.PlannedSampleSize = 2000; return e }(), []switchboard.VariantStats{
			variantStats("control", 1000, map[string]switchboard.MetricSums{"thumbs": binarySums(1000, 200)}),
			variantStats("b", 1000, map[string]switchboard.MetricSums{"thumbs": binarySums(1000, 201)}),
		}, switchboard.DecisionStop, "", "planned sample of 2000"},
		{"canary running", &canary, []switchboard.VariantStats{
			variantStats("stable", 1800, map[string]switchboard.MetricSums{"error": binarySums(1800, 36), "latency": lat(1800, 800, 200)}),
			variantStats("canary", 200, map[string]switchboard.MetricSums{"error": binarySums(200, 4), "latency": lat(200, 790, 200)}),
		}, switchboard.DecisionKeepRunning, "", "2000 of 5000 planned units"},
		{"canary degraded", &canary, []switchboard.VariantStats{
			variantStats("stable", 1800, map[string]switchboard.MetricSums{"error": binarySums(1800, 36), "latency": lat(1800, 800, 200)}),
			variantStats("canary", 200, map[string]switchboard.MetricSums{"error": binarySums(200, 30), "latency": lat(200, 800, 200)}),
		}, switchboard.DecisionRollback, "canary", "guardrail breached: error of canary"},
		{"canary slow", &canary, []switchboard.VariantStats{
			variantStats("stable", 1800, map[string]switchboard.MetricSums{"error": binarySums(1800, 36), "latency": lat(1800, 800, 200)}),
			variantStats("canary", 200, map[string]switchboard.MetricSums{"error": binarySums(200, 4), "latency": lat(200, 1100, 200)}),
		}, switchboard.DecisionRollback, "canary", "latency of canary"},
		{"canary promoted", &canary, []switchboard.VariantStats{
			variantStats("stable", 4500, map[string]switchboard.MetricSums{"error": binarySums(4500, 90), "latency": lat(4500, 800, 200)}),
			variantStats("canary", 500, map[string]switchboard.MetricSums{"error": binarySums(500, 10), "latency": lat(500, 805, 200)}),
		}, switchboard.DecisionShip, "canary", "not worse than stable"},
		{"canary srm", &canary, []switchboard.VariantStats{
			variantStats("stable", 1000, map[string]switchboard.MetricSums{"error": binarySums(1000, 20)}),
			variantStats("canary", 1000, map[string]switchboard.MetricSums{"error": binarySums(1000, 20)}),
		}, switchboard.DecisionRollback, "canary", "sample ratio mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustAnalyze(t, tc.e, switchboard.ExperimentStats{Variants: tc.st}, nil)
			d := r.Decision
			if d.Action != tc.action || d.Variant != tc.variant || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("decision %+v, want %s %q with reason containing %q", d, tc.action, tc.variant, tc.reason)
			}
		})
	}
}

// TestAnalyzeGuardrailEvidence: the §12 numbers of a report are those of
// stats.RollbackDecision on the same arms.
func TestAnalyzeGuardrailEvidence(t *testing.T) {
	t.Parallel()
	e := Canary("c", "rag", "production", "1", "2", 20, 10000)
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("stable", 2000, map[string]switchboard.MetricSums{"error": binarySums(2000, 40), "latency": numericSums(2000, 800, 40000)}),
		variantStats("canary", 500, map[string]switchboard.MetricSums{"error": binarySums(500, 25), "latency": numericSums(500, 850, 50000)}),
	}}
	r := mustAnalyze(t, &e, st, nil)
	want, err := stats.RollbackDecision(stats.RollbackInput{Alpha: 0.05, TuningS: 10000, NMin: ptr(100), Guardrails: []stats.Guardrail{
		{Name: "error/canary", Type: stats.MetricBinary, HigherIsWorse: true, Margin: 0.005, MarginType: stats.MarginAbsolute,
			Control: stats.Arm{N: 2000, X: 40}, Treatment: stats.Arm{N: 500, X: 25}},
		{Name: "latency/canary", Type: stats.MetricContinuous, HigherIsWorse: true, Margin: 0.1, MarginType: stats.MarginRelative,
			Control: stats.Arm{N: 2000, Mean: 800, Var: 40000}, Treatment: stats.Arm{N: 500, Mean: 850, Var: 50000}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range r.Metrics {
		g := m.Comparisons[0].Guard
		w := want.Metrics[i]
		got := GuardResult{Harm: g.Harm, MarginAbs: g.MarginAbs, AlphaMetric: g.AlphaMetric, Eligible: g.Eligible,
			HalfWidth: g.HalfWidth, LowerBound: g.LowerBound, Breached: g.Breached}
		exp := GuardResult{Harm: w.Harm, MarginAbs: w.MarginAbs, AlphaMetric: w.AlphaMetric, Eligible: w.Eligible,
			HalfWidth: w.HalfWidth, LowerBound: w.LowerBound, Breached: w.Breached}
		if diff := cmp.Diff(exp, got); diff != "" {
			t.Errorf("%s guard (-stats +report):\n%s", m.Name, diff)
		}
	}
	if r.Guardrails.Action != string(want.Action) || !slices.Equal(r.Guardrails.Triggered, want.Triggered) {
		t.Errorf("guardrails %+v, want %s %v", r.Guardrails, want.Action, want.Triggered)
	}
}

// TestAnalyzeMissingData: variants without exposures, metrics without
// observations and exposures of unknown variants are reported, not errors.
func TestAnalyzeMissingData(t *testing.T) {
	t.Parallel()
	e := abExp("b", "c")
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 300, map[string]switchboard.MetricSums{"thumbs": binarySums(300, 30)}),
		variantStats("b", 300, map[string]switchboard.MetricSums{}),
		variantStats("ghost", 5, nil),
	}}
	r := mustAnalyze(t, e, st, nil)
	if len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0], "ghost") {
		t.Errorf("warnings %v, want one about ghost", r.Warnings)
	}
	for _, c := range r.Metrics[0].Comparisons {
		if c.Fixed != nil || c.Sequential != nil || c.Outcome != OutcomeInconclusive || len(c.Notes) == 0 {
			t.Errorf("comparison without data: %+v", c)
		}
	}
	if r.SRM == nil || !r.SRM.Mismatch {
		t.Errorf("300/300/0 for equal weights: SRM %+v, want a mismatch", r.SRM)
	}
	if r.Guardrails == nil || len(r.Guardrails.Triggered) != 0 {
		t.Errorf("guardrails %+v", r.Guardrails)
	}
}

func TestAnalyzeRejectsInvalid(t *testing.T) {
	t.Parallel()
	e := abExp("b")
	e.Control = "nope"
	if _, err := Analyze(e, switchboard.ExperimentStats{}, nil, e.CreatedAt); err == nil {
		t.Error("Analyze of an invalid experiment: got nil error")
	}
}

// TestAnalyzeDegenerateData: tiny, constant and extreme samples never
// produce NaN or ±Inf (the report must encode as JSON) nor an error.
func TestAnalyzeDegenerateData(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 5))
	e := abExp("b", "c")
	e.Metrics = append(e.Metrics, normalizeMetric(switchboard.MetricSpec{Name: "judge", Kind: switchboard.MetricNumeric, Guard: true}))
	sums := func() switchboard.MetricSums {
		switch rng.IntN(6) {
		case 0:
			return switchboard.MetricSums{}
		case 1:
			return binarySums(int64(1+rng.IntN(3)), 0)
		case 2:
			n := int64(1 + rng.IntN(300))
			return binarySums(n, n)
		case 3:
			return numericSums(int64(1+rng.IntN(5)), 0, 0)
		case 4:
			return sumsOf([]float64{1e300}, []float64{-1e300, 2}, []float64{0})
		}
		n := int64(100 + rng.IntN(1000))
		return binarySums(n, int64(rng.IntN(int(n)+1)))
	}
	for range 500 {
		var st switchboard.ExperimentStats
		for _, v := range e.Variants {
			if rng.IntN(5) == 0 {
				continue
			}
			ms := map[string]switchboard.MetricSums{}
			for _, m := range e.Metrics {
				ms[m.Name] = sums()
			}
			st.Variants = append(st.Variants, variantStats(v.Name, int64(rng.IntN(1000)), ms))
		}
		r := mustAnalyze(t, e, st, nil)
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("json.Marshal(report): %v\nstats: %+v", err, st)
		}
	}
}
