package prompt

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// Audit actions of prompt changes.
const (
	ActionCreate   = "prompt.create"
	ActionPromote  = "prompt.promote"
	ActionRollback = "prompt.rollback"
)

// Definition is a prompt version as the admin API receives it: the native
// file form of one version, in JSON.
type Definition struct {
	ID string `json:"id"`
	// Version is the author's version string; empty numbers it.
	Version     string   `json:"version,omitempty"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Spec
}

// Create registers a version of def.ID, creating the prompt if it is new.
// Partials the templates use come from Spec.Partials or, failing that, the
// live files. Registering content the prompt has already is a no-op that
// returns that version with created false. Errors are invalid_request
// naming the field at fault, or conflict when def.Version names a version
// with other content.
func (r *Registry) Create(ctx context.Context, def Definition, actor string) (v *Version, created bool, err error) {
	if !ValidID(def.ID) {
		return nil, false, invalid("id", "invalid prompt ID %q: 1–128 letters, digits, _ . or -, not starting with . or -", def.ID)
	}
	if def.Version != "" && !validVersion(def.Version) {
		return nil, false, invalid("version", "invalid version %q: 1–64 letters, digits, _ . + or -, starting with a letter or digit", def.Version)
	}
	spec := def.Spec
	spec.Params, spec.Variables = maps.Clone(spec.Params), maps.Clone(spec.Variables)
	if ps := spec.check(); len(ps) > 0 {
		return nil, false, invalid(ps[0].field, "%s", ps[0])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	avail := map[string]string{}
	if r.files != nil {
		maps.Copy(avail, r.files.partials)
	}
	maps.Copy(avail, spec.Partials)
	used, err := usedPartials(&spec, avail)
	if err == nil {
		spec.Partials = used
		if err = spec.canonicalize(); err == nil {
			_, err = compile(def.ID, &spec)
		}
	}
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, false, invalid(fe.field, "%v", err)
		}
		return nil, false, invalid("", "%v", err)
	}
	content, hash, err := spec.content()
	if err != nil {
		return nil, false, err
	}
	sv, created, err := r.store.CreatePromptVersion(ctx, switchboard.PromptVersion{PromptID: def.ID, Version: def.Version,
		Hash: hash, Content: content, Description: def.Description, Tags: def.Tags, Source: "api", CreatedBy: actor,
		CreatedAt: r.now().UTC()})
	if errors.Is(err, switchboard.ErrExists) {
		return nil, false, &switchboard.Error{Code: switchboard.CodeConflict, Param: "version", Err: err,
			Message: fmt.Sprintf("prompt %q has a version %q with other content; versions are immutable: choose a new version", def.ID, def.Version)}
	}
	if err != nil {
		return nil, false, err
	}
	if created {
		r.record(ctx, actor, ActionCreate, "prompt:"+def.ID, map[string]any{"version": sv.Version, "hash": sv.Hash, "source": "api"})
	}
	if err := r.reload(ctx, false); err != nil {
		return nil, false, err
	}
	v, err = r.Resolve(Ref{ID: def.ID, Version: sv.Version})
	return v, created, err
}

// Change asks to move a label.
type Change struct {
	// ID is the prompt's.
	ID    string `json:"id"`
	Label string `json:"label"`
	// Version is where Promote points the label (any form Ref.Version
	// takes). For Rollback it is optional: empty means the version before
	// the last change that is not undone yet.
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Actor is who asks: "key:<id>", "cli".
	Actor string `json:"-"`
}

// HistoryEntry is one change of a label, with display versions.
type HistoryEntry struct {
	switchboard.LabelChange
	Version         string `json:"version"`
	PreviousVersion string `json:"previous_version,omitempty"`
}

// Promote points c.Label at c.Version and records the change in the
// label's history and the audit log ("prompt.promote"). A label that
// points there already is left alone: the result is nil.
func (r *Registry) Promote(ctx context.Context, c Change) (*HistoryEntry, error) {
	if c.Version == "" {
		return nil, invalid("version", "promote needs the version to point the label at")
	}
	return r.move(ctx, c, switchboard.LabelPromote)
}

// Rollback moves c.Label back: to c.Version if set, else to the version it
// pointed at before its last change that is not undone yet (rollbacks
// stack: two rollbacks undo the last two promotions). It records the change
// ("prompt.rollback"). With nothing to go back to, the error is a conflict.
func (r *Registry) Rollback(ctx context.Context, c Change) (*HistoryEntry, error) {
	return r.move(ctx, c, switchboard.LabelRollback)
}

func (r *Registry) move(ctx context.Context, c Change, action string) (*HistoryEntry, error) {
	if !ValidLabel(c.Label) {
		return nil, invalid("label", "invalid label %q: 1–64 letters, digits, _ . or -", c.Label)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reload(ctx, false); err != nil {
		return nil, err
	}
	p, err := r.Get(c.ID)
	if err != nil {
		return nil, err
	}
	hist, err := r.store.PromptLabelHistory(ctx, c.ID, c.Label)
	if err != nil {
		return nil, err
	}
	cur := ""
	if len(hist) > 0 {
		cur = hist[0].Hash
	}
	var target *Version
	switch {
	case c.Version != "":
		if target, err = p.version(c.Version); err != nil {
			var e *switchboard.Error
			if errors.As(err, &e) {
				e.Param = "version"
			}
			return nil, err
		}
	case len(hist) == 0:
		return nil, notFound("label", "prompt %q has no label %q (labels: %s)", c.ID, c.Label, p.labelList())
	default:
		h := rollbackTarget(hist)
		if h == "" {
			return nil, &switchboard.Error{Code: switchboard.CodeConflict, Param: "label",
				Message: fmt.Sprintf("label %q of prompt %q has no earlier version to roll back to", c.Label, c.ID)}
		}
		if target = p.byHash[h]; target == nil {
			return nil, notFound("label", "prompt %q: the version to roll back to (%.12s) is unknown", c.ID, h)
		}
	}
	if target.Hash == cur {
		return nil, nil
	}
	lc := switchboard.LabelChange{ID: switchboard.NewID(), PromptID: c.ID, Label: c.Label, Hash: target.Hash, Previous: cur,
		Action: action, Actor: c.Actor, Reason: c.Reason, Time: r.now().UTC()}
	if err := r.store.MovePromptLabel(ctx, lc); err != nil {
		if errors.Is(err, switchboard.ErrLabelMoved) {
			return nil, &switchboard.Error{Code: switchboard.CodeConflict, Param: "label", Err: err,
				Message: fmt.Sprintf("label %q of prompt %q changed meanwhile; look again and retry", c.Label, c.ID)}
		}
		return nil, err
	}
	auditAction := ActionPromote
	if action == switchboard.LabelRollback {
		auditAction = ActionRollback
	}
	entry := p.entry(lc)
	r.record(ctx, c.Actor, auditAction, "prompt:"+c.ID+"/"+c.Label, map[string]any{
		"version": entry.Version, "hash": lc.Hash, "previous_version": entry.PreviousVersion, "previous_hash": lc.Previous,
		"reason": c.Reason})
	if err := r.reload(ctx, false); err != nil {
		r.log.Warn("reloading prompts after a label change failed", switchboard.LogKeyErr, err)
	}
	return entry, nil
}

// rollbackTarget returns the hash a rollback goes to, given the label's
// history newest first: the Previous of the latest change not undone by a
// later rollback ("" if none). Changes that moved nothing are skipped.
func rollbackTarget(hist []switchboard.LabelChange) string {
	undo := 0
	for _, c := range hist {
		switch {
		case c.Hash == c.Previous:
		case c.Action == switchboard.LabelRollback:
			undo++
		case undo > 0:
			undo--
		default:
			return c.Previous
		}
	}
	return ""
}

func (p *Prompt) entry(c switchboard.LabelChange) *HistoryEntry {
	e := &HistoryEntry{LabelChange: c}
	if v := p.byHash[c.Hash]; v != nil {
		e.Version = v.Version
	}
	if v := p.byHash[c.Previous]; v != nil {
		e.PreviousVersion = v.Version
	}
	return e
}

// History returns the changes of a label, newest first. An unknown prompt
// or label is not_found.
func (r *Registry) History(ctx context.Context, id, label string) ([]HistoryEntry, error) {
	p, err := r.Get(id)
	if err != nil {
		return nil, err
	}
	hist, err := r.store.PromptLabelHistory(ctx, id, label)
	if err != nil {
		return nil, err
	}
	if len(hist) == 0 {
		return nil, notFound("label", "prompt %q has no label %q (labels: %s)", id, label, p.labelList())
	}
	if slices.ContainsFunc(hist, func(c switchboard.LabelChange) bool { return p.byHash[c.Hash] == nil }) {
		// A version made on another replica just now.
		if err := r.Reload(ctx); err == nil {
			p, _ = r.Get(id)
		}
	}
	out := make([]HistoryEntry, len(hist))
	for i, c := range hist {
		out[i] = *p.entry(c)
	}
	return out, nil
}

// Diff compares two versions of a prompt.
type Diff struct {
	ID   string   `json:"id"`
	From *Version `json:"from"`
	To   *Version `json:"to"`
	// Changed lists the parts that differ: template, messages, model,
	// params, variables, partials.
	Changed []string `json:"changed"`
	// Unified is a unified diff of the two versions' readable forms.
	Unified string `json:"unified"`
}

// Diff compares the versions from and to of prompt id (either may be a
// label). Errors are as for Resolve.
func (r *Registry) Diff(id, from, to string) (*Diff, error) {
	p, err := r.Get(id)
	if err != nil {
		return nil, err
	}
	a, err := p.versionOrLabel(from, "from")
	if err != nil {
		return nil, err
	}
	b, err := p.versionOrLabel(to, "to")
	if err != nil {
		return nil, err
	}
	d := &Diff{ID: id, From: a, To: b, Changed: []string{}}
	for _, part := range []struct {
		name string
		same bool
	}{
		{"template", a.Spec.Template == b.Spec.Template},
		{"messages", slices.Equal(a.Spec.Messages, b.Spec.Messages)},
		{"model", a.Spec.Model == b.Spec.Model},
		{"params", specText(&Spec{Params: a.Spec.Params}) == specText(&Spec{Params: b.Spec.Params})},
		{"variables", specText(&Spec{Variables: a.Spec.Variables}) == specText(&Spec{Variables: b.Spec.Variables})},
		{"partials", maps.Equal(a.Spec.Partials, b.Spec.Partials)},
	} {
		if !part.same {
			d.Changed = append(d.Changed, part.name)
		}
	}
	d.Unified = unifiedDiff(id+"@"+a.Version, id+"@"+b.Version, specText(&a.Spec), specText(&b.Spec))
	return d, nil
}

// versionOrLabel resolves s as a version, else as a label.
func (p *Prompt) versionOrLabel(s, param string) (*Version, error) {
	if v, err := p.version(s); err == nil {
		return v, nil
	}
	if v := p.labels[s]; v != nil {
		return v, nil
	}
	return nil, notFound(param, "prompt %q has no version or label %q", p.ID, s)
}

// specText renders s as readable text for diffs, one field per line,
// template text verbatim.
func specText(s *Spec) string {
	var b strings.Builder
	if s.Model != "" {
		fmt.Fprintf(&b, "model: %s\n", s.Model)
	}
	for _, k := range sortedKeys(s.Params) {
		fmt.Fprintf(&b, "params.%s: %s\n", k, s.Params[k])
	}
	for _, k := range sortedKeys(s.Variables) {
		j, _ := marshalCanonical(s.Variables[k])
		fmt.Fprintf(&b, "variables.%s: %s\n", k, j)
	}
	text := func(head, body string) {
		b.WriteString(head + ":\n")
		for _, line := range strings.Split(body, "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	if s.Template != "" {
		text("template", s.Template)
	}
	for i, m := range s.Messages {
		text(fmt.Sprintf("messages[%d] (%s)", i, m.Role), m.Content)
	}
	for _, k := range sortedKeys(s.Partials) {
		text("partial "+k, s.Partials[k])
	}
	return b.String()
}
