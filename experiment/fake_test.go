package experiment

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// fakeStore is an in-memory switchboard.ExperimentStore whose
// ExperimentStats come from a function the test sets. It is safe for
// concurrent use, and its status change is atomic like the real stores'.
type fakeStore struct {
	mu       sync.Mutex
	exps     map[string]switchboard.Experiment
	feedback map[[3]string]switchboard.Feedback
	pvalues  map[string]map[[2]string]switchboard.RunningPValue
	stats    func(q switchboard.ExperimentStatsQuery) switchboard.ExperimentStats
	failList error
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		exps:     map[string]switchboard.Experiment{},
		feedback: map[[3]string]switchboard.Feedback{},
		pvalues:  map[string]map[[2]string]switchboard.RunningPValue{},
	}
}

func (f *fakeStore) setStats(fn func(q switchboard.ExperimentStatsQuery) switchboard.ExperimentStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = fn
}

func (f *fakeStore) CreateExperiment(_ context.Context, e switchboard.Experiment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.exps[e.Name]; ok {
		return switchboard.ErrExists
	}
	for _, o := range f.exps {
		if o.Status == switchboard.ExperimentRunning && e.Status == switchboard.ExperimentRunning &&
			o.Prompt == e.Prompt && o.Label == e.Label && o.Model == e.Model {
			return switchboard.ErrExists
		}
	}
	f.exps[e.Name] = e
	return nil
}

func (f *fakeStore) GetExperiment(_ context.Context, name string) (switchboard.Experiment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.exps[name]
	if !ok {
		return e, switchboard.ErrNotFound
	}
	return e, nil
}

func (f *fakeStore) ListExperiments(_ context.Context, flt switchboard.ExperimentFilter) ([]switchboard.Experiment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failList != nil {
		return nil, f.failList
	}
	var out []switchboard.Experiment
	for _, e := range f.exps {
		if flt.Status == "" || e.Status == flt.Status {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeStore) SetExperimentStatus(_ context.Context, name, from, to string, d *switchboard.ExperimentDecision) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.exps[name]
	if !ok {
		return false, switchboard.ErrNotFound
	}
	if e.Status != from {
		return false, nil
	}
	e.Status, e.Decision = to, d
	if d != nil {
		e.StoppedAt = d.Time
	}
	f.exps[name] = e
	return true, nil
}

func (f *fakeStore) UpsertFeedback(_ context.Context, fb switchboard.Feedback) (switchboard.FeedbackResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [3]string{fb.InferenceID, fb.TenantID, fb.Metric}
	old, ok := f.feedback[k]
	switch {
	case !ok:
		f.feedback[k] = fb
		return switchboard.FeedbackCreated, nil
	case old.Value == fb.Value:
		return switchboard.FeedbackUnchanged, nil
	}
	f.feedback[k] = fb
	return switchboard.FeedbackUpdated, nil
}

func (f *fakeStore) ListFeedback(context.Context, string) ([]switchboard.Feedback, error) {
	return nil, errors.New("not implemented")
}

func (f *fakeStore) ExperimentStats(_ context.Context, q switchboard.ExperimentStatsQuery) (switchboard.ExperimentStats, error) {
	f.mu.Lock()
	fn := f.stats
	f.mu.Unlock()
	if fn == nil {
		return switchboard.ExperimentStats{}, nil
	}
	return fn(q), nil
}

func (f *fakeStore) MergeRunningPValues(_ context.Context, exp string, ps []switchboard.RunningPValue) ([]switchboard.RunningPValue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.pvalues[exp]
	if m == nil {
		m = map[[2]string]switchboard.RunningPValue{}
		f.pvalues[exp] = m
	}
	for _, p := range ps {
		k := [2]string{p.Metric, p.Variant}
		if old, ok := m[k]; ok {
			p.PValue, p.Looks = math.Min(old.PValue, p.PValue), old.Looks+p.Looks
		}
		m[k] = p
	}
	var out []switchboard.RunningPValue
	for _, p := range m {
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeStore) VersionStats(context.Context, switchboard.VersionStatsFilter) ([]switchboard.VersionStats, error) {
	return nil, nil
}

var _ switchboard.ExperimentStore = (*fakeStore)(nil)

// labelCall is one call of fakeLabeler.
type labelCall struct {
	op, prompt, label, version, actor string
}

// fakeLabeler records label moves; fail, when set, makes them fail.
type fakeLabeler struct {
	mu    sync.Mutex
	calls []labelCall
	fail  error
}

func (l *fakeLabeler) Promote(_ context.Context, prompt, label, version, actor, _ string) error {
	return l.record("promote", prompt, label, version, actor)
}

func (l *fakeLabeler) Rollback(_ context.Context, prompt, label, version, actor, _ string) error {
	return l.record("rollback", prompt, label, version, actor)
}

func (l *fakeLabeler) record(op, prompt, label, version, actor string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, labelCall{op, prompt, label, version, actor})
	return l.fail
}

func (l *fakeLabeler) get() []labelCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]labelCall(nil), l.calls...)
}

// fakeAuditor records audit events.
type fakeAuditor struct {
	mu     sync.Mutex
	events []switchboard.AuditEvent
}

func (a *fakeAuditor) AppendAudit(_ context.Context, e switchboard.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

func (a *fakeAuditor) get() []switchboard.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]switchboard.AuditEvent(nil), a.events...)
}

// fakeNotifier records alerts.
type fakeNotifier struct {
	mu     sync.Mutex
	alerts []Alert
}

func (n *fakeNotifier) Notify(_ context.Context, a Alert) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.alerts = append(n.alerts, a)
	return nil
}

func (n *fakeNotifier) get() []Alert {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Alert(nil), n.alerts...)
}

// sumsOf returns the MetricSums of units, each a list of observations.
func sumsOf(units ...[]float64) switchboard.MetricSums {
	var s switchboard.MetricSums
	var sd float64
	for _, u := range units {
		if len(u) == 0 {
			continue
		}
		s.Units++
		s.Count += int64(len(u))
		sd += float64(len(u))
		for _, y := range u {
			s.Sum += y
		}
	}
	if s.Units == 0 {
		return s
	}
	am, ad := s.Sum/float64(s.Units), sd/float64(s.Units)
	for _, u := range units {
		if len(u) == 0 {
			continue
		}
		m := 0.0
		for _, y := range u {
			m += y
		}
		d := float64(len(u))
		s.M2 += (m - am) * (m - am)
		s.D2 += (d - ad) * (d - ad)
		s.MD += (m - am) * (d - ad)
	}
	return s
}

// binarySums returns the request-level MetricSums of n units with x
// successes.
func binarySums(n, x int64) switchboard.MetricSums {
	if n == 0 {
		return switchboard.MetricSums{}
	}
	p := float64(x) / float64(n)
	// Σ(y − p)² = x(1−p)² + (n−x)p²
	return switchboard.MetricSums{Units: n, Count: n, Sum: float64(x),
		M2: float64(x)*(1-p)*(1-p) + float64(n-x)*p*p}
}

// numericSums returns request-level MetricSums with mean and unbiased
// variance v over n units.
func numericSums(n int64, mean, v float64) switchboard.MetricSums {
	return switchboard.MetricSums{Units: n, Count: n, Sum: mean * float64(n), M2: v * float64(n-1)}
}

// variantStats builds VariantStats with all units in one period.
func variantStats(name string, units int64, metrics map[string]switchboard.MetricSums) switchboard.VariantStats {
	return switchboard.VariantStats{Variant: name, Units: units, Requests: units,
		Periods: []switchboard.PeriodCount{{Start: time.Unix(0, 0).UTC(), Units: units}}, Metrics: metrics}
}

func mustAnalyze(tb testing.TB, e *switchboard.Experiment, st switchboard.ExperimentStats, running []switchboard.RunningPValue) *Report {
	tb.Helper()
	r, err := Analyze(e, st, running, time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		tb.Fatalf("Analyze: %v", err)
	}
	return r
}
