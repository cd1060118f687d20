package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/prompt"
)

// promptUse is what a request's prompt object and experiment assignment
// resolved to, for headers and the inference record.
type promptUse struct {
	id, version, label string
	assigned           *experiment.Assignment
	// failed is set when the assigned variant's version could not be
	// rendered with the request's variables: the exposure is recorded as
	// a failure of that variant (prompt_variant_failed), which the error
	// metric counts.
	failed bool
}

// codePromptVariantFailed is the error code recorded for an assigned
// variant whose prompt version could not be rendered.
const codePromptVariantFailed = switchboard.CodePromptVariantFailed

// applyPrompt resolves the request's prompt object (rendering it into the
// messages) and its experiment assignment, if any. It returns the request to
// serve: req itself, or a new one decoded from the merged body.
func (s *Server) applyPrompt(w http.ResponseWriter, e *entry, r *http.Request, body []byte, req *switchboard.ChatRequest) (*switchboard.ChatRequest, error) {
	if req.Prompt == nil {
		if s.experiments == nil {
			return req, nil
		}
		exp := s.experiments.ForModel(req.Model)
		if exp == nil || !e.mayUseAll(exp) {
			return req, nil
		}
		a := experiment.Assign(exp, experiment.Unit(e.principal().TenantID, r.Header.Get("X-Switchboard-Unit"), req.User))
		e.prompt = &promptUse{assigned: &a}
		if a.Model != "" {
			req.Model = a.Model
		}
		setPromptHeaders(w.Header(), e.prompt)
		return req, nil
	}
	if s.prompts == nil {
		return nil, switchboard.InvalidParam("prompt", "this gateway has no prompt registry: set prompts.dir in the configuration or create prompts through /admin/v1/prompts")
	}
	q, err := prompt.ParseRequest(req.Prompt)
	if err != nil {
		return nil, err
	}
	use := &promptUse{id: q.ID, label: q.Label}
	if q.Version == "" {
		label := q.Label
		if label == "" {
			label = prompt.DefaultLabel
		}
		if s.experiments != nil {
			if exp := s.experiments.ForPrompt(q.ID, label); exp != nil {
				a := experiment.Assign(exp, experiment.Unit(e.principal().TenantID, r.Header.Get("X-Switchboard-Unit"), req.User))
				use.assigned = &a
				use.label = label
				if a.PromptVersion != "" {
					q.Version, q.Label = a.PromptVersion, ""
				}
			}
		}
	}
	// The call is recorded with its version even when the version fails
	// to render; an assigned variant that fails counts as failing, rather
	// than vanishing from its experiment.
	rd, err := s.prompts.Render(q)
	if err != nil {
		if v, rerr := s.prompts.Resolve(q.Ref()); rerr == nil {
			use.version = v.Version
			use.failed = use.assigned != nil
			e.prompt = use
			setPromptHeaders(w.Header(), use)
		}
		return nil, err
	}
	e.prompt = use
	use.version = rd.Version
	if use.label == "" {
		use.label = rd.Label
	}
	setPromptHeaders(w.Header(), use)
	merged, err := rd.MergeInto(body)
	if err != nil {
		return nil, err
	}
	out, err := switchboard.DecodeChatRequest(merged)
	if err != nil {
		if se, ok := err.(*switchboard.Error); ok && se.Param == "model" {
			se.Message = "prompt " + strconv.Quote(rd.ID) + " version " + strconv.Quote(rd.Version) + " names no model: pass \"model\" in the request or set one in the prompt"
		}
		return nil, err
	}
	if use.assigned != nil && use.assigned.Model != "" {
		out.Model = use.assigned.Model
	}
	return out, nil
}

// setPromptHeaders names the prompt version and experiment variant used.
func setPromptHeaders(h http.Header, u *promptUse) {
	if u.id != "" {
		h.Set("X-Switchboard-Prompt", u.id)
		h.Set("X-Switchboard-Prompt-Version", u.version)
		if u.label != "" {
			h.Set("X-Switchboard-Prompt-Label", u.label)
		}
	}
	if a := u.assigned; a != nil {
		h.Set("X-Switchboard-Experiment", a.Experiment)
		h.Set("X-Switchboard-Variant", a.Variant)
	}
}

// record writes the prompt version and the experiment exposure into
// the inference record.
func (u *promptUse) record(inf *switchboard.Inference) {
	if u == nil {
		return
	}
	inf.PromptID, inf.PromptVersion, inf.PromptLabel = u.id, u.version, u.label
	if u.assigned != nil {
		u.assigned.Record(inf)
		if u.failed {
			inf.ErrorCode = codePromptVariantFailed
		}
	}
}

// renderPrompt serves POST /v1/prompts/{id}/render: the prompt rendered
// with the body's variables, without calling a model. The body is the
// prompt object without its id: {"label" | "version", "variables"}.
func (s *Server) renderPrompt(w http.ResponseWriter, r *http.Request) error {
	if s.prompts == nil {
		return &switchboard.Error{Code: switchboard.CodeNotFound, Message: "this gateway has no prompt registry (prompts.dir)"}
	}
	body, err := s.readJSON(w, r)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return switchboard.Errorf(switchboard.CodeInvalidRequest, "request body must be a JSON object like {\"label\": \"production\", \"variables\": {}}")
	}
	if raw, ok := fields["id"]; ok {
		var id string
		if json.Unmarshal(raw, &id) != nil || id != r.PathValue("id") {
			return switchboard.InvalidParam("id", "'id' in the body must match the path, or be left out")
		}
	}
	fields["id"], _ = json.Marshal(r.PathValue("id"))
	raw, _ := json.Marshal(fields)
	q, err := prompt.ParseRequest(raw)
	if err != nil {
		return renderParam(err)
	}
	rd, err := s.prompts.Render(q)
	if err != nil {
		return renderParam(err)
	}
	w.Header().Set("X-Switchboard-Prompt", rd.ID)
	w.Header().Set("X-Switchboard-Prompt-Version", rd.Version)
	return writeJSON(w, rd)
}

// renderParam names the field at fault as the render body spells it
// ("variables.issue"), not as the prompt object of a chat request does
// ("prompt.variables.issue").
func renderParam(err error) error {
	var se *switchboard.Error
	if errors.As(err, &se) && strings.HasPrefix(se.Param, "prompt.") {
		c := *se
		c.Param = strings.TrimPrefix(se.Param, "prompt.")
		return &c
	}
	return err
}

// mayUseAll reports whether the caller may call every model of exp's
// variants: a key restricted to some models is never assigned to another.
func (e *entry) mayUseAll(exp *switchboard.Experiment) bool {
	if e.caller == nil {
		return true
	}
	for _, v := range exp.Variants {
		if v.Model != "" && !e.caller.MayUse(v.Model) {
			return false
		}
	}
	return true
}
