package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-ai/switchboard"
)

const experimentColumns = `name, kind, prompt, label, model, status, spec, decision, created_at, stopped_at`

// CreateExperiment implements switchboard.ExperimentStore.
func (s *Store) CreateExperiment(ctx context.Context, e switchboard.Experiment) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: create experiment: %w", switchboard.ErrClosed)
	}
	spec, decision, err := encodeExperiment(e)
	if err != nil {
		return fmt.Errorf("postgres: create experiment %q: %w", e.Name, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO experiments (`+experimentColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		text(e.Name), text(e.Kind), text(e.Prompt), text(e.Label), text(e.Model), text(e.Status), spec, decision,
		e.CreatedAt, nullTime(e.StoppedAt))
	switch uniqueConstraint(err) {
	case "":
	case "experiments_pkey":
		return fmt.Errorf("postgres: create experiment %q: name %w", e.Name, switchboard.ErrExists)
	default:
		return fmt.Errorf("postgres: create experiment %q: a running experiment on the same target %w", e.Name, switchboard.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create experiment %q: %w", e.Name, err)
	}
	return nil
}

// GetExperiment implements switchboard.ExperimentStore.
func (s *Store) GetExperiment(ctx context.Context, name string) (switchboard.Experiment, error) {
	if s.closed.Load() {
		return switchboard.Experiment{}, fmt.Errorf("postgres: get experiment: %w", switchboard.ErrClosed)
	}
	e, err := scanExperiment(s.pool.QueryRow(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE name = $1`, text(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return switchboard.Experiment{}, fmt.Errorf("postgres: get experiment %q: %w", name, switchboard.ErrNotFound)
	}
	if err != nil {
		return switchboard.Experiment{}, fmt.Errorf("postgres: get experiment %q: %w", name, err)
	}
	return e, nil
}

// ListExperiments implements switchboard.ExperimentStore.
func (s *Store) ListExperiments(ctx context.Context, f switchboard.ExperimentFilter) ([]switchboard.Experiment, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list experiments: %w", switchboard.ErrClosed)
	}
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"status", f.Status}, {"prompt", f.Prompt}, {"label", f.Label}, {"model", f.Model},
	} {
		if c.v != "" {
			args = append(args, text(c.v))
			conds = append(conds, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	q := `SELECT ` + experimentColumns + ` FROM experiments`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY created_at DESC, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list experiments: %w", err)
	}
	defer rows.Close()
	out := []switchboard.Experiment{}
	for rows.Next() {
		e, err := scanExperiment(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list experiments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list experiments: %w", err)
	}
	return out, nil
}

// SetExperimentStatus implements switchboard.ExperimentStore. The
// conditional UPDATE is atomic: of concurrent callers, one changes the row.
func (s *Store) SetExperimentStatus(ctx context.Context, name, from, to string, d *switchboard.ExperimentDecision) (bool, error) {
	if s.closed.Load() {
		return false, fmt.Errorf("postgres: set experiment status: %w", switchboard.ErrClosed)
	}
	var decision *string
	var stopped *time.Time
	if d != nil {
		b, err := json.Marshal(d)
		if err != nil {
			return false, fmt.Errorf("postgres: set experiment status %q: %w", name, err)
		}
		decision = new(string(b))
		if to != switchboard.ExperimentRunning {
			stopped = nullTime(d.Time)
		}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE experiments SET status = $1, decision = $2, stopped_at = $3
WHERE name = $4 AND status = $5`, text(to), decision, stopped, text(name), text(from))
	if uniqueConstraint(err) != "" {
		return false, fmt.Errorf("postgres: set experiment status %q: a running experiment on the same target %w", name, switchboard.ErrExists)
	}
	if err != nil {
		return false, fmt.Errorf("postgres: set experiment status %q: %w", name, err)
	}
	if tag.RowsAffected() > 0 {
		return true, nil
	}
	var one int
	err = s.pool.QueryRow(ctx, `SELECT 1 FROM experiments WHERE name = $1`, text(name)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("postgres: set experiment status %q: %w", name, switchboard.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("postgres: set experiment status %q: %w", name, err)
	}
	return false, nil
}

// UpsertFeedback implements switchboard.ExperimentStore. A concurrent
// insert of the same (inference, tenant, metric) waits on the first and
// then compares with it.
func (s *Store) UpsertFeedback(ctx context.Context, f switchboard.Feedback) (switchboard.FeedbackResult, error) {
	if s.closed.Load() {
		return "", fmt.Errorf("postgres: upsert feedback: %w", switchboard.ErrClosed)
	}
	id, metric, tenant := text(f.InferenceID), text(f.Metric), text(f.TenantID)
	var result switchboard.FeedbackResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO feedback (inference_id, metric, value, tenant_id, time)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (inference_id, tenant_id, metric) DO NOTHING`, id, metric, f.Value, tenant, f.Time)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			result = switchboard.FeedbackCreated
			return nil
		}
		var value float64
		if err := tx.QueryRow(ctx, `SELECT value FROM feedback WHERE inference_id = $1 AND tenant_id = $2 AND metric = $3 FOR UPDATE`,
			id, tenant, metric).Scan(&value); err != nil {
			return err
		}
		if value == f.Value {
			result = switchboard.FeedbackUnchanged
			return nil
		}
		result = switchboard.FeedbackUpdated
		_, err = tx.Exec(ctx, `UPDATE feedback SET value = $1, time = $2 WHERE inference_id = $3 AND tenant_id = $4 AND metric = $5`,
			f.Value, f.Time, id, tenant, metric)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("postgres: upsert feedback: %w", err)
	}
	return result, nil
}

// ListFeedback implements switchboard.ExperimentStore.
func (s *Store) ListFeedback(ctx context.Context, inferenceID string) ([]switchboard.Feedback, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list feedback: %w", switchboard.ErrClosed)
	}
	rows, err := s.pool.Query(ctx, `SELECT inference_id, metric, value, tenant_id, time
FROM feedback WHERE inference_id = $1 ORDER BY metric, tenant_id`, text(inferenceID))
	if err != nil {
		return nil, fmt.Errorf("postgres: list feedback: %w", err)
	}
	defer rows.Close()
	out := []switchboard.Feedback{}
	for rows.Next() {
		var f switchboard.Feedback
		if err := rows.Scan(&f.InferenceID, &f.Metric, &f.Value, &f.TenantID, &f.Time); err != nil {
			return nil, fmt.Errorf("postgres: list feedback: %w", err)
		}
		f.Time = f.Time.UTC()
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list feedback: %w", err)
	}
	return out, nil
}

// MergeRunningPValues implements switchboard.ExperimentStore. The minimum
// is taken in the UPDATE, so concurrent merges from replicas never lose one.
func (s *Store) MergeRunningPValues(ctx context.Context, experiment string, ps []switchboard.RunningPValue) ([]switchboard.RunningPValue, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: merge running p-values: %w", switchboard.ErrClosed)
	}
	exp := text(experiment)
	if len(ps) > 0 {
		n := len(ps)
		metric, variant, updated := make([]string, n), make([]string, n), make([]time.Time, n)
		pv, looks := make([]float64, n), make([]int64, n)
		for i, p := range ps {
			metric[i], variant[i], pv[i], looks[i], updated[i] = text(p.Metric), text(p.Variant), p.PValue, p.Looks, p.UpdatedAt
		}
		// ORDER BY keeps the lock order the same in every transaction.
		if _, err := s.pool.Exec(ctx, `INSERT INTO experiment_pvalues (experiment, metric, variant, p_value, looks, updated_at)
SELECT $1, m, v, p, l, u FROM unnest($2::text[], $3::text[], $4::double precision[], $5::bigint[], $6::timestamptz[]) AS t(m, v, p, l, u)
ORDER BY m, v
ON CONFLICT (experiment, metric, variant) DO UPDATE SET
    p_value = LEAST(experiment_pvalues.p_value, EXCLUDED.p_value),
    looks = experiment_pvalues.looks + EXCLUDED.looks,
    updated_at = GREATEST(experiment_pvalues.updated_at, EXCLUDED.updated_at)`,
			exp, metric, variant, pv, looks, updated); err != nil {
			return nil, fmt.Errorf("postgres: merge running p-values: %w", err)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT metric, variant, p_value, looks, updated_at
FROM experiment_pvalues WHERE experiment = $1 ORDER BY metric, variant`, exp)
	if err != nil {
		return nil, fmt.Errorf("postgres: merge running p-values: %w", err)
	}
	defer rows.Close()
	out := []switchboard.RunningPValue{}
	for rows.Next() {
		var p switchboard.RunningPValue
		if err := rows.Scan(&p.Metric, &p.Variant, &p.PValue, &p.Looks, &p.UpdatedAt); err != nil {
			return nil, fmt.Errorf("postgres: merge running p-values: %w", err)
		}
		p.UpdatedAt = p.UpdatedAt.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: merge running p-values: %w", err)
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
		return switchboard.ExperimentStats{}, fmt.Errorf("postgres: experiment stats: %w", switchboard.ErrClosed)
	}
	st, err := s.experimentStats(ctx, q)
	if err != nil {
		return switchboard.ExperimentStats{}, fmt.Errorf("postgres: experiment stats %q: %w", q.Experiment, err)
	}
	return st, nil
}

// params numbers query arguments $1, $2, ….
type params struct{ args []any }

func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// expWhere returns the condition selecting q's exposures.
func expWhere(p *params, q switchboard.ExperimentStatsQuery) string {
	where := `i.experiment <> '' AND i.experiment = ` + p.add(text(q.Experiment))
	if !q.Since.IsZero() {
		where += ` AND i.time >= ` + p.add(q.Since)
	}
	if !q.Until.IsZero() {
		where += ` AND i.time < ` + p.add(q.Until)
	}
	return where
}

func (s *Store) experimentStats(ctx context.Context, q switchboard.ExperimentStatsQuery) (switchboard.ExperimentStats, error) {
	var p params
	period := `0::bigint`
	if q.Period > 0 {
		// Whole microseconds since the epoch, divided by the period.
		period = `(extract(epoch FROM first_at) * 1000000)::bigint / ` + p.add(q.Period.Microseconds()) + `::bigint`
	}
	where := expWhere(&p, q)
	rows, err := s.pool.Query(ctx, `SELECT variant, `+period+` AS p, count(*), sum(r)::bigint FROM (
    SELECT i.variant AS variant, `+unitKey+` AS uk, min(i.time) AS first_at, count(*) AS r
    FROM inferences i WHERE `+where+`
    GROUP BY 1, 2
) AS u GROUP BY 1, 2 ORDER BY 1, 2`, p.args...)
	if err != nil {
		return switchboard.ExperimentStats{}, err
	}
	var out switchboard.ExperimentStats
	index := map[string]int{}
	for rows.Next() {
		var (
			variant        string
			pd, units, req int64
		)
		if err := rows.Scan(&variant, &pd, &units, &req); err != nil {
			rows.Close()
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
		v.Requests += req
		var start time.Time
		if q.Period > 0 {
			start = time.UnixMicro(pd * q.Period.Microseconds()).UTC()
		}
		v.Periods = append(v.Periods, switchboard.PeriodCount{Start: start, Units: units})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return switchboard.ExperimentStats{}, err
	}

	for _, m := range q.Metrics {
		var p params
		val := metricValue(m)
		if m.Cap > 0 && m.Kind != switchboard.MetricBinary {
			val = `LEAST(` + val + `, ` + p.add(m.Cap) + `::double precision)`
		}
		from, cond := `inferences i`, metricCond(m)
		if cond == "" {
			from = `inferences i JOIN feedback f ON f.inference_id = i.id AND f.tenant_id = i.tenant_id AND f.metric = ` + p.add(text(m.Name))
			cond = `true`
		}
		where := expWhere(&p, q)
		rows, err := s.pool.Query(ctx, `WITH u AS (
    SELECT i.variant AS variant, `+unitKey+` AS uk, sum(`+val+`) AS m, count(*) AS d
    FROM `+from+`
    WHERE `+where+` AND `+cond+`
    GROUP BY 1, 2
), a AS (SELECT variant, avg(m) AS am, avg(d::double precision) AS ad FROM u GROUP BY variant)
SELECT u.variant, count(*), sum(u.d)::bigint, sum(u.m),
    sum((u.m - a.am) * (u.m - a.am)), sum((u.d - a.ad) * (u.d - a.ad)), sum((u.m - a.am) * (u.d - a.ad))
FROM u JOIN a ON a.variant = u.variant
GROUP BY u.variant ORDER BY u.variant`, p.args...)
		if err != nil {
			return switchboard.ExperimentStats{}, fmt.Errorf("metric %q: %w", m.Name, err)
		}
		for rows.Next() {
			var (
				variant string
				ms      switchboard.MetricSums
			)
			if err := rows.Scan(&variant, &ms.Units, &ms.Count, &ms.Sum, &ms.M2, &ms.D2, &ms.MD); err != nil {
				rows.Close()
				return switchboard.ExperimentStats{}, fmt.Errorf("metric %q: %w", m.Name, err)
			}
			if i, ok := index[variant]; ok {
				out.Variants[i].Metrics[m.Name] = ms
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return switchboard.ExperimentStats{}, fmt.Errorf("metric %q: %w", m.Name, err)
		}
	}
	return out, nil
}

// errorCond is the SQL condition of a failed call in the automatic error
// metric: a server failure, or an assigned prompt variant that could not
// be rendered (switchboard.CodePromptVariantFailed, a constant without
// quotes).
const errorCond = `(i.status >= 500 OR i.error_code = '` + switchboard.CodePromptVariantFailed + `')`

// metricValue returns the double precision value of one observation of m.
func metricValue(m switchboard.MetricSpec) string {
	switch m.Name {
	case switchboard.MetricLatency:
		return `i.latency_ns::double precision / 1e6::double precision`
	case switchboard.MetricCost:
		return `i.cost_usd`
	case switchboard.MetricError:
		return `CASE WHEN ` + errorCond + ` THEN 1.0::double precision ELSE 0.0::double precision END`
	case switchboard.MetricOutputTokens:
		return `i.output_tokens::double precision`
	}
	if m.Kind == switchboard.MetricBinary {
		return `CASE WHEN f.value > 0 THEN 1.0::double precision ELSE 0.0::double precision END`
	}
	return `f.value`
}

// metricCond returns the condition an inference meets to be an observation
// of an automatic metric m, or "" for a feedback metric.
func metricCond(m switchboard.MetricSpec) string {
	switch m.Name {
	case switchboard.MetricLatency, switchboard.MetricOutputTokens:
		return `i.status < 400`
	case switchboard.MetricCost:
		return `i.cost_usd IS NOT NULL`
	case switchboard.MetricError:
		return `true`
	}
	return ""
}

func scanExperiment(r pgx.Row) (switchboard.Experiment, error) {
	var (
		e                                      switchboard.Experiment
		name, kind, prompt, label, model, stat string
		spec                                   string
		decision                               *string
		created                                time.Time
		stopped                                *time.Time
	)
	if err := r.Scan(&name, &kind, &prompt, &label, &model, &stat, &spec, &decision, &created, &stopped); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(spec), &e); err != nil {
		return e, fmt.Errorf("experiment %q: spec: %w", name, err)
	}
	e.Name, e.Kind, e.Prompt, e.Label, e.Model, e.Status = name, kind, prompt, label, model, stat
	e.CreatedAt, e.StoppedAt, e.Decision = created.UTC(), time.Time{}, nil
	if stopped != nil {
		e.StoppedAt = stopped.UTC()
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
// decision (nil when it has none). json.Marshal writes valid UTF-8 and
// escapes NUL, so PostgreSQL accepts both.
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

// nullTime is t, or nil for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
