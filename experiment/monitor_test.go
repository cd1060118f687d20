package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// degraded returns canary stats with the canary's error rate at 15 %.
func degraded(q switchboard.ExperimentStatsQuery) switchboard.ExperimentStats {
	return switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("stable", 1800, map[string]switchboard.MetricSums{"error": binarySums(1800, 36), "latency": numericSums(1800, 800, 40000)}),
		variantStats("canary", 200, map[string]switchboard.MetricSums{"error": binarySums(200, 30), "latency": numericSums(200, 800, 40000)}),
	}}
}

// healthyAt returns healthy canary stats with n units in all.
func healthyAt(n int64) func(switchboard.ExperimentStatsQuery) switchboard.ExperimentStats {
	return func(switchboard.ExperimentStatsQuery) switchboard.ExperimentStats {
		nc, nt := n*9/10, n/10
		return switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
			variantStats("stable", nc, map[string]switchboard.MetricSums{"error": binarySums(nc, nc/50), "latency": numericSums(nc, 800, 40000)}),
			variantStats("canary", nt, map[string]switchboard.MetricSums{"error": binarySums(nt, nt/50), "latency": numericSums(nt, 800, 40000)}),
		}}
	}
}

type rig struct {
	store    *fakeStore
	labeler  *fakeLabeler
	auditor  *fakeAuditor
	notifier *fakeNotifier
}

func newRig() *rig {
	return &rig{store: newFakeStore(), labeler: &fakeLabeler{}, auditor: &fakeAuditor{}, notifier: &fakeNotifier{}}
}

func (r *rig) service() *Service {
	return NewService(r.store, Options{Auditor: r.auditor, Labeler: r.labeler, Notifiers: []Notifier{r.notifier},
		Now: func() time.Time { return time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC) }})
}

func mustCreate(tb testing.TB, s *Service, e switchboard.Experiment) switchboard.Experiment {
	tb.Helper()
	e, err := s.Create(tb.Context(), e, "cli")
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return e
}

func TestEvaluateCanaryRollback(t *testing.T) {
	t.Parallel()
	r := newRig()
	svc := r.service()
	mustCreate(t, svc, Canary("rag-v4", "rag", "production", "3", "4", 10, 10000))
	if svc.Resolver().ForPrompt("rag", "production") == nil {
		t.Fatal("resolver does not know the canary after Create")
	}
	r.store.setStats(degraded)
	evs, err := svc.Evaluate(t.Context())
	if err != nil || len(evs) != 1 || !evs[0].Ended || evs[0].Decision.Action != switchboard.DecisionRollback {
		t.Fatalf("Evaluate: %+v, %v; want one rollback", evs, err)
	}
	e, _ := r.store.GetExperiment(t.Context(), "rag-v4")
	if e.Status != switchboard.ExperimentRolledBack || e.Decision == nil || e.Decision.Actor != ActorSystem {
		t.Errorf("experiment after rollback: status %s, decision %+v", e.Status, e.Decision)
	}
	if got := r.labeler.get(); len(got) != 1 || got[0] != (labelCall{"rollback", "rag", "production", "3", ActorSystem}) {
		t.Errorf("label moves %+v, want rag/production back to 3", got)
	}
	events := r.auditor.get()
	if len(events) != 2 || events[0].Action != "experiment.create" || events[1].Action != "experiment.rollback" ||
		events[1].Target != "experiment:rag-v4" || events[1].Actor != ActorSystem {
		t.Fatalf("audit events %+v", events)
	}
	var detail struct {
		Decision   switchboard.ExperimentDecision `json:"decision"`
		Version    string                         `json:"version"`
		Units      int64                          `json:"units"`
		Guardrails GuardrailReport                `json:"guardrails"`
		Metrics    []MetricReport                 `json:"metrics"`
	}
	if err := json.Unmarshal(events[1].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Version != "3" || detail.Units != 2000 || len(detail.Guardrails.Triggered) != 1 || detail.Guardrails.Triggered[0] != "error/canary" ||
		detail.Metrics[0].Comparisons[0].Guard == nil || !detail.Metrics[0].Comparisons[0].Guard.Breached {
		t.Errorf("audit detail lacks the numbers: %s", events[1].Detail)
	}
	alerts := r.notifier.get()
	if len(alerts) != 1 || alerts[0].Action != switchboard.DecisionRollback || alerts[0].Version != "3" || alerts[0].Error != "" {
		t.Errorf("alerts %+v", alerts)
	}
	if svc.Resolver().ForPrompt("rag", "production") != nil {
		t.Error("resolver still routes to the rolled-back canary")
	}
	// Nothing left to do.
	if evs, err := svc.Evaluate(t.Context()); err != nil || len(evs) != 0 {
		t.Errorf("second Evaluate: %+v, %v", evs, err)
	}
}

func TestEvaluateCanaryPromotion(t *testing.T) {
	t.Parallel()
	r := newRig()
	svc := r.service()
	mustCreate(t, svc, Canary("rag-v4", "rag", "production", "3", "4", 10, 10000))
	r.store.setStats(healthyAt(5000))
	if evs, _ := svc.Evaluate(t.Context()); evs[0].Ended || evs[0].Decision.Action != switchboard.DecisionKeepRunning {
		t.Fatalf("half the planned sample: %+v", evs[0])
	}
	r.store.setStats(healthyAt(10000))
	evs, err := svc.Evaluate(t.Context())
	if err != nil || !evs[0].Ended || evs[0].Decision.Action != switchboard.DecisionShip {
		t.Fatalf("at the planned sample: %+v, %v", evs, err)
	}
	if got := r.labeler.get(); len(got) != 1 || got[0] != (labelCall{"promote", "rag", "production", "4", ActorSystem}) {
		t.Errorf("label moves %+v, want rag/production promoted to 4", got)
	}
	if e, _ := r.store.GetExperiment(t.Context(), "rag-v4"); e.Status != switchboard.ExperimentShipped {
		t.Errorf("status %s, want shipped", e.Status)
	}
}

func TestEvaluateABFlags(t *testing.T) {
	t.Parallel()
	winner := func(switchboard.ExperimentStatsQuery) switchboard.ExperimentStats {
		return switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
			variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600)}),
			variantStats("b", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 750)}),
		}}
	}
	for _, auto := range []bool{false, true} {
		r := newRig()
		svc := r.service()
		e := *abExp("b")
		e.AutoPromote = auto
		mustCreate(t, svc, e)
		r.store.setStats(winner)
		evs, err := svc.Evaluate(t.Context())
		if err != nil || evs[0].Decision.Action != switchboard.DecisionShip || evs[0].Ended != auto {
			t.Errorf("auto_promote=%v: %+v, %v", auto, evs, err)
		}
		if moves := r.labeler.get(); (len(moves) == 1) != auto || (auto && moves[0].version != "2") {
			t.Errorf("auto_promote=%v: label moves %+v", auto, moves)
		}
	}
}

// TestEvaluateLabelFailure: the rollback stands (traffic is off the
// canary), and the alert and audit event say the label must be moved.
func TestEvaluateLabelFailure(t *testing.T) {
	t.Parallel()
	r := newRig()
	r.labeler.fail = errors.New("registry down")
	svc := r.service()
	mustCreate(t, svc, Canary("rag-v4", "rag", "production", "3", "4", 10, 10000))
	r.store.setStats(degraded)
	evs, err := svc.Evaluate(t.Context())
	if err == nil || !evs[0].Ended {
		t.Fatalf("Evaluate: %+v, %v; want the rollback and an error", evs, err)
	}
	if e, _ := r.store.GetExperiment(t.Context(), "rag-v4"); e.Status != switchboard.ExperimentRolledBack {
		t.Errorf("status %s, want rolled_back", e.Status)
	}
	if n := len(r.labeler.get()); n != 1+labelRetries {
		t.Errorf("%d label attempts, want %d", n, 1+labelRetries)
	}
	if a := r.notifier.get(); len(a) != 1 || a[0].Error == "" {
		t.Errorf("alerts %+v, want one that carries the error", a)
	}
}

// TestMonitorReplicas runs four replicas' monitors on one store, ticking
// every millisecond, with reports read concurrently (run with -race): the
// degraded canary is rolled back exactly once.
func TestMonitorReplicas(t *testing.T) {
	t.Parallel()
	r := newRig()
	mustCreate(t, r.service(), Canary("rag-v4", "rag", "production", "3", "4", 10, 10000))
	r.auditor.events = nil
	var monitors []*Monitor
	var svcs []*Service
	for range 4 {
		svc := r.service()
		svcs = append(svcs, svc)
		monitors = append(monitors, NewMonitor(svc, time.Millisecond))
	}
	for _, m := range monitors {
		m.Start()
		m.Start() // harmless
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, svc := range svcs {
		wg.Go(func() {
			for !stop.Load() {
				if _, err := svc.Report(t.Context(), "rag-v4"); err != nil {
					t.Errorf("Report: %v", err)
					return
				}
				_ = svc.Resolver().ForPrompt("rag", "production")
			}
		})
	}
	time.Sleep(20 * time.Millisecond) // healthy looks first
	r.store.setStats(degraded)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if e, _ := r.store.GetExperiment(t.Context(), "rag-v4"); e.Status == switchboard.ExperimentRolledBack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the canary was not rolled back within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the other replicas look again
	stop.Store(true)
	wg.Wait()
	for _, m := range monitors {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		_ = m.Close()
	}
	if got := r.labeler.get(); len(got) != 1 {
		t.Errorf("label moves %+v, want exactly one", got)
	}
	if got := r.auditor.get(); len(got) != 1 || got[0].Action != "experiment.rollback" {
		t.Errorf("audit events %+v, want exactly one rollback", got)
	}
	if got := r.notifier.get(); len(got) != 1 {
		t.Errorf("alerts %+v, want exactly one", got)
	}
	for _, svc := range svcs {
		if svc.Resolver().ForPrompt("rag", "production") != nil {
			t.Error("a replica's resolver still routes to the canary")
		}
	}
}

func TestMonitorTickLogsErrors(t *testing.T) {
	t.Parallel()
	r := newRig()
	r.store.failList = errors.New("db down")
	m := NewMonitor(r.service(), 0)
	if m.interval != DefaultInterval {
		t.Errorf("interval %v, want %v", m.interval, DefaultInterval)
	}
	if evs := m.Tick(t.Context()); len(evs) != 0 {
		t.Errorf("Tick with the store down: %+v", evs)
	}
	if err := m.Close(); err != nil { // never started
		t.Error(err)
	}
}

// notifierFunc is a Notifier from a function.
type notifierFunc func(context.Context, Alert) error

func (f notifierFunc) Notify(ctx context.Context, a Alert) error { return f(ctx, a) }

// TestRollbackStopsTrafficBeforeAlerts: a rolled-back canary gets no more
// traffic while the notifiers, which may be slow, are still being told.
func TestRollbackStopsTrafficBeforeAlerts(t *testing.T) {
	t.Parallel()
	r := newRig()
	var svc *Service
	var routedDuringAlert atomic.Bool
	svc = NewService(r.store, Options{Auditor: r.auditor, Labeler: r.labeler,
		Notifiers: []Notifier{notifierFunc(func(context.Context, Alert) error {
			routedDuringAlert.Store(svc.Resolver().ForPrompt("rag", "production") != nil)
			return nil
		})},
		Now: func() time.Time { return time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC) }})
	mustCreate(t, svc, Canary("rag-v4", "rag", "production", "3", "4", 10, 10000))
	r.store.setStats(degraded)
	if evs, err := svc.Evaluate(t.Context()); err != nil || len(evs) != 1 || evs[0].Decision.Action != switchboard.DecisionRollback {
		t.Fatalf("Evaluate: %+v, %v; want one rollback", evs, err)
	}
	if routedDuringAlert.Load() {
		t.Error("the canary still got traffic while the alert was being sent")
	}
}

// slowStore answers ExperimentStats after a delay, as a busy database
// does, honouring the caller's deadline.
type slowStore struct {
	*fakeStore
	delay time.Duration
}

func (s slowStore) ExperimentStats(ctx context.Context, q switchboard.ExperimentStatsQuery) (switchboard.ExperimentStats, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return switchboard.ExperimentStats{}, ctx.Err()
	}
	return s.fakeStore.ExperimentStats(ctx, q)
}

// TestTickOutlastsAShortInterval: a look that takes longer than the
// monitor's interval still ends in a decision (a slow database delays
// looks; it must not fail every one of them).
func TestTickOutlastsAShortInterval(t *testing.T) {
	t.Parallel()
	r := newRig()
	svc := NewService(slowStore{r.store, 50 * time.Millisecond}, Options{Auditor: r.auditor, Labeler: r.labeler,
		Notifiers: []Notifier{r.notifier}, Now: func() time.Time { return time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC) }})
	mustCreate(t, svc, Canary("rag-v4", "rag", "production", "3", "4", 10, 10000))
	r.store.setStats(degraded)
	evs := NewMonitor(svc, 10*time.Millisecond).Tick(t.Context())
	if len(evs) != 1 || !evs[0].Ended || evs[0].Decision.Action != switchboard.DecisionRollback {
		t.Fatalf("Tick with a 10 ms interval and a 50 ms database: %+v; want the canary rolled back", evs)
	}
}
