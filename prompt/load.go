package prompt

// Loading a folder of prompt files. Two layouts load, in any *.yaml or
// *.yml file under the folder:
//
//   - the seed layout: prompts: {group: {name: {template, version,
//     description}}} (the group level is optional and not part of the ID);
//   - the native layout: one prompt per file, its ID from id: or the file
//     name, with chat messages, model, params, variables, tags, labels,
//     tests, and either one version at the top or versions: [...].
//
// Shared fragments live under _partials/ (any file, named by its path
// below _partials) or in a partials: mapping of any file.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on prompt files.
const (
	maxFileBytes = 1 << 20
	maxFiles     = 10_000
)

// partialsDir is the folder of partial files, below the prompts folder.
const partialsDir = "_partials"

// fileSet is a loaded, valid folder of prompt files.
type fileSet struct {
	prompts  map[string]*filePrompt
	partials map[string]string
}

// filePrompt is one prompt as the files define it.
type filePrompt struct {
	id       string
	pos      position
	versions []*fileVersion
	labels   []fileLabel
	tests    []TestCase
}

// fileVersion is one version as a file defines it.
type fileVersion struct {
	version     string // the author's, "" if none
	description string
	tags        []string
	spec        Spec // canonical, with its partials captured
	content     []byte
	hash        string
	pos         position
}

// fileLabel is a label a file sets.
type fileLabel struct {
	name, version string
	pos           position
}

// source returns the Source and actor of things a file made.
func (p position) source() string { return "file:" + p.file }

// fileEntry is one file of the folder.
type fileEntry struct {
	path    string // as opened: the folder joined with rel
	rel     string // slash-separated, relative to the folder
	size    int64
	modTime int64
	partial bool
}

// scan lists the prompt files and partials of dir (or the single file
// dir) and returns a signature that changes when any of them changes.
func scan(dir string) ([]fileEntry, string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, "", fmt.Errorf("prompts: %w", err)
	}
	var files []fileEntry
	if !st.IsDir() {
		files = append(files, fileEntry{path: dir, rel: filepath.Base(dir), size: st.Size(), modTime: st.ModTime().UnixNano()})
	} else {
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			partial := strings.HasPrefix(rel, partialsDir+"/")
			if !partial && !strings.HasSuffix(rel, ".yaml") && !strings.HasSuffix(rel, ".yml") {
				return nil
			}
			// A symlink to a file counts as the file (Kubernetes mounts a
			// ConfigMap's keys as symlinks); one to a folder is not followed.
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			if len(files) == maxFiles {
				return fmt.Errorf("more than %d files", maxFiles)
			}
			files = append(files, fileEntry{path: p, rel: rel, size: info.Size(), modTime: info.ModTime().UnixNano(), partial: partial})
			return nil
		})
		if err != nil {
			return nil, "", fmt.Errorf("prompts: scan %s: %w", dir, err)
		}
	}
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", f.rel, f.size, f.modTime)
	}
	return files, hex.EncodeToString(h.Sum(nil)), nil
}

// loadFiles reads and validates files. Every problem is a *LoadError;
// they are joined.
func loadFiles(files []fileEntry) (*fileSet, error) {
	b := newSetBuilder()
	for _, fe := range files {
		data, err := readFile(fe.path)
		if err != nil {
			b.errs = append(b.errs, &LoadError{File: fe.path, Msg: err.Error()})
			continue
		}
		if fe.partial {
			name := strings.TrimPrefix(fe.rel, partialsDir+"/")
			b.addPartial(name, string(data), position{fe.path, 0})
			continue
		}
		b.parseFile(fe.path, fe.rel, data)
	}
	return b.finish()
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	return data, nil
}

// setBuilder accumulates files into a fileSet.
type setBuilder struct {
	prompts    map[string]*filePrompt
	partials   map[string]string
	partialPos map[string]position
	// textNodes maps the fields of versions holding templates to their
	// nodes and files, to place template errors on file lines.
	textNodes map[*fileVersion]map[string]*yaml.Node
	errs      []*LoadError
}

func newSetBuilder() *setBuilder {
	return &setBuilder{prompts: map[string]*filePrompt{}, partials: map[string]string{},
		partialPos: map[string]position{}, textNodes: map[*fileVersion]map[string]*yaml.Node{}}
}

func (b *setBuilder) addPartial(name, src string, pos position) {
	if !partialRE.MatchString(name) {
		b.errs = append(b.errs, &LoadError{File: pos.file, Line: pos.line,
			Msg: fmt.Sprintf("invalid partial name %q: letters, digits, _ . - and /", name)})
		return
	}
	if prev, dup := b.partialPos[name]; dup {
		b.errs = append(b.errs, &LoadError{File: pos.file, Line: pos.line,
			Msg: fmt.Sprintf("partial %q is defined already at %s", name, prev)})
		return
	}
	b.partials[name], b.partialPos[name] = src, pos
}

// promptKeys are the keys of a prompt; versionKeys those of a version.
var (
	versionKeys = []string{"version", "description", "tags", "template", "messages", "model", "params", "variables"}
	promptKeys  = []string{"id", "description", "tags", "labels", "tests", "versions",
		"version", "template", "messages", "model", "params", "variables", "partials"}
)

// parseFile reads one YAML file into b.
func (b *setBuilder) parseFile(name, rel string, data []byte) {
	f := &yfile{name: name}
	defer func() { b.errs = append(b.errs, f.errs...) }()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			f.parseError(err)
		}
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		f.errorf(&extra, "one YAML document per prompt file")
		return
	}
	if len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	pairs, ok := f.mapping(root, "a prompt file")
	if !ok {
		return
	}
	seed := slices.ContainsFunc(pairs, func(p pair) bool { return p.key == "prompts" })
	if seed {
		f.strict(pairs, "a file with prompts:", "prompts", "partials")
	}
	for _, p := range pairs {
		if p.key == "partials" {
			parts, ok := f.mapping(p.v, "partials")
			if !ok {
				continue
			}
			for _, pp := range parts {
				if src, ok := f.str(pp.v, "partials."+pp.key); ok {
					b.addPartial(pp.key, src, f.pos(pp.kn))
				}
			}
		}
	}
	if seed {
		for _, p := range pairs {
			if p.key == "prompts" {
				b.parseSeed(f, p.v)
			}
		}
		return
	}
	if len(pairs) == 1 && pairs[0].key == "partials" {
		return // a file of partials only
	}
	id := strings.TrimSuffix(strings.TrimSuffix(path.Base(rel), ".yaml"), ".yml")
	idNode := root
	for _, p := range pairs {
		if p.key == "id" {
			id, _ = f.str(p.v, "id")
			idNode = p.v
		}
	}
	f.strict(pairs, "a prompt", promptKeys...)
	b.parsePrompt(f, id, idNode, pairs, false)
}

// parseSeed reads prompts: {group: {name: entry}} or prompts: {name: entry}.
func (b *setBuilder) parseSeed(f *yfile, n *yaml.Node) {
	groups, ok := f.mapping(n, "prompts")
	if !ok {
		return
	}
	for _, g := range groups {
		entries, ok := f.mapping(g.v, "prompts."+g.key)
		if !ok {
			continue
		}
		if isPrompt(entries) { // prompts: {name: entry}, no group level
			f.strict(entries, "prompts."+g.key, promptKeys[1:]...)
			b.parsePrompt(f, g.key, g.kn, entries, true)
			continue
		}
		for _, e := range entries {
			what := "prompts." + g.key + "." + e.key
			pairs, ok := f.mapping(e.v, what)
			if !ok {
				continue
			}
			f.strict(pairs, what, promptKeys[1:]...)
			b.parsePrompt(f, e.key, e.kn, pairs, true)
		}
	}
}

func isPrompt(pairs []pair) bool {
	return slices.ContainsFunc(pairs, func(p pair) bool {
		return p.key == "template" || p.key == "messages" || p.key == "versions"
	})
}

// parsePrompt reads one prompt's keys. In the seed layout (merge), a name
// met again adds versions to the same prompt; elsewhere it is a duplicate.
func (b *setBuilder) parsePrompt(f *yfile, id string, idNode *yaml.Node, pairs []pair, merge bool) {
	if !ValidID(id) {
		f.errorf(idNode, "invalid prompt ID %q: 1–128 letters, digits, _ . or -", id)
		return
	}
	p := b.prompts[id]
	switch {
	case p == nil:
		p = &filePrompt{id: id, pos: f.pos(idNode)}
		b.prompts[id] = p
	case !merge || p.pos.file != f.name:
		f.errorf(idNode, "prompt %q is defined already at %s", id, p.pos)
		return
	}
	var (
		description string
		tags        []string
		versionsN   *yaml.Node
		single      []pair
	)
	for _, kv := range pairs {
		switch kv.key {
		case "description":
			description, _ = f.str(kv.v, "description")
		case "tags":
			tags, _ = f.strings(kv.v, "tags")
		case "labels":
			p.labels = append(p.labels, b.parseLabels(f, kv.v, p)...)
		case "tests":
			p.tests = append(p.tests, f.parseTests(kv.v)...)
		case "versions":
			versionsN = kv.v
		case "version", "template", "messages", "model", "params", "variables":
			single = append(single, kv)
		}
	}
	if versionsN != nil {
		for _, kv := range single {
			f.errorf(kv.kn, "%q belongs in an entry of versions: when versions: is given", kv.key)
		}
		vn := f.resolve(versionsN)
		if vn == nil || vn.Kind != yaml.SequenceNode || len(vn.Content) == 0 {
			f.errorf(versionsN, "versions must be a non-empty list, got %s", describeNode(vn))
			return
		}
		for i, n := range vn.Content {
			vpairs, ok := f.mapping(n, fmt.Sprintf("versions[%d]", i))
			if !ok {
				continue
			}
			f.strict(vpairs, fmt.Sprintf("versions[%d]", i), versionKeys...)
			b.parseVersion(f, p, f.resolve(n), vpairs, description, tags)
		}
		return
	}
	if len(single) == 0 {
		f.errorf(idNode, "prompt %q needs a template, messages or versions", id)
		return
	}
	b.parseVersion(f, p, idNode, single, description, tags)
}

// parseVersion reads one version and adds it to p.
func (b *setBuilder) parseVersion(f *yfile, p *filePrompt, at *yaml.Node, pairs []pair, description string, tags []string) {
	v := &fileVersion{description: description, tags: tags, pos: f.pos(at)}
	nodes := map[string]*yaml.Node{}
	fields := map[string]*yaml.Node{}
	for _, kv := range pairs {
		fields[kv.key] = kv.kn
		if kv.key != "template" && kv.key != "messages" {
			nodes[kv.key] = kv.kn // problems with the field are placed on its key
		}
		switch kv.key {
		case "version":
			if s, ok := f.str(kv.v, "version"); ok {
				if !validVersion(s) {
					f.errorf(kv.v, "invalid version %q: 1–64 letters, digits, _ . + or -, starting with a letter or digit", s)
					return
				}
				v.version = s
			}
		case "description":
			v.description, _ = f.str(kv.v, "description")
		case "tags":
			v.tags, _ = f.strings(kv.v, "tags")
		case "template":
			v.spec.Template, _ = f.str(kv.v, "template")
			nodes["template"] = f.resolve(kv.v)
		case "messages":
			v.spec.Messages = f.parseMessages(kv.v, nodes)
		case "model":
			v.spec.Model, _ = f.str(kv.v, "model")
		case "params":
			v.spec.Params, _ = f.jsonObject(kv.v, "params")
		case "variables":
			v.spec.Variables = f.parseVariables(kv.v)
		}
	}
	if v.version != "" {
		for _, o := range p.versions {
			if o.version == v.version {
				f.errorf(at, "prompt %q: version %q is defined already at %s", p.id, v.version, o.pos)
				return
			}
		}
	}
	for _, pr := range v.spec.check() {
		n := fields[strings.SplitN(strings.SplitN(pr.field, ".", 2)[0], "[", 2)[0]]
		if n == nil {
			n = at
		}
		f.errorf(n, "prompt %q: %s", p.id, pr)
	}
	p.versions = append(p.versions, v)
	b.textNodes[v] = nodes
}

// parseMessages reads messages: a list of {role, content} or {<role>: content}.
func (f *yfile) parseMessages(n *yaml.Node, nodes map[string]*yaml.Node) []MessageTemplate {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		f.errorf(n, "messages must be a list, got %s", describeNode(n))
		return nil
	}
	out := make([]MessageTemplate, 0, len(n.Content))
	for i, mn := range n.Content {
		what := fmt.Sprintf("messages[%d]", i)
		pairs, ok := f.mapping(mn, what)
		if !ok {
			continue
		}
		var m MessageTemplate
		if len(pairs) == 1 && slices.Contains(Roles, pairs[0].key) {
			m.Role = pairs[0].key
			m.Content, _ = f.str(pairs[0].v, what+"."+m.Role)
			nodes[what+".content"] = f.resolve(pairs[0].v)
		} else {
			f.strict(pairs, what, "role", "content")
			for _, p := range pairs {
				switch p.key {
				case "role":
					m.Role, _ = f.str(p.v, what+".role")
				case "content":
					m.Content, _ = f.str(p.v, what+".content")
					nodes[what+".content"] = f.resolve(p.v)
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// parseVariables reads variables: {name: {type, required, default, enum,
// max_length}} or {name: type}.
func (f *yfile) parseVariables(n *yaml.Node) map[string]Variable {
	pairs, ok := f.mapping(n, "variables")
	if !ok {
		return nil
	}
	out := make(map[string]Variable, len(pairs))
	for _, p := range pairs {
		what := "variables." + p.key
		var v Variable
		if vn := f.resolve(p.v); vn != nil && vn.Kind == yaml.ScalarNode {
			v.Type, _ = f.str(vn, what)
			out[p.key] = v
			continue
		}
		fields, ok := f.mapping(p.v, what)
		if !ok {
			continue
		}
		f.strict(fields, what, "type", "required", "default", "enum", "max_length")
		for _, kv := range fields {
			switch kv.key {
			case "type":
				v.Type, _ = f.str(kv.v, what+".type")
			case "required":
				v.Required, _ = f.boolean(kv.v, what+".required")
			case "default":
				v.Default, _ = f.json(kv.v, what+".default")
			case "enum":
				en := f.resolve(kv.v)
				if en == nil || en.Kind != yaml.SequenceNode || len(en.Content) == 0 {
					f.errorf(kv.v, "%s.enum must be a non-empty list, got %s", what, describeNode(en))
					continue
				}
				for i, e := range en.Content {
					if j, ok := f.json(e, fmt.Sprintf("%s.enum[%d]", what, i)); ok {
						v.Enum = append(v.Enum, j)
					}
				}
			case "max_length":
				v.MaxLength, _ = f.integer(kv.v, what+".max_length")
			}
		}
		out[p.key] = v
	}
	return out
}

// parseLabels reads labels: {label: version}.
func (b *setBuilder) parseLabels(f *yfile, n *yaml.Node, p *filePrompt) []fileLabel {
	pairs, ok := f.mapping(n, "labels")
	if !ok {
		return nil
	}
	var out []fileLabel
	for _, kv := range pairs {
		if !ValidLabel(kv.key) {
			f.errorf(kv.kn, "invalid label %q: 1–64 letters, digits, _ . or -", kv.key)
			continue
		}
		for _, l := range p.labels {
			if l.name == kv.key {
				f.errorf(kv.kn, "label %q of prompt %q is set already at %s", kv.key, p.id, l.pos)
			}
		}
		if s, ok := f.str(kv.v, "labels."+kv.key); ok {
			out = append(out, fileLabel{name: kv.key, version: s, pos: f.pos(kv.kn)})
		}
	}
	return out
}

// finish captures each version's partials, compiles it, and returns the
// set, or every problem found.
func (b *setBuilder) finish() (*fileSet, error) {
	// Partials that do not parse are reported once, at their own place.
	for _, name := range sortedKeys(b.partials) {
		if _, err := parse(b.partials[name], b.partials); err != nil {
			b.templateError(b.partialPos[name], nil, err)
		}
	}
	for _, id := range sortedKeys(b.prompts) {
		p := b.prompts[id]
		hashes := map[string]*fileVersion{}
		for _, v := range p.versions {
			if !b.finishVersion(p, v) {
				continue
			}
			if o, dup := hashes[v.hash]; dup {
				b.errs = append(b.errs, &LoadError{File: v.pos.file, Line: v.pos.line,
					Msg: fmt.Sprintf("prompt %q: this version has the same content as the one at %s", id, o.pos)})
			}
			hashes[v.hash] = v
		}
	}
	if len(b.errs) > 0 {
		return nil, joinLoadErrors(b.errs)
	}
	return &fileSet{prompts: b.prompts, partials: b.partials}, nil
}

// finishVersion captures v's partials, canonicalizes and hashes its spec,
// and compiles it; it reports whether v is valid.
func (b *setBuilder) finishVersion(p *filePrompt, v *fileVersion) bool {
	nodes := b.textNodes[v]
	used, err := usedPartials(&v.spec, b.partials)
	if err != nil {
		b.specError(p, v, nodes, err)
		return false
	}
	v.spec.Partials = used
	if err := v.spec.canonicalize(); err != nil {
		b.errs = append(b.errs, &LoadError{File: v.pos.file, Line: v.pos.line, Msg: fmt.Sprintf("prompt %q: %v", p.id, err)})
		return false
	}
	if _, err := compile(p.id, &v.spec); err != nil {
		b.specError(p, v, nodes, err)
		return false
	}
	v.content, v.hash, err = v.spec.content()
	if err != nil {
		b.errs = append(b.errs, &LoadError{File: v.pos.file, Line: v.pos.line, Msg: fmt.Sprintf("prompt %q: %v", p.id, err)})
		return false
	}
	return true
}

// specError places a compile error of v on its file line.
func (b *setBuilder) specError(p *filePrompt, v *fileVersion, nodes map[string]*yaml.Node, err error) {
	var fe *fieldError
	if !errors.As(err, &fe) {
		b.errs = append(b.errs, &LoadError{File: v.pos.file, Line: v.pos.line, Msg: fmt.Sprintf("prompt %q: %v", p.id, err)})
		return
	}
	var te *TemplateError
	if errors.As(fe.err, &te) && te.Partial != "" {
		if pos, ok := b.partialPos[te.Partial]; ok {
			b.templateError(pos, nil, err)
			return
		}
	}
	pos := v.pos
	n := nodes[fe.field]
	if n != nil {
		pos.line = n.Line
	}
	b.templateError(pos, n, fmt.Errorf("prompt %q: %w", p.id, err))
}

// templateError adds err at pos, moved to the template's line when err
// carries one. n is the YAML node holding the template text, nil for a
// partial file (whose lines are the template's).
func (b *setBuilder) templateError(pos position, n *yaml.Node, err error) {
	var te *TemplateError
	if errors.As(err, &te) && te.Line > 0 {
		switch {
		case n != nil:
			pos.line = textLine(n, te.Line)
		case pos.line == 0: // a partial file
			pos.line = te.Line
		default: // a partial in a partials: mapping, on the line after its key
			pos.line += te.Line
		}
	}
	b.errs = append(b.errs, &LoadError{File: pos.file, Line: pos.line, Msg: err.Error()})
}
