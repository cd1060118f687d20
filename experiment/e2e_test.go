package experiment_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// recorder is a Labeler and an Auditor that remembers what it was told.
type recorder struct {
	moves  []string
	events []switchboard.AuditEvent
}

func (r *recorder) Promote(_ context.Context, prompt, label, version, _, _ string) error {
	r.moves = append(r.moves, fmt.Sprintf("promote %s/%s %s", prompt, label, version))
	return nil
}

func (r *recorder) Rollback(_ context.Context, prompt, label, version, _, _ string) error {
	r.moves = append(r.moves, fmt.Sprintf("rollback %s/%s %s", prompt, label, version))
	return nil
}

func (r *recorder) AppendAudit(_ context.Context, e switchboard.AuditEvent) error {
	r.events = append(r.events, e)
	return nil
}

// TestEndToEnd drives the engine over a real store: requests resolved and
// assigned per user, exposures recorded in inference records, feedback
// posted, SQL aggregation, the report, and the monitor rolling back a
// degraded canary.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	store, err := sqlite.New(t.Context(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	rec := &recorder{}
	svc := experiment.NewService(store, experiment.Options{Auditor: rec, Labeler: rec})
	if _, err := svc.Create(t.Context(), experiment.Canary("rag-v4", "rag", "production", "3", "4", 20, 50_000,
		switchboard.MetricSpec{Name: switchboard.MetricError},
		switchboard.MetricSpec{Name: "thumbs_up", Kind: switchboard.MetricBinary}), "cli"); err != nil {
		t.Fatal(err)
	}
	ab := experiment.Normalize(switchboard.Experiment{
		Name: "model-ab", Kind: switchboard.ExperimentAB, Model: "chat",
		Variants: []switchboard.Variant{{Name: "a", Model: "gpt-4o", Weight: 1}, {Name: "b", Model: "claude", Weight: 1}},
		Control:  "a", Metrics: []switchboard.MetricSpec{{Name: switchboard.MetricLatency}},
	})
	if _, err := svc.Create(t.Context(), ab, "cli"); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now().UTC().Truncate(time.Microsecond)
	var batch []switchboard.Inference
	users := map[string]bool{}
	for i := range 4000 {
		user := fmt.Sprintf("user-%d", rng.IntN(1500))
		in := switchboard.Inference{ID: fmt.Sprintf("inf-%05d", i), Time: base.Add(time.Duration(i) * time.Second),
			TenantID: "acme", Endpoint: "/v1/chat/completions", Status: 200, Latency: time.Duration(300+rng.IntN(400)) * time.Millisecond}
		if i%2 == 0 {
			e := svc.Resolver().ForPrompt("rag", "production")
			if e == nil {
				t.Fatal("no running canary for rag/production")
			}
			a := experiment.Assign(e, experiment.Unit("acme", "", user))
			a.Record(&in)
			in.PromptID, in.PromptVersion, in.PromptLabel, in.Model = "rag", a.PromptVersion, "production", "chat"
			if rng.Float64() < map[string]float64{"stable": 0.02, "canary": 0.20}[a.Variant] {
				in.Status = 502
			}
			users[user] = true
		} else {
			a := experiment.Assign(svc.Resolver().ForModel("chat"), experiment.Unit("acme", "", ""))
			a.Record(&in)
			in.Model = a.Model
		}
		batch = append(batch, in)
		if i%3 == 0 {
			fb, err := experiment.ParseFeedback(fmt.Appendf(nil, `{"inference_id": %q, "metric": "thumbs_up", "value": %t}`, in.ID, rng.IntN(2) == 0))
			if err != nil {
				t.Fatal(err)
			}
			fb.TenantID = "acme"
			if _, err := svc.RecordFeedback(t.Context(), fb); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := store.InsertInferences(t.Context(), batch); err != nil {
		t.Fatal(err)
	}

	rep, err := svc.Report(t.Context(), "rag-v4")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Units != int64(len(users)) || rep.Requests != 2000 {
		t.Errorf("report: %d units, %d requests; want %d users, 2000 requests", rep.Units, rep.Requests, len(users))
	}
	if rep.Metrics[0].Analysis != experiment.AnalysisUnitRatio {
		t.Errorf("users with several requests: analysis %q, want %q", rep.Metrics[0].Analysis, experiment.AnalysisUnitRatio)
	}
	if rep.Decision.Action != switchboard.DecisionRollback {
		t.Errorf("decision %+v, want rollback", rep.Decision)
	}
	var page bytes.Buffer
	if err := experiment.RenderReportHTML(&page, rep); err != nil || !strings.Contains(page.String(), "rollback") {
		t.Errorf("HTML: %v", err)
	}
	abRep, err := svc.Report(t.Context(), "model-ab")
	if err != nil || abRep.Units != 2000 || abRep.Metrics[0].Analysis != experiment.AnalysisRequest {
		t.Errorf("model experiment report: %+v, %v (random units: one request each)", abRep, err)
	}

	m := experiment.NewMonitor(svc, time.Hour)
	evs := m.Tick(t.Context())
	if len(evs) != 2 {
		t.Fatalf("Tick: %+v", evs)
	}
	e, err := svc.Get(t.Context(), "rag-v4")
	if err != nil || e.Status != switchboard.ExperimentRolledBack {
		t.Fatalf("canary after the tick: %+v, %v", e, err)
	}
	if len(rec.moves) != 1 || rec.moves[0] != "rollback rag/production 3" {
		t.Errorf("label moves %v", rec.moves)
	}
	if svc.Resolver().ForPrompt("rag", "production") != nil || svc.Resolver().ForModel("chat") == nil {
		t.Error("resolver not refreshed after the rollback")
	}
	if p, err := store.MergeRunningPValues(t.Context(), "model-ab", nil); err != nil || len(p) != 1 || p[0].Looks != 1 {
		t.Errorf("running p-values of model-ab after one tick: %+v, %v", p, err)
	}
	vs, err := svc.VersionStats(t.Context(), switchboard.VersionStatsFilter{Prompt: "rag", ByLabel: true})
	if err != nil || len(vs) != 2 || vs[0].Version != "3" || vs[1].Version != "4" || vs[0].Calls+vs[1].Calls != 2000 ||
		len(vs[0].Feedback) != 1 || vs[0].LatencyP95 < vs[0].LatencyP50 {
		t.Errorf("VersionStats: %+v, %v", vs, err)
	}
}
