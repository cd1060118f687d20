package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// groupColumns maps SumInferences dimensions to SQL expressions.
var groupColumns = map[string]string{
	switchboard.GroupTenant: "tenant_id",
	switchboard.GroupKey:    "key_id",
	switchboard.GroupModel:  "model",
	switchboard.GroupDay:    "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
	switchboard.GroupCache:  "cache",
}

// SumInferences implements switchboard.InferenceStore.
func (s *Store) SumInferences(ctx context.Context, f switchboard.InferenceFilter, groupBy []string) ([]switchboard.InferenceSum, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: sum inferences: %w", switchboard.ErrClosed)
	}
	var cols []string
	for _, g := range groupBy {
		c, ok := groupColumns[g]
		if !ok {
			return nil, fmt.Errorf("postgres: sum inferences: unknown dimension %q", g)
		}
		cols = append(cols, c)
	}
	where, args := whereClause(f)
	sel := "count(*), coalesce(sum(input_tokens),0)::bigint, coalesce(sum(output_tokens),0)::bigint, coalesce(sum(cached_tokens),0)::bigint, coalesce(sum(cost_usd),0)::double precision, coalesce(sum(saved_usd),0)::double precision"
	q := "SELECT " + sel
	if len(cols) > 0 {
		q = "SELECT " + strings.Join(cols, ", ") + ", " + sel
	}
	q += " FROM inferences" + where
	if len(cols) > 0 {
		q += " GROUP BY " + strings.Join(cols, ", ") + " ORDER BY " + strings.Join(cols, ", ")
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: sum inferences: %w", err)
	}
	defer rows.Close()
	var out []switchboard.InferenceSum
	for rows.Next() {
		var r switchboard.InferenceSum
		dims := make([]string, len(groupBy))
		dest := make([]any, 0, len(groupBy)+6)
		for i := range dims {
			dest = append(dest, &dims[i])
		}
		dest = append(dest, &r.Requests, &r.InputTokens, &r.OutputTokens, &r.CachedTokens, &r.CostUSD, &r.SavedUSD)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("postgres: sum inferences: %w", err)
		}
		setDims(&r, groupBy, dims)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: sum inferences: %w", err)
	}
	return out, nil
}

func setDims(r *switchboard.InferenceSum, groupBy, dims []string) {
	for i, g := range groupBy {
		switch g {
		case switchboard.GroupTenant:
			r.Tenant = dims[i]
		case switchboard.GroupKey:
			r.KeyID = dims[i]
		case switchboard.GroupModel:
			r.Model = dims[i]
		case switchboard.GroupDay:
			r.Day = dims[i]
		case switchboard.GroupCache:
			r.Cache = dims[i]
		}
	}
}

// VersionStats implements switchboard.ExperimentStore: one aggregate query
// (latency percentiles by percentile_cont) and one for the feedback means.
func (s *Store) VersionStats(ctx context.Context, f switchboard.VersionStatsFilter) ([]switchboard.VersionStats, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: version stats: %w", switchboard.ErrClosed)
	}
	out, err := s.versionStats(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("postgres: version stats %q: %w", f.Prompt, err)
	}
	return out, nil
}

func (s *Store) versionStats(ctx context.Context, f switchboard.VersionStatsFilter) ([]switchboard.VersionStats, error) {
	var p params
	where := `i.prompt_id <> '' AND i.prompt_id = ` + p.add(text(f.Prompt))
	if !f.Since.IsZero() {
		where += ` AND i.time >= ` + p.add(f.Since)
	}
	if !f.Until.IsZero() {
		where += ` AND i.time < ` + p.add(f.Until)
	}
	if f.TenantID != "" {
		where += ` AND i.tenant_id = ` + p.add(text(f.TenantID))
	}
	label, group := `''::text`, `i.prompt_version`
	if f.ByLabel {
		label, group = `i.prompt_label`, `i.prompt_version, i.prompt_label`
	}
	rows, err := s.pool.Query(ctx, `SELECT i.prompt_version, `+label+`, count(*),
    count(*) FILTER (WHERE `+errorCond+`),
    coalesce(sum(i.input_tokens), 0)::bigint, coalesce(sum(i.output_tokens), 0)::bigint,
    coalesce(sum(i.cost_usd), 0)::double precision,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY i.latency_ns::double precision) FILTER (WHERE i.status < 400),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY i.latency_ns::double precision) FILTER (WHERE i.status < 400)
FROM inferences i WHERE `+where+` GROUP BY `+group+` ORDER BY `+group, p.args...)
	if err != nil {
		return nil, err
	}
	type key struct{ version, label string }
	out := []switchboard.VersionStats{}
	index := map[key]int{}
	for rows.Next() {
		var (
			r        = switchboard.VersionStats{Prompt: f.Prompt}
			p50, p95 *float64
		)
		if err := rows.Scan(&r.Version, &r.Label, &r.Calls, &r.Errors, &r.InputTokens, &r.OutputTokens, &r.CostUSD, &p50, &p95); err != nil {
			rows.Close()
			return nil, err
		}
		if p50 != nil {
			r.LatencyP50 = time.Duration(math.Round(*p50))
		}
		if p95 != nil {
			r.LatencyP95 = time.Duration(math.Round(*p95))
		}
		index[key{r.Version, r.Label}] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = s.pool.Query(ctx, `SELECT i.prompt_version, `+label+`, f.metric, count(*), avg(f.value)
FROM inferences i JOIN feedback f ON f.inference_id = i.id AND f.tenant_id = i.tenant_id
WHERE `+where+` GROUP BY `+group+`, f.metric ORDER BY `+group+`, f.metric`, p.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k  key
			fm switchboard.FeedbackMean
		)
		if err := rows.Scan(&k.version, &k.label, &fm.Metric, &fm.N, &fm.Mean); err != nil {
			return nil, err
		}
		if i, ok := index[k]; ok {
			out[i].Feedback = append(out[i].Feedback, fm)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b switchboard.VersionStats) int {
		if c := switchboard.CompareVersions(a.Version, b.Version); c != 0 {
			return c
		}
		return strings.Compare(a.Label, b.Label)
	})
	return out, nil
}
