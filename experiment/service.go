package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// ActorSystem is the audit actor of the decisions the monitor takes.
const ActorSystem = "system"

// DefaultSRMPeriod is the width of the assignment periods of the
// sequential SRM test.
const DefaultSRMPeriod = time.Hour

// Labeler moves prompt labels. The prompt registry implements it; both
// methods name the version explicitly, so calling one twice is harmless.
type Labeler interface {
	// Promote points label of prompt at version (a winner or a canary that
	// passed), recording actor and reason in the label's history.
	Promote(ctx context.Context, prompt, label, version, actor, reason string) error
	// Rollback points label of prompt back at version (the canary's
	// control), recording actor and reason in the label's history.
	Rollback(ctx context.Context, prompt, label, version, actor, reason string) error
}

// Auditor records audit events; switchboard.AuditStore satisfies it.
type Auditor interface {
	AppendAudit(ctx context.Context, e switchboard.AuditEvent) error
}

// Options are the collaborators of a Service. Every field is optional.
type Options struct {
	// Auditor records creations and every end of an experiment, with the
	// numbers behind it.
	Auditor Auditor
	// Labeler moves prompt labels when a prompt experiment ships or a
	// canary rolls back.
	Labeler Labeler
	// Notifiers are told about every decision the monitor carries out and
	// every failure to carry one out.
	Notifiers []Notifier
	Log       *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// SRMPeriod is the width of the SRM periods (DefaultSRMPeriod).
	SRMPeriod time.Duration
	// NotifyTimeout bounds each notifier call (10s).
	NotifyTimeout time.Duration
	// CheckVersion, when set, is asked by Create whether each variant's
	// prompt version exists (the prompt registry's Resolve); its error is
	// returned as is.
	CheckVersion func(ctx context.Context, prompt, version string) error
	// Inferences, when set, is where RecordFeedback looks up the inference
	// a feedback value is about: a value for an inference that is not
	// recorded for the sender's tenant is refused (not_found), unless its ID
	// was minted within PendingWindow (its record may still be queued:
	// records are written in batches).
	Inferences switchboard.InferenceStore
	// PendingWindow is how recent an unrecorded inference ID may be and
	// still take feedback (DefaultPendingWindow).
	PendingWindow time.Duration
}

// DefaultPendingWindow is the default Options.PendingWindow: much longer
// than the recorder's flush interval, so a record delayed by a busy
// database still takes its feedback.
const DefaultPendingWindow = 5 * time.Minute

// Service is what the admin API, the CLI and the monitor call: it creates
// experiments, records feedback, builds reports and carries out decisions,
// with audit events and alerts. It is safe for concurrent use, also by
// several replicas sharing one store: every end of an experiment is a
// conditional status update that exactly one caller wins.
type Service struct {
	store    switchboard.ExperimentStore
	o        Options
	resolver *Resolver
}

// NewService returns a Service over store.
func NewService(store switchboard.ExperimentStore, o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SRMPeriod <= 0 {
		o.SRMPeriod = DefaultSRMPeriod
	}
	if o.NotifyTimeout <= 0 {
		o.NotifyTimeout = 10 * time.Second
	}
	if o.PendingWindow <= 0 {
		o.PendingWindow = DefaultPendingWindow
	}
	return &Service{store: store, o: o, resolver: NewResolver(store)}
}

// Resolver returns the service's resolver of running experiments (the
// request path's lookup). The service refreshes it after each change it
// makes; the monitor refreshes it at every tick.
func (s *Service) Resolver() *Resolver { return s.resolver }

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Microsecond) }

// Create normalizes, validates and stores a new running experiment created
// by actor, and records an audit event. A taken name, or a running
// experiment on the same prompt label or model, is a conflict error.
func (s *Service) Create(ctx context.Context, e switchboard.Experiment, actor string) (switchboard.Experiment, error) {
	e = Normalize(e)
	if e.Status != switchboard.ExperimentRunning || e.Decision != nil || !e.StoppedAt.IsZero() {
		return switchboard.Experiment{}, switchboard.InvalidParam("status", "a new experiment is running")
	}
	if err := Validate(e); err != nil {
		return switchboard.Experiment{}, err
	}
	if s.o.CheckVersion != nil && e.Prompt != "" {
		for _, v := range e.Variants {
			if err := s.o.CheckVersion(ctx, e.Prompt, v.PromptVersion); err != nil {
				return switchboard.Experiment{}, err
			}
		}
	}
	e.CreatedAt, e.CreatedBy = s.now(), actor
	if err := s.store.CreateExperiment(ctx, e); err != nil {
		if errors.Is(err, switchboard.ErrExists) {
			return switchboard.Experiment{}, &switchboard.Error{Code: switchboard.CodeConflict, Param: "name",
				Message: fmt.Sprintf("experiment %q: the name is taken, or a running experiment already splits this traffic", e.Name), Err: err}
		}
		return switchboard.Experiment{}, err
	}
	s.audit(ctx, actor, "experiment.create", e.Name, e)
	s.refresh(ctx)
	return e, nil
}

// Get returns the named experiment; a not_found error if there is none.
func (s *Service) Get(ctx context.Context, name string) (switchboard.Experiment, error) {
	e, err := s.store.GetExperiment(ctx, name)
	if errors.Is(err, switchboard.ErrNotFound) {
		return e, &switchboard.Error{Code: switchboard.CodeNotFound, Message: fmt.Sprintf("no experiment %q", name), Err: err}
	}
	return e, err
}

// List returns the experiments that match f, newest first.
func (s *Service) List(ctx context.Context, f switchboard.ExperimentFilter) ([]switchboard.Experiment, error) {
	return s.store.ListExperiments(ctx, f)
}

// Report analyzes the named experiment now (read-only: it does not record
// a look).
func (s *Service) Report(ctx context.Context, name string) (*Report, error) {
	e, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.ReportOf(ctx, &e)
}

// ReportOf analyzes e: the store aggregates its exposures (until it ended)
// and returns the running minima of its always-valid p-values.
func (s *Service) ReportOf(ctx context.Context, e *switchboard.Experiment) (*Report, error) {
	q := switchboard.ExperimentStatsQuery{Experiment: e.Name, Metrics: e.Metrics, Period: s.o.SRMPeriod}
	if !e.StoppedAt.IsZero() {
		q.Until = e.StoppedAt
	}
	st, err := s.store.ExperimentStats(ctx, q)
	if err != nil {
		return nil, err
	}
	running, err := s.store.MergeRunningPValues(ctx, e.Name, nil)
	if err != nil {
		return nil, err
	}
	return Analyze(e, st, running, s.o.Now().UTC())
}

// RecordFeedback validates and stores one feedback value, idempotent per
// inference, tenant and metric (see
// switchboard.ExperimentStore.UpsertFeedback): a tenant only creates and
// replaces its own values, and only the inference's own tenant's count in
// reports. A zero Time is now.
func (s *Service) RecordFeedback(ctx context.Context, f switchboard.Feedback) (switchboard.FeedbackResult, error) {
	if err := ValidateFeedback(f); err != nil {
		return "", err
	}
	if f.Time.IsZero() {
		f.Time = s.now()
	}
	if err := s.checkInference(ctx, f); err != nil {
		return "", err
	}
	return s.store.UpsertFeedback(ctx, f)
}

// checkInference refuses feedback on an inference that is neither
// recorded for f's tenant nor recent enough to be still queued (see
// Options.Inferences). Another tenant's inference is as unknown as one
// that never was.
func (s *Service) checkInference(ctx context.Context, f switchboard.Feedback) error {
	if s.o.Inferences == nil {
		return nil
	}
	found, err := s.o.Inferences.ListInferences(ctx, switchboard.InferenceFilter{ID: f.InferenceID, Limit: 1})
	if err != nil {
		return err
	}
	if len(found) > 0 {
		if f.TenantID == "" || found[0].TenantID == f.TenantID {
			return nil
		}
		return unknownInference(f.InferenceID)
	}
	if t, ok := switchboard.IDTime(f.InferenceID); ok {
		if age := s.now().Sub(t); age > -time.Minute && age < s.o.PendingWindow {
			return nil
		}
	}
	return unknownInference(f.InferenceID)
}

func unknownInference(id string) error {
	return &switchboard.Error{Code: switchboard.CodeNotFound, Param: "inference_id",
		Message: fmt.Sprintf("no inference %q: use the x-switchboard-inference-id of an answer this key's tenant received", id)}
}

// VersionStats returns the analytics of a prompt per version (and label).
func (s *Service) VersionStats(ctx context.Context, f switchboard.VersionStatsFilter) ([]switchboard.VersionStats, error) {
	if !idRE.MatchString(f.Prompt) {
		return nil, switchboard.InvalidParam("prompt", "invalid prompt ID %q: 1–128 letters, digits, _ . or -, not starting with . or -", f.Prompt)
	}
	return s.store.VersionStats(ctx, f)
}

// Stop ends a running experiment without a winner, by actor. A canary's
// label is pointed back at its control version.
func (s *Service) Stop(ctx context.Context, name, actor, reason string) error {
	return s.manual(ctx, name, switchboard.ExperimentDecision{Action: switchboard.DecisionStop, Reason: reason}, actor)
}

// Rollback ends a running canary by rolling it back, by actor.
func (s *Service) Rollback(ctx context.Context, name, actor, reason string) error {
	e, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if e.Kind != switchboard.ExperimentCanary {
		return switchboard.InvalidParam("name", "experiment %q is not a canary; stop it instead", name)
	}
	return s.manual(ctx, name, switchboard.ExperimentDecision{Action: switchboard.DecisionRollback,
		Variant: e.Variants[1-variantIndex(&e, e.Control)].Name, Reason: reason}, actor)
}

// Ship ends a running experiment by shipping variant, by actor: a prompt
// experiment's label is then pointed at the variant's version.
func (s *Service) Ship(ctx context.Context, name, variant, actor, reason string) error {
	return s.manual(ctx, name, switchboard.ExperimentDecision{Action: switchboard.DecisionShip, Variant: variant, Reason: reason}, actor)
}

func (s *Service) manual(ctx context.Context, name string, d switchboard.ExperimentDecision, actor string) error {
	e, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if d.Action == switchboard.DecisionShip && variantIndex(&e, d.Variant) < 0 {
		return switchboard.InvalidParam("variant", "experiment %q has no variant %q", name, d.Variant)
	}
	if d.Reason == "" {
		d.Reason = "by " + actor
	}
	rep, err := s.ReportOf(ctx, &e) // the evidence at the time; best effort
	if err != nil {
		s.o.Log.Warn("experiment report failed", "experiment", name, "err", err)
		rep = nil
	}
	won, err := s.end(ctx, &e, d, rep, actor)
	if err != nil {
		return err
	}
	if !won {
		return &switchboard.Error{Code: switchboard.CodeConflict, Message: fmt.Sprintf("experiment %q is not running", name)}
	}
	return nil
}

// Evaluation is what the monitor did with one running experiment.
type Evaluation struct {
	Experiment string                         `json:"experiment"`
	Decision   switchboard.ExperimentDecision `json:"decision"`
	// Ended reports that this call ended the experiment (another replica
	// may have won the same decision).
	Ended bool   `json:"ended"`
	Error string `json:"error,omitempty"`
}

// Evaluate looks at every running experiment once: it records the look's
// always-valid p-values, and carries out the decisions the experiment
// allows on its own (a canary's rollback and promotion, an A/B test's
// auto_stop and auto_promote). Errors of single experiments are joined;
// the others are still evaluated.
func (s *Service) Evaluate(ctx context.Context) ([]Evaluation, error) {
	exps, err := s.store.ListExperiments(ctx, switchboard.ExperimentFilter{Status: switchboard.ExperimentRunning})
	if err != nil {
		return nil, fmt.Errorf("experiment: evaluate: %w", err)
	}
	var errs []error
	out := make([]Evaluation, 0, len(exps))
	for i := range exps {
		ev, err := s.evaluate(ctx, &exps[i])
		if err != nil {
			ev.Error = err.Error()
			errs = append(errs, fmt.Errorf("experiment %q: %w", exps[i].Name, err))
		}
		out = append(out, ev)
	}
	return out, errors.Join(errs...)
}

func (s *Service) evaluate(ctx context.Context, e *switchboard.Experiment) (Evaluation, error) {
	ev := Evaluation{Experiment: e.Name}
	rep, err := s.ReportOf(ctx, e)
	if err != nil {
		return ev, err
	}
	ev.Decision = rep.Decision
	if _, err := s.store.MergeRunningPValues(ctx, e.Name, rep.Looks()); err != nil {
		return ev, err
	}
	d := rep.Decision
	act := false
	switch e.Kind {
	case switchboard.ExperimentCanary:
		act = d.Action == switchboard.DecisionRollback || d.Action == switchboard.DecisionShip
	case switchboard.ExperimentAB:
		// The hard circuit breaker stops an A/B test even without auto_stop:
		// it is an outage rule, not a statistical decision.
		act = (d.Action == switchboard.DecisionShip && e.AutoPromote) || (d.Action == switchboard.DecisionStop &&
			(e.AutoStop || strings.HasPrefix(d.Reason, hardBreakerReason)))
	}
	if !act {
		return ev, nil
	}
	ev.Ended, err = s.end(ctx, e, d, rep, ActorSystem)
	return ev, err
}

// statusOf maps a final decision to the status it leaves.
func statusOf(action string) string {
	switch action {
	case switchboard.DecisionShip:
		return switchboard.ExperimentShipped
	case switchboard.DecisionRollback:
		return switchboard.ExperimentRolledBack
	}
	return switchboard.ExperimentStopped
}

// end carries out a final decision and reports whether this call made it.
// The status update comes first: exactly one caller (replica, monitor or
// person) wins it, and stopping or rolling back stops the variant's traffic
// at once. The winner then moves the label — to the shipped variant's
// version, or a canary's back to its control version — retrying briefly;
// if that fails the experiment stays ended, traffic falls back to the
// label's current version (the safe side), and the alert and audit event
// say an operator must move the label. Only the winner writes the audit
// event and sends the alert.
func (s *Service) end(ctx context.Context, e *switchboard.Experiment, d switchboard.ExperimentDecision, rep *Report, actor string) (bool, error) {
	d.Actor, d.Time = actor, s.now()
	move, version := "", ""
	switch {
	case d.Action == switchboard.DecisionShip && e.Prompt != "":
		v := variantIndex(e, d.Variant)
		if v < 0 {
			return false, fmt.Errorf("ship: no variant %q", d.Variant)
		}
		move, version = "promote", e.Variants[v].PromptVersion
	case e.Kind == switchboard.ExperimentCanary:
		move, version = "rollback", e.Variants[variantIndex(e, e.Control)].PromptVersion
	}
	if move == "promote" && s.o.Labeler == nil {
		return false, errors.New("no labeler to promote the prompt label")
	}
	won, err := s.store.SetExperimentStatus(ctx, e.Name, switchboard.ExperimentRunning, statusOf(d.Action), &d)
	if err != nil || !won {
		return false, err
	}
	// The experiment has ended: finish the job even if the caller's
	// context (a monitor tick, a client request) ends meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if move != "promote" {
		// Rolled back or stopped: traffic leaves the experiment now (the
		// control is the safe side), not after the label moves and the
		// notifiers, which may be slow, are told.
		s.refresh(ctx)
	}
	var labelErr error
	switch {
	case move != "" && s.o.Labeler == nil:
		labelErr = fmt.Errorf("%s %s/%s to version %s: no labeler configured", move, e.Prompt, e.Label, version)
	case move != "":
		labelErr = retry(ctx, func() error {
			if move == "promote" {
				return s.o.Labeler.Promote(ctx, e.Prompt, e.Label, version, actor, d.Reason)
			}
			return s.o.Labeler.Rollback(ctx, e.Prompt, e.Label, version, actor, d.Reason)
		})
		if labelErr != nil {
			labelErr = fmt.Errorf("%s %s/%s to version %s: %w", move, e.Prompt, e.Label, version, labelErr)
		}
	}
	if move == "promote" {
		s.refresh(ctx) // once the label serves the winner
	}
	detail := auditDetail{Decision: d, Prompt: e.Prompt, Label: e.Label, Model: e.Model, Version: version}
	if rep != nil {
		detail.Units, detail.SRM, detail.Guardrails, detail.Metrics = rep.Units, rep.SRM, rep.Guardrails, rep.Metrics
	}
	if labelErr != nil {
		detail.Error = labelErr.Error()
	}
	s.audit(ctx, actor, "experiment."+d.Action, e.Name, detail)
	if actor == ActorSystem || labelErr != nil {
		a := Alert{Experiment: e.Name, Kind: e.Kind, Prompt: e.Prompt, Label: e.Label, Model: e.Model,
			Action: d.Action, Variant: d.Variant, Version: version, Reason: d.Reason, Time: d.Time}
		if labelErr != nil {
			a.Error = labelErr.Error()
		}
		s.notify(ctx, a)
	}
	s.o.Log.Info("experiment ended", "experiment", e.Name, "action", d.Action, "variant", d.Variant, "actor", actor, "reason", d.Reason)
	return true, labelErr
}

// labelRetries and labelBackoff bound the retries of a label move;
// finishTimeout bounds what follows a won status change.
const (
	finishTimeout = 30 * time.Second
	labelRetries  = 3
	labelBackoff  = 100 * time.Millisecond
)

// retry calls fn until it succeeds, at most 1 + labelRetries times, with
// doubling waits, and returns its last error.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt <= labelRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(labelBackoff << (attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(err, ctx.Err())
			case <-t.C:
			}
		}
		if err = fn(); err == nil {
			return nil
		}
	}
	return err
}

// auditDetail is the Detail of an experiment's end: the decision and the
// numbers behind it.
type auditDetail struct {
	Decision   switchboard.ExperimentDecision `json:"decision"`
	Prompt     string                         `json:"prompt,omitempty"`
	Label      string                         `json:"label,omitempty"`
	Model      string                         `json:"model,omitempty"`
	Version    string                         `json:"version,omitempty"`
	Units      int64                          `json:"units"`
	SRM        *SRMReport                     `json:"srm,omitempty"`
	Guardrails *GuardrailReport               `json:"guardrails,omitempty"`
	Metrics    []MetricReport                 `json:"metrics,omitempty"`
	Error      string                         `json:"error,omitempty"`
}

// audit appends an event; a failure is logged (the decision stands).
func (s *Service) audit(ctx context.Context, actor, action, name string, detail any) {
	if s.o.Auditor == nil {
		return
	}
	b, err := json.Marshal(detail)
	if err != nil {
		s.o.Log.Error("experiment audit failed", "experiment", name, "err", err)
		return
	}
	ev := switchboard.AuditEvent{ID: switchboard.NewID(), Time: s.now(), Actor: actor, Action: action,
		Target: "experiment:" + name, Detail: b}
	if err := s.o.Auditor.AppendAudit(context.WithoutCancel(ctx), ev); err != nil {
		s.o.Log.Error("experiment audit failed", "experiment", name, "action", action, "err", err)
	}
}

// notify sends a to every notifier, each bounded by NotifyTimeout.
func (s *Service) notify(ctx context.Context, a Alert) {
	for _, n := range s.o.Notifiers {
		nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.NotifyTimeout)
		if err := n.Notify(nctx, a); err != nil {
			s.o.Log.Warn("experiment alert failed", "experiment", a.Experiment, "err", err)
		}
		cancel()
	}
}

// refresh reloads the resolver; a failure is logged, the next tick retries.
func (s *Service) refresh(ctx context.Context) {
	if err := s.resolver.Refresh(ctx); err != nil {
		s.o.Log.Warn("experiment resolver refresh failed", "err", err)
	}
}
