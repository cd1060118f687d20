package prompt

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sbtest"
)

func mustRegistry(tb testing.TB, opts Options) *Registry {
	tb.Helper()
	r, err := New(context.Background(), opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return r
}

func mustResolve(tb testing.TB, r *Registry, ref Ref) *Version {
	tb.Helper()
	v, err := r.Resolve(ref)
	if err != nil {
		tb.Fatalf("Resolve(%+v): %v", ref, err)
	}
	return v
}

func mustCreate(tb testing.TB, r *Registry, def Definition) *Version {
	tb.Helper()
	v, _, err := r.Create(context.Background(), def, "cli")
	if err != nil {
		tb.Fatalf("Create(%s %q): %v", def.ID, def.Version, err)
	}
	return v
}

func mustReload(tb testing.TB, r *Registry) {
	tb.Helper()
	if err := r.Reload(context.Background()); err != nil {
		tb.Fatalf("Reload: %v", err)
	}
}

// paramOf returns the param of the *switchboard.Error in err's chain.
func paramOf(err error) string {
	var e *switchboard.Error
	if errors.As(err, &e) {
		return e.Param
	}
	return "<no *switchboard.Error>"
}

func codeOf(err error) switchboard.ErrorCode { return switchboard.ErrorCodeOf(err) }

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	sbtest.TestPromptStore(t, func(t *testing.T) sbtest.PromptAuditStore { return NewMemoryStore() })
}

func TestResolve(t *testing.T) {
	t.Parallel()
	r := mustRegistry(t, Options{})
	v1 := mustCreate(t, r, Definition{ID: "rag", Version: "1.0", Spec: Spec{Template: "one"}})
	v2 := mustCreate(t, r, Definition{ID: "rag", Spec: Spec{Template: "two"}})
	v3 := mustCreate(t, r, Definition{ID: "rag", Spec: Spec{Template: "three"}})
	if v2.Version != "2" || v3.Version != "3" || v1.Seq != 1 || v3.Seq != 3 {
		t.Fatalf("versions %s/%d %s/%d %s/%d: want 1.0/1 2/2 3/3", v1.Version, v1.Seq, v2.Version, v2.Seq, v3.Version, v3.Seq)
	}
	get := func(ref Ref) string {
		t.Helper()
		return mustResolve(t, r, ref).Hash
	}
	for _, tc := range []struct {
		name string
		ref  Ref
		want string
	}{
		{"latest when no production label", Ref{ID: "rag"}, v3.Hash},
		{"author version", Ref{ID: "rag", Version: "1.0"}, v1.Hash},
		{"sequence number", Ref{ID: "rag", Version: "1"}, v1.Hash},
		{"display version", Ref{ID: "rag", Version: "2"}, v2.Hash},
		{"hash prefix", Ref{ID: "rag", Version: v2.Hash[:8]}, v2.Hash},
		{"hash prefix, upper case", Ref{ID: "rag", Version: strings.ToUpper(v2.Hash[:10])}, v2.Hash},
		{"full hash", Ref{ID: "rag", Version: v3.Hash}, v3.Hash},
	} {
		if got := get(tc.ref); got != tc.want {
			t.Errorf("%s: got %.12s, want %.12s", tc.name, got, tc.want)
		}
	}
	if _, err := r.Promote(t.Context(), Change{ID: "rag", Label: "production", Version: "1.0", Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	if got := get(Ref{ID: "rag"}); got != v1.Hash {
		t.Errorf("default with a production label: got %.12s, want %.12s", got, v1.Hash)
	}
	if got := get(Ref{ID: "rag", Label: "production"}); got != v1.Hash {
		t.Errorf("label: got %.12s, want %.12s", got, v1.Hash)
	}
	for _, tc := range []struct {
		ref   Ref
		code  switchboard.ErrorCode
		param string
	}{
		{Ref{ID: "nope"}, switchboard.CodeNotFound, "prompt.id"},
		{Ref{ID: "rag", Version: "9"}, switchboard.CodeNotFound, "prompt.version"},
		{Ref{ID: "rag", Version: "deadbeef"}, switchboard.CodeNotFound, "prompt.version"},
		{Ref{ID: "rag", Version: v1.Hash[:7]}, switchboard.CodeNotFound, "prompt.version"}, // too short for a prefix
		{Ref{ID: "rag", Label: "staging"}, switchboard.CodeNotFound, "prompt.label"},
		{Ref{ID: "rag", Label: "production", Version: "1"}, switchboard.CodeInvalidRequest, "prompt.version"},
	} {
		_, err := r.Resolve(tc.ref)
		if codeOf(err) != tc.code || paramOf(err) != tc.param {
			t.Errorf("Resolve(%+v): got %v (param %q), want %s for %q", tc.ref, err, paramOf(err), tc.code, tc.param)
		}
		if tc.code == switchboard.CodeNotFound && !errors.Is(err, switchboard.ErrNotFound) {
			t.Errorf("Resolve(%+v): %v does not wrap switchboard.ErrNotFound", tc.ref, err)
		}
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	r := mustRegistry(t, Options{Store: store})
	ctx := t.Context()
	def := Definition{ID: "qa", Version: "1.0", Description: "first", Tags: []string{"a"},
		Spec: Spec{Messages: []MessageTemplate{{"user", "Q: {{ q }}"}}, Model: "m",
			Params:    map[string]json.RawMessage{"temperature": json.RawMessage(`0.5`)},
			Variables: map[string]Variable{"q": {Type: TypeString, Required: true}}}}
	v, created, err := r.Create(ctx, def, "key:k1")
	if err != nil || !created {
		t.Fatalf("Create: %v, created %t", err, created)
	}
	if v.Version != "1.0" || v.Source != "api" || v.CreatedBy != "key:k1" || v.Description != "first" {
		t.Errorf("created %+v", v)
	}

	// The same content again, even with another description or version
	// string, is the same version.
	again := def
	again.Version, again.Description = "", "other"
	v2, created, err := r.Create(ctx, again, "cli")
	if err != nil || created || v2.Hash != v.Hash || v2.Version != "1.0" || v2.Description != "first" {
		t.Errorf("Create of known content: %+v created %t, %v; want version 1.0 unchanged", v2, created, err)
	}

	changed := def
	changed.Spec.Model = "other"
	if _, _, err := r.Create(ctx, changed, "cli"); codeOf(err) != switchboard.CodeConflict || paramOf(err) != "version" {
		t.Errorf("Create with a taken version: got %v, want a conflict on version", err)
	}
	for _, tc := range []struct {
		def   Definition
		param string
	}{
		{Definition{ID: "bad id", Spec: Spec{Template: "x"}}, "id"},
		{Definition{ID: "x", Version: "1 0", Spec: Spec{Template: "x"}}, "version"},
		{Definition{ID: "x"}, "template"},
		{Definition{ID: "x", Spec: Spec{Template: "{{ x "}}, "template"},
		{Definition{ID: "x", Spec: Spec{Messages: []MessageTemplate{{"user", "ok"}, {"user", "{% for %}"}}}}, "messages[1].content"},
		{Definition{ID: "x", Spec: Spec{Template: "{{ a }}", Variables: map[string]Variable{"b": {}}}}, "variables"},
		{Definition{ID: "x", Spec: Spec{Template: "a", Variables: map[string]Variable{"b": {Type: "text"}}}}, "variables.b.type"},
		{Definition{ID: "x", Spec: Spec{Template: `{% include "nope" %}`}}, "template"},
	} {
		if _, _, err := r.Create(ctx, tc.def, "cli"); codeOf(err) != switchboard.CodeInvalidRequest || paramOf(err) != tc.param {
			t.Errorf("Create(%+v): got %v (param %q), want invalid_request for %q", tc.def, err, paramOf(err), tc.param)
		}
	}
	// Inline partials are captured.
	pv := mustCreate(t, r, Definition{ID: "x", Spec: Spec{Template: `{% include "p" %}`, Partials: map[string]string{"p": "P", "unused": "U"}}})
	if !cmp.Equal(pv.Spec.Partials, map[string]string{"p": "P"}) {
		t.Errorf("partials %v, want only p", pv.Spec.Partials)
	}
	events, _ := store.ListAudit(ctx, switchboard.AuditFilter{Action: ActionCreate})
	if len(events) != 2 || events[1].Target != "prompt:qa" || events[1].Actor != "key:k1" {
		t.Errorf("audit events %+v: want prompt.create for qa by key:k1, then x", events)
	}
}

func TestLabels(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	r := mustRegistry(t, Options{Store: store})
	ctx := t.Context()
	var vs []*Version
	for _, tmpl := range []string{"v1", "v2", "v3"} {
		vs = append(vs, mustCreate(t, r, Definition{ID: "p", Spec: Spec{Template: tmpl}}))
	}
	promote := func(version, reason string) *HistoryEntry {
		t.Helper()
		e, err := r.Promote(ctx, Change{ID: "p", Label: "production", Version: version, Actor: "key:k", Reason: reason})
		if err != nil {
			t.Fatalf("Promote(%s): %v", version, err)
		}
		return e
	}
	rollback := func() *HistoryEntry {
		t.Helper()
		e, err := r.Rollback(ctx, Change{ID: "p", Label: "production", Actor: "cli", Reason: "bad"})
		if err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		return e
	}
	serving := func() string {
		t.Helper()
		return mustResolve(t, r, Ref{ID: "p"}).Version
	}

	e := promote("1", "first")
	if e.Version != "1" || e.PreviousVersion != "" || e.Action != switchboard.LabelPromote || e.Actor != "key:k" || e.Reason != "first" {
		t.Errorf("promote 1: %+v", e)
	}
	if e := promote("1", "again"); e != nil {
		t.Errorf("promoting to the current version: got %+v, want nil (nothing to do)", e)
	}
	promote("2", "")
	promote(vs[2].Hash[:8], "by hash")
	if got := serving(); got != "3" {
		t.Fatalf("serving %s after promotions, want 3", got)
	}
	// Rollbacks stack: each undoes one more promotion.
	if e := rollback(); e.Version != "2" || e.PreviousVersion != "3" || e.Action != switchboard.LabelRollback {
		t.Errorf("first rollback: %+v, want 3 → 2", e)
	}
	if e := rollback(); e.Version != "1" {
		t.Errorf("second rollback: %+v, want → 1", e)
	}
	if _, err := r.Rollback(ctx, Change{ID: "p", Label: "production"}); codeOf(err) != switchboard.CodeConflict {
		t.Errorf("rollback past the first promotion: got %v, want a conflict", err)
	}
	if got := serving(); got != "1" {
		t.Errorf("serving %s after two rollbacks, want 1", got)
	}
	promote("3", "")
	if e := rollback(); e.Version != "1" {
		t.Errorf("rollback after a new promotion: %+v, want → 1", e)
	}
	if e, err := r.Rollback(ctx, Change{ID: "p", Label: "production", Version: "2", Actor: "cli"}); err != nil || e.Version != "2" {
		t.Errorf("rollback to an explicit version: %+v, %v", e, err)
	}

	hist, err := r.History(ctx, "p", "production")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, h.Action+":"+h.PreviousVersion+">"+h.Version)
	}
	want := []string{"rollback:1>2", "rollback:3>1", "promote:1>3", "rollback:2>1", "rollback:3>2", "promote:2>3", "promote:1>2", "promote:>1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history, newest first (-want +got):\n%s", diff)
	}

	events, _ := store.ListAudit(ctx, switchboard.AuditFilter{Target: "prompt:p/production"})
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	wantActions := []string{ActionRollback, ActionRollback, ActionPromote, ActionRollback, ActionRollback, ActionPromote, ActionPromote, ActionPromote}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("audit actions, newest first (-want +got):\n%s", diff)
	}
	var detail map[string]any
	if err := json.Unmarshal(events[len(events)-1].Detail, &detail); err != nil || detail["version"] != "1" || detail["reason"] != "first" {
		t.Errorf("audit detail of the first promotion: %s", events[len(events)-1].Detail)
	}

	for _, tc := range []struct {
		c     Change
		code  switchboard.ErrorCode
		param string
	}{
		{Change{ID: "p", Label: "bad label", Version: "1"}, switchboard.CodeInvalidRequest, "label"},
		{Change{ID: "p", Label: "production"}, switchboard.CodeInvalidRequest, "version"},
		{Change{ID: "p", Label: "production", Version: "9"}, switchboard.CodeNotFound, "version"},
		{Change{ID: "nope", Label: "production", Version: "1"}, switchboard.CodeNotFound, "prompt.id"},
	} {
		if _, err := r.Promote(ctx, tc.c); codeOf(err) != tc.code || paramOf(err) != tc.param {
			t.Errorf("Promote(%+v): got %v (param %q), want %s for %q", tc.c, err, paramOf(err), tc.code, tc.param)
		}
	}
	if _, err := r.Rollback(ctx, Change{ID: "p", Label: "staging"}); codeOf(err) != switchboard.CodeNotFound {
		t.Errorf("Rollback of an unknown label: got %v, want not_found", err)
	}
	if _, err := r.History(ctx, "p", "staging"); codeOf(err) != switchboard.CodeNotFound {
		t.Errorf("History of an unknown label: got %v, want not_found", err)
	}
}

// TestReplicas runs two registries on one store: a change made through one
// is served by the other after its next reload.
func TestReplicas(t *testing.T) {
	t.Parallel()
	store := NewMemoryStore()
	a := mustRegistry(t, Options{Store: store})
	b := mustRegistry(t, Options{Store: store})
	mustCreate(t, a, Definition{ID: "p", Spec: Spec{Template: "one"}})
	mustCreate(t, a, Definition{ID: "p", Spec: Spec{Template: "two"}})
	if _, err := a.Promote(t.Context(), Change{ID: "p", Label: "production", Version: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Resolve(Ref{ID: "p"}); err == nil {
		t.Fatalf("replica b knows p before reloading")
	}
	mustReload(t, b)
	if v := mustResolve(t, b, Ref{ID: "p"}); v.Version != "1" {
		t.Errorf("replica b serves %s, want 1 (production)", v.Version)
	}
	// History on b sees a's changes at once (it reads the store).
	if h, err := b.History(t.Context(), "p", "production"); err != nil || len(h) != 1 || h[0].Version != "1" {
		t.Errorf("History on b: %+v, %v", h, err)
	}
}

// TestHotReload edits a folder of prompts: changes are served after a
// reload, a bad file is rejected with file:line while the last good set
// stays live, and fixing it brings the new set.
func TestHotReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"greet.yaml": "version: '1'\ntemplate: Hello {{ name }}\n",
	})
	store := NewMemoryStore()
	r := mustRegistry(t, Options{Dir: dir, Store: store})
	render := func() string {
		t.Helper()
		rd, err := r.Render(&Request{ID: "greet", Variables: vars("name", `"Ann"`)})
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		return rd.Messages[0].Text()
	}
	if got := render(); got != "Hello Ann" {
		t.Fatalf("rendered %q", got)
	}

	writeFiles(t, dir, map[string]string{"greet.yaml": "version: '2'\ntemplate: Hi {{ name }}\n"})
	mustReload(t, r)
	if got := render(); got != "Hi Ann" {
		t.Errorf("after an edit: rendered %q, want Hi Ann", got)
	}
	if err := r.FileError(); err != nil {
		t.Errorf("FileError after a good edit: %v", err)
	}

	// A bad file: rejected, the last good set stays live.
	writeFiles(t, dir, map[string]string{"greet.yaml": "version: '3'\ntemplate: |\n  Hey {{ name\n"})
	mustReload(t, r)
	if got := render(); got != "Hi Ann" {
		t.Errorf("after a bad edit: rendered %q, want the last good Hi Ann", got)
	}
	if err := r.FileError(); err == nil || !strings.Contains(err.Error(), dir+"/greet.yaml:3: ") {
		t.Errorf("FileError: %v, want greet.yaml:3", err)
	}
	// A new file next to the bad one is not served either: the set is
	// taken whole or not at all.
	writeFiles(t, dir, map[string]string{"other.yaml": "template: other\n"})
	mustReload(t, r)
	if _, err := r.Get("other"); err == nil {
		t.Errorf("a prompt of a rejected set is served")
	}

	// Changing a released version's content is rejected: versions are
	// immutable.
	writeFiles(t, dir, map[string]string{"greet.yaml": "version: '2'\ntemplate: Changed {{ name }}\n"})
	mustReload(t, r)
	if err := r.FileError(); err == nil || !strings.Contains(err.Error(), `version "2" exists already with other content`) {
		t.Errorf("FileError after changing version 2: %v", err)
	}
	if got := render(); got != "Hi Ann" {
		t.Errorf("after changing a released version: rendered %q, want Hi Ann", got)
	}

	// Fixed: the new set is live.
	writeFiles(t, dir, map[string]string{"greet.yaml": "version: '3'\ntemplate: Hey {{ name }}\n"})
	mustReload(t, r)
	if err := r.FileError(); err != nil {
		t.Errorf("FileError after the fix: %v", err)
	}
	if got := render(); got != "Hey Ann" {
		t.Errorf("after the fix: rendered %q", got)
	}
	if _, err := r.Get("other"); err != nil {
		t.Errorf("other after the fix: %v", err)
	}
	// Every version ever loaded stays addressable.
	if v := mustResolve(t, r, Ref{ID: "greet", Version: "1"}); v.Spec.Template != "Hello {{ name }}" {
		t.Errorf("version 1: %q", v.Spec.Template)
	}
	// A partial's change makes a new version of the prompts using it.
	writeFiles(t, dir, map[string]string{
		"sig.yaml":         "template: '{% include \"sig.j2\" %}'\n",
		"_partials/sig.j2": "-- A",
	})
	mustReload(t, r)
	first := mustResolve(t, r, Ref{ID: "sig"})
	writeFiles(t, dir, map[string]string{"_partials/sig.j2": "-- B"})
	mustReload(t, r)
	second := mustResolve(t, r, Ref{ID: "sig"})
	if first.Hash == second.Hash || second.Seq != 2 {
		t.Errorf("after a partial changed: %s (seq %d), want a new version", second.Version, second.Seq)
	}
	if rd, _ := first.Render(nil); rd.Messages[0].Text() != "-- A" {
		t.Errorf("the old version renders %q, want its own partial -- A", rd.Messages[0].Text())
	}
}

// TestFileLabels checks the rule for labels set in files: a file's value
// applies when it is new or changed; a label moved through the API since
// keeps its place until the file's value changes, across restarts.
func TestFileLabels(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(label string, versions ...string) string {
		s := "labels: {production: '" + label + "'}\nversions:\n"
		for _, v := range versions {
			s += "  - {version: '" + v + "', template: 'text " + v + "'}\n"
		}
		return s
	}
	writeFiles(t, dir, map[string]string{"p.yaml": file("1", "1", "2")})
	store := NewMemoryStore()
	open := func() *Registry { return mustRegistry(t, Options{Dir: dir, Store: store}) }
	r := open()
	ctx := t.Context()
	serving := func(r *Registry) string {
		t.Helper()
		return mustResolve(t, r, Ref{ID: "p"}).Version
	}
	if got := serving(r); got != "1" {
		t.Fatalf("serving %s, want 1 from the file", got)
	}
	if _, err := r.Promote(ctx, Change{ID: "p", Label: "production", Version: "2", Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	// An unrelated edit and a restart keep the API's choice.
	writeFiles(t, dir, map[string]string{"p.yaml": "# edited\n" + file("1", "1", "2")})
	mustReload(t, r)
	if got := serving(r); got != "2" {
		t.Errorf("after an unrelated edit: serving %s, want 2 (the API's)", got)
	}
	if got := serving(open()); got != "2" {
		t.Errorf("after a restart: serving %s, want 2 (the API's)", got)
	}
	// The file's value changes: it applies.
	writeFiles(t, dir, map[string]string{"p.yaml": file("3", "1", "2", "3")})
	mustReload(t, r)
	if got := serving(r); got != "3" {
		t.Errorf("after the file moved the label: serving %s, want 3", got)
	}
	if _, err := r.Rollback(ctx, Change{ID: "p", Label: "production", Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	r2 := open()
	if got := serving(r2); got != "2" {
		t.Errorf("after a rollback and a restart: serving %s, want 2", got)
	}
	// The file names the version the API chose: recorded, so a later API
	// change is not undone by the next load.
	writeFiles(t, dir, map[string]string{"p.yaml": file("2", "1", "2", "3")})
	mustReload(t, r2)
	if _, err := r2.Promote(ctx, Change{ID: "p", Label: "production", Version: "1", Actor: "cli"}); err != nil {
		t.Fatal(err)
	}
	if got := serving(open()); got != "1" {
		t.Errorf("after the API moved the label again and a restart: serving %s, want 1", got)
	}
	hist, _ := r2.History(ctx, "p", "production")
	var actors []string
	for _, h := range hist {
		actors = append(actors, strings.SplitN(h.Actor, ":", 2)[0]+":"+h.Version)
	}
	want := []string{"cli:1", "file:2", "cli:2", "file:3", "cli:2", "file:1"}
	if diff := cmp.Diff(want, actors); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// A label naming no version rejects the set.
	writeFiles(t, dir, map[string]string{"p.yaml": file("9", "1", "2", "3")})
	mustReload(t, r2)
	if err := r2.FileError(); err == nil || !strings.Contains(err.Error(), `p.yaml:1: prompt "p": label "production": no version "9"`) {
		t.Errorf("FileError: %v", err)
	}
}

// TestRun polls files on a short interval.
func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yaml": "template: one\n"})
	r := mustRegistry(t, Options{Dir: dir, Interval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	var done atomic.Bool
	go func() {
		r.Run(ctx)
		done.Store(true)
	}()
	writeFiles(t, dir, map[string]string{"p.yaml": "template: two\n"})
	deadline := time.Now().Add(5 * time.Second)
	for mustResolve(t, r, Ref{ID: "p"}).Spec.Template != "two" {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the edit within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	for !done.Load() {
		if time.Now().After(deadline) {
			t.Fatal("Run did not return after its context ended")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bad.yaml": "template: '{{'\n"})
	if _, err := New(t.Context(), Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "bad.yaml:1:") {
		t.Errorf("New with a bad file: %v, want bad.yaml:1", err)
	}
	if _, err := New(t.Context(), Options{Dir: dir + "/missing"}); err == nil {
		t.Errorf("New with a missing folder: no error")
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	r := mustRegistry(t, Options{})
	mustCreate(t, r, Definition{ID: "p", Spec: Spec{Messages: []MessageTemplate{{"system", "a\nb\nc\nd\ne\nf\ng\nh"}, {"user", "{{ q }}"}}, Model: "m1"}})
	mustCreate(t, r, Definition{ID: "p", Spec: Spec{Messages: []MessageTemplate{{"system", "a\nb\nC\nd\ne\nf\ng\nh"}, {"user", "{{ q }}"}}, Model: "m2",
		Params: map[string]json.RawMessage{"temperature": json.RawMessage(`0`)}}})
	if _, err := r.Promote(t.Context(), Change{ID: "p", Label: "production", Version: "1"}); err != nil {
		t.Fatal(err)
	}
	d, err := r.Diff("p", "production", "2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"messages", "model", "params"}, d.Changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	want := `--- p@1
+++ p@2
@@ -1,8 +1,9 @@
-model: m1
+model: m2
+params.temperature: 0
 messages[0] (system):
   a
   b
-  c
+  C
   d
   e
   f
`
	if d.Unified != want {
		t.Errorf("unified diff:\n%s\nwant:\n%s", d.Unified, want)
	}
	if d, _ := r.Diff("p", "1", "1"); d.Unified != "" || len(d.Changed) != 0 {
		t.Errorf("diff of a version with itself: %+v", d)
	}
	if _, err := r.Diff("p", "1", "nope"); paramOf(err) != "to" {
		t.Errorf("Diff to an unknown version: %v", err)
	}
}

func TestMergeInto(t *testing.T) {
	t.Parallel()
	r := mustRegistry(t, Options{})
	mustCreate(t, r, Definition{ID: "p", Spec: Spec{Messages: []MessageTemplate{{"system", "S {{ a }}"}}, Model: "m",
		Params: map[string]json.RawMessage{"temperature": json.RawMessage(`0.1`), "max_tokens": json.RawMessage(`9`)}}})
	q, err := ParseRequest(json.RawMessage(`{"id":"p","variables":{"a":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.Render(q)
	if err != nil {
		t.Fatal(err)
	}
	body, err := rd.MergeInto([]byte(`{"prompt":{"id":"p"},"messages":[{"role":"user","content":"hi"}],"temperature":0.9,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	req, err := switchboard.DecodeChatRequest(body)
	if err != nil {
		t.Fatalf("DecodeChatRequest(%s): %v", body, err)
	}
	if req.Model != "m" || *req.Temperature != 0.9 || req.MaxOutputTokens() != 9 || !req.Stream || req.Extra["prompt"] != nil {
		t.Errorf("merged request %s", body)
	}
	var roles []string
	for _, m := range req.Messages {
		roles = append(roles, m.Role+":"+m.Text())
	}
	if diff := cmp.Diff([]string{"system:S x", "user:hi"}, roles); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	body, _ = rd.MergeInto([]byte(`{"model":"client","prompt":{}}`))
	if req, _ := switchboard.DecodeChatRequest(body); req == nil || req.Model != "client" || len(req.Messages) != 1 {
		t.Errorf("the client's model must win: %s", body)
	}
	if _, err := rd.MergeInto([]byte(`[1]`)); err == nil {
		t.Errorf("MergeInto of a non-object: no error")
	}
	if rd.Label != "" || rd.Version != "1" || len(rd.Hash) != 64 {
		t.Errorf("rendered %s@%s (%s), label %q; want version 1 and no label", rd.ID, rd.Version, rd.Hash, rd.Label)
	}
}
