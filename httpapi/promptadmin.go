package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/prompt"
)

// promptRoutes adds the prompt registry's admin routes.
func (s *Server) promptRoutes(mux *http.ServeMux) {
	admin, read := switchboard.ScopeAdmin, switchboard.ScopeReadOnly
	mux.Handle("GET /admin/v1/prompts", s.wrap(s.authed(read, s.listPrompts)))
	mux.Handle("POST /admin/v1/prompts", s.wrap(s.authed(admin, s.createPrompt)))
	mux.Handle("GET /admin/v1/prompts/{id}", s.wrap(s.authed(read, s.getPrompt)))
	mux.Handle("GET /admin/v1/prompts/{id}/versions/{version}", s.wrap(s.authed(read, s.getPromptVersion)))
	mux.Handle("GET /admin/v1/prompts/{id}/diff", s.wrap(s.authed(read, s.diffPrompt)))
	mux.Handle("GET /admin/v1/prompts/{id}/labels/{label}/history", s.wrap(s.authed(read, s.promptHistory)))
	mux.Handle("PUT /admin/v1/prompts/{id}/labels/{label}", s.wrap(s.authed(admin, s.promotePrompt)))
	mux.Handle("POST /admin/v1/prompts/{id}/labels/{label}/rollback", s.wrap(s.authed(admin, s.rollbackPrompt)))
	mux.Handle("GET /admin/v1/audit", s.wrap(s.authed(read, s.listAudit)))
}

func (s *Server) registry() (*prompt.Registry, error) {
	if s.prompts == nil {
		return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Message: "this gateway has no prompt registry"}
	}
	return s.prompts, nil
}

// actor names who asks for a change in the audit log.
func actor(r *http.Request) string {
	if c := callerOf(r); c != nil {
		return "key:" + c.Key.ID
	}
	return "admin:loopback"
}

func (s *Server) listPrompts(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	type summary struct {
		ID       string            `json:"id"`
		Versions int               `json:"versions"`
		Latest   string            `json:"latest"`
		Labels   map[string]string `json:"labels"`
		File     string            `json:"file,omitempty"`
	}
	out := []summary{}
	for _, p := range reg.List() {
		sm := summary{ID: p.ID, Versions: len(p.Versions), Labels: p.Labels, File: p.File}
		if n := len(p.Versions); n > 0 {
			sm.Latest = p.Versions[n-1].Version
		}
		out = append(out, sm)
	}
	body := map[string]any{"object": "list", "data": out}
	if ferr := reg.FileError(); ferr != nil {
		body["file_error"] = ferr.Error()
	}
	return writeJSON(w, body)
}

func (s *Server) getPrompt(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	p, err := reg.Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, p)
}

func (s *Server) getPromptVersion(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	v, err := reg.Resolve(prompt.Ref{ID: r.PathValue("id"), Version: r.PathValue("version")})
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

// createPrompt registers a version: 201 when new, 200 when the same
// content was registered already.
func (s *Server) createPrompt(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	var def prompt.Definition
	if err := s.decodeStrict(w, r, &def); err != nil {
		return err
	}
	v, created, err := reg.Create(r.Context(), def, actor(r))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSONStatus(w, status, v)
}

func (s *Server) diffPrompt(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if from == "" || to == "" {
		return switchboard.InvalidParam("from", "diff needs ?from= and ?to= (versions or labels)")
	}
	d, err := reg.Diff(r.PathValue("id"), from, to)
	if err != nil {
		return err
	}
	return writeJSON(w, d)
}

func (s *Server) promptHistory(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	h, err := reg.History(r.Context(), r.PathValue("id"), r.PathValue("label"))
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"object": "list", "data": orEmpty(h)})
}

// labelChange is the body of a promote or rollback.
type labelChange struct {
	Version string `json:"version"`
	Reason  string `json:"reason"`
}

// promotePrompt points a label at a version: PUT {"version", "reason"}.
func (s *Server) promotePrompt(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	var c labelChange
	if err := s.decodeStrict(w, r, &c); err != nil {
		return err
	}
	if err := s.labelFree(r); err != nil {
		return err
	}
	h, err := reg.Promote(r.Context(), prompt.Change{ID: r.PathValue("id"), Label: r.PathValue("label"),
		Version: c.Version, Reason: c.Reason, Actor: actor(r)})
	if err != nil {
		return err
	}
	if h == nil {
		return writeJSON(w, map[string]any{"changed": false, "version": c.Version})
	}
	return writeJSON(w, map[string]any{"changed": true, "change": h})
}

// rollbackPrompt moves a label back: POST {"version"?, "reason"}.
func (s *Server) rollbackPrompt(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	var c labelChange
	if r.ContentLength != 0 {
		if err := s.decodeStrict(w, r, &c); err != nil {
			return err
		}
	}
	if err := s.labelFree(r); err != nil {
		return err
	}
	h, err := reg.Rollback(r.Context(), prompt.Change{ID: r.PathValue("id"), Label: r.PathValue("label"),
		Version: c.Version, Reason: c.Reason, Actor: actor(r)})
	if err != nil {
		return err
	}
	if h == nil {
		return writeJSON(w, map[string]any{"changed": false, "version": c.Version})
	}
	return writeJSON(w, map[string]any{"changed": true, "change": h})
}

// listAudit serves GET /admin/v1/audit?since=&target=&action=&limit=.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if s.audit == nil {
		return &switchboard.Error{Code: switchboard.CodeNotFound, Message: "this gateway keeps no audit log"}
	}
	q := r.URL.Query()
	f := switchboard.AuditFilter{Target: q.Get("target"), Action: q.Get("action"), Limit: 100}
	if v := q.Get("since"); v != "" {
		since, err := ParseSince(v, time.Now())
		if err != nil {
			return err
		}
		f.Since = since
	}
	if v := q.Get("limit"); v != "" {
		n, err := parsePositive("limit", v, 10000)
		if err != nil {
			return err
		}
		f.Limit = n
	}
	events, err := s.audit.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"object": "list", "data": orEmpty(events)})
}

// parsePositive reads a positive integer query parameter no larger than max.
func parsePositive(param, v string, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, switchboard.InvalidParam(param, "'%s' must be an integer from 1 to %d, got %q", param, max, v)
	}
	return n, nil
}

// labelFree refuses to move a label that a running experiment splits: the
// experiment pins the versions its variants serve, so the move would not
// change traffic, and the experiment's end would undo it.
func (s *Server) labelFree(r *http.Request) error {
	if s.experiments == nil {
		return nil
	}
	id, label := r.PathValue("id"), r.PathValue("label")
	if e := s.experiments.ForPrompt(id, label); e != nil {
		return &switchboard.Error{Code: switchboard.CodeConflict, Param: "label", Message: "experiment " + strconv.Quote(e.Name) +
			" splits " + id + "/" + label + ": stop, ship or roll it back first (POST /admin/v1/experiments/" + e.Name + "/stop)"}
	}
	return nil
}
