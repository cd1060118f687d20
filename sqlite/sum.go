package sqlite

import (
	"context"
	"fmt"
	"strings"

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
