package experiment

import (
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Methods named in reports, with their STATS.md sections.
const (
	MethodTwoProportion = "two-proportion z-test, pooled (§2.1); Wald CI (§2.3)"
	MethodWelch         = "Welch t-test and CI (§3)"
	MethodWelchRatio    = "Welch t-test and CI on the per-unit ratio, delta-method variance (§4.3, §3)"
	MethodLift          = "relative lift, delta-method CI (§4.1)"
	MethodAlwaysValid   = "always-valid mSPRT / asymptotic confidence sequence, running minimum p (§6.2, §6.3)"
	MethodHolm          = "Holm–Bonferroni across treatments (§8)"
	MethodSRM           = "chi-square goodness of fit (§5.1); sequential Dirichlet–multinomial test (§5.2)"
	MethodRollback      = "always-valid lower bound of the harm vs the margin, α/(G·V) per guardrail (§12)"
)

// Analysis units of a metric report.
const (
	// AnalysisRequest: every unit has one observation, so the request is
	// the analysis unit.
	AnalysisRequest = "request"
	// AnalysisUnitRatio: some unit has several observations; each variant's
	// mean is the ratio Σ values / Σ observations over units, with the
	// delta-method variance (STATS.md §4.3).
	AnalysisUnitRatio = "unit_ratio"
)

// Outcomes of a comparison, from the always-valid test after Holm.
const (
	OutcomeBetter       = "better"
	OutcomeWorse        = "worse"
	OutcomeInconclusive = "inconclusive"
)

// Report is the analysis of an experiment at one look: per variant and
// metric the sample, the difference and relative lift against control with
// confidence intervals, fixed-horizon and always-valid p-values with Holm
// adjustment, the sample-ratio-mismatch check, the guardrail evaluation of
// STATS.md §12 and the decision. Numbers that cannot be computed (too few
// units, zero variance) are absent, with a note.
type Report struct {
	Experiment  string    `json:"experiment"`
	Description string    `json:"description,omitempty"`
	Kind        string    `json:"kind"`
	Status      string    `json:"status"`
	Prompt      string    `json:"prompt,omitempty"`
	Label       string    `json:"label,omitempty"`
	Model       string    `json:"model,omitempty"`
	Control     string    `json:"control"`
	Alpha       float64   `json:"alpha"`
	TuningS     float64   `json:"tuning_s"`
	MinSamples  int       `json:"min_samples"`
	Planned     int64     `json:"planned_sample_size,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	GeneratedAt time.Time `json:"generated_at"`
	// Units and Requests are totals over variants.
	Units    int64           `json:"units"`
	Requests int64           `json:"requests"`
	Variants []VariantReport `json:"variants"`
	// SRM is nil before the first exposure.
	SRM     *SRMReport     `json:"srm"`
	Metrics []MetricReport `json:"metrics"`
	// Guardrails is the §12 evaluation of the guard metrics; nil when the
	// experiment has none.
	Guardrails *GuardrailReport `json:"guardrails,omitempty"`
	// Decision is the recommendation at this look (keep_running, ship,
	// stop, rollback); for an experiment that ended, Ended is why it did.
	Decision switchboard.ExperimentDecision  `json:"decision"`
	Ended    *switchboard.ExperimentDecision `json:"ended,omitempty"`
	Warnings []string                        `json:"warnings,omitempty"`

	// looks are this look's always-valid p-values, for the running minima.
	looks []switchboard.RunningPValue
}

// VariantReport is one variant's assignment: its configured share and the
// units (and requests) it got.
type VariantReport struct {
	Name          string  `json:"name"`
	PromptVersion string  `json:"prompt_version,omitempty"`
	Model         string  `json:"model,omitempty"`
	Weight        float64 `json:"weight"`
	ExpectedShare float64 `json:"expected_share"`
	ObservedShare float64 `json:"observed_share"`
	Units         int64   `json:"units"`
	Requests      int64   `json:"requests"`
}

// SRMReport is the sample-ratio-mismatch check of the units per variant
// against the weights (variants of weight 0 left out). Mismatch follows the
// sequential test, valid however often the report is read; the
// chi-square p-value is the fixed-look check.
type SRMReport struct {
	Method           string    `json:"method"`
	Counts           []int64   `json:"counts"`
	Weights          []float64 `json:"weights"`
	ChiSquare        float64   `json:"chi2"`
	DF               int       `json:"df"`
	PValue           float64   `json:"p_value"`
	SequentialPValue float64   `json:"sequential_p_value"`
	Threshold        float64   `json:"threshold"`
	Mismatch         bool      `json:"mismatch"`
}

// MetricReport is the analysis of one metric.
type MetricReport struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Direction string `json:"direction"`
	Guard     bool   `json:"guard,omitempty"`
	Primary   bool   `json:"primary,omitempty"`
	// Unit is the unit of the values: "ms", "usd", "tokens", "rate" or "".
	Unit string `json:"unit,omitempty"`
	// Analysis is AnalysisRequest or AnalysisUnitRatio.
	Analysis    string       `json:"analysis"`
	Arms        []ArmReport  `json:"arms"`
	Comparisons []Comparison `json:"comparisons"`
	Notes       []string     `json:"notes,omitempty"`
}

// ArmReport is one variant's sample of one metric: units with at least one
// observation, observations, the mean (a rate for binary metrics) and the
// per-unit variance and standard deviation used by the tests.
type ArmReport struct {
	Variant      string  `json:"variant"`
	Units        int64   `json:"units"`
	Observations int64   `json:"observations"`
	Mean         float64 `json:"mean"`
	Var          float64 `json:"var"`
	SD           float64 `json:"sd"`
	// Successes is Σ values of a binary metric.
	Successes *int64 `json:"successes,omitempty"`
}

// Comparison is one treatment against control on one metric. Diff is
// mean_T − mean_C.
type Comparison struct {
	Variant string  `json:"variant"`
	Diff    float64 `json:"diff"`
	// Fixed is the fixed-horizon test and CI, valid at one planned look.
	Fixed *FixedResult `json:"fixed,omitempty"`
	// Lift is the relative lift (mean_T − mean_C)/mean_C.
	Lift *LiftResult `json:"lift,omitempty"`
	// Sequential is the always-valid test that decisions use.
	Sequential *SequentialResult `json:"sequential,omitempty"`
	// Guard is the §12 evaluation, for guard metrics.
	Guard *GuardResult `json:"guard,omitempty"`
	// Outcome is better, worse or inconclusive (always-valid, after Holm,
	// in the metric's direction).
	Outcome string   `json:"outcome"`
	Notes   []string `json:"notes,omitempty"`
}

// FixedResult is a fixed-horizon test with its CI at level 1 − α.
type FixedResult struct {
	Method    string   `json:"method"`
	Statistic float64  `json:"statistic"` // z or t
	DF        *float64 `json:"df,omitempty"`
	PValue    float64  `json:"p_value"`
	// AdjustedPValue is Holm-adjusted across treatments.
	AdjustedPValue float64 `json:"adjusted_p_value"`
	Lower          float64 `json:"lower"`
	Upper          float64 `json:"upper"`
}

// LiftResult is the relative lift with its delta-method CI.
type LiftResult struct {
	Method string  `json:"method"`
	Lift   float64 `json:"lift"`
	PValue float64 `json:"p_value"`
	Lower  float64 `json:"lower"`
	Upper  float64 `json:"upper"`
}

// SequentialResult is the always-valid test of the difference: PValue at
// this look, RunningPValue the minimum over every look so far, its Holm
// adjustment, and the (1 − α) confidence sequence.
type SequentialResult struct {
	Method         string  `json:"method"`
	PValue         float64 `json:"p_value"`
	RunningPValue  float64 `json:"running_p_value"`
	AdjustedPValue float64 `json:"adjusted_p_value"`
	Lower          float64 `json:"lower"`
	Upper          float64 `json:"upper"`
	Significant    bool    `json:"significant"`
}

// GuardResult is one guardrail's §12 evidence: the harm in the bad
// direction, the absolute margin, the per-comparison level, whether the
// sample gates pass, the always-valid lower bound of the harm and whether
// it exceeds the margin.
type GuardResult struct {
	Harm        float64  `json:"harm"`
	MarginAbs   float64  `json:"margin_abs"`
	AlphaMetric float64  `json:"alpha_metric"`
	Eligible    bool     `json:"eligible"`
	HalfWidth   *float64 `json:"half_width"`
	LowerBound  *float64 `json:"lower_bound"`
	Breached    bool     `json:"breached"`
}

// GuardrailReport is the §12 rule over all guard comparisons.
type GuardrailReport struct {
	Method string `json:"method"`
	// Action is continue, halt_srm (a sample ratio mismatch), or, when a
	// guardrail is breached, what that does to the experiment in its own
	// words: rollback for a canary, stop for an A/B test.
	Action    string   `json:"action"`
	Triggered []string `json:"triggered"`
	Alpha     float64  `json:"alpha"`
}

// Looks returns this look's always-valid p-values (one per metric and
// treatment), as MergeRunningPValues takes them.
func (r *Report) Looks() []switchboard.RunningPValue { return r.looks }
