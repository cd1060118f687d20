package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// insertInferences inserts a whole batch in one statement, one array
// parameter per column. It beat a pgx.Batch of single-row INSERTs in
// BenchmarkInsertInferences (see postgres_bench_test.go).
const insertInferences = `INSERT INTO inferences (` + inferenceColumns + `)
SELECT * FROM unnest(
    $1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::text[], $10::boolean[], $11::integer[], $12::text[], $13::bigint[], $14::bigint[],
    $15::bigint[], $16::bigint[], $17::bigint[], $18::integer[], $19::text[], $20::text[],
    $21::double precision[], $22::double precision[],
    $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[])
ON CONFLICT (id) DO NOTHING`

// InsertInferences writes batch in one statement. A record whose ID exists
// already is skipped, so a retried batch never double-counts. Times are kept
// to the microsecond.
func (s *Store) InsertInferences(ctx context.Context, batch []switchboard.Inference) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: insert inferences: %w", switchboard.ErrClosed)
	}
	if len(batch) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, insertInferences, columnsOf(batch)...); err != nil {
		return fmt.Errorf("postgres: insert inferences: %w", err)
	}
	return nil
}

// columnsOf returns the arguments of insertInferences: batch, by column.
func columnsOf(batch []switchboard.Inference) []any {
	n := len(batch)
	var (
		id, requestID, tenantID, keyID, endpoint = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		model, provider, upstreamModel, errCode  = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		tm                                       = make([]time.Time, n)
		stream                                   = make([]bool, n)
		status, attempts                         = make([]int32, n), make([]int32, n)
		latency, ttft                            = make([]int64, n), make([]int64, n)
		input, output, cached                    = make([]int64, n), make([]int64, n), make([]int64, n)
		cache, cacheTier                         = make([]string, n), make([]string, n)
		cost, saved                              = make([]*float64, n), make([]*float64, n)
		promptID, promptLabel, experiment        = make([]string, n), make([]string, n), make([]string, n)
		variant, unit, promptVersion             = make([]string, n), make([]string, n), make([]string, n)
	)
	for i := range batch {
		in := &batch[i]
		id[i], tm[i], requestID[i], tenantID[i], keyID[i] = text(in.ID), in.Time, text(in.RequestID), text(in.TenantID), text(in.KeyID)
		endpoint[i], model[i], provider[i], upstreamModel[i] = text(in.Endpoint), text(in.Model), text(in.Provider), text(in.UpstreamModel)
		stream[i], status[i], errCode[i] = in.Stream, int4(in.Status), text(in.ErrorCode)
		latency[i], ttft[i] = int64(in.Latency), int64(in.TTFT)
		input[i], output[i], cached[i] = int64(in.InputTokens), int64(in.OutputTokens), int64(in.CachedTokens)
		attempts[i] = int4(in.Attempts)
		cache[i], cacheTier[i], cost[i], saved[i] = text(in.Cache), text(in.CacheTier), in.CostUSD, in.SavedUSD
		promptID[i], promptVersion[i], promptLabel[i] = text(in.PromptID), text(in.PromptVersion), text(in.PromptLabel)
		experiment[i], variant[i], unit[i] = text(in.Experiment), text(in.Variant), text(in.Unit)
	}
	return []any{id, tm, requestID, tenantID, keyID, endpoint, model, provider,
		upstreamModel, stream, status, errCode, latency, ttft, input, output, cached, attempts,
		cache, cacheTier, cost, saved, promptID, promptVersion, promptLabel, experiment, variant, unit}
}

// text returns s as PostgreSQL accepts it in a text column: NUL bytes
// removed and invalid UTF-8 replaced with U+FFFD. Fields such as Model come
// from clients, and one rejected record would fail its whole batch forever.
func text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// int4 returns n clamped to the range of an integer column.
func int4(n int) int32 {
	return int32(max(min(n, math.MaxInt32), math.MinInt32))
}

// ListInferences returns the records that match f, newest first (ties by ID,
// descending). f.Limit 0 means 100; more than 10000 means 10000.
func (s *Store) ListInferences(ctx context.Context, f switchboard.InferenceFilter) ([]switchboard.Inference, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list inferences: %w", switchboard.ErrClosed)
	}
	where, args := whereClause(f)
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+inferenceColumns+` FROM inferences`+where+
		` ORDER BY time DESC, id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list inferences: %w", err)
	}
	defer rows.Close()
	out := make([]switchboard.Inference, 0, min(limit, 64))
	for rows.Next() {
		var (
			in                                   switchboard.Inference
			latency, ttft, input, output, cached int64
			status, attempts                     int32
		)
		if err := rows.Scan(&in.ID, &in.Time, &in.RequestID, &in.TenantID, &in.KeyID, &in.Endpoint, &in.Model, &in.Provider,
			&in.UpstreamModel, &in.Stream, &status, &in.ErrorCode, &latency, &ttft,
			&input, &output, &cached, &attempts, &in.Cache, &in.CacheTier, &in.CostUSD, &in.SavedUSD,
			&in.PromptID, &in.PromptVersion, &in.PromptLabel, &in.Experiment, &in.Variant, &in.Unit); err != nil {
			return nil, fmt.Errorf("postgres: list inferences: %w", err)
		}
		in.Time = in.Time.UTC()
		in.Status, in.Attempts = int(status), int(attempts)
		in.Latency, in.TTFT = time.Duration(latency), time.Duration(ttft)
		in.InputTokens, in.OutputTokens, in.CachedTokens = int(input), int(output), int(cached)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list inferences: %w", err)
	}
	return out, nil
}

// CountInferences returns the number of records that match f; f.Limit is
// ignored.
func (s *Store) CountInferences(ctx context.Context, f switchboard.InferenceFilter) (int, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("postgres: count inferences: %w", switchboard.ErrClosed)
	}
	where, args := whereClause(f)
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM inferences`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count inferences: %w", err)
	}
	return int(n), nil
}

// whereClause returns the WHERE clause (with a leading space, or empty) and
// its arguments $1… for f. Since is inclusive, Until exclusive.
func whereClause(f switchboard.InferenceFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, cond+" $"+strconv.Itoa(len(args)))
	}
	if f.ID != "" {
		add("id =", f.ID)
	}
	if !f.Since.IsZero() {
		add("time >=", f.Since)
	}
	if !f.Until.IsZero() {
		add("time <", f.Until)
	}
	if f.Model != "" {
		add("model =", f.Model)
	}
	if f.TenantID != "" {
		add("tenant_id =", f.TenantID)
	}
	if f.KeyID != "" {
		add("key_id =", f.KeyID)
	}
	if f.PromptID != "" {
		add("prompt_id <> '' AND prompt_id =", f.PromptID)
	}
	if f.Experiment != "" {
		add("experiment <> '' AND experiment =", f.Experiment)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}
