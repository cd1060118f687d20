package prompt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-ai/switchboard"
)

// Variable types.
const (
	TypeAny     = "any"
	TypeString  = "string"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeArray   = "array"
	TypeObject  = "object"
)

// Types are the variable types a schema may name.
var Types = []string{TypeAny, TypeString, TypeNumber, TypeInteger, TypeBoolean, TypeArray, TypeObject}

// Variable is the schema of one template variable.
type Variable struct {
	// Type is one of Types; empty means TypeAny.
	Type string `json:"type,omitempty"`
	// Required makes a missing (or null) variable an error.
	Required bool `json:"required,omitempty"`
	// Default is the value of a missing variable (JSON).
	Default json.RawMessage `json:"default,omitempty"`
	// Enum, when set, lists the allowed values (JSON).
	Enum []json.RawMessage `json:"enum,omitempty"`
	// MaxLength, when positive, caps a string's length in characters
	// (Unicode code points) or an array's in items.
	MaxLength int `json:"max_length,omitempty"`
}

// VarError is a variable a render request got wrong: missing, of the wrong
// type, not allowed, too long, or unknown. The client sees it as a 400
// naming the parameter "prompt.variables.<Name>".
type VarError struct {
	// Prompt is the prompt's ID.
	Prompt string
	// Name is the variable's name.
	Name string
	// Reason says what is wrong, as a phrase ("is required").
	Reason string
}

// Error implements error.
func (e *VarError) Error() string {
	return fmt.Sprintf("prompt %q: variable %q %s", e.Prompt, e.Name, e.Reason)
}

// Param returns the request parameter at fault: prompt.variables.<Name>.
func (e *VarError) Param() string { return "prompt.variables." + e.Name }

// asError wraps e in the *switchboard.Error the client sees.
func (e *VarError) asError() error {
	return &switchboard.Error{Code: switchboard.CodeInvalidRequest, Param: e.Param(), Message: e.Error(), Err: e}
}

// check returns what is wrong with the schema v.
func (v *Variable) check() []problem {
	var out []problem
	add := func(field, format string, args ...any) {
		out = append(out, problem{field, fmt.Sprintf(format, args...)})
	}
	typ := v.typ()
	if !slices.Contains(Types, typ) {
		add("type", "must be one of %s, got %q", strings.Join(Types, ", "), v.Type)
		return out
	}
	if v.MaxLength < 0 {
		add("max_length", "must not be negative")
	}
	if v.MaxLength > 0 && typ != TypeString && typ != TypeArray && typ != TypeAny {
		add("max_length", "applies to strings and arrays, not to %s", typ)
	}
	if v.Required && v.Default != nil {
		add("default", "a required variable has no default: drop one of the two")
	}
	for i, e := range v.Enum {
		val, err := decodeValue(e)
		if err != nil {
			add(fmt.Sprintf("enum[%d]", i), "%v", err)
			continue
		}
		if reason := v.checkValue(val, false); reason != "" {
			add(fmt.Sprintf("enum[%d]", i), "%s", reason)
		}
	}
	if v.Default != nil {
		val, err := decodeValue(v.Default)
		switch {
		case err != nil:
			add("default", "%v", err)
		case val == nil:
			add("default", "must not be null: leave it out instead")
		default:
			if reason := v.checkValue(val, true); reason != "" {
				add("default", "%s", reason)
			}
		}
	}
	return out
}

func (v *Variable) typ() string {
	if v.Type == "" {
		return TypeAny
	}
	return v.Type
}

// checkValue returns why val does not fit v, or "". val is a decoded
// value (see decodeValue), never nil.
func (v *Variable) checkValue(val any, withEnum bool) string {
	switch typ := v.typ(); typ {
	case TypeString:
		if _, ok := val.(string); !ok {
			return "must be a string, got " + kindOf(val)
		}
	case TypeNumber:
		switch n := val.(type) {
		case int64:
		case float64:
			if math.IsInf(n, 0) || math.IsNaN(n) {
				return "must be a finite number"
			}
		default:
			return "must be a number, got " + kindOf(val)
		}
	case TypeInteger:
		switch n := val.(type) {
		case int64:
		case float64:
			if math.IsInf(n, 0) || math.IsNaN(n) || math.Abs(n) > 1<<53 {
				return "must be an integer of at most 2^53 in magnitude"
			}
			if n != math.Trunc(n) {
				return "must be an integer, got " + strconv.FormatFloat(n, 'g', -1, 64)
			}
		default:
			return "must be an integer, got " + kindOf(val)
		}
	case TypeBoolean:
		if _, ok := val.(bool); !ok {
			return "must be a boolean, got " + kindOf(val)
		}
	case TypeArray:
		if _, ok := val.([]any); !ok {
			return "must be an array, got " + kindOf(val)
		}
	case TypeObject:
		if _, ok := val.(map[string]any); !ok {
			return "must be an object, got " + kindOf(val)
		}
	}
	if v.MaxLength > 0 {
		switch x := val.(type) {
		case string:
			if n := utf8.RuneCountInString(x); n > v.MaxLength {
				return fmt.Sprintf("is too long: %d characters, at most %d allowed", n, v.MaxLength)
			}
		case []any:
			if len(x) > v.MaxLength {
				return fmt.Sprintf("is too long: %d items, at most %d allowed", len(x), v.MaxLength)
			}
		}
	}
	if withEnum && len(v.Enum) > 0 {
		got, _ := marshalCanonical(val)
		allowed := make([]string, len(v.Enum))
		for i, e := range v.Enum {
			if bytes.Equal(got, e) {
				return ""
			}
			allowed[i] = string(e)
		}
		return fmt.Sprintf("must be one of %s, got %s", strings.Join(allowed, ", "), clip(string(got), 80))
	}
	return ""
}

// schema is a compiled variable schema.
type schema struct {
	prompt   string
	declared bool
	names    []string // declared names, sorted
	vars     map[string]*boundVar
}

type boundVar struct {
	Variable
	def any // decoded default, nil if none
}

func newSchema(prompt string, vars map[string]Variable) *schema {
	s := &schema{prompt: prompt, declared: len(vars) > 0, names: sortedKeys(vars), vars: map[string]*boundVar{}}
	for name, v := range vars {
		bv := &boundVar{Variable: v}
		if v.Default != nil {
			bv.def, _ = decodeValue(v.Default) // checked when the spec was validated
		}
		s.vars[name] = bv
	}
	return s
}

// bind validates the request's variables and returns the template
// context: declared variables checked and defaulted, and, for an
// undeclared schema, the variables as given.
func (s *schema) bind(in map[string]json.RawMessage) (map[string]any, error) {
	out := make(map[string]any, max(len(in), len(s.vars)))
	if !s.declared {
		for name, raw := range in {
			val, err := decodeValue(raw)
			if err != nil {
				return nil, (&VarError{Prompt: s.prompt, Name: name, Reason: "is not valid JSON"}).asError()
			}
			if val != nil {
				out[name] = val
			}
		}
		return out, nil
	}
	for name := range in {
		if _, ok := s.vars[name]; !ok {
			return nil, (&VarError{Prompt: s.prompt, Name: name,
				Reason: "is not a variable of this prompt (it has: " + strings.Join(s.names, ", ") + ")"}).asError()
		}
	}
	for _, name := range s.names {
		v := s.vars[name]
		raw, ok := in[name]
		var val any
		if ok {
			var err error
			if val, err = decodeValue(raw); err != nil {
				return nil, (&VarError{Prompt: s.prompt, Name: name, Reason: "is not valid JSON"}).asError()
			}
		}
		if val == nil { // missing or null
			switch {
			case v.Required:
				return nil, (&VarError{Prompt: s.prompt, Name: name, Reason: "is required"}).asError()
			case v.def != nil:
				out[name] = v.def
			}
			continue
		}
		if reason := v.checkValue(val, true); reason != "" {
			return nil, (&VarError{Prompt: s.prompt, Name: name, Reason: reason}).asError()
		}
		out[name] = val
	}
	return out, nil
}

// decodeValue decodes a JSON value into string, int64 (integral numbers
// that fit), float64, bool, nil, []any or map[string]any.
func decodeValue(raw json.RawMessage) (any, error) {
	// Fast paths for the common scalars (a json.Decoder allocates a buffer).
	switch t := bytes.TrimSpace(raw); {
	case len(t) > 0 && t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		return s, nil
	case string(t) == "true", string(t) == "false":
		return t[0] == 't', nil
	case string(t) == "null":
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("invalid JSON: more than one value")
	}
	return convertNumbers(v), nil
}

func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = convertNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = convertNumbers(x[k])
		}
	}
	return v
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// UnmarshalJSON also takes the shorthand the files allow: a variable given
// as its type alone ("string").
func (v *Variable) UnmarshalJSON(b []byte) error {
	var typ string
	if err := json.Unmarshal(b, &typ); err == nil {
		*v = Variable{Type: typ}
		return nil
	}
	type plain Variable
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("a variable is a type name or an object {type, required, default, enum, max_length}: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	*v = Variable(p)
	return nil
}
