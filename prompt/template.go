package prompt

// Templates are Jinja2, through github.com/nikolalohinski/gonja/v2, with
// undefined names an error (StrictUndefined) and Jinja2's default
// whitespace rules. Partials are resolved by a loader over an in-memory map,
// so a template cannot read anything but the partials it was given.

import (
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Limits on rendering, so that one template cannot exhaust the gateway.
const (
	// MaxRenderBytes caps the rendered text of one message.
	MaxRenderBytes = 1 << 20
	// maxRange caps the items range() yields.
	maxRange = 10_000
	// maxPartialDepth caps nested includes.
	maxPartialDepth = 16
)

// rootName names the template being compiled in its loader; partial names
// cannot contain "<".
const rootName = "<template>"

var (
	gonjaConfig = func() *config.Config {
		c := config.New()
		c.StrictUndefined = true
		return c
	}()
	gonjaEnv = &exec.Environment{
		Context: exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables).
			Update(exec.NewContext(map[string]any{"range": boundedRange})),
		Filters:           builtins.Filters,
		Tests:             builtins.Tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           builtins.Methods,
	}
	// globalNames are the names a template may use without declaring them.
	globalNames = func() map[string]bool {
		m := map[string]bool{"loop": true, "caller": true, "self": true, "varargs": true, "kwargs": true,
			"true": true, "false": true, "none": true, "True": true, "False": true, "None": true}
		for _, name := range []string{"cycler", "dict", "joiner", "lipsum", "namespace", "range", "_", "gettext", "ngettext", "gonja"} {
			if gonjaEnv.Context.Has(name) {
				m[name] = true
			}
		}
		return m
	}()
)

// boundedRange is Jinja2's range(), returning a list (gonja's returns a
// channel fed by a goroutine that leaks when a loop breaks early) of at
// most maxRange items.
func boundedRange(_ *exec.Evaluator, params *exec.VarArgs) ([]int, error) {
	start, stop, step := 0, 0, 1
	ints := make([]int, len(params.Args))
	for i, a := range params.Args {
		if !a.IsInteger() {
			return nil, exec.ErrInvalidCall(errors.New("range takes integers: [start, ]stop[, step]"))
		}
		ints[i] = a.Integer()
	}
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return nil, exec.ErrInvalidCall(errors.New("range takes integers: [start, ]stop[, step]"))
	}
	if step == 0 {
		return nil, exec.ErrInvalidCall(errors.New("range step must not be 0"))
	}
	var out []int
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		if len(out) == maxRange {
			return nil, exec.ErrInvalidCall(fmt.Errorf("range yields more than %d items", maxRange))
		}
		out = append(out, i)
	}
	return out, nil
}

// loader is a gonja loader over a map of partials plus the template being
// compiled. Names are cleaned and looked up in the map, never on disk, so
// "../" and absolute names find nothing outside it. Includes resolve from
// the root of the partials, wherever the including template is.
type loader struct {
	root  string
	parts map[string]string
}

// Resolve implements loaders.Loader: the cleaned name, if it is a partial.
func (l *loader) Resolve(name string) (string, error) {
	if name == rootName {
		return name, nil
	}
	clean := path.Clean("/" + name)[1:]
	if _, ok := l.parts[clean]; !ok {
		return "", fmt.Errorf("no partial %q", name)
	}
	return clean, nil
}

// Read implements loaders.Loader.
func (l *loader) Read(name string) (io.Reader, error) {
	if name == rootName {
		return strings.NewReader(l.root), nil
	}
	clean, err := l.Resolve(name)
	if err != nil {
		return nil, err
	}
	return strings.NewReader(l.parts[clean]), nil
}

// Inherit implements loaders.Loader: names always resolve from the root.
func (l *loader) Inherit(string) (loaders.Loader, error) { return l, nil }

// TemplateError is a template that does not parse or refers to what does
// not exist. Line and Column are 1-based positions in the template's text
// (0 when unknown).
type TemplateError struct {
	// Partial names the partial at fault, "" for the template itself.
	Partial      string
	Line, Column int
	Msg          string
}

// Error implements error.
func (e *TemplateError) Error() string {
	var b strings.Builder
	if e.Partial != "" {
		fmt.Fprintf(&b, "partial %q: ", e.Partial)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d col %d: ", e.Line, e.Column)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// parse parses src with the partials parts (imports and extends read them
// while parsing).
func parse(src string, parts map[string]string) (t *exec.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, &TemplateError{Msg: fmt.Sprintf("the template engine failed: %v", r)}
		}
	}()
	t, err = exec.NewTemplate(rootName, gonjaConfig, &loader{root: src, parts: parts}, gonjaEnv)
	if err != nil {
		return nil, templateError(err)
	}
	return t, nil
}

func templateError(err error) *TemplateError {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		return &TemplateError{Line: se.Line, Column: se.Column, Msg: se.Message}
	}
	// Other parse errors wrap the whole source; keep the cause only.
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	return &TemplateError{Msg: err.Error()}
}

// analysis is what a template refers to.
type analysis struct {
	free     []string // variables used and not bound in the template
	partials []string // partials included, imported or extended
}

// analyze walks a parsed template's syntax tree. Include names must be
// string literals, so that a version can capture what it includes.
func analyze(t *exec.Template) (*analysis, error) {
	w := &walker{refs: map[string]bool{}, binds: map[string]bool{}, seen: map[uintptr]bool{}}
	w.walk(reflect.ValueOf(t.Root()), "")
	if w.err != nil {
		return nil, w.err
	}
	a := &analysis{}
	for name := range w.refs {
		if !w.binds[name] && !globalNames[name] {
			a.free = append(a.free, name)
		}
	}
	slices.Sort(a.free)
	a.partials = slices.Compact(slices.Sorted(slices.Values(w.deps)))
	return a, nil
}

const (
	nodesPkg = "github.com/nikolalohinski/gonja/v2/nodes"
	ctrlPkg  = "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
)

// walker collects names from gonja's syntax tree by reflection: the tree's
// control structures keep their parts in unexported fields. Names bound
// anywhere in a template (set, for, macro arguments, with, imports) count
// as bound everywhere in it; rendering is strict anyway.
type walker struct {
	refs, binds map[string]bool
	deps        []string
	seen        map[uintptr]bool
	err         error
	macro       string // the macro whose body is being walked
}

func (w *walker) walk(v reflect.Value, macro string) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem(), macro)
		}
	case reflect.Pointer:
		if v.IsNil() || w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		w.walk(v.Elem(), macro)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			w.walk(v.Index(i), macro)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			w.walk(it.Value(), macro)
		}
	case reflect.Struct:
		w.node(v, macro)
	}
}

// node handles one struct of the tree.
func (w *walker) node(v reflect.Value, macro string) {
	t := v.Type()
	if t.PkgPath() != nodesPkg && t.PkgPath() != ctrlPkg {
		return
	}
	str := func(name string) string {
		f := v.FieldByName(name)
		if f.IsValid() && f.Kind() == reflect.String {
			return f.String()
		}
		return ""
	}
	bind := func(names ...string) {
		for _, n := range names {
			if n != "" {
				w.binds[n] = true
			}
		}
	}
	skip := map[string]bool{}
	switch t.PkgPath() + "." + t.Name() {
	case nodesPkg + ".Name":
		if tok := v.FieldByName("Name"); !tok.IsNil() {
			w.refs[tok.Elem().FieldByName("Val").String()] = true
		}
		return
	case nodesPkg + ".Variable":
		if parts := v.FieldByName("Parts"); parts.Len() > 0 {
			p := parts.Index(0).Elem()
			if p.FieldByName("Type").Int() == nodes.VarTypeIdent {
				w.refs[p.FieldByName("S").String()] = true
			}
		}
	case nodesPkg + ".Macro":
		macro = str("Name")
		bind(macro, str("VarArgsName"), str("KwArgsName"))
		kw := v.FieldByName("Kwargs")
		for i := range kw.Len() {
			if key, ok := literal(derefStruct(kw.Index(i)).FieldByName("Key")); ok {
				bind(key)
			}
		}
	case nodesPkg + ".Call":
		if name, line, col, ok := nameOf(v.FieldByName("Func")); ok && macro != "" && name == macro && w.err == nil {
			w.err = &TemplateError{Line: line, Column: col,
				Msg: fmt.Sprintf("macro %q calls itself: recursive macros are not supported", macro)}
		}
	case nodesPkg + ".Template":
		skip["Parent"] = true // an extended template is analyzed on its own
	case ctrlPkg + ".ForControlStructure":
		bind(str("Key"), str("Value"))
	case ctrlPkg + ".SetControlStructure":
		w.bindTarget(v.FieldByName("target"))
	case ctrlPkg + ".WithControlStructure":
		for _, k := range v.FieldByName("pairs").MapKeys() {
			bind(k.String())
		}
	case ctrlPkg + ".TransControlStructure":
		bind(str("CountVar"))
		for _, k := range v.FieldByName("Variables").MapKeys() {
			bind(k.String())
		}
	case ctrlPkg + ".ImportControlStructure":
		bind(str("as"))
		w.dep(v.FieldByName("filenameExpression"), "import")
		return
	case ctrlPkg + ".FromImportControlStructure":
		it := v.FieldByName("As").MapRange()
		for it.Next() {
			bind(it.Key().String(), it.Value().String())
		}
		w.dep(v.FieldByName("FilenameExpression"), "import")
		return // Template and Macros are the imported template's
	case ctrlPkg + ".IncludeControlStructure":
		w.dep(v.FieldByName("filenameExpression"), "include")
		return
	case ctrlPkg + ".ExtendsControlStructure":
		if f := str("filename"); f != "" {
			w.deps = append(w.deps, path.Clean("/" + f)[1:])
		}
		return
	}
	for i := range v.NumField() {
		if !skip[t.Field(i).Name] {
			w.walk(v.Field(i), macro)
		}
	}
}

// dep records the partial named by the string literal e.
func (w *walker) dep(e reflect.Value, what string) {
	if name, ok := literal(e); ok {
		w.deps = append(w.deps, path.Clean("/" + name)[1:])
		return
	}
	if w.err == nil {
		line, col := tokenPosition(derefStruct(e))
		w.err = &TemplateError{Line: line, Column: col,
			Msg: fmt.Sprintf("the name of a partial to %s must be a string literal", what)}
	}
}

// bindTarget binds the name a set statement assigns.
func (w *walker) bindTarget(e reflect.Value) {
	if name, _, _, ok := nameOf(e); ok {
		w.binds[name] = true
	}
}

// The tree is read by reflection only (no Interface calls): values reached
// through unexported fields cannot be turned back into interfaces.
var (
	stringNodeType = reflect.TypeFor[*nodes.String]()
	nameNodeType   = reflect.TypeFor[*nodes.Name]()
	tokenType      = reflect.TypeFor[*tokens.Token]()
)

// literal returns the text of e if it holds a *nodes.String.
func literal(e reflect.Value) (string, bool) {
	e = unwrapInterface(e)
	if !e.IsValid() || e.Type() != stringNodeType || e.IsNil() {
		return "", false
	}
	return e.Elem().FieldByName("Val").String(), true
}

// nameOf returns the name and position of e if it holds a *nodes.Name.
func nameOf(e reflect.Value) (name string, line, col int, ok bool) {
	e = unwrapInterface(e)
	if !e.IsValid() || e.Type() != nameNodeType || e.IsNil() {
		return "", 0, 0, false
	}
	tok := e.Elem().FieldByName("Name")
	if tok.IsNil() {
		return "", 0, 0, false
	}
	t := tok.Elem()
	return t.FieldByName("Val").String(), int(t.FieldByName("Line").Int()), int(t.FieldByName("Col").Int()), true
}

// tokenPosition returns the line and column of the first token field of the
// node struct v, or zeros.
func tokenPosition(v reflect.Value) (line, col int) {
	if v.Kind() != reflect.Struct {
		return 0, 0
	}
	for i := range v.NumField() {
		if f := v.Field(i); f.Type() == tokenType && !f.IsNil() {
			return int(f.Elem().FieldByName("Line").Int()), int(f.Elem().FieldByName("Col").Int())
		}
	}
	return 0, 0
}

func unwrapInterface(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Interface {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

func derefStruct(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	return v
}

// compiled is a version's templates, ready to render.
type compiled struct {
	msgs   []compiledMessage
	schema *schema
	free   []string // variables used, partials included
}

type compiledMessage struct {
	role string
	tmpl *exec.Template
}

// compile parses the templates of s with the partials s captured, checks
// that they use only declared variables (when s declares any), and returns
// them ready to render. Errors are *TemplateError values wrapped with the
// field at fault ("template", "messages[1].content").
func compile(id string, s *Spec) (*compiled, error) {
	c := &compiled{schema: newSchema(id, s.Variables)}
	free := map[string]bool{}
	add := func(field, role, src string) error {
		t, err := parse(src, s.Partials)
		if err != nil {
			return &fieldError{field, err}
		}
		a, err := analyze(t)
		if err != nil {
			return &fieldError{field, err}
		}
		names, err := partialFree(a, s.Partials, map[string]*analysis{}, nil)
		if err != nil {
			return &fieldError{field, err}
		}
		for _, n := range names {
			free[n] = true
		}
		c.msgs = append(c.msgs, compiledMessage{role: role, tmpl: t})
		return nil
	}
	if s.Template != "" {
		if err := add("template", "user", s.Template); err != nil {
			return nil, err
		}
	}
	for i, m := range s.Messages {
		if err := add(fmt.Sprintf("messages[%d].content", i), m.Role, m.Content); err != nil {
			return nil, err
		}
	}
	c.free = slices.Sorted(func(yield func(string) bool) {
		for n := range free {
			if !yield(n) {
				return
			}
		}
	})
	if c.schema.declared {
		for _, n := range c.free {
			if _, ok := s.Variables[n]; !ok {
				return nil, &fieldError{"variables", fmt.Errorf("the template uses %q, which variables does not declare (declared: %s)",
					n, strings.Join(c.schema.names, ", "))}
			}
		}
	}
	return c, nil
}

// partialFree returns the free names of a and of every partial it uses,
// transitively, with the partials parsed from parts. stack holds the
// partials being expanded, to report cycles.
func partialFree(a *analysis, parts map[string]string, done map[string]*analysis, stack []string) ([]string, error) {
	names := slices.Clone(a.free)
	for _, p := range a.partials {
		if slices.Contains(stack, p) {
			return nil, &TemplateError{Partial: p, Msg: "includes itself: " + strings.Join(append(stack, p), " → ")}
		}
		if len(stack) >= maxPartialDepth {
			return nil, &TemplateError{Partial: p, Msg: fmt.Sprintf("partials nest more than %d deep", maxPartialDepth)}
		}
		pa, ok := done[p]
		if !ok {
			src, found := parts[p]
			if !found {
				return nil, &TemplateError{Msg: fmt.Sprintf("no partial %q (known: %s)", p, strings.Join(sortedKeys(parts), ", "))}
			}
			t, err := parse(src, parts)
			if err != nil {
				err.(*TemplateError).Partial = p
				return nil, err
			}
			if pa, err = analyze(t); err != nil {
				err.(*TemplateError).Partial = p
				return nil, err
			}
			done[p] = pa
		}
		sub, err := partialFree(pa, parts, done, append(stack, p))
		if err != nil {
			return nil, err
		}
		names = append(names, sub...)
	}
	return names, nil
}

// usedPartials returns the names of the partials that the templates of s
// use, transitively, looked up in avail.
func usedPartials(s *Spec, avail map[string]string) (map[string]string, error) {
	used := map[string]string{}
	var visit func(field, src string, depth int) error
	visit = func(field, src string, depth int) error {
		t, err := parse(src, avail)
		if err != nil {
			return &fieldError{field, err}
		}
		a, err := analyze(t)
		if err != nil {
			return &fieldError{field, err}
		}
		for _, p := range a.partials {
			if _, ok := used[p]; ok {
				continue
			}
			psrc, ok := avail[p]
			if !ok {
				return &fieldError{field, &TemplateError{Msg: fmt.Sprintf("no partial %q (known: %s)", p, strings.Join(sortedKeys(avail), ", "))}}
			}
			if depth >= maxPartialDepth {
				return &fieldError{field, &TemplateError{Partial: p, Msg: fmt.Sprintf("partials nest more than %d deep", maxPartialDepth)}}
			}
			used[p] = psrc
			if err := visit(field, psrc, depth+1); err != nil {
				var fe *fieldError
				if errors.As(err, &fe) {
					if te, ok := fe.err.(*TemplateError); ok && te.Partial == "" {
						te.Partial = p
					}
				}
				return err
			}
		}
		return nil
	}
	if s.Template != "" {
		if err := visit("template", s.Template, 0); err != nil {
			return nil, err
		}
	}
	for i, m := range s.Messages {
		if err := visit(fmt.Sprintf("messages[%d].content", i), m.Content, 0); err != nil {
			return nil, err
		}
	}
	return used, nil
}

// fieldError is a problem with one field of a spec.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// render renders the messages with the bound variables.
func (c *compiled) render(id string, vars map[string]any) ([]renderedMessage, error) {
	out := make([]renderedMessage, len(c.msgs))
	for i, m := range c.msgs {
		text, err := execute(m.tmpl, vars)
		if err != nil {
			return nil, renderError(id, err)
		}
		out[i] = renderedMessage{role: m.role, text: text}
	}
	return out, nil
}

type renderedMessage struct {
	role, text string
}

// execute runs t, recovering from a panic of the engine and stopping at
// MaxRenderBytes.
func execute(t *exec.Template, vars map[string]any) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("the template engine failed: %v", r)
		}
	}()
	var b limitedBuilder
	err = t.Execute(&b, exec.NewContext(vars))
	switch {
	case b.over: // gonja does not always pass on the writer's error
		return "", errTooLarge
	case err != nil:
		return "", err
	}
	return b.String(), nil
}

var errTooLarge = fmt.Errorf("the rendered prompt is larger than %d bytes", MaxRenderBytes)

type limitedBuilder struct {
	strings.Builder
	over bool
}

// Write fails past MaxRenderBytes.
func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxRenderBytes {
		b.over = true
		return 0, errTooLarge
	}
	return b.Builder.Write(p)
}

// WriteString is what io.WriteString (gonja's way of writing) calls.
func (b *limitedBuilder) WriteString(s string) (int, error) {
	if b.Len()+len(s) > MaxRenderBytes {
		b.over = true
		return 0, errTooLarge
	}
	return b.Builder.WriteString(s)
}

var (
	undefinedNameRE = regexp.MustCompile(`Unable to evaluate name "([^"]+)"`)
	undefinedAttrRE = regexp.MustCompile(`[Uu]nable to evaluate ([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+|\[[^\]]*\])+): (?:attribute|item) '?([^' ]+)'? not found`)
)

// renderError turns an engine error into the error the client sees: a
// *VarError for an undefined variable, else an invalid_request naming the
// variables. gonja has no typed errors for these, so its messages are
// matched (pinned by tests against the version in go.mod).
func renderError(id string, err error) error {
	if errors.Is(err, errTooLarge) {
		return invalid("prompt.variables", "prompt %q: %v", id, err)
	}
	msg := err.Error()
	if m := undefinedNameRE.FindStringSubmatch(msg); m != nil {
		return (&VarError{Prompt: id, Name: m[1], Reason: "is used by the template but was not given"}).asError()
	}
	if m := undefinedAttrRE.FindStringSubmatch(msg); m != nil {
		return (&VarError{Prompt: id, Name: m[1], Reason: fmt.Sprintf("has no %q (the template uses %s%s)", m[3], m[1], m[2])}).asError()
	}
	msg = strings.TrimPrefix(msg, "unable to execute template: ")
	return invalid("prompt.variables", "prompt %q: rendering failed: %s", id, clip(msg, 300))
}
