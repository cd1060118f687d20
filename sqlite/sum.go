package sqlite

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
	switchboard.GroupDay:    "strftime('%Y-%m-%d', time / 1000000000, 'unixepoch')",
	switchboard.GroupCache:  "cache",
}

// SumInferences implements switchboard.InferenceStore.
func (s *Store) SumInferences(ctx context.Context, f switchboard.InferenceFilter, groupBy []string) ([]switchboard.InferenceSum, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: sum inferences: %w", switchboard.ErrClosed)
	}
	var cols []string
	for _, g := range groupBy {
		c, ok := groupColumns[g]
		if !ok {
			return nil, fmt.Errorf("sqlite: sum inferences: unknown dimension %q", g)
		}
		cols = append(cols, c)
	}
	where, args := whereClause(f)
	sel := "count(*), coalesce(sum(input_tokens),0), coalesce(sum(output_tokens),0), coalesce(sum(cached_tokens),0), coalesce(sum(cost_usd),0), coalesce(sum(saved_usd),0)"
	q := "SELECT " + sel
	if len(cols) > 0 {
		q = "SELECT " + strings.Join(cols, ", ") + ", " + sel
	}
	q += " FROM inferences" + where
	if len(cols) > 0 {
		q += " GROUP BY " + strings.Join(cols, ", ") + " ORDER BY " + strings.Join(cols, ", ")
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sum inferences: %w", err)
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
			return nil, fmt.Errorf("sqlite: sum inferences: %w", err)
		}
		setDims(&r, groupBy, dims)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: sum inferences: %w", err)
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

// VersionStats implements switchboard.ExperimentStore: one aggregate query,
// one that returns only the order statistics around the 50th and 95th
// latency percentiles of each group (window functions sort inside the
// database), and one for the feedback means.
func (s *Store) VersionStats(ctx context.Context, f switchboard.VersionStatsFilter) ([]switchboard.VersionStats, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: version stats: %w", switchboard.ErrClosed)
	}
	out, err := s.versionStats(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: version stats %q: %w", f.Prompt, err)
	}
	return out, nil
}

func (s *Store) versionStats(ctx context.Context, f switchboard.VersionStatsFilter) ([]switchboard.VersionStats, error) {
	where := `i.prompt_id = ? AND i.prompt_id <> ''`
	args := []any{f.Prompt}
	if !f.Since.IsZero() {
		where, args = where+` AND i.time >= ?`, append(args, unixNano(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = where+` AND i.time < ?`, append(args, unixNano(f.Until))
	}
	if f.TenantID != "" {
		where, args = where+` AND i.tenant_id = ?`, append(args, f.TenantID)
	}
	label := `''`
	if f.ByLabel {
		label = `i.prompt_label`
	}

	rows, err := s.r.QueryContext(ctx, `SELECT i.prompt_version, `+label+`, count(*),
    sum(CASE WHEN `+errorCond+` THEN 1 ELSE 0 END),
    coalesce(sum(i.input_tokens), 0), coalesce(sum(i.output_tokens), 0), coalesce(sum(i.cost_usd), 0)
FROM inferences i WHERE `+where+` GROUP BY 1, 2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	type group struct{ version, label string }
	out := []switchboard.VersionStats{}
	index := map[group]int{}
	for rows.Next() {
		r := switchboard.VersionStats{Prompt: f.Prompt}
		if err := rows.Scan(&r.Version, &r.Label, &r.Calls, &r.Errors, &r.InputTokens, &r.OutputTokens, &r.CostUSD); err != nil {
			_ = rows.Close()
			return nil, err
		}
		index[group{r.Version, r.Label}] = len(out)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return nil, err
	}
	_ = rows.Close()

	// rn is 0-based; the percentile p of cnt values interpolates between
	// ranks floor((cnt−1)·p) and the next one.
	rows, err = s.r.QueryContext(ctx, `SELECT v, l, rn, cnt, latency_ns FROM (
    SELECT i.prompt_version AS v, `+label+` AS l, i.latency_ns AS latency_ns,
        row_number() OVER (PARTITION BY i.prompt_version, `+label+` ORDER BY i.latency_ns) - 1 AS rn,
        count(*) OVER (PARTITION BY i.prompt_version, `+label+`) AS cnt
    FROM inferences i WHERE `+where+` AND i.status < 400
) WHERE rn IN (CAST((cnt - 1) * 0.5 AS INTEGER), CAST((cnt - 1) * 0.5 AS INTEGER) + 1,
               CAST((cnt - 1) * 0.95 AS INTEGER), CAST((cnt - 1) * 0.95 AS INTEGER) + 1)
ORDER BY 1, 2, 3`, args...)
	if err != nil {
		return nil, err
	}
	order := map[group]map[int64]float64{}
	counts := map[group]int64{}
	for rows.Next() {
		var (
			g       group
			rn, cnt int64
			lat     int64
		)
		if err := rows.Scan(&g.version, &g.label, &rn, &cnt, &lat); err != nil {
			_ = rows.Close()
			return nil, err
		}
		if order[g] == nil {
			order[g] = map[int64]float64{}
		}
		order[g][rn], counts[g] = float64(lat), cnt
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return nil, err
	}
	_ = rows.Close()
	for g, xs := range order {
		if i, ok := index[g]; ok {
			out[i].LatencyP50 = percentileFromRanks(xs, counts[g], 0.5)
			out[i].LatencyP95 = percentileFromRanks(xs, counts[g], 0.95)
		}
	}

	rows, err = s.r.QueryContext(ctx, `SELECT i.prompt_version, `+label+`, f.metric, count(*), avg(f.value)
FROM inferences i JOIN feedback f ON f.inference_id = i.id AND f.tenant_id = i.tenant_id
WHERE `+where+` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var (
			g  group
			fm switchboard.FeedbackMean
		)
		if err := rows.Scan(&g.version, &g.label, &fm.Metric, &fm.N, &fm.Mean); err != nil {
			return nil, err
		}
		if i, ok := index[g]; ok {
			out[i].Feedback = append(out[i].Feedback, fm)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortVersionStats(out)
	return out, nil
}

// sortVersionStats orders rows by version (switchboard.CompareVersions),
// then label.
func sortVersionStats(out []switchboard.VersionStats) {
	slices.SortStableFunc(out, func(a, b switchboard.VersionStats) int {
		if c := switchboard.CompareVersions(a.Version, b.Version); c != 0 {
			return c
		}
		return strings.Compare(a.Label, b.Label)
	})
}

// percentileFromRanks interpolates the p-quantile of n sorted values from
// the order statistics xs (0-based rank → value) around rank (n−1)·p, as
// PostgreSQL's percentile_cont does.
func percentileFromRanks(xs map[int64]float64, n int64, p float64) time.Duration {
	if n == 0 {
		return 0
	}
	pos := p * float64(n-1)
	lo := int64(pos)
	v := xs[lo]
	if frac := pos - float64(lo); frac > 0 && lo+1 < n {
		v += frac * (xs[lo+1] - v)
	}
	return time.Duration(math.Round(v))
}
