package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxAliasNodes caps the nodes that alias expansion may add to one document,
// so that a "billion laughs" file fails fast instead of exhausting memory.
const maxAliasNodes = 100_000

// Load builds the effective configuration: Default(), then each file in
// order (${VAR} expanded, parsed, deep-merged over the previous ones), then
// each --set override ("path.to.key=value"), then a strict decode, then the
// environment overrides SWITCHBOARD_LISTEN, SWITCHBOARD_DATABASE_URL and
// SWITCHBOARD_LOG_LEVEL, then the zero-config providers if none is declared.
// env looks variables up; production passes os.LookupEnv. Load does not call
// Validate. No files at all is fine.
func Load(files []string, sets []string, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	src := newSources()
	var root *yaml.Node
	for _, f := range files {
		n, err := loadFile(src, f, env)
		if err != nil {
			return nil, err
		}
		root = mergeNodes(root, n)
	}
	if root == nil {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	var errs []error
	for _, s := range sets {
		errs = append(errs, applySet(src, root, s))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := Default()
	c.pos = map[string]string{}
	if err := decodeConfig(src, root, c); err != nil {
		return nil, err
	}
	if err := applyEnv(c, env); err != nil {
		return nil, err
	}
	addZeroConfig(c, src, env)
	return c, nil
}

// loadFile reads, interpolates, parses and normalizes one file. It returns
// nil for a file with no content.
func loadFile(src *sources, file string, env func(string) (string, bool)) (*yaml.Node, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	text, err := interpolate(file, string(data), env)
	if err != nil {
		return nil, err
	}
	root, err := parseYAML(file, text)
	if err != nil || root == nil {
		return nil, err
	}
	if root, err = normalize(src, root, origin{name: file, inFile: true}); err != nil {
		return nil, err
	}
	switch {
	case isNull(root):
		return nil, nil
	case root.Kind != yaml.MappingNode:
		return nil, &posError{pos: src.pos(root), msg: fmt.Sprintf(
			"the top level must be a mapping of sections (server:, providers:, …), got %s", describe(root, false))}
	}
	return root, nil
}

// yamlLine matches the position yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses the single document in text; nil means an empty file.
func parseYAML(name, text string) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 panics on a few malformed inputs instead of failing; a
		// config file must never crash the process.
		if r := recover(); r != nil {
			root, err = nil, &posError{pos: name, msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(name, err)
	default:
		return nil, &posError{pos: fmt.Sprintf("%s:%d", name, next.Line), msg: "a config file must hold one YAML document, found a second one"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxError turns "yaml: line 3: msg" into "file:3: msg".
func syntaxError(name string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return &posError{pos: name + ":" + m[1], msg: "invalid YAML: " + m[2], err: err}
	}
	return &posError{pos: name, msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), err: err}
}

// normalize rewrites a parsed tree so that later steps see plain mappings,
// sequences and scalars: aliases become copies of their anchors, merge keys
// (<<) are applied, and duplicate keys are rejected. Every node of the result
// is marked with o.
func normalize(src *sources, root *yaml.Node, o origin) (*yaml.Node, error) {
	z := &normalizer{src: src, o: o, active: map[*yaml.Node]bool{}, budget: maxAliasNodes}
	out := z.node(root, "")
	return out, errors.Join(z.errs...)
}

type normalizer struct {
	src    *sources
	o      origin
	active map[*yaml.Node]bool // nodes being normalized: an alias to one is a cycle
	budget int
	errs   []error
	failed bool // set once the budget is spent or a cycle found: stop expanding
}

func (z *normalizer) fail(n *yaml.Node, format string, args ...any) {
	pos := z.o.name
	if z.o.inFile {
		pos = fmt.Sprintf("%s:%d", z.o.name, n.Line)
	}
	z.errs = append(z.errs, &posError{pos: pos, msg: fmt.Sprintf(format, args...)})
}

func (z *normalizer) node(n *yaml.Node, path string) *yaml.Node {
	z.src.m[n] = z.o
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
		}
		return z.node(n.Content[0], path)
	case yaml.AliasNode:
		if n.Alias == nil || z.failed {
			return nullAt(n)
		}
		if z.active[n.Alias] {
			z.failed = true
			z.fail(n, "alias *%s refers to a node that contains it", n.Value)
			return nullAt(n)
		}
		c := z.clone(n.Alias)
		if z.budget < 0 {
			z.failed = true
			z.fail(n, "too many alias expansions (more than %d nodes)", maxAliasNodes)
			return nullAt(n)
		}
		return c
	case yaml.SequenceNode:
		z.active[n] = true
		for i, c := range n.Content {
			n.Content[i] = z.node(c, fmt.Sprintf("%s[%d]", path, i))
		}
		delete(z.active, n)
	case yaml.MappingNode:
		z.active[n] = true
		z.mapping(n, path)
		delete(z.active, n)
	}
	return n
}

// mapping normalizes n's pairs in place, applying merge keys.
func (z *normalizer) mapping(n *yaml.Node, path string) {
	explicit := map[string]*yaml.Node{} // key → first key node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.AliasNode {
			n.Content[i] = z.node(n.Content[i], path)
		}
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || isMergeKey(k) {
			continue
		}
		if first, dup := explicit[k.Value]; dup {
			where := ""
			if path != "" {
				where = " in " + path
			}
			z.fail(k, "duplicate key %q%s (first at line %d)", k.Value, where, first.Line)
			continue
		}
		explicit[k.Value] = k
	}
	content := make([]*yaml.Node, 0, len(n.Content))
	merged := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMergeKey(k) {
			z.src.m[k] = z.o
			content = append(content, k, z.node(v, join(path, k.Value)))
			continue
		}
		z.src.m[k] = z.o
		v = z.node(v, path)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, m := range sources {
			if m.Kind != yaml.MappingNode {
				if !isNull(m) {
					z.fail(m, "a merge key (<<) needs a mapping or a list of mappings, got %s", describe(m, false))
				}
				continue
			}
			for j := 0; j+1 < len(m.Content); j += 2 {
				mk := m.Content[j]
				if mk.Kind == yaml.ScalarNode && (explicit[mk.Value] != nil || merged[mk.Value]) {
					continue // explicit keys, then earlier merged mappings, win
				}
				merged[mk.Value] = true
				content = append(content, mk, m.Content[j+1])
			}
		}
	}
	n.Content = content
}

// clone deep-copies a normalized tree for an alias, spending budget.
func (z *normalizer) clone(n *yaml.Node) *yaml.Node {
	z.budget--
	if z.budget < 0 {
		return nullAt(n)
	}
	switch {
	case n.Kind == yaml.AliasNode:
		return z.node(n, "")
	case z.active[n]: // unreachable: an alias to an ancestor is caught in node
		return nullAt(n)
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = z.clone(x)
	}
	z.src.m[&c] = z.o
	return &c
}

func nullAt(n *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// decodeConfig strictly decodes the merged tree into c, which holds the
// defaults. Providers, models and storage keep their nodes for the plugins.
func decodeConfig(src *sources, root *yaml.Node, c *Config) error {
	d := &decoder{src: src, pos: c.pos}
	rest := withoutKeys(root, "providers", "models", "storage", "cache")
	for i := 0; i+1 < len(rest.Content); {
		if strings.HasPrefix(rest.Content[i].Value, "x-") { // extension keys: a place for anchors
			rest.Content = slices.Delete(rest.Content, i, i+2)
			continue
		}
		i += 2
	}
	d.structure(rest, reflect.ValueOf(c).Elem(), "", []string{"cache", "models", "providers", "storage"})

	if k, n := lookup(root, "cache"); k != nil && !isNull(n) {
		d.pos["cache"] = src.pos(n)
		if n.Kind != yaml.MappingNode {
			d.typeErr(n, "cache", "cannot use %s as a mapping", describe(n, false))
		} else {
			d.structure(withoutKeys(n, cacheTierTypes...), reflect.ValueOf(&c.Cache).Elem(), "cache", cacheTierTypes)
			for _, typ := range cacheTierTypes {
				if tk, tn := lookup(n, typ); tk != nil {
					c.Cache.Tiers = append(c.Cache.Tiers, &CacheTier{Type: typ, node: tn, src: src})
				}
			}
		}
	}

	c.Storage.src = src
	if k, n := lookup(root, "storage"); k != nil && !isNull(n) {
		d.pos["storage"] = src.pos(n)
		if n.Kind != yaml.MappingNode {
			d.typeErr(n, "storage", "cannot use %s as a mapping", describe(n, false))
		} else {
			c.Storage.node = n
			_, driver := lookup(n, "driver")
			_, dsn := lookup(n, "dsn")
			d.decode(driver, reflect.ValueOf(&c.Storage.Driver).Elem(), "storage.driver")
			d.decode(dsn, reflect.ValueOf(&c.Storage.DSN).Elem(), "storage.dsn")
		}
	}

	eachEntry(d, root, "providers", func(name string, k, n *yaml.Node) {
		p := &Provider{Name: name, Timeouts: defaultTimeouts, src: src}
		c.Providers = append(c.Providers, p)
		path := "providers." + name
		if n.Kind != yaml.MappingNode {
			return
		}
		p.node = n
		_, typ := lookup(n, "type")
		_, timeouts := lookup(n, "timeouts")
		_, breaker := lookup(n, "breaker")
		_, limits := lookup(n, "limits")
		_, queue := lookup(n, "queue")
		d.decode(limits, reflect.ValueOf(&p.Limits).Elem(), path+".limits")
		d.decode(queue, reflect.ValueOf(&p.Queue).Elem(), path+".queue")
		d.decode(typ, reflect.ValueOf(&p.Type).Elem(), path+".type")
		d.decode(timeouts, reflect.ValueOf(&p.Timeouts).Elem(), path+".timeouts")
		d.decode(breaker, reflect.ValueOf(&p.Breaker).Elem(), path+".breaker")
	})
	for name, t := range c.Tenants {
		if t == nil {
			t = &Tenant{}
			c.Tenants[name] = t
		}
		t.Name = name
	}
	eachEntry(d, root, "models", func(name string, k, n *yaml.Node) {
		m := &Model{Name: name}
		c.Models = append(c.Models, m)
		d.decode(n, reflect.ValueOf(m).Elem(), "models."+name)
	})
	return d.err()
}

// eachEntry calls fn for each entry of the mapping under section, whose
// values must be mappings or null.
func eachEntry(d *decoder, root *yaml.Node, section string, fn func(name string, k, n *yaml.Node)) {
	_, m := lookup(root, section)
	if m == nil || isNull(m) {
		return
	}
	d.pos[section] = d.src.pos(m)
	if m.Kind != yaml.MappingNode {
		d.typeErr(m, section, "cannot use %s as a mapping of names to entries", describe(m, false))
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, n := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.typeErr(k, section, "a name must be a string, got %s", describe(k, false))
			continue
		}
		path := section + "." + k.Value
		d.pos[path] = d.src.pos(k)
		if !isNull(n) && n.Kind != yaml.MappingNode {
			d.typeErr(n, path, "cannot use %s as a mapping", describe(n, false))
		}
		fn(k.Value, k, n)
	}
}
