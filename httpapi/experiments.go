package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/prompt"
)

// experimentRoutes adds feedback, the experiment admin routes, canaries and
// per-version analytics.
func (s *Server) experimentRoutes(mux *http.ServeMux) {
	inference, admin, read := switchboard.ScopeInference, switchboard.ScopeAdmin, switchboard.ScopeReadOnly
	mux.Handle("POST /v1/feedback", s.wrap(s.authed(inference, s.feedback)))
	mux.Handle("GET /admin/v1/experiments", s.wrap(s.authed(read, s.listExperiments)))
	mux.Handle("POST /admin/v1/experiments", s.wrap(s.authed(admin, s.createExperiment)))
	mux.Handle("GET /admin/v1/experiments/{name}", s.wrap(s.authed(read, s.getExperiment)))
	mux.Handle("GET /admin/v1/experiments/{name}/report", s.wrap(s.authed(read, s.experimentReport)))
	mux.Handle("GET /admin/v1/experiments/{name}/report.html", s.wrap(s.authed(read, s.experimentReportHTML)))
	mux.Handle("POST /admin/v1/experiments/{name}/stop", s.wrap(s.authed(admin, s.endExperiment("stop"))))
	mux.Handle("POST /admin/v1/experiments/{name}/ship", s.wrap(s.authed(admin, s.endExperiment("ship"))))
	mux.Handle("POST /admin/v1/experiments/{name}/rollback", s.wrap(s.authed(admin, s.endExperiment("rollback"))))
	mux.Handle("POST /admin/v1/prompts/{id}/canary", s.wrap(s.authed(admin, s.startCanary)))
	mux.Handle("GET /admin/v1/prompts/{id}/stats", s.wrap(s.authed(read, s.promptStats)))
}

func (s *Server) experimentService() (*experiment.Service, error) {
	if s.expSvc == nil {
		return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Message: "experiments are not available on this server"}
	}
	return s.expSvc, nil
}

// feedback serves POST /v1/feedback {inference_id, metric, value}: a
// boolean or numeric outcome of an inference, idempotent per inference and
// metric. The caller's tenant is recorded; only the inference's own tenant
// counts in reports.
func (s *Server) feedback(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	body, err := s.readJSON(w, r)
	if err != nil {
		return err
	}
	f, err := experiment.ParseFeedback(body)
	if err != nil {
		return err
	}
	if c := callerOf(r); c != nil {
		f.TenantID = c.Tenant.Name
	}
	res, err := svc.RecordFeedback(r.Context(), f)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res == switchboard.FeedbackCreated {
		status = http.StatusCreated
	}
	return writeJSONStatus(w, status, map[string]any{"object": "feedback", "inference_id": f.InferenceID, "metric": f.Metric,
		"value": f.Value, "result": res})
}

func (s *Server) listExperiments(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	es, err := svc.List(r.Context(), switchboard.ExperimentFilter{Status: q.Get("status"), Prompt: q.Get("prompt"), Label: q.Get("label"), Model: q.Get("model")})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"object": "list", "data": orEmpty(es)})
}

// createExperiment starts an experiment from its spec (docs/experiments.md).
func (s *Server) createExperiment(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	body, err := s.readJSON(w, r)
	if err != nil {
		return err
	}
	spec, err := experiment.DecodeSpec(body)
	if err != nil {
		return err
	}
	if s.checkModel != nil {
		for i, v := range spec.Variants {
			if v.Model == "" {
				continue
			}
			if err := s.checkModel(v.Model); err != nil {
				return switchboard.InvalidParam("variants["+strconv.Itoa(i)+"].model", "variant %q: model %q cannot be served: %v", v.Name, v.Model, err)
			}
		}
	}
	e, err := svc.Create(r.Context(), spec, actor(r))
	if err != nil {
		return err
	}
	return writeJSONStatus(w, http.StatusCreated, e)
}

func (s *Server) getExperiment(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	e, err := svc.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, e)
}

func (s *Server) experimentReport(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	rep, err := svc.Report(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, rep)
}

// experimentReportHTML serves the report as a self-contained page.
func (s *Server) experimentReportHTML(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	rep, err := svc.Report(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := experiment.RenderReportHTML(&buf, rep); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	_, err = w.Write(buf.Bytes())
	return err
}

// endBody is the body of stop, ship and rollback.
type endBody struct {
	Variant string `json:"variant"`
	Reason  string `json:"reason"`
}

// endExperiment ends a running experiment by hand: stop (no winner; a
// canary goes back to stable), ship (the named variant wins; a prompt
// experiment points its label at it) or rollback (a canary's label back to
// stable).
func (s *Server) endExperiment(action string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		svc, err := s.experimentService()
		if err != nil {
			return err
		}
		var b endBody
		if r.ContentLength != 0 {
			if err := s.decodeStrict(w, r, &b); err != nil {
				return err
			}
		}
		name := r.PathValue("name")
		switch action {
		case "stop":
			err = svc.Stop(r.Context(), name, actor(r), b.Reason)
		case "ship":
			if b.Variant == "" {
				return switchboard.InvalidParam("variant", "ship needs the winning variant's name")
			}
			err = svc.Ship(r.Context(), name, b.Variant, actor(r), b.Reason)
		default:
			err = svc.Rollback(r.Context(), name, actor(r), b.Reason)
		}
		if err != nil {
			return err
		}
		e, err := svc.Get(r.Context(), name)
		if err != nil {
			return err
		}
		return writeJSON(w, e)
	}
}

// canaryBody is the body of POST /admin/v1/prompts/{id}/canary.
type canaryBody struct {
	Name         string                   `json:"name"`
	Label        string                   `json:"label"`
	Version      string                   `json:"version"`
	Percent      float64                  `json:"percent"`
	PlannedUnits int64                    `json:"planned_units"`
	Guards       []switchboard.MetricSpec `json:"guards"`
	Alpha        float64                  `json:"alpha"`
	MinSamples   int                      `json:"min_samples"`
}

// startCanary rolls a version out to a share of a label's traffic, watched
// by guard metrics: worse beyond the margin → the label stays on the stable
// version (rolled back); not worse after the planned sample → promoted.
func (s *Server) startCanary(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	var b canaryBody
	if err := s.decodeStrict(w, r, &b); err != nil {
		return err
	}
	id := r.PathValue("id")
	if b.Label == "" {
		b.Label = prompt.DefaultLabel
	}
	if b.Version == "" {
		return switchboard.InvalidParam("version", "a canary needs the version to roll out")
	}
	if b.Percent == 0 {
		b.Percent = 10
	}
	if b.Percent < 0 || b.Percent >= 100 {
		return switchboard.InvalidParam("percent", "'percent' must be between 0 and 100 (exclusive), got %g", b.Percent)
	}
	if b.PlannedUnits == 0 {
		b.PlannedUnits = 1000
	}
	stable, err := reg.Resolve(prompt.Ref{ID: id, Label: b.Label})
	if err != nil {
		return err
	}
	next, err := reg.Resolve(prompt.Ref{ID: id, Version: b.Version})
	if err != nil {
		return err
	}
	if stable.Hash == next.Hash {
		return switchboard.InvalidParam("version", "label %q already serves version %q", b.Label, stable.Version)
	}
	if b.Name == "" {
		b.Name = id + "-" + b.Label + "-canary-" + time.Now().UTC().Format("20060102T150405")
	}
	spec := experiment.Canary(b.Name, id, b.Label, stable.Version, next.Version, b.Percent, b.PlannedUnits, b.Guards...)
	if b.Alpha != 0 {
		spec.Alpha = b.Alpha
	}
	if b.MinSamples != 0 {
		spec.MinSamples = b.MinSamples
	}
	if err := experiment.Validate(spec); err != nil {
		return err
	}
	e, err := svc.Create(r.Context(), spec, actor(r))
	if err != nil {
		return err
	}
	return writeJSONStatus(w, http.StatusCreated, e)
}

// promptStats serves GET /admin/v1/prompts/{id}/stats?since=7d&by=label:
// calls, errors, latency p50/p95, tokens, cost and feedback means per
// version (and label).
func (s *Server) promptStats(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.experimentService()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	sv := q.Get("since")
	if sv == "" {
		sv = "7d" // as the CLI
	}
	since, err := ParseSince(sv, time.Now())
	if err != nil {
		return err
	}
	f := switchboard.VersionStatsFilter{Prompt: r.PathValue("id"), Since: since, TenantID: q.Get("tenant")}
	if v := q.Get("until"); v != "" {
		if f.Until, err = ParseSince(v, time.Now()); err != nil {
			return switchboard.InvalidParam("until", "'until' must be a duration ago such as 1h, or an RFC 3339 time, got %q", v)
		}
	}
	switch q.Get("by") {
	case "", "version":
	case "label":
		f.ByLabel = true
	default:
		return switchboard.InvalidParam("by", "'by' must be version or label, got %q", q.Get("by"))
	}
	rows, err := svc.VersionStats(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"object": "list", "prompt": f.Prompt, "since": since.UTC().Format(time.RFC3339), "data": orEmpty(rows)})
}
