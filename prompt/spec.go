package prompt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// Spec is the content of a prompt version: everything that decides what is
// sent to the model. Its canonical JSON is what a version stores, and the
// SHA-256 of that JSON is the version's hash. Description, tags, labels and
// tests are not part of it, so changing only those makes no new version.
type Spec struct {
	// Template is the single-template form (the seed layout): it renders
	// to one user message. Exactly one of Template and Messages is set.
	Template string `json:"template,omitempty"`
	// Messages is the chat form: each content is a template.
	Messages []MessageTemplate `json:"messages,omitempty"`
	// Model is the model the prompt is written for, a default the request
	// may override.
	Model string `json:"model,omitempty"`
	// Params are request fields (temperature, max_tokens,
	// response_format, …) used as defaults for the chat request.
	Params map[string]json.RawMessage `json:"params,omitempty"`
	// Variables is the variable schema. Empty means undeclared: any
	// variable is accepted and every name the templates use must be given
	// (or guarded with "is defined" or the default filter).
	Variables map[string]Variable `json:"variables,omitempty"`
	// Partials are the shared fragments the templates include, import or
	// extend, captured when the version was registered so that the version
	// renders the same forever.
	Partials map[string]string `json:"partials,omitempty"`
}

// MessageTemplate is one chat message of the chat form.
type MessageTemplate struct {
	// Role is system, developer, user or assistant.
	Role string `json:"role"`
	// Content is a template.
	Content string `json:"content"`
}

// Roles are the message roles a prompt may use.
var Roles = []string{"system", "developer", "user", "assistant"}

// reservedParams are request fields a prompt's params may not set.
var reservedParams = []string{"messages", "model", "prompt", "stream", "stream_options"}

var (
	idRE      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	labelRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)
	partialRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)
	varRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// ValidID reports whether id may name a prompt: 1–128 letters, digits,
// "_", "." or "-", not starting with "." or "-".
func ValidID(id string) bool { return idRE.MatchString(id) }

// ValidLabel reports whether name may name a label: 1–64 letters, digits,
// "_", "." or "-", not starting with "." or "-".
func ValidLabel(name string) bool { return labelRE.MatchString(name) }

// validVersion reports whether s may be an author's version string.
func validVersion(s string) bool { return versionRE.MatchString(s) }

// problem is one invalid field of a spec, named relative to it.
type problem struct {
	field, msg string
}

func (p problem) Error() string { return p.field + ": " + p.msg }

// check returns what is wrong with s, not counting the templates' syntax.
func (s *Spec) check() []problem {
	var out []problem
	add := func(field, format string, args ...any) {
		out = append(out, problem{field, fmt.Sprintf(format, args...)})
	}
	switch {
	case s.Template == "" && len(s.Messages) == 0:
		add("template", "a prompt needs a template or messages")
	case s.Template != "" && len(s.Messages) > 0:
		add("messages", "give either template or messages, not both")
	}
	for i, m := range s.Messages {
		if !slices.Contains(Roles, m.Role) {
			add(fmt.Sprintf("messages[%d].role", i), "must be one of %s, got %q", strings.Join(Roles, ", "), m.Role)
		}
		if m.Content == "" {
			add(fmt.Sprintf("messages[%d].content", i), "must not be empty")
		}
	}
	for _, k := range sortedKeys(s.Params) {
		if slices.Contains(reservedParams, k) {
			add("params."+k, "is set by the prompt or the request, not by params")
		}
		if !json.Valid(s.Params[k]) {
			add("params."+k, "is not valid JSON")
		}
	}
	for _, name := range sortedKeys(s.Variables) {
		if !varRE.MatchString(name) {
			add("variables."+name, "a variable name must be a letter or _ followed by letters, digits or _ (at most 64)")
			continue
		}
		v := s.Variables[name]
		for _, p := range v.check() {
			add("variables."+name+"."+p.field, "%s", p.msg)
		}
	}
	for _, name := range sortedKeys(s.Partials) {
		if !partialRE.MatchString(name) {
			add("partials."+name, "invalid partial name")
		}
	}
	return out
}

// canonicalize rewrites the JSON values of s in canonical form (compact,
// object keys sorted) and drops empty maps, so equal content has equal
// bytes.
func (s *Spec) canonicalize() error {
	for k, v := range s.Params {
		c, err := canonicalJSON(v)
		if err != nil {
			return fmt.Errorf("params.%s: %w", k, err)
		}
		s.Params[k] = c
	}
	for name, v := range s.Variables {
		if v.Default != nil {
			c, err := canonicalJSON(v.Default)
			if err != nil {
				return fmt.Errorf("variables.%s.default: %w", name, err)
			}
			v.Default = c
		}
		for i, e := range v.Enum {
			c, err := canonicalJSON(e)
			if err != nil {
				return fmt.Errorf("variables.%s.enum[%d]: %w", name, i, err)
			}
			v.Enum[i] = c
		}
		s.Variables[name] = v
	}
	if len(s.Params) == 0 {
		s.Params = nil
	}
	if len(s.Variables) == 0 {
		s.Variables = nil
	}
	if len(s.Partials) == 0 {
		s.Partials = nil
	}
	return nil
}

// Content returns the canonical JSON of s and its hash: the hex SHA-256 of
// that JSON. s must be canonical (see canonicalize).
func (s *Spec) content() (json.RawMessage, string, error) {
	b, err := marshalCanonical(s)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// decodeSpec reads a stored version's content.
func decodeSpec(content []byte) (*Spec, error) {
	d := json.NewDecoder(bytes.NewReader(content))
	d.DisallowUnknownFields()
	var s Spec
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode content: %w", err)
	}
	return &s, nil
}

// canonicalJSON returns raw re-encoded compactly with object keys sorted;
// numbers keep their text.
func canonicalJSON(raw json.RawMessage) (json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("invalid JSON: more than one value")
	}
	return marshalCanonical(v)
}

// marshalCanonical encodes v without HTML escaping and without a trailing
// newline. encoding/json sorts map keys.
func marshalCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// invalid returns an invalid_request error naming param.
func invalid(param, format string, args ...any) error {
	return switchboard.InvalidParam(param, format, args...)
}

// UnmarshalJSON also takes the shorthand the files allow, {"system": "…"}
// for {"role": "system", "content": "…"}, so a body for the admin API can
// be written as the YAML is.
func (m *MessageTemplate) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("a message must be an object like {\"role\": \"user\", \"content\": \"…\"} or {\"user\": \"…\"}")
	}
	if len(fields) == 1 {
		for role, raw := range fields {
			if slices.Contains(Roles, role) {
				var content string
				if err := json.Unmarshal(raw, &content); err != nil {
					return fmt.Errorf("the content of a %s message must be a string", role)
				}
				*m = MessageTemplate{Role: role, Content: content}
				return nil
			}
		}
	}
	type plain MessageTemplate
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("a message has role and content (or the shorthand {\"user\": \"…\"}): %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	*m = MessageTemplate(p)
	return nil
}
