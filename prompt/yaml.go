package prompt

// Helpers that read prompt files from yaml.v3 nodes, so that every problem
// names its file and line and unknown keys are errors.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadError is one problem with a prompt file, at a line when known.
type LoadError struct {
	File string
	Line int
	Msg  string
}

// Error implements error: "file:line: message".
func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// joinLoadErrors sorts errs by file and line and joins them.
func joinLoadErrors(errs []*LoadError) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].File != errs[j].File {
			return errs[i].File < errs[j].File
		}
		return errs[i].Line < errs[j].Line
	})
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// position is a place in a prompt file.
type position struct {
	file string
	line int
}

func (p position) String() string {
	if p.line > 0 {
		return fmt.Sprintf("%s:%d", p.file, p.line)
	}
	return p.file
}

// maxYAMLNodes caps the nodes one file may expand to through aliases.
const maxYAMLNodes = 100_000

// yfile reads one file's nodes and collects its problems.
type yfile struct {
	name  string
	errs  []*LoadError
	nodes int
}

func (f *yfile) pos(n *yaml.Node) position {
	if n == nil {
		return position{file: f.name}
	}
	return position{f.name, n.Line}
}

func (f *yfile) errorf(n *yaml.Node, format string, args ...any) {
	p := f.pos(n)
	f.errs = append(f.errs, &LoadError{File: p.file, Line: p.line, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseError turns a yaml.v3 syntax error into a LoadError.
func (f *yfile) parseError(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		f.errs = append(f.errs, &LoadError{File: f.name, Line: line, Msg: "invalid YAML: " + m[2]})
		return
	}
	f.errs = append(f.errs, &LoadError{File: f.name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")})
}

// resolve follows an alias, counting nodes against maxYAMLNodes.
func (f *yfile) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	f.nodes++
	return n
}

// pair is one key and value of a mapping.
type pair struct {
	key   string
	kn, v *yaml.Node
}

// mapping returns the pairs of the mapping n, reporting a node of another
// kind, non-scalar keys and duplicate keys. what names n in messages.
func (f *yfile) mapping(n *yaml.Node, what string) ([]pair, bool) {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		f.errorf(n, "%s must be a mapping, got %s", what, describeNode(n))
		return nil, false
	}
	seen := map[string]*yaml.Node{}
	out := make([]pair, 0, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := f.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			f.errorf(k, "%s: keys must be strings, got %s", what, describeNode(k))
			ok = false
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			f.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
			ok = false
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k.Value, k, v})
	}
	return out, ok
}

// strict reports keys not in allowed.
func (f *yfile) strict(pairs []pair, what string, allowed ...string) {
	for _, p := range pairs {
		if !slices.Contains(allowed, p.key) {
			f.errorf(p.kn, "unknown key %q in %s (allowed: %s)", p.key, what, strings.Join(allowed, ", "))
		}
	}
}

// str returns the text of a scalar (any scalar but null).
func (f *yfile) str(n *yaml.Node, what string) (string, bool) {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		f.errorf(n, "%s must be a string, got %s", what, describeNode(n))
		return "", false
	}
	return n.Value, true
}

// boolean returns the value of a boolean scalar.
func (f *yfile) boolean(n *yaml.Node, what string) (bool, bool) {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		f.errorf(n, "%s must be true or false, got %s", what, describeNode(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		f.errorf(n, "%s must be true or false: %v", what, err)
		return false, false
	}
	return b, true
}

// integer returns the value of an integer scalar.
func (f *yfile) integer(n *yaml.Node, what string) (int, bool) {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		f.errorf(n, "%s must be an integer, got %s", what, describeNode(n))
		return 0, false
	}
	var i int
	if err := n.Decode(&i); err != nil {
		f.errorf(n, "%s must be an integer: %v", what, err)
		return 0, false
	}
	return i, true
}

// number returns the value of a number scalar.
func (f *yfile) number(n *yaml.Node, what string) (float64, bool) {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		f.errorf(n, "%s must be a number, got %s", what, describeNode(n))
		return 0, false
	}
	var x float64
	if err := n.Decode(&x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		f.errorf(n, "%s must be a finite number", what)
		return 0, false
	}
	return x, true
}

// strings returns a sequence of strings.
func (f *yfile) strings(n *yaml.Node, what string) ([]string, bool) {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		f.errorf(n, "%s must be a list of strings, got %s", what, describeNode(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		s, good := f.str(c, fmt.Sprintf("%s[%d]", what, i))
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// json returns a node's value as JSON: mappings become objects (keys
// must be strings), sequences arrays, scalars by their YAML type.
func (f *yfile) json(n *yaml.Node, what string) (json.RawMessage, bool) {
	v, ok := f.value(n, what, 0)
	if !ok {
		return nil, false
	}
	b, err := marshalCanonical(v)
	if err != nil {
		f.errorf(n, "%s: %v", what, err)
		return nil, false
	}
	return b, true
}

// jsonObject returns a mapping's entries as JSON values.
func (f *yfile) jsonObject(n *yaml.Node, what string) (map[string]json.RawMessage, bool) {
	pairs, ok := f.mapping(n, what)
	if !ok {
		return nil, false
	}
	out := make(map[string]json.RawMessage, len(pairs))
	for _, p := range pairs {
		v, good := f.json(p.v, what+"."+p.key)
		ok = ok && good
		out[p.key] = v
	}
	return out, ok
}

const maxYAMLDepth = 100

func (f *yfile) value(n *yaml.Node, what string, depth int) (any, bool) {
	n = f.resolve(n)
	if f.nodes > maxYAMLNodes {
		f.errorf(n, "%s: the document expands to more than %d nodes", what, maxYAMLNodes)
		return nil, false
	}
	if depth > maxYAMLDepth {
		f.errorf(n, "%s: nested more than %d deep", what, maxYAMLDepth)
		return nil, false
	}
	if n == nil {
		return nil, true
	}
	switch n.Kind {
	case yaml.MappingNode:
		pairs, ok := f.mapping(n, what)
		if !ok {
			return nil, false
		}
		m := make(map[string]any, len(pairs))
		for _, p := range pairs {
			v, good := f.value(p.v, what+"."+p.key, depth+1)
			if !good {
				return nil, false
			}
			m[p.key] = v
		}
		return m, true
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, good := f.value(c, fmt.Sprintf("%s[%d]", what, i), depth+1)
			if !good {
				return nil, false
			}
			s = append(s, v)
		}
		return s, true
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				f.errorf(n, "%s: %v", what, err)
				return nil, false
			}
			return b, true
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				f.errorf(n, "%s: integer out of range: %s", what, n.Value)
				return nil, false
			}
			return json.Number(strconv.FormatInt(i, 10)), true
		case "!!float":
			var x float64
			if err := n.Decode(&x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				f.errorf(n, "%s: %s is not a finite number", what, n.Value)
				return nil, false
			}
			return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), true
		default:
			return n.Value, true
		}
	}
	f.errorf(n, "%s: unexpected %s", what, describeNode(n))
	return nil, false
}

func describeNode(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		}
		return fmt.Sprintf("%q", clip(n.Value, 40))
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// textLine returns the file line of line (1-based) of the text held by the
// scalar n: a block scalar (| or >) starts on the line after its key.
func textLine(n *yaml.Node, line int) int {
	if n == nil {
		return 0
	}
	if line < 1 {
		line = 1
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Line + line
	}
	return n.Line + line - 1
}
