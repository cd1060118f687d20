package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mergeNodes deep-merges src over dst and returns the result, reusing (and
// changing) dst's nodes. Mappings merge key by key, recursively; anything
// else in src replaces dst, except that a null never replaces a mapping (an
// empty "server:" section changes nothing). Nodes keep their pointers, so
// their recorded origins stay right.
func mergeNodes(dst, src *yaml.Node) *yaml.Node {
	switch {
	case dst == nil:
		return src
	case src == nil:
		return dst
	case dst.Kind == yaml.MappingNode && isNull(src):
		return dst
	case dst.Kind != yaml.MappingNode || src.Kind != yaml.MappingNode:
		return src
	}
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		if j := indexOf(dst, k); j >= 0 {
			dst.Content[j+1] = mergeNodes(dst.Content[j+1], v)
		} else {
			dst.Content = append(dst.Content, k, v)
		}
	}
	return dst
}

// indexOf returns the index in m.Content of the key equal to k, or -1.
func indexOf(m *yaml.Node, k *yaml.Node) int {
	if k.Kind != yaml.ScalarNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if c := m.Content[i]; c.Kind == yaml.ScalarNode && c.Value == k.Value {
			return i
		}
	}
	return -1
}

// segment is one step of a --set path: a key, optionally indexed (key[2]).
type segment struct {
	key   string
	index int // -1 if none
}

// splitPath parses a --set path: keys separated by dots, "\." for a dot
// inside a key (models.gpt-4\.1.description), and an optional [N] suffix to
// pick an item of a list (models.m.routes[0].provider).
func splitPath(p string) ([]segment, error) {
	var (
		segs []segment
		cur  strings.Builder
	)
	flush := func() error {
		s := cur.String()
		cur.Reset()
		sg := segment{key: s, index: -1}
		if strings.HasSuffix(s, "]") {
			if i := strings.LastIndexByte(s, '['); i > 0 {
				n, err := strconv.Atoi(s[i+1 : len(s)-1])
				if err != nil || n < 0 {
					return fmt.Errorf("invalid index in %q (want key[N] with N ≥ 0)", s)
				}
				sg = segment{key: s[:i], index: n}
			}
		}
		if sg.key == "" {
			return fmt.Errorf("empty key in path %q", p)
		}
		segs = append(segs, sg)
		return nil
	}
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && p[i+1] == '.':
			cur.WriteByte('.')
			i++
		case p[i] == '.':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			cur.WriteByte(p[i])
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return segs, nil
}

// applySet applies one --set path.to.key=value to root, creating the
// mappings on the way. The value is parsed as YAML (a scalar, or a flow list
// or mapping); an empty value is null, which resets the key to its default.
func applySet(src *sources, root *yaml.Node, expr string) error {
	path, value, ok := strings.Cut(expr, "=")
	if !ok {
		return &posError{pos: "--set " + expr, msg: "want path.to.key=value"}
	}
	label := "--set " + path + "=…"
	segs, err := splitPath(path)
	if err != nil {
		return &posError{pos: label, msg: err.Error()}
	}
	o := origin{name: label}
	val, err := parseYAML(label, value)
	if err != nil {
		var pe *posError
		if errors.As(err, &pe) {
			pe.pos = label // a value has no lines worth naming
		}
		return err
	}
	if val == nil {
		val = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	if val, err = normalize(src, val, o); err != nil {
		return err
	}
	cur, walked := root, ""
	for i, sg := range segs {
		walked = join(walked, sg.key)
		slot := child(src, cur, sg.key, o)
		if sg.index >= 0 {
			list := *slot
			if isNull(list) {
				return &posError{pos: label, msg: fmt.Sprintf("%s is not set, so it has no [%d]", walked, sg.index)}
			}
			if list.Kind != yaml.SequenceNode {
				return &posError{pos: label, msg: fmt.Sprintf("%s is %s, not a list", walked, kindOf(list))}
			}
			if sg.index >= len(list.Content) {
				return &posError{pos: label, msg: fmt.Sprintf("%s has %d items, no [%d]", walked, len(list.Content), sg.index)}
			}
			slot = &list.Content[sg.index]
			walked = fmt.Sprintf("%s[%d]", walked, sg.index)
		}
		if i == len(segs)-1 {
			*slot = val
			return nil
		}
		switch n := *slot; {
		case isNull(n):
			m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
			src.m[m] = o
			*slot, cur = m, m
		case n.Kind == yaml.MappingNode:
			cur = n
		default:
			return &posError{pos: label, msg: fmt.Sprintf("%s is %s, not a mapping", walked, kindOf(n))}
		}
	}
	return nil
}

// child returns the slot of key's value in mapping m, adding key with a null
// value if it is missing.
func child(src *sources, m *yaml.Node, key string, o origin) **yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return &m.Content[i+1]
		}
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	src.m[k], src.m[v] = o, o
	m.Content = append(m.Content, k, v)
	return &m.Content[len(m.Content)-1]
}

// kindOf names what a node holds, for messages that must not echo values.
func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a scalar"
}
