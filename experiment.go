package switchboard

import (
	"cmp"
	"context"
	"strconv"
	"time"
)

// Experiment kinds.
const (
	// ExperimentAB splits traffic between variants to find a winner on a
	// primary metric (STATS.md §13).
	ExperimentAB = "ab"
	// ExperimentCanary rolls a new version out to a share of a label's
	// traffic, watched by guard metrics (STATS.md §12): rolled back when
	// worse beyond a margin, promoted to 100 % after the planned sample.
	ExperimentCanary = "canary"
)

// Experiment statuses. Only a running experiment splits traffic.
const (
	ExperimentRunning    = "running"
	ExperimentStopped    = "stopped"
	ExperimentShipped    = "shipped"
	ExperimentRolledBack = "rolled_back"
)

// Decisions of an experiment report and of the monitor.
const (
	// DecisionKeepRunning: no conclusion yet.
	DecisionKeepRunning = "keep_running"
	// DecisionShip: a treatment won (A/B), or a canary was not worse after
	// its planned sample; its version goes to 100 %.
	DecisionShip = "ship"
	// DecisionStop: end the experiment without a winner (sample ratio
	// mismatch, a guardrail breached, every treatment worse, or the planned
	// sample reached without a difference).
	DecisionStop = "stop"
	// DecisionRollback: a canary is worse than control beyond a guard
	// margin, or its traffic split is broken; traffic returns to control.
	DecisionRollback = "rollback"
)

// Metric kinds, directions and margin types of MetricSpec.
const (
	// MetricBinary is a 0/1 outcome (an error, a thumbs-up); feedback
	// values > 0 count as 1.
	MetricBinary = "binary"
	// MetricNumeric is a real-valued outcome (latency, a judge score).
	MetricNumeric = "numeric"

	// HigherIsBetter and LowerIsBetter are the directions of a metric.
	HigherIsBetter = "higher"
	LowerIsBetter  = "lower"

	// MarginAbsolute gives a guard margin in the metric's unit;
	// MarginRelative as a fraction of the control mean.
	MarginAbsolute = "absolute"
	MarginRelative = "relative"
)

// Automatic metrics, computed from inference records; every other metric
// name is a feedback metric (POST /v1/feedback).
const (
	// MetricLatency is the request latency in milliseconds, over successful
	// calls (status < 400).
	MetricLatency = "latency"
	// MetricCost is the upstream cost in USD, over priced calls.
	MetricCost = "cost"
	// MetricError is 1 for a call that failed with status ≥ 500 (upstream
	// error, unavailable, timeout) or whose assigned prompt variant could
	// not be rendered (error code CodePromptVariantFailed), else 0.
	MetricError = "error"
	// MetricOutputTokens is the number of output tokens of successful calls.
	MetricOutputTokens = "output_tokens"
)

// CodePromptVariantFailed is the error code an inference record carries
// (with status 400) when the prompt version of the experiment variant it
// was assigned could not be rendered with the client's variables, so the
// model was never called. It is an exposure of that variant, and counts as
// a failure of it in the automatic error metric: a new version that breaks
// on real inputs must not look healthy.
const CodePromptVariantFailed = "prompt_variant_failed"

// Experiment splits the traffic of a prompt label (or of a model name)
// between variants by weight, sticky per unit, and says how to judge them.
// Spec fields are frozen at creation; Status, StoppedAt and Decision change
// once, when the experiment ends.
type Experiment struct {
	// Name identifies the experiment; inference records carry it.
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Kind is ExperimentAB or ExperimentCanary.
	Kind string `json:"kind" yaml:"kind"`
	// Prompt is the prompt ID whose Label traffic is split; empty for a
	// model experiment.
	Prompt string `json:"prompt,omitempty" yaml:"prompt,omitempty"`
	// Label is the prompt label whose traffic is split (for a canary, the
	// label being rolled out).
	Label string `json:"label,omitempty" yaml:"label,omitempty"`
	// Model is, for a model experiment, the requested model name whose
	// traffic is split.
	Model string `json:"model,omitempty" yaml:"model,omitempty"`
	// Salt is hashed with the unit to assign variants; a new salt reshuffles.
	Salt     string    `json:"salt,omitempty" yaml:"salt,omitempty"`
	Variants []Variant `json:"variants" yaml:"variants"`
	// Control names the variant the others are compared with.
	Control string       `json:"control" yaml:"control"`
	Metrics []MetricSpec `json:"metrics" yaml:"metrics"`
	// Alpha is the two-sided significance level, also the false-rollback
	// budget of a canary (default 0.05).
	Alpha float64 `json:"alpha,omitempty" yaml:"alpha,omitempty"`
	// TuningS is the always-valid tuning parameter S of STATS.md §6.4
	// (default PlannedSampleSize, else 1000).
	TuningS float64 `json:"tuning_s,omitempty" yaml:"tuning_s,omitempty"`
	// PlannedSampleSize is the number of units (all variants) after which a
	// canary that is not worse ships and an A/B test without a difference
	// stops; 0 means open-ended (not allowed for a canary).
	PlannedSampleSize int64 `json:"planned_sample_size,omitempty" yaml:"planned_sample_size,omitempty"`
	// MinSamples is n_min, the units per variant before any decision
	// (default 100).
	MinSamples int `json:"min_samples,omitempty" yaml:"min_samples,omitempty"`
	// AutoStop lets the monitor stop an A/B test whose decision is stop;
	// AutoPromote lets it ship the winner. A canary always acts on its own.
	AutoStop    bool `json:"auto_stop,omitempty" yaml:"auto_stop,omitempty"`
	AutoPromote bool `json:"auto_promote,omitempty" yaml:"auto_promote,omitempty"`

	Status    string    `json:"status" yaml:"status,omitempty"`
	CreatedAt time.Time `json:"created_at" yaml:"created_at,omitempty"`
	CreatedBy string    `json:"created_by,omitempty" yaml:"created_by,omitempty"`
	// StoppedAt is when the experiment left running; zero while running.
	StoppedAt time.Time `json:"stopped_at,omitzero" yaml:"stopped_at,omitempty"`
	// Decision is why it left running; nil while running.
	Decision *ExperimentDecision `json:"decision,omitempty" yaml:"decision,omitempty"`
}

// Variant is one arm of an experiment: a prompt version or a model, and
// its share of the traffic.
type Variant struct {
	Name string `json:"name" yaml:"name"`
	// PromptVersion is the prompt version served (prompt experiments), as
	// the prompt registry names versions: the display version, the
	// sequence number or a hash prefix.
	PromptVersion string `json:"prompt_version,omitempty" yaml:"prompt_version,omitempty"`
	// Model is the model served (model experiments), or an override of the
	// prompt's model.
	Model string `json:"model,omitempty" yaml:"model,omitempty"`
	// Weight is the relative share of traffic (any non-negative scale).
	Weight float64 `json:"weight" yaml:"weight"`
}

// MetricSpec says how one metric is read and judged. Kind and Direction of
// the automatic metrics are fixed; Margin and MarginType have per-metric
// defaults (STATS.md §12.1).
type MetricSpec struct {
	Name string `json:"name" yaml:"name"`
	// Kind is MetricBinary or MetricNumeric.
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Direction is HigherIsBetter or LowerIsBetter.
	Direction string `json:"direction,omitempty" yaml:"direction,omitempty"`
	// Guard makes the metric a guardrail: a treatment worse than control by
	// more than Margin (with the configured confidence) stops an A/B test
	// and rolls a canary back.
	Guard bool `json:"guard,omitempty" yaml:"guard,omitempty"`
	// Margin is the tolerated harm δ ≥ 0 of a guard; nil means the default.
	Margin *float64 `json:"margin,omitempty" yaml:"margin,omitempty"`
	// MarginType is MarginAbsolute or MarginRelative.
	MarginType string `json:"margin_type,omitempty" yaml:"margin_type,omitempty"`
	// Cap, when positive, caps numeric values before analysis (outliers of
	// heavy-tailed metrics such as latency, STATS.md §1.10 rule 3).
	Cap float64 `json:"cap,omitempty" yaml:"cap,omitempty"`
}

// ExperimentDecision is a decision about an experiment: the current
// recommendation of a report, or why it ended.
type ExperimentDecision struct {
	// Action is one of DecisionKeepRunning, DecisionShip, DecisionStop,
	// DecisionRollback.
	Action string `json:"action"`
	// Variant is the variant shipped or rolled back, if any.
	Variant string `json:"variant,omitempty"`
	// Reason says why, with the numbers.
	Reason string    `json:"reason"`
	Actor  string    `json:"actor,omitempty"`
	Time   time.Time `json:"time,omitzero"`
}

// Feedback is one outcome reported for an inference (POST /v1/feedback):
// boolean values are stored as 1 and 0.
type Feedback struct {
	InferenceID string    `json:"inference_id"`
	Metric      string    `json:"metric"`
	Value       float64   `json:"value"`
	TenantID    string    `json:"tenant_id,omitempty"`
	Time        time.Time `json:"time"`
}

// FeedbackResult says what UpsertFeedback did.
type FeedbackResult string

// Results of UpsertFeedback.
const (
	FeedbackCreated   FeedbackResult = "created"
	FeedbackUpdated   FeedbackResult = "updated"
	FeedbackUnchanged FeedbackResult = "unchanged"
)

// ExperimentFilter selects experiments. Zero fields do not filter.
type ExperimentFilter struct {
	Status string
	Prompt string
	Label  string
	Model  string
}

// ExperimentStatsQuery selects what ExperimentStats aggregates: the
// exposures (inference records) of one experiment in [Since, Until).
type ExperimentStatsQuery struct {
	Experiment   string
	Since, Until time.Time
	// Metrics are aggregated by Name, Kind and Cap.
	Metrics []MetricSpec
	// Period is the width of the assignment periods (by each unit's first
	// exposure, aligned to the Unix epoch) of the sequential SRM test; 0
	// means one period.
	Period time.Duration
}

// ExperimentStats are the sufficient statistics of an experiment, per
// variant. The analysis unit is the randomisation unit: the unit hash of an
// inference, or the inference itself when it has none.
type ExperimentStats struct {
	// Variants holds the variants with at least one exposure, by name.
	Variants []VariantStats `json:"variants"`
}

// VariantStats are one variant's exposure counts and metric sums.
type VariantStats struct {
	Variant string `json:"variant"`
	// Units and Requests count distinct units and inference records.
	Units    int64 `json:"units"`
	Requests int64 `json:"requests"`
	// Periods count units by the period of their first exposure, oldest
	// first; their sum is Units.
	Periods []PeriodCount `json:"periods"`
	// Metrics holds the sums of each queried metric with observations.
	Metrics map[string]MetricSums `json:"metrics"`
}

// PeriodCount is the number of units first exposed in the period that
// starts at Start.
type PeriodCount struct {
	Start time.Time `json:"start"`
	Units int64     `json:"units"`
}

// MetricSums are the per-unit sufficient statistics of one metric in one
// variant. For unit i with observations y_ij: M_i = Σ_j y_ij, D_i = the
// number of observations. Binary values are 0/1, so Sum counts successes.
// The second moments are centred on the variant means (no cancellation).
type MetricSums struct {
	Units int64   `json:"units"` // n: units with at least one observation
	Count int64   `json:"count"` // Σ D_i
	Sum   float64 `json:"sum"`   // Σ M_i
	M2    float64 `json:"m2"`    // Σ (M_i − M̄)²
	D2    float64 `json:"d2"`    // Σ (D_i − D̄)²
	MD    float64 `json:"md"`    // Σ (M_i − M̄)(D_i − D̄)
}

// RunningPValue is the running minimum p* of the always-valid p-value of
// one metric's treatment-vs-control comparison (STATS.md §6.3), kept across
// looks and replicas.
type RunningPValue struct {
	Metric    string    `json:"metric"`
	Variant   string    `json:"variant"`
	PValue    float64   `json:"p_value"`
	Looks     int64     `json:"looks"`
	UpdatedAt time.Time `json:"updated_at"`
}

// VersionStatsFilter selects the inference records VersionStats
// aggregates. Prompt is required; zero fields do not filter.
type VersionStatsFilter struct {
	Prompt       string
	TenantID     string
	Since, Until time.Time
	// ByLabel groups by label as well as by version.
	ByLabel bool
}

// VersionStats is the analytics of one prompt version (and label).
type VersionStats struct {
	Prompt  string `json:"prompt"`
	Version string `json:"version"`
	Label   string `json:"label,omitempty"`
	Calls   int64  `json:"calls"`
	// Errors counts failed calls as the automatic error metric does:
	// status ≥ 500, or error code CodePromptVariantFailed.
	Errors int64 `json:"errors"`
	// LatencyP50 and LatencyP95 are over successful calls (status < 400),
	// linear interpolation between order statistics (PostgreSQL's
	// percentile_cont); 0 when there are none.
	LatencyP50   time.Duration  `json:"latency_p50_ns"`
	LatencyP95   time.Duration  `json:"latency_p95_ns"`
	InputTokens  int64          `json:"input_tokens"`
	OutputTokens int64          `json:"output_tokens"`
	CostUSD      float64        `json:"cost_usd"`
	Feedback     []FeedbackMean `json:"feedback,omitempty"`
}

// FeedbackMean is the mean of one feedback metric over N rated calls.
type FeedbackMean struct {
	Metric string  `json:"metric"`
	N      int64   `json:"n"`
	Mean   float64 `json:"mean"`
}

// ExperimentStore persists experiments, feedback and the state of the
// sequential tests, and aggregates exposures in the database.
type ExperimentStore interface {
	// CreateExperiment stores e. The error wraps ErrExists if the name is
	// taken, or if e is running and another running experiment splits the
	// same prompt label or model.
	CreateExperiment(ctx context.Context, e Experiment) error
	// GetExperiment returns the named experiment, or an error wrapping
	// ErrNotFound.
	GetExperiment(ctx context.Context, name string) (Experiment, error)
	// ListExperiments returns matching experiments, newest first.
	ListExperiments(ctx context.Context, f ExperimentFilter) ([]Experiment, error)
	// SetExperimentStatus moves the named experiment from status from to
	// status to, recording d (and d.Time as StoppedAt unless to is running),
	// only if its status is from: it reports whether this call made the
	// change, so of several replicas deciding at once exactly one wins.
	// An unknown name is an error wrapping ErrNotFound.
	SetExperimentStatus(ctx context.Context, name, from, to string, d *ExperimentDecision) (bool, error)

	// UpsertFeedback stores f, unique per (InferenceID, TenantID, Metric):
	// the first write creates it, the same value again changes nothing, a
	// different value replaces it (it still counts once). A tenant only
	// creates and replaces its own rows; another tenant's feedback on the
	// same inference is a row of its own, which aggregations ignore.
	UpsertFeedback(ctx context.Context, f Feedback) (FeedbackResult, error)
	// ListFeedback returns the feedback of one inference from every
	// tenant, by metric then tenant.
	ListFeedback(ctx context.Context, inferenceID string) ([]Feedback, error)

	// ExperimentStats aggregates an experiment's exposures per variant in
	// the database. Automatic metrics come from the inference columns,
	// feedback metrics from feedback of the inference's own tenant.
	ExperimentStats(ctx context.Context, q ExperimentStatsQuery) (ExperimentStats, error)
	// MergeRunningPValues folds ps into the stored running minima (p* =
	// min, Looks added) and returns every stored value of the experiment,
	// by metric and variant; nil ps only reads.
	MergeRunningPValues(ctx context.Context, experiment string, ps []RunningPValue) ([]RunningPValue, error)

	// VersionStats aggregates a prompt's inference records per version
	// (and label), by version (CompareVersions) then label.
	VersionStats(ctx context.Context, f VersionStatsFilter) ([]VersionStats, error)
}

// CompareVersions orders prompt version names: numerically when both are
// decimal integers ("9" before "10"), else by bytes, integers first.
func CompareVersions(a, b string) int {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(x, y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}
