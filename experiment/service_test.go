package experiment

import (
	"errors"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

func codeOf(err error) switchboard.ErrorCode { return switchboard.ErrorCodeOf(err) }

func TestServiceCreate(t *testing.T) {
	t.Parallel()
	r := newRig()
	svc := r.service()
	e := mustCreate(t, svc, *abExp("b"))
	if e.Status != switchboard.ExperimentRunning || e.CreatedBy != "cli" || e.CreatedAt.IsZero() {
		t.Errorf("created %+v", e)
	}
	if _, err := svc.Create(t.Context(), *abExp("b"), "cli"); codeOf(err) != switchboard.CodeConflict {
		t.Errorf("Create of a taken name: got %v, want conflict", err)
	}
	other := *abExp("b")
	other.Name = "second-on-same-label"
	if _, err := svc.Create(t.Context(), other, "cli"); codeOf(err) != switchboard.CodeConflict {
		t.Errorf("Create of a second experiment on rag/production: got %v, want conflict", err)
	}
	bad := *abExp("b")
	bad.Name, bad.Control = "bad", "nope"
	var se *switchboard.Error
	if _, err := svc.Create(t.Context(), bad, "cli"); !errors.As(err, &se) || se.Code != switchboard.CodeInvalidRequest || se.Param != "control" {
		t.Errorf("Create of an invalid spec: got %v, want invalid_request on control", err)
	}
	if ev := r.auditor.get(); len(ev) != 1 || ev[0].Action != "experiment.create" || ev[0].Actor != "cli" {
		t.Errorf("audit %+v", ev)
	}
	if _, err := svc.Get(t.Context(), "nope"); codeOf(err) != switchboard.CodeNotFound {
		t.Errorf("Get(nope): got %v, want not_found", err)
	}
	if _, err := svc.Report(t.Context(), "nope"); codeOf(err) != switchboard.CodeNotFound {
		t.Errorf("Report(nope): got %v, want not_found", err)
	}
	if list, err := svc.List(t.Context(), switchboard.ExperimentFilter{}); err != nil || len(list) != 1 {
		t.Errorf("List: %v, %v", list, err)
	}
}

func TestServiceFeedback(t *testing.T) {
	t.Parallel()
	svc := newRig().service()
	fb := switchboard.Feedback{InferenceID: "inf-1", Metric: "thumbs", Value: 1, TenantID: "acme"}
	for i, want := range []switchboard.FeedbackResult{switchboard.FeedbackCreated, switchboard.FeedbackUnchanged} {
		if got, err := svc.RecordFeedback(t.Context(), fb); err != nil || got != want {
			t.Errorf("RecordFeedback #%d: %q, %v; want %q", i, got, err, want)
		}
	}
	// Another tenant's feedback on the same inference is its own row: it
	// neither blocks nor changes the owner's.
	other := fb
	other.TenantID, other.Value = "other", 0
	if got, err := svc.RecordFeedback(t.Context(), other); err != nil || got != switchboard.FeedbackCreated {
		t.Errorf("feedback of another tenant: %q, %v; want created", got, err)
	}
	if got, err := svc.RecordFeedback(t.Context(), fb); err != nil || got != switchboard.FeedbackUnchanged {
		t.Errorf("owner's feedback after another tenant's: %q, %v; want unchanged", got, err)
	}
	if _, err := svc.RecordFeedback(t.Context(), switchboard.Feedback{InferenceID: "i", Metric: "latency", Value: 1}); codeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("feedback on an automatic metric: got %v, want invalid_request", err)
	}
	if _, err := svc.VersionStats(t.Context(), switchboard.VersionStatsFilter{}); codeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("VersionStats without a prompt: got %v, want invalid_request", err)
	}
}

func TestServiceManual(t *testing.T) {
	t.Parallel()
	r := newRig()
	svc := r.service()
	mustCreate(t, svc, *abExp("b"))
	if err := svc.Ship(t.Context(), "rag-test", "nope", "key:1", ""); codeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("Ship of an unknown variant: got %v", err)
	}
	if err := svc.Ship(t.Context(), "rag-test", "b", "key:1", "looks good"); err != nil {
		t.Fatalf("Ship: %v", err)
	}
	if err := svc.Stop(t.Context(), "rag-test", "key:1", ""); codeOf(err) != switchboard.CodeConflict {
		t.Errorf("Stop of a shipped experiment: got %v, want conflict", err)
	}
	if got := r.labeler.get(); len(got) != 1 || got[0] != (labelCall{"promote", "rag", "production", "2", "key:1"}) {
		t.Errorf("label moves %+v", got)
	}
	if a := r.notifier.get(); len(a) != 0 {
		t.Errorf("a manual decision alerted: %+v", a)
	}
	e, _ := svc.Get(t.Context(), "rag-test")
	if e.Status != switchboard.ExperimentShipped || e.Decision.Actor != "key:1" || e.Decision.Reason != "looks good" {
		t.Errorf("after Ship: %+v", e)
	}

	mustCreate(t, svc, Canary("c", "rag", "staging", "1", "2", 10, 1000))
	if err := svc.Rollback(t.Context(), "rag-test", "cli", ""); codeOf(err) != switchboard.CodeInvalidRequest {
		t.Errorf("Rollback of an A/B test: got %v", err)
	}
	if err := svc.Rollback(t.Context(), "c", "cli", "bad outputs"); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := r.labeler.get(); len(got) != 2 || got[1] != (labelCall{"rollback", "rag", "staging", "1", "cli"}) {
		t.Errorf("label moves %+v", got)
	}
	if e, _ := svc.Get(t.Context(), "c"); e.Status != switchboard.ExperimentRolledBack {
		t.Errorf("canary status %s", e.Status)
	}
	// A stopped experiment's report is frozen at its end and says why.
	rep, err := svc.Report(t.Context(), "c")
	if err != nil || rep.Ended == nil || rep.Ended.Reason != "bad outputs" {
		t.Errorf("report of an ended canary: %+v, %v", rep, err)
	}
}

func TestServiceNoLabeler(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	svc := NewService(store, Options{})
	if _, err := svc.Create(t.Context(), *abExp("b"), "cli"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Ship(t.Context(), "rag-test", "b", "cli", ""); err == nil {
		t.Error("Ship of a prompt experiment without a labeler: got nil error")
	}
	if e, _ := store.GetExperiment(t.Context(), "rag-test"); e.Status != switchboard.ExperimentRunning {
		t.Errorf("status %s, want still running", e.Status)
	}
	// A degraded canary is rolled back all the same: its traffic stops.
	if _, err := svc.Create(t.Context(), Canary("c", "rag", "staging", "1", "2", 10, 10000), "cli"); err != nil {
		t.Fatal(err)
	}
	store.setStats(degraded)
	evs, err := svc.Evaluate(t.Context())
	if err == nil || len(evs) != 2 {
		t.Fatalf("Evaluate: %+v, %v; want the rollback with an error about the label", evs, err)
	}
	if e, _ := store.GetExperiment(t.Context(), "c"); e.Status != switchboard.ExperimentRolledBack {
		t.Errorf("canary status %s, want rolled_back", e.Status)
	}
}
