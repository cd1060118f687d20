package prompt

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

// mustCompile canonicalizes s, captures its partials from parts, and
// compiles it.
func mustCompile(tb testing.TB, s Spec, parts map[string]string) *compiled {
	tb.Helper()
	c, err := compileSpec("p", &s, parts)
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	return c
}

func compileSpec(id string, s *Spec, parts map[string]string) (*compiled, error) {
	if ps := s.check(); len(ps) > 0 {
		return nil, ps[0]
	}
	used, err := usedPartials(s, parts)
	if err != nil {
		return nil, err
	}
	s.Partials = used
	if err := s.canonicalize(); err != nil {
		return nil, err
	}
	return compile(id, s)
}

func vars(kv ...string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

func TestRender(t *testing.T) {
	t.Parallel()
	partials := map[string]string{
		"safety.j2":      "Be safe{% if name is defined %}, {{ name }}{% endif %}.",
		"lib/macros.j2":  "{% macro shout(s) %}{{ s | upper }}!{% endmacro %}",
		"nested/outer.j": `[{% include "nested/inner.j" %}]`,
		"nested/inner.j": "inner {{ who }}",
	}
	str := func(extra ...string) Variable {
		v := Variable{Type: TypeString}
		for _, e := range extra {
			switch e {
			case "required":
				v.Required = true
			}
		}
		return v
	}
	for _, tc := range []struct {
		name string
		spec Spec
		vars map[string]json.RawMessage
		want []string // rendered texts, one per message
		// errVar names the variable of the expected *VarError; errParam the
		// param of another expected invalid_request error.
		errVar, errParam string
		errText          string
	}{
		{name: "seed template", spec: Spec{Template: "Classify {{ text }} into {{ categories | join(', ') }}."},
			vars: vars("text", `"hi"`, "categories", `["a","b"]`), want: []string{"Classify hi into a, b."}},
		{name: "seed missing variable", spec: Spec{Template: "Classify {{ text }}."},
			errVar: "text", errText: "is used by the template but was not given"},
		{name: "seed null variable is missing", spec: Spec{Template: "{{ text }}"}, vars: vars("text", `null`), errVar: "text"},
		{name: "seed extra variables are fine", spec: Spec{Template: "{{ a }}"}, vars: vars("a", `1`, "b", `2`), want: []string{"1"}},
		{name: "missing attribute", spec: Spec{Template: "{{ user.first }}"}, vars: vars("user", `{"last":"x"}`),
			errVar: "user", errText: `has no "first"`},
		{name: "variable in a partial", spec: Spec{Template: `{% include "nested/outer.j" %}`}, errVar: "who"},
		{name: "nested includes", spec: Spec{Template: `{% include "nested/outer.j" %}`}, vars: vars("who", `"me"`),
			want: []string{"[inner me]"}},
		{name: "guarded optional variable", spec: Spec{Template: `{% include "safety.j2" %}`}, want: []string{"Be safe."}},
		{name: "guarded optional variable given", spec: Spec{Template: `{% include "safety.j2" %}`}, vars: vars("name", `"Ann"`),
			want: []string{"Be safe, Ann."}},
		{name: "default filter", spec: Spec{Template: `{{ x | default("d") }}`}, want: []string{"d"}},
		{name: "imported macro", spec: Spec{Template: `{% from "lib/macros.j2" import shout %}{{ shout(w) }}`},
			vars: vars("w", `"hey"`), want: []string{"HEY!"}},
		{name: "chat messages", spec: Spec{Messages: []MessageTemplate{{"system", "Sys {{ a }}"}, {"user", "U {{ b }}"}, {"assistant", "ok"}}},
			vars: vars("a", `"1"`, "b", `"2"`), want: []string{"Sys 1", "U 2", "ok"}},
		{name: "loops and sets bind names", spec: Spec{Template: `{% set n = 0 %}{% for k, v in m | dictsort %}{{ k }}={{ v }};{% endfor %}{{ n }}`},
			vars: vars("m", `{"b":2,"a":1}`), want: []string{"a=1;b=2;0"}},
		{name: "bounded range", spec: Spec{Template: `{% for i in range(3) %}{{ i }}{% endfor %}`}, want: []string{"012"}},
		{name: "range too long", spec: Spec{Template: `{% for i in range(100000) %}{% endfor %}`}, errParam: "prompt.variables",
			errText: "more than 10000"},
		{name: "output too large", spec: Spec{Template: `{% for i in range(10000) %}{{ s }}{% endfor %}`},
			vars: vars("s", `"`+strings.Repeat("x", 200)+`"`), errParam: "prompt.variables", errText: "larger than"},

		// Declared variables.
		{name: "declared, all given", spec: Spec{Template: "{{ q }} {{ n }} {{ f }} {{ b }} {{ l | length }} {{ o.k }}",
			Variables: map[string]Variable{"q": str(), "n": {Type: TypeInteger}, "f": {Type: TypeNumber}, "b": {Type: TypeBoolean},
				"l": {Type: TypeArray}, "o": {Type: TypeObject}}},
			vars: vars("q", `"x"`, "n", `3`, "f", `2.5`, "b", `true`, "l", `[1,2]`, "o", `{"k":"v"}`), want: []string{"x 3 2.5 True 2 v"}},
		{name: "integer written with a fraction", spec: Spec{Template: "{{ n }}", Variables: map[string]Variable{"n": {Type: TypeInteger}}},
			vars: vars("n", `4.0`), want: []string{"4.0"}},
		{name: "required missing", spec: Spec{Template: "{{ q }}", Variables: map[string]Variable{"q": str("required")}},
			errVar: "q", errText: "is required"},
		{name: "required null", spec: Spec{Template: "{{ q }}", Variables: map[string]Variable{"q": str("required")}},
			vars: vars("q", "null"), errVar: "q", errText: "is required"},
		{name: "optional unused", spec: Spec{Template: "{{ q | default('none') }}", Variables: map[string]Variable{"q": str()}},
			want: []string{"none"}},
		{name: "optional used bare", spec: Spec{Template: "{{ q }}", Variables: map[string]Variable{"q": str()}},
			errVar: "q", errText: "was not given"},
		{name: "default", spec: Spec{Template: "{{ tone }}", Variables: map[string]Variable{"tone": {Type: TypeString, Default: json.RawMessage(`"formal"`)}}},
			want: []string{"formal"}},
		{name: "default for null", spec: Spec{Template: "{{ n }}", Variables: map[string]Variable{"n": {Type: TypeInteger, Default: json.RawMessage(`7`)}}},
			vars: vars("n", "null"), want: []string{"7"}},
		{name: "wrong type string", spec: Spec{Template: "{{ q }}", Variables: map[string]Variable{"q": str()}},
			vars: vars("q", `42`), errVar: "q", errText: "must be a string, got a number"},
		{name: "wrong type integer", spec: Spec{Template: "{{ n }}", Variables: map[string]Variable{"n": {Type: TypeInteger}}},
			vars: vars("n", `1.5`), errVar: "n", errText: "must be an integer, got 1.5"},
		{name: "integer overflow", spec: Spec{Template: "{{ n }}", Variables: map[string]Variable{"n": {Type: TypeInteger}}},
			vars: vars("n", `1e400`), errVar: "n", errText: "at most 2^53"},
		{name: "number overflow", spec: Spec{Template: "{{ n }}", Variables: map[string]Variable{"n": {Type: TypeNumber}}},
			vars: vars("n", `-1e400`), errVar: "n", errText: "finite"},
		{name: "wrong type boolean", spec: Spec{Template: "{{ b }}", Variables: map[string]Variable{"b": {Type: TypeBoolean}}},
			vars: vars("b", `"true"`), errVar: "b", errText: "must be a boolean, got a string"},
		{name: "wrong type array", spec: Spec{Template: "{{ l }}", Variables: map[string]Variable{"l": {Type: TypeArray}}},
			vars: vars("l", `{}`), errVar: "l", errText: "must be an array, got an object"},
		{name: "wrong type object", spec: Spec{Template: "{{ o }}", Variables: map[string]Variable{"o": {Type: TypeObject}}},
			vars: vars("o", `[]`), errVar: "o", errText: "must be an object, got an array"},
		{name: "enum allowed", spec: Spec{Template: "{{ t }}", Variables: map[string]Variable{"t": {Type: TypeString, Enum: []json.RawMessage{[]byte(`"a"`), []byte(`"b"`)}}}},
			vars: vars("t", `"b"`), want: []string{"b"}},
		{name: "enum denied", spec: Spec{Template: "{{ t }}", Variables: map[string]Variable{"t": {Type: TypeString, Enum: []json.RawMessage{[]byte(`"a"`), []byte(`"b"`)}}}},
			vars: vars("t", `"c"`), errVar: "t", errText: `must be one of "a", "b", got "c"`},
		{name: "max length in characters", spec: Spec{Template: "{{ q }}", Variables: map[string]Variable{"q": {Type: TypeString, MaxLength: 5}}},
			vars: vars("q", `"héllo"`), want: []string{"héllo"}},
		{name: "too long", spec: Spec{Template: "{{ q }}", Variables: map[string]Variable{"q": {Type: TypeString, MaxLength: 5}}},
			vars: vars("q", `"héllo!"`), errVar: "q", errText: "6 characters, at most 5"},
		{name: "too many items", spec: Spec{Template: "{{ l }}", Variables: map[string]Variable{"l": {Type: TypeArray, MaxLength: 1}}},
			vars: vars("l", `[1,2]`), errVar: "l", errText: "2 items, at most 1"},
		{name: "unknown variable (a typo)", spec: Spec{Template: "{{ question }}", Variables: map[string]Variable{"question": str()}},
			vars: vars("questoin", `"x"`), errVar: "questoin", errText: "is not a variable of this prompt (it has: question)"},
		{name: "invalid JSON", spec: Spec{Template: "{{ q }}", Variables: map[string]Variable{"q": str()}},
			vars: vars("q", `{`), errVar: "q", errText: "is not valid JSON"},
		{name: "any type", spec: Spec{Template: "{{ a }}", Variables: map[string]Variable{"a": {}}},
			vars: vars("a", `[1]`), want: []string{"[1]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustCompile(t, tc.spec, partials)
			bound, err := c.schema.bind(tc.vars)
			var msgs []renderedMessage
			if err == nil {
				msgs, err = c.render("p", bound)
			}
			if tc.errVar == "" && tc.errParam == "" {
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				var got []string
				for _, m := range msgs {
					got = append(got, m.text)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("rendered (-want +got):\n%s", diff)
				}
				return
			}
			var se *switchboard.Error
			if !errors.As(err, &se) || se.Code != switchboard.CodeInvalidRequest {
				t.Fatalf("got %v, want an invalid_request *switchboard.Error", err)
			}
			if !strings.Contains(se.Message, tc.errText) {
				t.Errorf("message %q does not contain %q", se.Message, tc.errText)
			}
			var ve *VarError
			if tc.errVar != "" {
				if !errors.As(err, &ve) || ve.Name != tc.errVar {
					t.Fatalf("got %v, want a *VarError for %q", err, tc.errVar)
				}
				if want := "prompt.variables." + tc.errVar; se.Param != want || ve.Param() != want {
					t.Errorf("param %q (VarError %q), want %q", se.Param, ve.Param(), want)
				}
				return
			}
			if se.Param != tc.errParam {
				t.Errorf("param %q, want %q", se.Param, tc.errParam)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	partials := map[string]string{
		"a.j2":   `{% include "b.j2" %}`,
		"b.j2":   `{% include "a.j2" %}`,
		"bad.j2": "ok\n{{ x ",
		"ok.j2":  "fine {{ x }}",
	}
	for _, tc := range []struct {
		name  string
		spec  Spec
		field string // of the *fieldError
		want  string
		line  int // of the *TemplateError, 0 to skip
	}{
		{"syntax", Spec{Template: "line one\n{{ x "}, "template", "'}}' expected", 2},
		{"unclosed block", Spec{Messages: []MessageTemplate{{"user", "ok"}, {"system", "a\nb\n{% for x in y %}"}}}, "messages[1].content", "endfor", 3},
		{"undeclared variable", Spec{Template: "{{ questoin }}", Variables: map[string]Variable{"question": {}}}, "variables",
			`uses "questoin", which variables does not declare (declared: question)`, 0},
		{"undeclared variable in a partial", Spec{Template: `{% include "ok.j2" %}`, Variables: map[string]Variable{"y": {}}}, "variables",
			`uses "x"`, 0},
		{"missing partial", Spec{Template: `{% include "nope.j2" %}`}, "template", `no partial "nope.j2" (known: a.j2, b.j2, bad.j2, ok.j2)`, 0},
		{"escaping the partials", Spec{Template: `{% include "../../etc/passwd" %}`}, "template", `no partial "etc/passwd"`, 0},
		{"absolute name", Spec{Template: `{% include "/etc/passwd" %}`}, "template", `no partial "etc/passwd"`, 0},
		{"dynamic include", Spec{Template: `{% include name %}`}, "template", "must be a string literal", 1},
		{"include cycle", Spec{Template: `{% include "a.j2" %}`}, "template", "includes itself: a.j2 → b.j2 → a.j2", 0},
		{"bad partial", Spec{Template: `{% include "bad.j2" %}`}, "template", `partial "bad.j2": line 2`, 2},
		{"recursive macro", Spec{Template: "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}"}, "template", `macro "m" calls itself`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := compileSpec("p", &tc.spec, partials)
			var fe *fieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *fieldError", err)
			}
			if fe.field != tc.field {
				t.Errorf("field %q, want %q", fe.field, tc.field)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var te *TemplateError
			if tc.line > 0 && (!errors.As(err, &te) || te.Line != tc.line) {
				t.Errorf("got %v, want a *TemplateError at line %d", err, tc.line)
			}
		})
	}
}

func TestSpecCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spec  Spec
		field string
		want  string
	}{
		{"empty", Spec{}, "template", "needs a template or messages"},
		{"both", Spec{Template: "a", Messages: []MessageTemplate{{"user", "b"}}}, "messages", "not both"},
		{"role", Spec{Messages: []MessageTemplate{{"robot", "b"}}}, "messages[0].role", `got "robot"`},
		{"empty content", Spec{Messages: []MessageTemplate{{"user", ""}}}, "messages[0].content", "must not be empty"},
		{"reserved param", Spec{Template: "a", Params: map[string]json.RawMessage{"messages": []byte(`[]`)}}, "params.messages", "not by params"},
		{"invalid param", Spec{Template: "a", Params: map[string]json.RawMessage{"temperature": []byte(`{`)}}, "params.temperature", "not valid JSON"},
		{"variable name", Spec{Template: "a", Variables: map[string]Variable{"a-b": {}}}, "variables.a-b", "a variable name"},
		{"type", Spec{Template: "a", Variables: map[string]Variable{"a": {Type: "str"}}}, "variables.a.type", `got "str"`},
		{"default type", Spec{Template: "a", Variables: map[string]Variable{"a": {Type: TypeInteger, Default: []byte(`"1"`)}}},
			"variables.a.default", "must be an integer, got a string"},
		{"default not in enum", Spec{Template: "a", Variables: map[string]Variable{"a": {Enum: []json.RawMessage{[]byte(`1`)}, Default: []byte(`2`)}}},
			"variables.a.default", "must be one of 1, got 2"},
		{"enum type", Spec{Template: "a", Variables: map[string]Variable{"a": {Type: TypeString, Enum: []json.RawMessage{[]byte(`1`)}}}},
			"variables.a.enum[0]", "must be a string"},
		{"required with default", Spec{Template: "a", Variables: map[string]Variable{"a": {Required: true, Default: []byte(`1`)}}},
			"variables.a.default", "a required variable has no default"},
		{"null default", Spec{Template: "a", Variables: map[string]Variable{"a": {Default: []byte(`null`)}}}, "variables.a.default", "must not be null"},
		{"max length of a number", Spec{Template: "a", Variables: map[string]Variable{"a": {Type: TypeNumber, MaxLength: 3}}},
			"variables.a.max_length", "not to number"},
		{"negative max length", Spec{Template: "a", Variables: map[string]Variable{"a": {MaxLength: -1}}}, "variables.a.max_length", "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := tc.spec.check()
			if len(ps) == 0 {
				t.Fatalf("check: no problem, want %s: %s", tc.field, tc.want)
			}
			if ps[0].field != tc.field || !strings.Contains(ps[0].msg, tc.want) {
				t.Errorf("check: got %v, want %s: …%s…", ps[0], tc.field, tc.want)
			}
		})
	}
}

func TestContentAddress(t *testing.T) {
	t.Parallel()
	hash := func(s Spec, parts map[string]string) string {
		t.Helper()
		if _, err := compileSpec("p", &s, parts); err != nil {
			t.Fatal(err)
		}
		_, h, err := s.content()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	base := Spec{Template: `{{ q }} {% include "p.j2" %}`, Model: "m",
		Params:    map[string]json.RawMessage{"response_format": []byte(`{"type":"json_object","b":1}`), "temperature": []byte(`0.2`)},
		Variables: map[string]Variable{"q": {Default: []byte(`{"z":1,"a":2}`)}}}
	parts := map[string]string{"p.j2": "partial", "unused.j2": "not captured"}
	h := hash(base, parts)
	if len(h) != 64 {
		t.Fatalf("hash %q: want 64 hex digits", h)
	}

	// The same content, written differently, has the same address.
	same := base
	same.Params = map[string]json.RawMessage{"temperature": []byte(` 0.2`), "response_format": []byte("{ \"b\": 1,\n \"type\": \"json_object\" }")}
	same.Variables = map[string]Variable{"q": {Default: []byte(`{"a":2, "z":1}`)}}
	if got := hash(same, map[string]string{"p.j2": "partial"}); got != h {
		t.Errorf("reformatted JSON and unused partials changed the hash: %s, want %s", got, h)
	}

	// Anything that changes what is sent changes it.
	for name, change := range map[string]func(*Spec, map[string]string){
		"template": func(s *Spec, _ map[string]string) { s.Template += " " },
		"model":    func(s *Spec, _ map[string]string) { s.Model = "other" },
		"params": func(s *Spec, _ map[string]string) {
			s.Params = map[string]json.RawMessage{"temperature": []byte(`0.3`), "response_format": base.Params["response_format"]}
		},
		"variables": func(s *Spec, _ map[string]string) {
			s.Variables = map[string]Variable{"q": {Type: TypeString, Required: true}}
		},
		"partial": func(_ *Spec, p map[string]string) { p["p.j2"] = "changed" },
	} {
		s := base
		p := map[string]string{"p.j2": "partial"}
		change(&s, p)
		if got := hash(s, p); got == h {
			t.Errorf("changing the %s kept the hash %s", name, h)
		}
	}
}
