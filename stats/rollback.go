package stats

import (
	"fmt"
	"math"
	"strconv"
)

// Action is the outcome of RollbackDecision (STATS.md §12.2).
type Action string

// Actions, in order of precedence.
const (
	// ActionHaltSRM means the sequential SRM test fired: route all traffic
	// to control and alert; the metric results are untrustworthy.
	ActionHaltSRM Action = "halt_srm"
	// ActionRollback means at least one guardrail is breached: route 100 % of
	// traffic to control and mark the treatment rolled back.
	ActionRollback Action = "rollback"
	// ActionContinue means nothing fired.
	ActionContinue Action = "continue"
)

// MarginType says how a guardrail's tolerance margin is given (§12.1).
type MarginType string

// Margin types of §12.1.
const (
	// MarginAbsolute gives the margin in the metric's unit.
	MarginAbsolute MarginType = "absolute"
	// MarginRelative gives the margin as a fraction of |mean_C|:
	// δ_abs = δ_rel·|mean_C| (Spotify's conversion of relative NIMs).
	MarginRelative MarginType = "relative"
)

// RollbackInput is the input of RollbackDecision (STATS.md §12.1). Zero Alpha
// and TuningS mean DefaultAlpha and DefaultTuningS; nil NMin and
// MinEventsBinary mean DefaultNMin and DefaultMinEventsBinary (an explicit 0
// disables the gate). Each Guardrails entry is one (metric, treatment arm)
// comparison, so the Bonferroni family G·V is len(Guardrails). SRM is nil when
// no assignment counts are supplied.
type RollbackInput struct {
	Alpha           float64     `json:"alpha,omitempty"`
	TuningS         float64     `json:"tuning_S,omitempty"`
	NMin            *int        `json:"n_min,omitempty"`
	MinEventsBinary *int        `json:"min_events_binary,omitempty"`
	SRM             *SRMConfig  `json:"srm"`
	Guardrails      []Guardrail `json:"guardrails"`
}

// SRMConfig is the sequential SRM gate of RollbackDecision: the inputs of
// SRMSequential plus the threshold (zero means SRMThreshold).
type SRMConfig struct {
	PeriodCounts  [][]int   `json:"period_counts"`
	Weights       []float64 `json:"weights"`
	Concentration float64   `json:"concentration,omitempty"`
	Threshold     float64   `json:"threshold,omitempty"`
}

// Guardrail is one guardrail metric compared between control and one
// treatment arm. Type is binary (arms {n, x}) or continuous (arms
// {n, mean, var}; a ratio metric enters as continuous with the §4.3 ratio and
// per-unit variance). Margin is the tolerance δ ≥ 0 in the bad direction.
type Guardrail struct {
	Name          string     `json:"name"`
	Type          MetricType `json:"type"`
	HigherIsWorse bool       `json:"higher_is_worse"`
	Margin        float64    `json:"margin"`
	MarginType    MarginType `json:"margin_type"`
	Control       Arm        `json:"control"`
	Treatment     Arm        `json:"treatment"`
}

// GuardrailResult is the evidence for one guardrail: the harm
// H = d·(mean_T − mean_C) (d = +1 if higher is worse, else −1), the absolute
// margin, the per-metric level α/(G·V), the eligibility gates, the always-valid
// half-width and lower bound H − h (nil when the variance is 0), and whether
// the guardrail is breached.
type GuardrailResult struct {
	Name        string   `json:"name"`
	Harm        float64  `json:"harm"`
	MarginAbs   float64  `json:"margin_abs"`
	AlphaMetric float64  `json:"alpha_metric"`
	Eligible    bool     `json:"eligible"`
	HalfWidth   *float64 `json:"half_width"`
	LowerBound  *float64 `json:"lower_bound"`
	Breached    bool     `json:"breached"`
}

// RollbackDecisionResult is the output of RollbackDecision. Triggered lists
// the names of the breached guardrails in configuration order (whatever the
// action); SRMPValue is nil when no SRM data was supplied.
type RollbackDecisionResult struct {
	Action    Action            `json:"action"`
	Triggered []string          `json:"triggered"`
	SRMPValue *float64          `json:"srm_p_value"`
	Metrics   []GuardrailResult `json:"metrics"`
}

// RollbackDecision evaluates the auto-rollback rule of STATS.md §12 at one
// look (any look frequency is valid):
//
//  1. halt_srm if the sequential SRM p-value (§5.2) is below the threshold;
//  2. for each guardrail, with α_m = α/len(guardrails), the harm
//     H = d·(mean_T − mean_C) and V = var_C/n_C + var_T/n_T, the always-valid
//     (1 − α_m) half-width h of §6.2 (whenever V > 0); the guardrail is
//     breached iff eligible (both arms ≥ n_min units, binary x_C + x_T ≥
//     min_events_binary, V > 0) and H − h > δ_abs;
//  3. rollback if any guardrail is breached, else continue.
//
// If every guardrail's true harm is within its margin, the probability that a
// rollback ever fires over all looks is ≤ α (Ville + Bonferroni,
// asymptotically). Errors: invalid α, S, gates, SRM data, guardrail type,
// margin type, negative margin, or arm (n < 1, x ∉ [0, n], var < 0).
func RollbackDecision(in RollbackInput) (RollbackDecisionResult, error) {
	const fn = "rollback_decision"
	alpha, s, err := avParams(fn, in.Alpha, in.TuningS, 0)
	if err != nil {
		return RollbackDecisionResult{}, err
	}
	nMin, minEvents := DefaultNMin, DefaultMinEventsBinary
	if in.NMin != nil {
		nMin = *in.NMin
	}
	if in.MinEventsBinary != nil {
		minEvents = *in.MinEventsBinary
	}
	if nMin < 0 || minEvents < 0 {
		return RollbackDecisionResult{}, invalid(fn, "n_min = %d, min_events_binary = %d, want ≥ 0", nMin, minEvents)
	}
	r := RollbackDecisionResult{
		Action:    ActionContinue,
		Triggered: []string{},
		Metrics:   make([]GuardrailResult, 0, len(in.Guardrails)),
	}
	if in.SRM != nil {
		srm, err := SRMSequential(SRMSequentialInput{
			PeriodCounts:  in.SRM.PeriodCounts,
			Weights:       in.SRM.Weights,
			Concentration: in.SRM.Concentration,
		})
		if err != nil {
			return RollbackDecisionResult{}, fmt.Errorf("stats: %s: srm: %w", fn, err)
		}
		threshold := in.SRM.Threshold
		if threshold == 0 {
			threshold = SRMThreshold
		}
		if !(threshold > 0 && threshold < 1) {
			return RollbackDecisionResult{}, invalid(fn, "srm threshold = %g, want 0 < threshold < 1", threshold)
		}
		p := srm.PValue[len(srm.PValue)-1]
		r.SRMPValue = &p
		if p < threshold {
			r.Action = ActionHaltSRM
		}
	}
	alphaM := alpha / float64(max(len(in.Guardrails), 1))
	for i, g := range in.Guardrails {
		m, err := evalGuardrail(fn+": guardrails["+strconv.Itoa(i)+"]", g, alphaM, s, nMin, minEvents)
		if err != nil {
			return RollbackDecisionResult{}, err
		}
		r.Metrics = append(r.Metrics, m)
		if m.Breached {
			r.Triggered = append(r.Triggered, m.Name)
		}
	}
	if r.Action == ActionContinue && len(r.Triggered) > 0 {
		r.Action = ActionRollback
	}
	return r, nil
}

// evalGuardrail applies step 2 of §12.2 to one guardrail.
func evalGuardrail(fn string, g Guardrail, alphaM, s float64, nMin, minEvents int) (GuardrailResult, error) {
	c, err := g.Control.moments(fn, "control", g.Type)
	if err != nil {
		return GuardrailResult{}, err
	}
	t, err := g.Treatment.moments(fn, "treatment", g.Type)
	if err != nil {
		return GuardrailResult{}, err
	}
	if !(g.Margin >= 0) || !finite(g.Margin) {
		return GuardrailResult{}, invalid(fn, "margin = %g, want finite ≥ 0", g.Margin)
	}
	r := GuardrailResult{Name: g.Name, AlphaMetric: alphaM}
	switch g.MarginType {
	case MarginAbsolute:
		r.MarginAbs = g.Margin
	case MarginRelative:
		r.MarginAbs = g.Margin * math.Abs(c.mean)
	default:
		return GuardrailResult{}, invalid(fn, "margin_type %q, want %q or %q", g.MarginType, MarginAbsolute, MarginRelative)
	}
	r.Harm = t.mean - c.mean
	if !g.HigherIsWorse {
		r.Harm = -r.Harm
	}
	v := c.v/c.n + t.v/t.n
	if !finite(r.Harm) || !finite(v) || !finite(r.MarginAbs) {
		return GuardrailResult{}, invalid(fn, "harm, margin or variance overflows")
	}
	r.Eligible = g.Control.N >= nMin && g.Treatment.N >= nMin && v > 0
	if g.Type == MetricBinary && g.Control.X+g.Treatment.X < minEvents {
		r.Eligible = false
	}
	if v > 0 {
		h := avHalfWidth(v, c.n+t.n, alphaM, s)
		lb := r.Harm - h
		r.HalfWidth, r.LowerBound = &h, &lb
		r.Breached = r.Eligible && lb > r.MarginAbs
	}
	return r, nil
}
