package prompt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// DefaultInterval is how often Run looks at the files and the store.
const DefaultInterval = time.Second

// DefaultLabel is the label a request that names neither a version nor a
// label resolves through, when the prompt has it.
const DefaultLabel = "production"

// Options configure a Registry.
type Options struct {
	// Dir is the folder of prompt files, or one YAML file (the seed
	// config/prompt_templates.yaml); "" for prompts from the API only.
	Dir string
	// Store keeps versions and labels; nil keeps them in memory.
	Store switchboard.PromptStore
	// Audit receives an event for every version created and label moved;
	// nil means Store if it is an AuditStore, else none.
	Audit switchboard.AuditStore
	// Log may be nil.
	Log *slog.Logger
	// Interval is Run's polling interval; 0 means DefaultInterval.
	Interval time.Duration
}

// Registry resolves, renders and changes prompts. Reads come from an
// in-memory snapshot; Reload (and Run) rebuild it when the files or the
// store change. It is safe for concurrent use.
type Registry struct {
	dir      string
	store    switchboard.PromptStore
	audit    switchboard.AuditStore
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex // serializes reloads and changes
	fileSig string     // signature of the files last read, good or bad
	files   *fileSet   // the last good files; nil without Dir
	fileErr error      // why the files on disk are not live, nil if they are
	cache   map[string]*compiled

	snap atomic.Pointer[snapshot]
}

// Prompt is a prompt as the registry knows it: its versions, labels and
// tests. Values returned by a Registry are shared: do not modify them.
type Prompt struct {
	ID string `json:"id"`
	// Versions are oldest first (by Seq).
	Versions []*Version `json:"versions"`
	// Labels map each label to the version it points at.
	Labels map[string]string `json:"labels"`
	// Tests come from the prompt's file.
	Tests []TestCase `json:"tests,omitempty"`
	// File is the file defining the prompt, "" for one made through the API.
	File string `json:"file,omitempty"`

	byVersion map[string]*Version
	byHash    map[string]*Version
	labels    map[string]*Version
}

// Version is one immutable version of a prompt.
type Version struct {
	PromptID string `json:"prompt_id"`
	// Version is the display version: the author's, else the Seq.
	Version string `json:"version"`
	Seq     int    `json:"seq"`
	// Hash is the hex SHA-256 of the canonical content (Spec).
	Hash        string    `json:"hash"`
	Spec        Spec      `json:"spec"`
	Description string    `json:"description,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Source      string    `json:"source"`
	CreatedBy   string    `json:"created_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Labels are the labels pointing at this version.
	Labels []string `json:"labels,omitempty"`
	// Variables are the variables the templates use.
	Variables []string `json:"variables,omitempty"`
	// Error, when set, says why the version cannot be rendered.
	Error string `json:"error,omitempty"`

	compiled *compiled
}

type snapshot struct {
	storeVersion string
	prompts      map[string]*Prompt
	ids          []string
}

// New loads the files of opts.Dir, writes their versions and labels to the
// store, and returns a registry serving them. A bad file is an error that
// names its file and line.
func New(ctx context.Context, opts Options) (*Registry, error) {
	r := &Registry{dir: opts.Dir, store: opts.Store, audit: opts.Audit, log: opts.Log,
		interval: opts.Interval, now: time.Now, cache: map[string]*compiled{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.store == nil {
		r.store = NewMemoryStore()
	}
	if r.audit == nil {
		r.audit, _ = r.store.(switchboard.AuditStore)
	}
	if r.interval <= 0 {
		r.interval = DefaultInterval
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.reload(ctx, true); err != nil {
		return nil, err
	}
	if r.fileErr != nil {
		return nil, r.fileErr
	}
	return r, nil
}

// Reload reads the files again if they changed, and rebuilds the snapshot
// if they or the store changed. Bad files leave the last good set live;
// FileError reports them. The error is the store's.
func (r *Registry) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reload(ctx, false)
}

// FileError returns why the prompt files on disk are not the ones being
// served (a bad file, with file:line), or nil.
func (r *Registry) FileError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fileErr
}

// Run reloads every Interval until ctx ends, logging failures once until
// they stop.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.Reload(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			r.log.Warn("reloading prompts failed; serving the last ones loaded", switchboard.LogKeyErr, err)
			failing = true
		case err == nil && failing:
			r.log.Info("reloading prompts works again")
			failing = false
		}
	}
}

// reload does Reload's work; r.mu is held. force rebuilds the snapshot even
// if nothing changed.
func (r *Registry) reload(ctx context.Context, force bool) error {
	changed := false
	if r.dir != "" {
		entries, sig, err := scan(r.dir)
		switch {
		case err != nil:
			r.setFileErr(err)
		case sig != r.fileSig:
			fs, err := loadFiles(entries)
			if err == nil {
				err = r.syncFiles(ctx, fs)
			}
			var le *LoadError
			switch {
			case err == nil:
				r.files, r.fileSig, changed = fs, sig, true
				if r.fileErr != nil {
					r.log.Info("prompt files are valid again", "dir", r.dir)
				}
				r.fileErr = nil
			case errors.As(err, &le):
				r.fileSig = sig // do not read the same bad files again
				r.setFileErr(err)
			default:
				return err // the store failed: try again next time
			}
		}
	}
	v, err := r.store.PromptsVersion(ctx)
	if err != nil {
		return err
	}
	if cur := r.snap.Load(); !force && !changed && cur != nil && cur.storeVersion == v {
		return nil
	}
	s, err := r.build(ctx, v)
	if err != nil {
		return err
	}
	r.snap.Store(s)
	return nil
}

func (r *Registry) setFileErr(err error) {
	if r.fileErr == nil || r.fileErr.Error() != err.Error() {
		r.log.Warn("prompt files rejected; serving the last good ones", "dir", r.dir, switchboard.LogKeyErr, err)
	}
	r.fileErr = err
}

// build reads the store into a new snapshot.
func (r *Registry) build(ctx context.Context, storeVersion string) (*snapshot, error) {
	versions, err := r.store.ListPromptVersions(ctx, "")
	if err != nil {
		return nil, err
	}
	labels, err := r.store.ListPromptLabels(ctx, "")
	if err != nil {
		return nil, err
	}
	s := &snapshot{storeVersion: storeVersion, prompts: map[string]*Prompt{}}
	cache := make(map[string]*compiled, len(versions))
	for _, sv := range versions {
		p := s.prompts[sv.PromptID]
		if p == nil {
			p = &Prompt{ID: sv.PromptID, Labels: map[string]string{}, byVersion: map[string]*Version{},
				byHash: map[string]*Version{}, labels: map[string]*Version{}}
			s.prompts[sv.PromptID] = p
			s.ids = append(s.ids, sv.PromptID)
		}
		v := &Version{PromptID: sv.PromptID, Version: sv.Version, Seq: sv.Seq, Hash: sv.Hash, Description: sv.Description,
			Tags: sv.Tags, Source: sv.Source, CreatedBy: sv.CreatedBy, CreatedAt: sv.CreatedAt}
		key := sv.PromptID + "\x00" + sv.Hash
		c, ok := r.cache[key]
		spec, err := decodeSpec(sv.Content)
		if err == nil {
			v.Spec = *spec
			if !ok {
				c, err = compile(sv.PromptID, spec)
			}
		}
		if err != nil {
			v.Error = err.Error()
			r.log.Warn("stored prompt version cannot be rendered", "prompt", sv.PromptID, "version", sv.Version, switchboard.LogKeyErr, err)
		} else {
			v.compiled, v.Variables, cache[key] = c, c.free, c
		}
		p.Versions = append(p.Versions, v)
		p.byVersion[v.Version] = v
		p.byHash[v.Hash] = v
	}
	r.cache = cache
	for _, l := range labels {
		p := s.prompts[l.PromptID]
		if p == nil || p.byHash[l.Hash] == nil {
			continue
		}
		v := p.byHash[l.Hash]
		p.labels[l.Label], p.Labels[l.Label] = v, v.Version
		v.Labels = append(v.Labels, l.Label)
	}
	if r.files != nil {
		for id, fp := range r.files.prompts {
			if p := s.prompts[id]; p != nil {
				p.Tests, p.File = fp.tests, fp.pos.file
			}
		}
	}
	return s, nil
}

// syncFiles writes the versions of fs to the store and applies its labels.
// Everything is checked before anything is written: a version string that
// the store holds with other content, or a label naming no version, is a
// *LoadError (joined with any others) and nothing changes.
func (r *Registry) syncFiles(ctx context.Context, fs *fileSet) error {
	ids := sortedKeys(fs.prompts)
	stored := map[string][]switchboard.PromptVersion{}
	targets := map[string][]string{} // prompt → target hash of each of its file labels
	var problems []*LoadError
	for _, id := range ids {
		fp := fs.prompts[id]
		vs, err := r.store.ListPromptVersions(ctx, id)
		if err != nil {
			return err
		}
		stored[id] = vs
		for _, fv := range fp.versions {
			if fv.version == "" {
				continue
			}
			for _, sv := range vs {
				if sv.Version == fv.version && sv.Hash != fv.hash {
					problems = append(problems, &LoadError{File: fv.pos.file, Line: fv.pos.line, Msg: fmt.Sprintf(
						"prompt %q: version %q exists already with other content (hash %.12s, from %s); versions are immutable: give this content a new version",
						id, fv.version, sv.Hash, sv.Source)})
				}
			}
		}
		for _, l := range fp.labels {
			target, err := fileLabelTarget(fp, vs, l.version)
			if err != nil {
				problems = append(problems, &LoadError{File: l.pos.file, Line: l.pos.line,
					Msg: fmt.Sprintf("prompt %q: label %q: %v", id, l.name, err)})
			}
			targets[id] = append(targets[id], target)
		}
	}
	if len(problems) > 0 {
		return joinLoadErrors(problems)
	}
	for _, id := range ids {
		for _, fv := range fs.prompts[id].versions {
			src := fv.pos.source()
			sv, created, err := r.store.CreatePromptVersion(ctx, switchboard.PromptVersion{
				PromptID: id, Version: fv.version, Hash: fv.hash, Content: fv.content, Description: fv.description,
				Tags: fv.tags, Source: src, CreatedBy: src, CreatedAt: r.now().UTC()})
			if errors.Is(err, switchboard.ErrExists) { // another writer took the version string just now
				return joinLoadErrors([]*LoadError{{File: fv.pos.file, Line: fv.pos.line,
					Msg: fmt.Sprintf("prompt %q: version %q exists already with other content; versions are immutable", id, fv.version)}})
			}
			if err != nil {
				return err
			}
			if created {
				stored[id] = append(stored[id], sv)
				r.record(ctx, src, "prompt.create", "prompt:"+id, map[string]any{"version": sv.Version, "hash": sv.Hash, "source": src})
			}
		}
	}
	for _, id := range ids {
		for i, l := range fs.prompts[id].labels {
			if err := r.applyFileLabel(ctx, id, l, targets[id][i], stored[id]); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileLabelTarget returns the hash of the version a file label names: a
// version string of the file, a hash prefix of a file version, or any
// stored version (display version, sequence number, hash prefix).
func fileLabelTarget(fp *filePrompt, stored []switchboard.PromptVersion, ref string) (string, error) {
	for _, fv := range fp.versions {
		if fv.version == ref {
			return fv.hash, nil
		}
	}
	if isHashPrefix(ref) {
		for _, fv := range fp.versions {
			if strings.HasPrefix(fv.hash, strings.ToLower(ref)) {
				return fv.hash, nil
			}
		}
	}
	v, err := resolveStored(stored, ref)
	if err != nil {
		return "", fmt.Errorf("%v (the file's versions: %s)", err, fileVersionList(fp))
	}
	return v.Hash, nil
}

func fileVersionList(fp *filePrompt) string {
	var out []string
	for _, fv := range fp.versions {
		if fv.version != "" {
			out = append(out, strconv.Quote(fv.version))
		} else {
			out = append(out, fv.hash[:12])
		}
	}
	return strings.Join(out, ", ")
}

// applyFileLabel points label l at target unless the file's value was
// applied already: a label moved through the API since then keeps its
// place until the file says something else.
func (r *Registry) applyFileLabel(ctx context.Context, id string, l fileLabel, target string, versions []switchboard.PromptVersion) error {
	for attempt := 0; ; attempt++ {
		hist, err := r.store.PromptLabelHistory(ctx, id, l.name)
		if err != nil {
			return err
		}
		cur := ""
		if len(hist) > 0 {
			cur = hist[0].Hash
		}
		for _, c := range hist {
			if strings.HasPrefix(c.Actor, "file:") {
				if c.Hash == target {
					return nil
				}
				break
			}
		}
		src := l.pos.source()
		c := switchboard.LabelChange{ID: switchboard.NewID(), PromptID: id, Label: l.name, Hash: target, Previous: cur,
			Action: switchboard.LabelPromote, Actor: src, Reason: "set in " + l.pos.String(), Time: r.now().UTC()}
		err = r.store.MovePromptLabel(ctx, c)
		if errors.Is(err, switchboard.ErrLabelMoved) && attempt < 3 {
			continue // another replica applied it, or someone moved it: look again
		}
		if err != nil {
			return err
		}
		r.record(ctx, src, "prompt.promote", "prompt:"+id+"/"+l.name, changeDetail(c, versions))
		return nil
	}
}

// record appends an audit event; a failure is logged, since the change it
// records is made already.
func (r *Registry) record(ctx context.Context, actor, action, target string, detail map[string]any) {
	if r.audit == nil {
		return
	}
	d, _ := json.Marshal(detail)
	e := switchboard.AuditEvent{ID: switchboard.NewID(), Time: r.now().UTC(), Actor: actor, Action: action, Target: target, Detail: d}
	if err := r.audit.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		r.log.Error("audit event lost", "action", action, "target", target, switchboard.LogKeyErr, err)
	}
}

func changeDetail(c switchboard.LabelChange, versions []switchboard.PromptVersion) map[string]any {
	d := map[string]any{"hash": c.Hash, "version": displayOf(versions, c.Hash)}
	if c.Previous != "" {
		d["previous_hash"], d["previous_version"] = c.Previous, displayOf(versions, c.Previous)
	}
	if c.Reason != "" {
		d["reason"] = c.Reason
	}
	return d
}

func displayOf(versions []switchboard.PromptVersion, hash string) string {
	for _, v := range versions {
		if v.Hash == hash {
			return v.Version
		}
	}
	return ""
}

// Ref names a version of a prompt: by Version (the display version, the
// sequence number, or a hash prefix of at least 8 hex digits), by Label, or
// neither (the production label if set, else the latest version).
type Ref struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
	Label   string `json:"label,omitempty"`
}

// List returns every prompt, by ID.
func (r *Registry) List() []*Prompt {
	s := r.snap.Load()
	out := make([]*Prompt, 0, len(s.ids))
	for _, id := range s.ids {
		out = append(out, s.prompts[id])
	}
	return out
}

// Get returns the prompt id; the error is a not_found *switchboard.Error.
func (r *Registry) Get(id string) (*Prompt, error) {
	p := r.snap.Load().prompts[id]
	if p == nil {
		return nil, notFound("prompt.id", "no prompt %q", id)
	}
	return p, nil
}

// Resolve returns the version ref names. Errors are *switchboard.Error
// values: not_found (wrapping switchboard.ErrNotFound) for an unknown
// prompt, version or label, invalid_request for a malformed ref.
func (r *Registry) Resolve(ref Ref) (*Version, error) {
	p, err := r.Get(ref.ID)
	if err != nil {
		return nil, err
	}
	return p.resolve(ref)
}

func (p *Prompt) resolve(ref Ref) (*Version, error) {
	switch {
	case ref.Version != "" && ref.Label != "":
		return nil, invalid("prompt.version", "give prompt.version or prompt.label, not both")
	case ref.Label != "":
		if v := p.labels[ref.Label]; v != nil {
			return v, nil
		}
		return nil, notFound("prompt.label", "prompt %q has no label %q (labels: %s)", p.ID, ref.Label, p.labelList())
	case ref.Version != "":
		return p.version(ref.Version)
	}
	if v := p.labels[DefaultLabel]; v != nil {
		return v, nil
	}
	return p.Versions[len(p.Versions)-1], nil
}

// version finds a version by display version, sequence number or hash
// prefix.
func (p *Prompt) version(s string) (*Version, error) {
	if v := p.byVersion[s]; v != nil {
		return v, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(p.Versions) {
		if v := p.Versions[n-1]; v.Seq == n {
			return v, nil
		}
	}
	if isHashPrefix(s) {
		var found *Version
		for _, v := range p.Versions {
			if strings.HasPrefix(v.Hash, strings.ToLower(s)) {
				if found != nil {
					return nil, invalid("prompt.version", "prompt %q: hash prefix %q is ambiguous: give more digits", p.ID, s)
				}
				found = v
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, notFound("prompt.version", "prompt %q has no version %q", p.ID, s)
}

// resolveStored finds a version among stored ones the way Prompt.version
// does.
func resolveStored(vs []switchboard.PromptVersion, s string) (*switchboard.PromptVersion, error) {
	for i := range vs {
		if vs[i].Version == s {
			return &vs[i], nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil {
		for i := range vs {
			if vs[i].Seq == n {
				return &vs[i], nil
			}
		}
	}
	if isHashPrefix(s) {
		var found *switchboard.PromptVersion
		for i := range vs {
			if strings.HasPrefix(vs[i].Hash, strings.ToLower(s)) {
				if found != nil {
					return nil, fmt.Errorf("hash prefix %q is ambiguous", s)
				}
				found = &vs[i]
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("no version %q", s)
}

func isHashPrefix(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *Prompt) labelList() string {
	if len(p.Labels) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(p.Labels)), ", ")
}

// notFound returns a not_found error naming param and wrapping
// switchboard.ErrNotFound.
func notFound(param, format string, args ...any) error {
	return &switchboard.Error{Code: switchboard.CodeNotFound, Param: param, Message: fmt.Sprintf(format, args...), Err: switchboard.ErrNotFound}
}
