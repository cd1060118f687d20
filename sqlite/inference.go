package sqlite

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Limits of ListInferences.
const (
	defaultLimit = 100
	maxLimit     = 10000
)

const inferenceColumns = `id, time, request_id, tenant_id, key_id, endpoint, model, provider,
    upstream_model, stream, status, error_code, latency_ns, ttft_ns,
    input_tokens, output_tokens, cached_tokens, attempts, cache, cache_tier, cost_usd, saved_usd,
    prompt_id, prompt_version, prompt_label, experiment, variant, unit`

const insertInference = `INSERT INTO inferences (` + inferenceColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

// InsertInferences writes batch in one transaction. A record whose ID exists
// already is skipped, so a retried batch never double-counts.
func (s *Store) InsertInferences(ctx context.Context, batch []switchboard.Inference) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: insert inferences: %w", switchboard.ErrClosed)
	}
	if len(batch) == 0 {
		return nil
	}
	if err := s.insert(ctx, batch); err != nil {
		return fmt.Errorf("sqlite: insert inferences: %w", err)
	}
	return nil
}

func (s *Store) insert(ctx context.Context, batch []switchboard.Inference) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, insertInference)
	if err != nil {
		return err
	}
	defer func() { _ = stmt.Close() }()
	for i := range batch {
		in := &batch[i]
		if _, err := stmt.ExecContext(ctx,
			in.ID, unixNano(in.Time), in.RequestID, in.TenantID, in.KeyID, in.Endpoint, in.Model, in.Provider,
			in.UpstreamModel, in.Stream, in.Status, in.ErrorCode, int64(in.Latency), int64(in.TTFT),
			in.InputTokens, in.OutputTokens, in.CachedTokens, in.Attempts, in.Cache, in.CacheTier, in.CostUSD, in.SavedUSD,
			in.PromptID, in.PromptVersion, in.PromptLabel, in.Experiment, in.Variant, in.Unit,
		); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ListInferences returns the records that match f, newest first (ties by ID,
// descending). f.Limit 0 means 100; more than 10000 means 10000.
func (s *Store) ListInferences(ctx context.Context, f switchboard.InferenceFilter) ([]switchboard.Inference, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list inferences: %w", switchboard.ErrClosed)
	}
	where, args := whereClause(f)
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, `SELECT `+inferenceColumns+` FROM inferences`+where+
		` ORDER BY time DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list inferences: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := make([]switchboard.Inference, 0, min(limit, 64))
	for rows.Next() {
		var (
			in                switchboard.Inference
			ns, latency, ttft int64
		)
		if err := rows.Scan(&in.ID, &ns, &in.RequestID, &in.TenantID, &in.KeyID, &in.Endpoint, &in.Model, &in.Provider,
			&in.UpstreamModel, &in.Stream, &in.Status, &in.ErrorCode, &latency, &ttft,
			&in.InputTokens, &in.OutputTokens, &in.CachedTokens, &in.Attempts, &in.Cache, &in.CacheTier, &in.CostUSD, &in.SavedUSD,
			&in.PromptID, &in.PromptVersion, &in.PromptLabel, &in.Experiment, &in.Variant, &in.Unit); err != nil {
			return nil, fmt.Errorf("sqlite: list inferences: %w", err)
		}
		in.Time = fromUnixNano(ns)
		in.Latency, in.TTFT = time.Duration(latency), time.Duration(ttft)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list inferences: %w", err)
	}
	return out, nil
}

// CountInferences returns the number of records that match f; f.Limit is
// ignored.
func (s *Store) CountInferences(ctx context.Context, f switchboard.InferenceFilter) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("sqlite: count inferences: %w", switchboard.ErrClosed)
	}
	where, args := whereClause(f)
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM inferences`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count inferences: %w", err)
	}
	return n, nil
}

// whereClause returns the WHERE clause (with a leading space, or empty) and
// its arguments for f. Since is inclusive, Until exclusive.
func whereClause(f switchboard.InferenceFilter) (string, []any) {
	var conds []string
	var args []any
	if f.ID != "" {
		conds, args = append(conds, "id = ?"), append(args, f.ID)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "time >= ?"), append(args, unixNano(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "time < ?"), append(args, unixNano(f.Until))
	}
	if f.Model != "" {
		conds, args = append(conds, "model = ?"), append(args, f.Model)
	}
	if f.TenantID != "" {
		conds, args = append(conds, "tenant_id = ?"), append(args, f.TenantID)
	}
	if f.KeyID != "" {
		conds, args = append(conds, "key_id = ?"), append(args, f.KeyID)
	}
	if f.PromptID != "" {
		conds, args = append(conds, "prompt_id = ?", "prompt_id <> ''"), append(args, f.PromptID)
	}
	if f.Experiment != "" {
		conds, args = append(conds, "experiment = ?", "experiment <> ''"), append(args, f.Experiment)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// unixNano returns t as the integer stored in the time column: Unix
// nanoseconds, or 0 for the zero time. Times outside 1678–2262 saturate.
func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromUnixNano is the inverse of unixNano; times come back in UTC.
func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
