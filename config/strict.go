package config

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// yaml.v3's Node.Decode ignores unknown keys, so this file walks the node
// tree against the target type itself. Every problem becomes one error that
// starts with the position of the offending node and, for type errors, its
// YAML path; all problems are reported, not only the first.

// origin says where a node came from: a file (positions get ":LINE") or a
// whole source with no lines (a --set flag, an environment variable).
type origin struct {
	name   string
	inFile bool
}

// sources maps every node of a loaded tree to its origin. It is filled while
// loading and only read afterwards, so decoders may run concurrently.
type sources struct {
	m map[*yaml.Node]origin
}

func newSources() *sources { return &sources{m: map[*yaml.Node]origin{}} }

// pos returns "file:line", a whole-source label, or "" if unknown.
func (s *sources) pos(n *yaml.Node) string {
	if s == nil || n == nil {
		return ""
	}
	o, ok := s.m[n]
	switch {
	case !ok:
		return ""
	case o.inFile:
		return fmt.Sprintf("%s:%d", o.name, n.Line)
	default:
		return o.name
	}
}

// mark records o as the origin of n and of every node below it.
func (s *sources) mark(n *yaml.Node, o origin) {
	if n == nil {
		return
	}
	s.m[n] = o
	for _, c := range n.Content {
		s.mark(c, o)
	}
}

// posError is a problem at a known place.
type posError struct {
	pos string // "file:line", "--set a.b=…", "$VAR" or ""
	msg string
	err error
}

func (e *posError) Error() string {
	if e.pos == "" {
		return e.msg
	}
	return e.pos + ": " + e.msg
}

func (e *posError) Unwrap() error { return e.err }

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
)

// obsoleteUnmarshaler is yaml.v2's Unmarshaler, which yaml.v3 still honours.
type obsoleteUnmarshaler interface {
	UnmarshalYAML(unmarshal func(any) error) error
}

// decoder strictly decodes nodes into Go values.
type decoder struct {
	src  *sources
	pos  map[string]string // if non-nil, YAML path → position of every decoded value
	errs []error
}

// decodeInto strictly decodes n into the value v points to. For a struct,
// extra names keys that are allowed but handled elsewhere (they are skipped
// and listed in unknown-key errors).
func decodeInto(src *sources, n *yaml.Node, v any, path string, extra []string) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: decode %s: want a non-nil pointer, got %T", path, v)
	}
	d := &decoder{src: src}
	if rv.Elem().Kind() == reflect.Struct && n != nil && n.Kind == yaml.MappingNode {
		d.structure(n, rv.Elem(), path, extra)
	} else {
		d.decode(n, rv.Elem(), path)
	}
	return d.err()
}

func (d *decoder) err() error { return errors.Join(d.errs...) }

// typeErr records a problem with the value at path.
func (d *decoder) typeErr(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.errs = append(d.errs, &posError{pos: d.src.pos(n), msg: msg})
}

// unknownKey records a key that the target does not have.
func (d *decoder) unknownKey(k *yaml.Node, path string, allowed []string) {
	where := ""
	if path != "" {
		where = " in " + path
	}
	d.errs = append(d.errs, &posError{
		pos: d.src.pos(k),
		msg: fmt.Sprintf("unknown key %q%s (allowed: %s)", k.Value, where, strings.Join(allowed, ", ")),
	})
}

// decode decodes n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n == nil {
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil { // loaded trees have none; nodes made by hand might
		n = n.Alias
	}
	if d.pos != nil {
		if p := d.src.pos(n); p != "" {
			d.pos[path] = p
		}
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if isNull(n) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
		}
		return // a null leaves other values as they were (the default)
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if d.custom(n, v, path) {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		d.iface(n, v, path)
	case reflect.Struct:
		d.structure(n, v, path, nil)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice, reflect.Array:
		d.sequence(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.typeErr(n, path, "cannot use %s as a string", describe(n, false))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.typeErr(n, path, "cannot use %s as a boolean (want true or false)", describe(n, sensitive(path)))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t == durationType {
			d.duration(n, v, path)
			return
		}
		d.integer(n, v, path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		d.unsigned(n, v, path)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.typeErr(n, path, "cannot use %s as a number", describe(n, sensitive(path)))
			return
		}
		if v.OverflowFloat(f) {
			d.typeErr(n, path, "cannot use %s as a number: out of range", describe(n, false))
			return
		}
		v.SetFloat(f)
	default:
		d.typeErr(n, path, "cannot decode into a Go %s", t)
	}
}

// custom handles targets that decode themselves. It reports whether it did.
func (d *decoder) custom(n *yaml.Node, v reflect.Value, path string) bool {
	if !v.CanAddr() {
		return false
	}
	switch u := v.Addr().Interface().(type) {
	case yaml.Unmarshaler:
		d.report(n, path, u.UnmarshalYAML(n))
		return true
	case obsoleteUnmarshaler:
		d.report(n, path, u.UnmarshalYAML(func(x any) error {
			return decodeInto(d.src, n, x, path, nil)
		}))
		return true
	case encoding.TextUnmarshaler:
		if n.Kind != yaml.ScalarNode {
			return false // let the kind decide, and report a type error
		}
		d.report(n, path, u.UnmarshalText([]byte(n.Value)))
		return true
	}
	return false
}

// report records err from a custom unmarshaler, keeping positions it has.
func (d *decoder) report(n *yaml.Node, path string, err error) {
	if err == nil {
		return
	}
	var pe *posError
	if errors.As(err, &pe) {
		d.errs = append(d.errs, err)
		return
	}
	d.typeErr(n, path, "%s", err)
}

func (d *decoder) iface(n *yaml.Node, v reflect.Value, path string) {
	if v.NumMethod() != 0 {
		d.typeErr(n, path, "cannot decode into a Go %s", v.Type())
		return
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.typeErr(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	if x != nil {
		v.Set(reflect.ValueOf(x))
	}
}

// field is a struct field reachable under a YAML key, maybe through inlined structs.
type field struct {
	index []int
}

// structInfo lists the keys a struct type accepts.
type structInfo struct {
	fields    map[string]field
	inlineMap []int // index of a `yaml:",inline"` map that takes unknown keys, or nil
}

func fieldsOf(t reflect.Type) structInfo {
	info := structInfo{fields: map[string]field{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			index := append(slices.Clone(prefix), i)
			if slices.Contains(strings.Split(opts, ","), "inline") {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				switch {
				case ft.Kind() == reflect.Struct:
					walk(ft, index)
				case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && info.inlineMap == nil:
					info.inlineMap = index
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := info.fields[name]; !dup {
				info.fields[name] = field{index: index}
			}
		}
	}
	walk(t, nil)
	return info
}

// fieldByIndex is v.FieldByIndex, allocating nil embedded pointers on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, extra []string) {
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, path, "cannot use %s as a mapping", describe(n, sensitive(path)))
		return
	}
	info := fieldsOf(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.typeErr(k, path, "a key must be a string, got %s", describe(k, false))
			continue
		}
		if f, ok := info.fields[k.Value]; ok {
			d.decode(val, fieldByIndex(v, f.index), join(path, k.Value))
			continue
		}
		switch {
		case slices.Contains(extra, k.Value):
		case info.inlineMap != nil:
			m := fieldByIndex(v, info.inlineMap)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			e := reflect.New(m.Type().Elem()).Elem()
			d.decode(val, e, join(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(m.Type().Key()), e)
		default:
			allowed := slices.Concat(extra, slices.Collect(maps.Keys(info.fields)))
			slices.Sort(allowed)
			d.unknownKey(k, path, slices.Compact(allowed))
		}
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, path, "cannot use %s as a mapping", describe(n, sensitive(path)))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.typeErr(k, path, "a key must be a string, got %s", describe(k, false))
			continue
		}
		kv := reflect.New(t.Key()).Elem()
		if t.Key().Kind() == reflect.String {
			kv.SetString(k.Value)
		} else {
			before := len(d.errs)
			d.decode(k, kv, path)
			if len(d.errs) > before {
				continue
			}
		}
		e := reflect.New(t.Elem()).Elem()
		d.decode(val, e, join(path, k.Value))
		v.SetMapIndex(kv, e)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind == yaml.ScalarNode && v.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		v.SetBytes([]byte(n.Value))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.typeErr(n, path, "cannot use %s as a list", describe(n, sensitive(path)))
		return
	}
	if v.Kind() == reflect.Array {
		if len(n.Content) != v.Len() {
			d.typeErr(n, path, "want a list of %d items, got %d", v.Len(), len(n.Content))
			return
		}
	} else {
		v.Set(reflect.MakeSlice(t, len(n.Content), len(n.Content)))
	}
	for i, c := range n.Content {
		d.decode(c, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	var i int64
	switch tag := n.ShortTag(); {
	case n.Kind != yaml.ScalarNode:
		d.typeErr(n, path, "cannot use %s as an integer", describe(n, false))
		return
	case tag == "!!int":
		if n.Decode(&i) != nil {
			d.typeErr(n, path, "cannot use %s as an integer: out of range", describe(n, false))
			return
		}
	case tag == "!!float":
		var f float64
		if n.Decode(&f) != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			d.typeErr(n, path, "cannot use %s as an integer", describe(n, false))
			return
		}
		i = int64(f)
	default:
		d.typeErr(n, path, "cannot use %s as an integer", describe(n, sensitive(path)))
		return
	}
	if v.OverflowInt(i) {
		d.typeErr(n, path, "cannot use %s as an integer: out of range", describe(n, false))
		return
	}
	v.SetInt(i)
}

func (d *decoder) unsigned(n *yaml.Node, v reflect.Value, path string) {
	var u uint64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.typeErr(n, path, "cannot use %s as a non-negative integer", describe(n, sensitive(path)))
		return
	}
	if n.Decode(&u) != nil || v.OverflowUint(u) {
		d.typeErr(n, path, "cannot use %s as a non-negative integer: out of range", describe(n, false))
		return
	}
	v.SetUint(u)
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	const want = `want a string like "30s", "1m30s" or "250ms"`
	if n.Kind != yaml.ScalarNode {
		d.typeErr(n, path, "cannot use %s as a duration (%s)", describe(n, false), want)
		return
	}
	if n.ShortTag() == "!!int" {
		if s := strings.TrimLeft(n.Value, "+-0"); s == "" {
			v.SetInt(0)
			return
		}
		d.typeErr(n, path, "cannot use %s as a duration: a unit is required (%s)", describe(n, false), want)
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.typeErr(n, path, "cannot use %s as a duration (%s)", describe(n, sensitive(path)), want)
		return
	}
	v.SetInt(int64(dur))
}

// describe names a node's value for an error message, hiding it if secret.
func describe(n *yaml.Node, secret bool) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if secret {
		return `"REDACTED"`
	}
	s := n.Value
	if len(s) > 60 {
		s = s[:57]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1] // don't cut a character in two
		}
		s += "..."
	}
	return strconv.Quote(s)
}

// sensitive reports whether the last key of path names a secret.
func sensitive(path string) bool {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	return sensitiveKey(path)
}

// sensitiveWords mark a key whose value is masked in output and errors.
var sensitiveWords = []string{"key", "secret", "token", "password", "passwd", "authorization", "credential"}

// sensitiveKey reports whether a key's name says its value is a secret.
func sensitiveKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range sensitiveWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// isNull reports whether n is a YAML null (~, null, or nothing at all).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" || n.Kind == 0
}

// join appends key to a YAML path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
