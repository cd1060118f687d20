package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/switchboard-ai/switchboard"
)

const experimentColumns = `name, kind, prompt, label, model, status, spec, decision, created_at, stopped_at`

// CreateExperiment implements switchboard.ExperimentStore.
func (s *Store) CreateExperiment(ctx context.Context, e switchboard.Experiment) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: create experiment: %w", switchboard.ErrClosed)
	}
	spec, decision, err := encodeExperiment(e)
	if err != nil {
		return fmt.Errorf("sqlite: create experiment %q: %w", e.Name, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO experiments (`+experimentColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Name, e.Kind, e.Prompt, e.Label, e.Model, e.Status, spec, decision,
		unixNano(e.CreatedAt), nullUnixNano(e.StoppedAt))
	if code, ok := constraintError(err); ok {
		if code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return fmt.Errorf("sqlite: create experiment %q: name %w", e.Name, switchboard.ErrExists)
		}
		return fmt.Errorf("sqlite: create experiment %q: a running experiment on the same target %w", e.Name, switchboard.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create experiment %q: %w", e.Name, err)
	}
	return nil
}

// GetExperiment implements switchboard.ExperimentStore.
func (s *Store) GetExperiment(ctx context.Context, name string) (switchboard.Experiment, error) {
	if s.closed.Load() {
		return switchboard.Experiment{}, fmt.Errorf("sqlite: get experiment: %w", switchboard.ErrClosed)
	}
	e, err := scanExperiment(s.r.QueryRowContext(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return switchboard.Experiment{}, fmt.Errorf("sqlite: get experiment %q: %w", name, switchboard.ErrNotFound)
	}
	if err != nil {
		return switchboard.Experiment{}, fmt.Errorf("sqlite: get experiment %q: %w", name, err)
	}
	return e, nil
}

// ListExperiments implements switchboard.ExperimentStore.
func (s *Store) ListExperiments(ctx context.Context, f switchboard.ExperimentFilter) ([]switchboard.Experiment, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list experiments: %w", switchboard.ErrClosed)
	}
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"status", f.Status}, {"prompt", f.Prompt}, {"label", f.Label}, {"model", f.Model},
	} {
		if c.v != "" {
			conds, args = append(conds, c.col+" = ?"), append(args, c.v)
		}
	}
	q := `SELECT ` + experimentColumns + ` FROM experiments`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY created_at DESC, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list experiments: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.Experiment{}
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list experiments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list experiments: %w", err)
	}
	return out, nil
}

// SetExperimentStatus implements switchboard.ExperimentStore.
func (s *Store) SetExperimentStatus(ctx context.Context, name, from, to string, d *switchboard.ExperimentDecision) (bool, error) {
	if s.closed.Load() {
		return false, fmt.Errorf("sqlite: set experiment status: %w", switchboard.ErrClosed)
	}
	var decision *string
	var stopped *int64
	if d != nil {
		b, err := json.Marshal(d)
		if err != nil {
			return false, fmt.Errorf("sqlite: set experiment status %q: %w", name, err)
		}
		decision = new(string(b))
		if to != switchboard.ExperimentRunning {
			stopped = nullUnixNano(d.Time)
		}
	}
	var changed bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE experiments SET status = ?, decision = ?, stopped_at = ?
WHERE name = ? AND status = ?`, to, decision, stopped, name, from)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n > 0 {
			changed = true
			return nil
		}
		var one int
		return tx.QueryRowContext(ctx, `SELECT 1 FROM experiments WHERE name = ?`, name).Scan(&one)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("sqlite: set experiment status %q: %w", name, switchboard.ErrNotFound)
	}
	if _, ok := constraintError(err); ok {
		return false, fmt.Errorf("sqlite: set experiment status %q: a running experiment on the same target %w", name, switchboard.ErrExists)
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: set experiment status %q: %w", name, err)
	}
	return changed, nil
}

// UpsertFeedback implements switchboard.ExperimentStore.
func (s *Store) UpsertFeedback(ctx context.Context, f switchboard.Feedback) (switchboard.FeedbackResult, error) {
	if s.closed.Load() {
		return "", fmt.Errorf("sqlite: upsert feedback: %w", switchboard.ErrClosed)
	}
	var result switchboard.FeedbackResult
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var value float64
		err := tx.QueryRowContext(ctx, `SELECT value FROM feedback WHERE inference_id = ? AND tenant_id = ? AND metric = ?`,
			f.InferenceID, f.TenantID, f.Metric).Scan(&value)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			result = switchboard.FeedbackCreated
			_, err = tx.ExecContext(ctx, `INSERT INTO feedback (inference_id, metric, value, tenant_id, time)
VALUES (?, ?, ?, ?, ?)`, f.InferenceID, f.Metric, f.Value, f.TenantID, unixNano(f.Time))
			return err
		case err != nil:
			return err
		case value == f.Value:
			result = switchboard.FeedbackUnchanged
			return nil
		}
		result = switchboard.FeedbackUpdated
		_, err = tx.ExecContext(ctx, `UPDATE feedback SET value = ?, time = ? WHERE inference_id = ? AND tenant_id = ? AND metric = ?`,
			f.Value, unixNano(f.Time), f.InferenceID, f.TenantID, f.Metric)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: upsert feedback: %w", err)
	}
	return result, nil
}

// ListFeedback implements switchboard.ExperimentStore.
func (s *Store) ListFeedback(ctx context.Context, inferenceID string) ([]switchboard.Feedback, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list feedback: %w", switchboard.ErrClosed)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT inference_id, metric, value, tenant_id, time
FROM feedback WHERE inference_id = ? ORDER BY metric, tenant_id`, inferenceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list feedback: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.Feedback{}
	for rows.Next() {
		var (
			f  switchboard.Feedback
			ns int64
		)
		if err := rows.Scan(&f.InferenceID, &f.Metric, &f.Value, &f.TenantID, &ns); err != nil {
			return nil, fmt.Errorf("sqlite: list feedback: %w", err)
		}
		f.Time = fromUnixNano(ns)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list feedback: %w", err)
	}
	return out, nil
}

// MergeRunningPValues implements switchboard.ExperimentStore.
func (s *Store) MergeRunningPValues(ctx context.Context, experiment string, ps []switchboard.RunningPValue) ([]switchboard.RunningPValue, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: merge running p-values: %w", switchboard.ErrClosed)
	}
	if len(ps) > 0 {
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			for _, p := range ps {
				if _, err := tx.ExecContext(ctx, `INSERT INTO experiment_pvalues (experiment, metric, variant, p_value, looks, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (experiment, metric, variant) DO UPDATE SET
    p_value = min(p_value, excluded.p_value),
    looks = looks + excluded.looks,
    updated_at = max(updated_at, excluded.updated_at)`,
					experiment, p.Metric, p.Variant, p.PValue, p.Looks, unixNano(p.UpdatedAt)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sqlite: merge running p-values: %w", err)
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT metric, variant, p_value, looks, updated_at
FROM experiment_pvalues WHERE experiment = ? ORDER BY metric, variant`, experiment)
	if err != nil {
		return nil, fmt.Errorf("sqlite: merge running p-values: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.RunningPValue{}
	for rows.Next() {
		var (
			p  switchboard.RunningPValue
			ns int64
		)
		if err := rows.Scan(&p.Metric, &p.Variant, &p.PValue, &p.Looks, &ns); err != nil {
			return nil, fmt.Errorf("sqlite: merge running p-values: %w", err)
		}
		p.UpdatedAt = fromUnixNano(ns)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: merge running p-values: %w", err)
	}
	return out, nil
}

// unitKey is the analysis unit of an exposure: its unit hash, or the
// inference itself when it was assigned at random.
const unitKey = `CASE WHEN i.unit = '' THEN i.id ELSE i.unit END`

// ExperimentStats implements switchboard.ExperimentStore: one query for the
// assignment counts and one per metric, each grouping by (variant, unit) in
// an inner query and by variant outside, so only per-variant rows leave the
// database.
func (s *Store) ExperimentStats(ctx context.Context, q switchboard.ExperimentStatsQuery) (switchboard.ExperimentStats, error) {
	if s.closed.Load() {
		return switchboard.ExperimentStats{}, fmt.Errorf("sqlite: experiment stats: %w", switchboard.ErrClosed)
	}
	st, err := s.experimentStats(ctx, q)
	if err != nil {
		return switchboard.ExperimentStats{}, fmt.Errorf("sqlite: experiment stats %q: %w", q.Experiment, err)
	}
	return st, nil
}

func (s *Store) experimentStats(ctx context.Context, q switchboard.ExperimentStatsQuery) (switchboard.ExperimentStats, error) {
	where := `i.experiment = ? AND i.experiment <> ''`
	args := []any{q.Experiment}
	if !q.Since.IsZero() {
		where, args = where+` AND i.time >= ?`, append(args, unixNano(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = where+` AND i.time < ?`, append(args, unixNano(q.Until))
	}

	period := `0`
	var periodArgs []any
	if q.Period > 0 {
		period, periodArgs = `first_at / ?`, []any{int64(q.Period)}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT variant, `+period+` AS p, count(*), sum(r) FROM (
    SELECT i.variant AS variant, `+unitKey+` AS uk, min(i.time) AS first_at, count(*) AS r
    FROM inferences i WHERE `+where+`
    GROUP BY 1, 2
) GROUP BY 1, 2 ORDER BY 1, 2`, append(periodArgs, args...)...)
	if err != nil {
		return switchboard.ExperimentStats{}, err
	}
	var out switchboard.ExperimentStats
	index := map[string]int{}
	for rows.Next() {
		var (
			variant        string
			p, units, reqs int64
		)
		if err := rows.Scan(&variant, &p, &units, &reqs); err != nil {
			_ = rows.Close()
			return switchboard.ExperimentStats{}, err
		}
		i, ok := index[variant]
		if !ok {
			i = len(out.Variants)
			index[variant] = i
			out.Variants = append(out.Variants, switchboard.VariantStats{Variant: variant, Metrics: map[string]switchboard.MetricSums{}})
		}
		v := &out.Variants[i]
		v.Units += units
		v.Requests += reqs
		var start time.Time
		if q.Period > 0 {
			start = time.Unix(0, p*int64(q.Period)).UTC()
		}
		v.Periods = append(v.Periods, switchboard.PeriodCount{Start: start, Units: units})
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return switchboard.ExperimentStats{}, err
	}
	_ = rows.Close()

	for _, m := range q.Metrics {
		from, val, cond, joinArgs := metricSQL(m)
		valArgs := []any{}
		if m.Cap > 0 && m.Kind != switchboard.MetricBinary {
			val, valArgs = `min(`+val+`, ?)`, []any{m.Cap}
		}
		qargs := append(append(valArgs, joinArgs...), args...)
		rows, err := s.r.QueryContext(ctx, `WITH u AS (
    SELECT i.variant AS variant, `+unitKey+` AS uk, sum(`+val+`) AS m, count(*) AS d
    FROM `+from+`
    WHERE `+where+` AND `+cond+`
    GROUP BY 1, 2
), a AS (SELECT variant, avg(m) AS am, avg(d) AS ad FROM u GROUP BY variant)
SELECT u.variant, count(*), sum(u.d), sum(u.m),
    sum((u.m - a.am) * (u.m - a.am)), sum((u.d - a.ad) * (u.d - a.ad)), sum((u.m - a.am) * (u.d - a.ad))
FROM u JOIN a ON a.variant = u.variant
GROUP BY u.variant ORDER BY u.variant`, qargs...)
		if err != nil {
			return switchboard.ExperimentStats{}, fmt.Errorf("metric %q: %w", m.Name, err)
		}
		for rows.Next() {
			var (
				variant string
				ms      switchboard.MetricSums
			)
			if err := rows.Scan(&variant, &ms.Units, &ms.Count, &ms.Sum, &ms.M2, &ms.D2, &ms.MD); err != nil {
				_ = rows.Close()
				return switchboard.ExperimentStats{}, fmt.Errorf("metric %q: %w", m.Name, err)
			}
			if i, ok := index[variant]; ok {
				out.Variants[i].Metrics[m.Name] = ms
			}
		}
		if err := rows.Err(); err != nil {
			_ = rows.Close()
			return switchboard.ExperimentStats{}, fmt.Errorf("metric %q: %w", m.Name, err)
		}
		_ = rows.Close()
	}
	return out, nil
}

// errorCond is the SQL condition of a failed call in the automatic error
// metric: a server failure, or an assigned prompt variant that could not
// be rendered (switchboard.CodePromptVariantFailed, a constant without
// quotes).
const errorCond = `(i.status >= 500 OR i.error_code = '` + switchboard.CodePromptVariantFailed + `')`

// metricSQL returns the FROM clause, the per-observation value, the
// condition an observation must meet and the arguments of the FROM clause
// of metric m.
func metricSQL(m switchboard.MetricSpec) (from, val, cond string, args []any) {
	switch m.Name {
	case switchboard.MetricLatency:
		return `inferences i`, `i.latency_ns / 1e6`, `i.status < 400`, nil
	case switchboard.MetricCost:
		return `inferences i`, `i.cost_usd`, `i.cost_usd IS NOT NULL`, nil
	case switchboard.MetricError:
		return `inferences i`, `CASE WHEN ` + errorCond + ` THEN 1.0 ELSE 0.0 END`, `1`, nil
	case switchboard.MetricOutputTokens:
		return `inferences i`, `CAST(i.output_tokens AS REAL)`, `i.status < 400`, nil
	}
	val = `f.value`
	if m.Kind == switchboard.MetricBinary {
		val = `CASE WHEN f.value > 0 THEN 1.0 ELSE 0.0 END`
	}
	return `inferences i JOIN feedback f ON f.inference_id = i.id AND f.tenant_id = i.tenant_id AND f.metric = ?`,
		val, `1`, []any{m.Name}
}

// writeTx runs fn in a write transaction and commits it if fn succeeds.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

func scanExperiment(r rowScanner) (switchboard.Experiment, error) {
	var (
		e                                      switchboard.Experiment
		name, kind, prompt, label, model, stat string
		spec                                   string
		decision                               *string
		created                                int64
		stopped                                *int64
	)
	if err := r.Scan(&name, &kind, &prompt, &label, &model, &stat, &spec, &decision, &created, &stopped); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(spec), &e); err != nil {
		return e, fmt.Errorf("experiment %q: spec: %w", name, err)
	}
	e.Name, e.Kind, e.Prompt, e.Label, e.Model, e.Status = name, kind, prompt, label, model, stat
	e.CreatedAt, e.StoppedAt, e.Decision = fromUnixNano(created), time.Time{}, nil
	if stopped != nil {
		e.StoppedAt = fromUnixNano(*stopped)
	}
	if decision != nil {
		e.Decision = new(switchboard.ExperimentDecision)
		if err := json.Unmarshal([]byte(*decision), e.Decision); err != nil {
			return e, fmt.Errorf("experiment %q: decision: %w", name, err)
		}
	}
	return e, nil
}

// encodeExperiment returns the JSON of e's frozen fields and of its
// decision (nil when it has none).
func encodeExperiment(e switchboard.Experiment) (spec string, decision *string, err error) {
	frozen := e
	frozen.Status, frozen.CreatedAt, frozen.StoppedAt, frozen.Decision = "", time.Time{}, time.Time{}, nil
	b, err := json.Marshal(frozen)
	if err != nil {
		return "", nil, err
	}
	if e.Decision != nil {
		d, err := json.Marshal(e.Decision)
		if err != nil {
			return "", nil, err
		}
		decision = new(string(d))
	}
	return string(b), decision, nil
}

// nullUnixNano is unixNano, or nil for the zero time.
func nullUnixNano(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	return new(unixNano(t))
}
