package experiment

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/stats"
)

// Defaults and limits of an experiment spec.
const (
	// DefaultAlpha is the significance level (and a canary's false-rollback
	// budget) when the spec gives none (STATS.md §0.1, §12.1).
	DefaultAlpha = stats.DefaultAlpha
	// DefaultTuningS is the always-valid tuning parameter S when the spec
	// gives neither tuning_s nor planned_sample_size (STATS.md §6.4).
	DefaultTuningS = stats.DefaultTuningS
	// DefaultMinSamples is n_min, the units per variant before any decision
	// (STATS.md §12.1).
	DefaultMinSamples = stats.DefaultNMin
	// MaxVariants and MaxMetrics bound a spec.
	MaxVariants = 16
	MaxMetrics  = 20
	// MaxSpecBytes bounds the JSON of a spec.
	MaxSpecBytes = 64 << 10
	// MaxNameLen bounds an experiment name, as long as a prompt ID.
	MaxNameLen = 128
	// DefaultCanaryPercent is the share of traffic (%) of a canary that
	// names none.
	DefaultCanaryPercent = 10
	// DefaultCanaryPlannedUnits is the planned sample of a canary that
	// names none, raised to the smallest valid size when the canary's
	// share is too small for it (see Validate).
	DefaultCanaryPlannedUnits = 1000
)

var (
	// nameRE matches variant names.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)
	// idRE matches experiment names and prompt IDs: what the prompt
	// registry takes as a prompt ID (prompt.ValidID), 1–128 letters,
	// digits, _ . -, not starting with . or -.
	idRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$`)
	// labelRE matches prompt labels, as prompt.ValidLabel does.
	labelRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$`)
	// metricRE matches metric names.
	metricRE = regexp.MustCompile(`^[a-z][a-z0-9_.\-]{0,63}$`)
	// saltRE matches salts: printable ASCII.
	saltRE = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
)

// automatic are the metrics computed from inference records, with their
// fixed kind and direction and default guard margins (STATS.md §12.1).
var automatic = map[string]switchboard.MetricSpec{
	switchboard.MetricError: {Name: switchboard.MetricError, Kind: switchboard.MetricBinary,
		Direction: switchboard.LowerIsBetter, Margin: ptr(0.005), MarginType: switchboard.MarginAbsolute},
	switchboard.MetricLatency: {Name: switchboard.MetricLatency, Kind: switchboard.MetricNumeric,
		Direction: switchboard.LowerIsBetter, Margin: ptr(0.10), MarginType: switchboard.MarginRelative},
	switchboard.MetricCost: {Name: switchboard.MetricCost, Kind: switchboard.MetricNumeric,
		Direction: switchboard.LowerIsBetter, Margin: ptr(0.10), MarginType: switchboard.MarginRelative},
	switchboard.MetricOutputTokens: {Name: switchboard.MetricOutputTokens, Kind: switchboard.MetricNumeric,
		Direction: switchboard.LowerIsBetter, Margin: ptr(0.10), MarginType: switchboard.MarginRelative},
}

// IsAutomatic reports whether name is an automatic metric (latency, cost,
// error, output_tokens), computed from inference records rather than
// feedback.
func IsAutomatic(name string) bool {
	_, ok := automatic[name]
	return ok
}

func ptr[T any](v T) *T { return &v }

// DecodeSpec strictly decodes the JSON of an experiment spec (unknown
// fields are an error), fills in the defaults and validates it. The state
// fields (status, created_at, stopped_at, decision) must be absent or
// zero; an absent salt becomes a random one. Errors are
// *switchboard.Error with code invalid_request.
func DecodeSpec(data []byte) (switchboard.Experiment, error) {
	if len(data) > MaxSpecBytes {
		return switchboard.Experiment{}, switchboard.InvalidParam("", "experiment spec is larger than %d bytes", MaxSpecBytes)
	}
	var e switchboard.Experiment
	if err := decodeStrict(data, &e, "experiment spec"); err != nil {
		return switchboard.Experiment{}, err
	}
	switch {
	case e.Status != "" && e.Status != switchboard.ExperimentRunning:
		return switchboard.Experiment{}, switchboard.InvalidParam("status", "a new experiment is running; status %q cannot be set", e.Status)
	case !e.CreatedAt.IsZero(), !e.StoppedAt.IsZero(), e.Decision != nil, e.CreatedBy != "":
		return switchboard.Experiment{}, switchboard.InvalidParam("", "created_at, created_by, stopped_at and decision are set by the gateway")
	}
	e = Normalize(e)
	if err := Validate(e); err != nil {
		return switchboard.Experiment{}, err
	}
	return e, nil
}

// Normalize returns e with the defaults filled in: status running, α, S
// (the planned sample size, else 1000), n_min, a random salt, and each
// metric's kind, direction and margin (automatic metrics have fixed ones;
// a binary feedback guard tolerates −2 points, a numeric one −5 %). Slices
// are copied, so e is left as it was.
func Normalize(e switchboard.Experiment) switchboard.Experiment {
	if e.Kind == "" {
		e.Kind = switchboard.ExperimentAB
	}
	if e.Status == "" {
		e.Status = switchboard.ExperimentRunning
	}
	if e.Alpha == 0 {
		e.Alpha = DefaultAlpha
	}
	if e.TuningS == 0 {
		e.TuningS = DefaultTuningS
		if e.PlannedSampleSize > 0 {
			e.TuningS = float64(e.PlannedSampleSize)
		}
	}
	if e.MinSamples == 0 {
		e.MinSamples = DefaultMinSamples
	}
	if e.Salt == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		e.Salt = hex.EncodeToString(b[:])
	}
	e.Variants = slices.Clone(e.Variants)
	e.Metrics = slices.Clone(e.Metrics)
	for i, m := range e.Metrics {
		e.Metrics[i] = normalizeMetric(m)
	}
	return e
}

func normalizeMetric(m switchboard.MetricSpec) switchboard.MetricSpec {
	if a, ok := automatic[m.Name]; ok {
		if m.Kind == "" {
			m.Kind = a.Kind
		}
		if m.Direction == "" {
			m.Direction = a.Direction
		}
		if m.Margin == nil {
			m.Margin, m.MarginType = ptr(*a.Margin), a.MarginType
		}
	}
	if m.Direction == "" {
		m.Direction = switchboard.HigherIsBetter
	}
	if m.Margin == nil {
		switch m.Kind {
		case switchboard.MetricBinary:
			m.Margin, m.MarginType = ptr(0.02), switchboard.MarginAbsolute
		case switchboard.MetricNumeric:
			m.Margin, m.MarginType = ptr(0.05), switchboard.MarginRelative
		}
	} else {
		m.Margin = ptr(*m.Margin)
	}
	if m.MarginType == "" {
		m.MarginType = switchboard.MarginAbsolute
	}
	return m
}

// Validate reports the first problem of a normalized experiment as a
// *switchboard.Error with code invalid_request naming the field at fault.
func Validate(e switchboard.Experiment) error {
	bad := switchboard.InvalidParam
	switch {
	case !idRE.MatchString(e.Name):
		return bad("name", "experiment name must be 1–%d letters, digits, _ . or -, not starting with . or -; got %q", MaxNameLen, e.Name)
	case e.Kind != switchboard.ExperimentAB && e.Kind != switchboard.ExperimentCanary:
		return bad("kind", "kind must be %q or %q, got %q", switchboard.ExperimentAB, switchboard.ExperimentCanary, e.Kind)
	case (e.Prompt == "") == (e.Model == ""):
		return bad("prompt", "set exactly one of prompt (a prompt experiment) and model (a model experiment)")
	case e.Prompt != "" && !idRE.MatchString(e.Prompt):
		return bad("prompt", "invalid prompt ID %q: 1–128 letters, digits, _ . or -, not starting with . or -", e.Prompt)
	case e.Prompt != "" && !labelRE.MatchString(e.Label):
		return bad("label", "a prompt experiment needs the label whose traffic it splits (1–64 letters, digits, _ . -, not starting with . or -), got %q", e.Label)
	case e.Model != "" && e.Label != "":
		return bad("label", "a model experiment splits a model's traffic and has no label")
	case e.Model != "" && (len(e.Model) > 256 || !printable(e.Model)):
		return bad("model", "invalid model name")
	case e.Kind == switchboard.ExperimentCanary && e.Prompt == "":
		return bad("prompt", "a canary rolls out a prompt version to a label: prompt is required")
	case !saltRE.MatchString(e.Salt):
		return bad("salt", "salt must be 1–128 printable ASCII characters")
	case len(e.Description) > 1024:
		return bad("description", "description is longer than 1024 bytes")
	case !(e.Alpha > 0 && e.Alpha <= 0.5):
		return bad("alpha", "alpha must be in (0, 0.5], got %g", e.Alpha)
	case !(e.TuningS > 0) || math.IsInf(e.TuningS, 0):
		return bad("tuning_s", "tuning_s must be positive, got %g", e.TuningS)
	case e.PlannedSampleSize < 0:
		return bad("planned_sample_size", "planned_sample_size must be ≥ 0")
	case e.Kind == switchboard.ExperimentCanary && e.PlannedSampleSize == 0:
		return bad("planned_sample_size", "a canary needs planned_sample_size: the units after which it is promoted")
	case e.MinSamples < 2:
		return bad("min_samples", "min_samples must be ≥ 2, got %d", e.MinSamples)
	case e.Status != switchboard.ExperimentRunning && e.Status != switchboard.ExperimentStopped &&
		e.Status != switchboard.ExperimentShipped && e.Status != switchboard.ExperimentRolledBack:
		return bad("status", "unknown status %q", e.Status)
	}
	if err := validateVariants(e); err != nil {
		return err
	}
	if err := validateCanaryPlan(e); err != nil {
		return err
	}
	return validateMetrics(e)
}

// validateCanaryPlan checks that a canary's planned sample gives its arm
// at least min_samples units: planned × share ≥ n_min. Below that the
// guardrails could not become eligible by the planned sample, so the
// canary could neither ship nor be rolled back on evidence then.
func validateCanaryPlan(e switchboard.Experiment) error {
	if e.Kind != switchboard.ExperimentCanary {
		return nil
	}
	c := 1 - variantIndex(&e, e.Control)
	if !(e.Variants[c].Weight > 0) {
		return switchboard.InvalidParam(fmt.Sprintf("variants[%d].weight", c), "the canary variant needs a positive weight")
	}
	if least := minPlanned(e); e.PlannedSampleSize < least {
		return switchboard.InvalidParam("planned_sample_size",
			"planned_sample_size %d gives the canary (%.4g %% of the traffic) about %.4g units, fewer than min_samples (%d): it must be at least %d",
			e.PlannedSampleSize, 100*share(e, c), float64(e.PlannedSampleSize)*share(e, c), e.MinSamples, least)
	}
	return nil
}

// share returns variant i's share of the weights.
func share(e switchboard.Experiment, i int) float64 {
	total := 0.0
	for _, v := range e.Variants {
		total += v.Weight
	}
	return e.Variants[i].Weight / total
}

// minPlanned returns the smallest planned sample size at which a canary's
// arm expects min_samples units: the least P with P·w_canary ≥
// n_min·Σw (the same product Validate compares, so the two agree).
func minPlanned(e switchboard.Experiment) int64 {
	c := 1 - variantIndex(&e, e.Control)
	w, total := e.Variants[c].Weight, 0.0
	for _, v := range e.Variants {
		total += v.Weight
	}
	need := float64(max(e.MinSamples, 1)) * total
	if !(w > 0) || need/w > float64(math.MaxInt64/2) {
		return math.MaxInt64
	}
	p := int64(math.Ceil(need / w))
	for p > 1 && float64(p-1)*w >= need {
		p--
	}
	for float64(p)*w < need {
		p++
	}
	return p
}

func validateVariants(e switchboard.Experiment) error {
	bad := switchboard.InvalidParam
	if len(e.Variants) < 2 || len(e.Variants) > MaxVariants {
		return bad("variants", "an experiment needs 2 to %d variants, got %d", MaxVariants, len(e.Variants))
	}
	if e.Kind == switchboard.ExperimentCanary && len(e.Variants) != 2 {
		return bad("variants", "a canary has 2 variants, the current version (control) and the new one")
	}
	seen := map[string]bool{}
	total, control := 0.0, -1
	for i, v := range e.Variants {
		p := fmt.Sprintf("variants[%d].", i)
		switch {
		case !nameRE.MatchString(v.Name):
			return bad(p+"name", "invalid variant name %q", v.Name)
		case seen[v.Name]:
			return bad(p+"name", "duplicate variant name %q", v.Name)
		case !(v.Weight >= 0) || math.IsInf(v.Weight, 0):
			return bad(p+"weight", "weight must be a finite number ≥ 0")
		case e.Prompt != "" && v.PromptVersion == "":
			return bad(p+"prompt_version", "each variant of a prompt experiment needs a prompt_version")
		case len(v.PromptVersion) > 128 || !printable(v.PromptVersion):
			return bad(p+"prompt_version", "invalid prompt_version %q", v.PromptVersion)
		case e.Model != "" && v.Model == "":
			return bad(p+"model", "each variant of a model experiment needs a model")
		case e.Model != "" && v.PromptVersion != "":
			return bad(p+"prompt_version", "a model experiment has no prompt versions")
		case len(v.Model) > 256 || !printable(v.Model):
			return bad(p+"model", "invalid model name")
		}
		seen[v.Name] = true
		total += v.Weight
		if v.Name == e.Control {
			control = i
		}
	}
	switch {
	case control < 0:
		return bad("control", "control must name a variant, got %q", e.Control)
	case !(e.Variants[control].Weight > 0):
		return bad("control", "the control variant needs a positive weight")
	case math.IsInf(total, 0):
		return bad("variants", "weights overflow")
	}
	return nil
}

func validateMetrics(e switchboard.Experiment) error {
	bad := switchboard.InvalidParam
	if len(e.Metrics) == 0 || len(e.Metrics) > MaxMetrics {
		return bad("metrics", "an experiment needs 1 to %d metrics, got %d", MaxMetrics, len(e.Metrics))
	}
	seen := map[string]bool{}
	guards, primary := 0, 0
	for i, m := range e.Metrics {
		p := fmt.Sprintf("metrics[%d].", i)
		a, auto := automatic[m.Name]
		switch {
		case !metricRE.MatchString(m.Name):
			return bad(p+"name", "metric names are 1–64 lower-case letters, digits, _ . or -, starting with a letter; got %q", m.Name)
		case seen[m.Name]:
			return bad(p+"name", "duplicate metric %q", m.Name)
		case m.Kind != switchboard.MetricBinary && m.Kind != switchboard.MetricNumeric:
			return bad(p+"kind", "metric %q: kind must be %q or %q", m.Name, switchboard.MetricBinary, switchboard.MetricNumeric)
		case auto && (m.Kind != a.Kind || m.Direction != a.Direction):
			return bad(p+"kind", "metric %q is automatic: %s, %s is better", m.Name, a.Kind, a.Direction)
		case m.Direction != switchboard.HigherIsBetter && m.Direction != switchboard.LowerIsBetter:
			return bad(p+"direction", "metric %q: direction must be %q or %q", m.Name, switchboard.HigherIsBetter, switchboard.LowerIsBetter)
		case m.Margin == nil || !(*m.Margin >= 0) || math.IsInf(*m.Margin, 0):
			return bad(p+"margin", "metric %q: margin must be a finite number ≥ 0", m.Name)
		case m.MarginType != switchboard.MarginAbsolute && m.MarginType != switchboard.MarginRelative:
			return bad(p+"margin_type", "metric %q: margin_type must be %q or %q", m.Name, switchboard.MarginAbsolute, switchboard.MarginRelative)
		case !(m.Cap >= 0) || math.IsInf(m.Cap, 0):
			return bad(p+"cap", "metric %q: cap must be a finite number ≥ 0", m.Name)
		case m.Cap > 0 && m.Kind == switchboard.MetricBinary:
			return bad(p+"cap", "metric %q: a binary metric has no cap", m.Name)
		}
		seen[m.Name] = true
		if m.Guard {
			guards++
		} else {
			primary++
		}
	}
	switch {
	case e.Kind == switchboard.ExperimentCanary && guards == 0:
		return bad("metrics", "a canary needs at least one guard metric")
	case e.Kind == switchboard.ExperimentAB && primary == 0:
		return bad("metrics", "an A/B test needs a primary metric: the first metric that is not a guard")
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// Primary returns the primary metric of e: its first metric that is not a
// guard (the decision metric of an A/B test, STATS.md §13), and false if
// there is none.
func Primary(e *switchboard.Experiment) (switchboard.MetricSpec, bool) {
	for _, m := range e.Metrics {
		if !m.Guard {
			return m, true
		}
	}
	return switchboard.MetricSpec{}, false
}

// DefaultGuards are the guard metrics of a canary created without any: the
// error rate (+0.5 points) and mean latency (+10 %).
func DefaultGuards() []switchboard.MetricSpec {
	return []switchboard.MetricSpec{
		{Name: switchboard.MetricError, Guard: true},
		{Name: switchboard.MetricLatency, Guard: true},
	}
}

// Canary returns the normalized spec of a guarded rollout: label of prompt
// serves version from; version to gets percent (0–100) of its traffic
// until plannedUnits units were exposed, watched by guards (DefaultGuards
// when none). The control variant is "stable", the other "canary".
//
// Zero values take defaults: name CanaryName(prompt, label, now), percent
// DefaultCanaryPercent, plannedUnits DefaultCanaryPlannedUnits or, if the
// share is too small for it, the smallest size Validate accepts. A name
// of the default form ("<prompt>-<label>-canary-…") longer than MaxNameLen
// is shortened as CanaryName shortens it; any other name is kept as given.
func Canary(name, prompt, label, from, to string, percent float64, plannedUnits int64, guards ...switchboard.MetricSpec) switchboard.Experiment {
	if len(guards) == 0 {
		guards = DefaultGuards()
	}
	ms := make([]switchboard.MetricSpec, len(guards))
	for i, g := range guards {
		g.Guard = true
		ms[i] = g
	}
	if percent == 0 {
		percent = DefaultCanaryPercent
	}
	head := prompt + "-" + label
	switch {
	case name == "":
		name = CanaryName(prompt, label, time.Now())
	case len(name) > MaxNameLen && strings.HasPrefix(name, head+"-canary-"):
		name = shortenName(head, name[len(head):])
	}
	e := Normalize(switchboard.Experiment{
		Name:   name,
		Kind:   switchboard.ExperimentCanary,
		Prompt: prompt,
		Label:  label,
		Variants: []switchboard.Variant{
			{Name: "stable", PromptVersion: from, Weight: 100 - percent},
			{Name: "canary", PromptVersion: to, Weight: percent},
		},
		Control:           "stable",
		Metrics:           ms,
		PlannedSampleSize: plannedUnits,
	})
	if plannedUnits == 0 {
		e.PlannedSampleSize = DefaultCanaryPlannedUnits
		if percent > 0 && percent < 100 {
			e.PlannedSampleSize = max(e.PlannedSampleSize, minPlanned(e))
		}
		e.TuningS = float64(e.PlannedSampleSize)
	}
	return e
}

// CanaryName returns the default name of a canary of prompt's label
// started at t: "<prompt>-<label>-canary-<UTC time>". When that is longer
// than MaxNameLen, the "<prompt>-<label>" part is cut and followed by 8 hex
// digits of its SHA-256, so the name is the same for the same inputs and
// two long prompt IDs that share a prefix keep distinct names.
func CanaryName(prompt, label string, t time.Time) string {
	return shortenName(prompt+"-"+label, "-canary-"+t.UTC().Format("20060102T150405"))
}

// shortenName returns head+tail, or, when that is longer than MaxNameLen,
// a prefix of head, "-", 8 hex digits of SHA-256(head) and tail.
func shortenName(head, tail string) string {
	if len(head)+len(tail) <= MaxNameLen {
		return head + tail
	}
	sum := sha256.Sum256([]byte(head))
	h := hex.EncodeToString(sum[:4])
	keep := max(MaxNameLen-len(tail)-1-len(h), 1)
	return head[:min(keep, len(head))] + "-" + h + tail
}
