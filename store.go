package switchboard

import (
	"context"
	"io"
	"time"
)

// Inference is the record of one inference: a chat completion or an
// embeddings call, successful or not.
type Inference struct {
	ID            string        `json:"id"`
	Time          time.Time     `json:"time"`
	RequestID     string        `json:"request_id,omitempty"`
	TenantID      string        `json:"tenant_id,omitempty"`
	KeyID         string        `json:"key_id,omitempty"`
	Endpoint      string        `json:"endpoint"`
	Model         string        `json:"model"`
	Provider      string        `json:"provider,omitempty"`
	UpstreamModel string        `json:"upstream_model,omitempty"`
	Stream        bool          `json:"stream"`
	Status        int           `json:"status"`
	ErrorCode     string        `json:"error_code,omitempty"`
	Latency       time.Duration `json:"latency_ns"`
	TTFT          time.Duration `json:"ttft_ns,omitempty"`
	InputTokens   int           `json:"input_tokens"`
	OutputTokens  int           `json:"output_tokens"`
	CachedTokens  int           `json:"cached_tokens"`
	Attempts      int           `json:"attempts"`
	// Cache is the response cache's verdict (hit, semantic-hit, miss,
	// bypass, partial), empty when the cache is off.
	Cache string `json:"cache,omitempty"`
	// CacheTier is the tier that served a hit.
	CacheTier string `json:"cache_tier,omitempty"`
	// CostUSD is what the upstream call cost: 0 for a cache hit, nil when
	// the model is unpriced.
	CostUSD *float64 `json:"cost_usd"`
	// SavedUSD is, for a cache hit, what the avoided call would have cost.
	SavedUSD *float64 `json:"saved_usd,omitempty"`
	// PromptID, PromptVersion and PromptLabel name the prompt version a
	// prompt call rendered, and the label it was asked for.
	PromptID      string `json:"prompt_id,omitempty"`
	PromptVersion string `json:"prompt_version,omitempty"`
	PromptLabel   string `json:"prompt_label,omitempty"`
	// Experiment and Variant record the exposure of an inference that an
	// experiment assigned.
	Experiment string `json:"experiment,omitempty"`
	Variant    string `json:"variant,omitempty"`
	// Unit is a salted hash of the randomisation unit (the request's user or
	// x-switchboard-unit), never the raw ID; empty when the inference had no
	// unit and was assigned at random (it is then its own unit).
	Unit string `json:"unit,omitempty"`
}

// InferenceFilter selects inference records. Zero fields do not filter.
type InferenceFilter struct {
	// ID selects one record.
	ID           string
	Since, Until time.Time
	Model        string
	TenantID     string
	KeyID        string
	// PromptID and Experiment select a prompt's calls and an experiment's
	// exposures.
	PromptID   string
	Experiment string
	Limit      int
}

// InferenceStore persists inference records.
type InferenceStore interface {
	// InsertInferences writes a batch in one transaction. Inserting a record
	// whose ID exists already is a no-op, so a retried batch never double-counts.
	InsertInferences(ctx context.Context, batch []Inference) error
	// ListInferences returns matching records, newest first.
	ListInferences(ctx context.Context, f InferenceFilter) ([]Inference, error)
	// CountInferences returns the number of matching records.
	CountInferences(ctx context.Context, f InferenceFilter) (int, error)
	// SumInferences aggregates matching records grouped by the named
	// dimensions (any of GroupTenant, GroupKey, GroupModel, GroupDay,
	// GroupCache), ordered by those dimensions.
	SumInferences(ctx context.Context, f InferenceFilter, groupBy []string) ([]InferenceSum, error)
}

// Grouping dimensions of SumInferences.
const (
	GroupTenant = "tenant"
	GroupKey    = "key"
	GroupModel  = "model"
	GroupDay    = "day"
	GroupCache  = "cache"
)

// InferenceSum is one row of an aggregate over inference records. Only the
// grouped dimensions are set; Day is YYYY-MM-DD in UTC.
type InferenceSum struct {
	Tenant       string  `json:"tenant,omitempty"`
	KeyID        string  `json:"key,omitempty"`
	Model        string  `json:"model,omitempty"`
	Day          string  `json:"day,omitempty"`
	Cache        string  `json:"cache,omitempty"`
	Requests     int64   `json:"requests"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CachedTokens int64   `json:"cached_tokens"`
	CostUSD      float64 `json:"cost_usd"`
	SavedUSD     float64 `json:"saved_usd"`
}

// Store is the database behind the gateway: SQLite by default, PostgreSQL
// when scaled out. Migrations run in the factory.
type Store interface {
	InferenceStore
	TenantStore
	PromptStore
	ExperimentStore
	AuditStore
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	io.Closer
}
