package prompt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// Assertion kinds.
const (
	AssertContains    = "contains"
	AssertNotContains = "not_contains"
	AssertRegex       = "regex"
	AssertIsJSON      = "is_json"
	AssertJSONSchema  = "json_schema"
	AssertMaxLength   = "max_length"
	AssertLLMJudge    = "llm_judge"
)

// AssertionKinds are the assertion kinds a test may use.
var AssertionKinds = []string{AssertContains, AssertNotContains, AssertRegex, AssertIsJSON,
	AssertJSONSchema, AssertMaxLength, AssertLLMJudge}

// TestCase is one test of a prompt: variables to render it with and
// assertions on the model's answer.
type TestCase struct {
	// Name names the test in reports.
	Name string `json:"name"`
	// Variables render the prompt.
	Variables map[string]json.RawMessage `json:"variables,omitempty"`
	// Model, when set, is the model to test with (a run's model wins).
	Model string `json:"model,omitempty"`
	// Params are extra request fields, over the version's params (for
	// example the mock provider's scripted answer: {"mock": {"content": …}}).
	Params map[string]json.RawMessage `json:"params,omitempty"`
	// Assert are the assertions; all must pass.
	Assert []Assertion `json:"assert"`
	// File and Line say where the test is defined.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Assertion is one check of a model's answer. Kind says which field is
// used.
type Assertion struct {
	// Kind is one of AssertionKinds.
	Kind string `json:"kind"`
	// Text is the substring of contains and not_contains, and the pattern
	// (Go RE2 syntax) of regex.
	Text string `json:"text,omitempty"`
	// N is the limit of max_length, in characters.
	N int `json:"n,omitempty"`
	// Schema is the JSON Schema of json_schema.
	Schema json.RawMessage `json:"schema,omitempty"`
	// Judge configures llm_judge.
	Judge *Judge `json:"judge,omitempty"`

	re     *regexp.Regexp
	schema *jsonschema.Schema
}

// Judge is an llm_judge assertion: a judge model grades the answer
// against a rubric and replies with a JSON verdict
// {"pass": bool, "score": 0..1, "reason": "…"}.
type Judge struct {
	// Rubric says what a passing answer is.
	Rubric string `json:"rubric"`
	// Model is the judge model; empty means the run's judge model, else
	// the model under test.
	Model string `json:"model,omitempty"`
	// Threshold, when set, passes an answer whose score is at least it;
	// otherwise the verdict's pass decides.
	Threshold *float64 `json:"threshold,omitempty"`
	// Params are extra fields of the judge's request.
	Params map[string]json.RawMessage `json:"params,omitempty"`
}

// prepare compiles a's pattern or schema.
func (a *Assertion) prepare() error {
	switch a.Kind {
	case AssertContains, AssertNotContains:
		if a.Text == "" {
			return errors.New("needs a non-empty string")
		}
	case AssertRegex:
		re, err := regexp.Compile(a.Text)
		if err != nil {
			return fmt.Errorf("invalid pattern: %v", err)
		}
		a.re = re
	case AssertIsJSON:
	case AssertMaxLength:
		if a.N <= 0 {
			return errors.New("must be a positive number of characters")
		}
	case AssertJSONSchema:
		sch, err := compileSchema(a.Schema)
		if err != nil {
			return err
		}
		a.schema = sch
	case AssertLLMJudge:
		if a.Judge == nil || strings.TrimSpace(a.Judge.Rubric) == "" {
			return errors.New("needs a rubric")
		}
		if t := a.Judge.Threshold; t != nil && (*t < 0 || *t > 1) {
			return fmt.Errorf("threshold must be between 0 and 1, got %v", *t)
		}
	default:
		return fmt.Errorf("unknown assertion %q (known: %s)", a.Kind, strings.Join(AssertionKinds, ", "))
	}
	return nil
}

// noLoader refuses every $ref to a document outside the schema, so a
// test cannot make the gateway read files or fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema %q: only references inside the schema are allowed", url)
}

func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem:///schema.json", doc); err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	sch, err := c.Compile("mem:///schema.json")
	if err != nil {
		return nil, fmt.Errorf("invalid JSON schema: %v", err)
	}
	return sch, nil
}

// parseTests reads a prompt's tests: list.
func (f *yfile) parseTests(n *yaml.Node) []TestCase {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		f.errorf(n, "tests must be a list, got %s", describeNode(n))
		return nil
	}
	var out []TestCase
	names := map[string]int{}
	for i, tn := range n.Content {
		what := fmt.Sprintf("tests[%d]", i)
		pairs, ok := f.mapping(tn, what)
		if !ok {
			continue
		}
		f.strict(pairs, what, "name", "variables", "model", "params", "assert")
		tc := TestCase{Name: fmt.Sprintf("test %d", i+1), File: f.name, Line: f.resolve(tn).Line}
		var assertNode *yaml.Node
		for _, p := range pairs {
			switch p.key {
			case "name":
				tc.Name, _ = f.str(p.v, what+".name")
			case "variables":
				tc.Variables, _ = f.jsonObject(p.v, what+".variables")
			case "model":
				tc.Model, _ = f.str(p.v, what+".model")
			case "params":
				tc.Params, _ = f.jsonObject(p.v, what+".params")
			case "assert":
				assertNode = p.v
			}
		}
		if prev, dup := names[tc.Name]; dup {
			f.errorf(tn, "%s: a test named %q is defined already (line %d)", what, tc.Name, prev)
		}
		names[tc.Name] = tc.Line
		if assertNode == nil {
			f.errorf(tn, "%s: needs assert: a list of assertions", what)
			continue
		}
		tc.Assert = f.parseAssertions(assertNode, what+".assert")
		out = append(out, tc)
	}
	return out
}

func (f *yfile) parseAssertions(n *yaml.Node, what string) []Assertion {
	n = f.resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		f.errorf(n, "%s must be a non-empty list of assertions, got %s", what, describeNode(n))
		return nil
	}
	var out []Assertion
	for i, an := range n.Content {
		w := fmt.Sprintf("%s[%d]", what, i)
		pairs, ok := f.mapping(an, w)
		if !ok {
			continue
		}
		if len(pairs) != 1 {
			f.errorf(an, "%s must have exactly one key, the assertion kind (one of %s)", w, strings.Join(AssertionKinds, ", "))
			continue
		}
		p := pairs[0]
		a := Assertion{Kind: p.key}
		w += "." + p.key
		switch p.key {
		case AssertContains, AssertNotContains, AssertRegex:
			a.Text, ok = f.str(p.v, w)
		case AssertIsJSON:
			var b bool
			if b, ok = f.boolean(p.v, w); ok && !b {
				f.errorf(p.v, "%s: only true is meaningful", w)
				ok = false
			}
		case AssertMaxLength:
			a.N, ok = f.integer(p.v, w)
		case AssertJSONSchema:
			a.Schema, ok = f.json(p.v, w)
		case AssertLLMJudge:
			a.Judge, ok = f.parseJudge(p.v, w)
		}
		if !ok {
			continue
		}
		if err := a.prepare(); err != nil {
			f.errorf(p.kn, "%s: %v", w, err)
			continue
		}
		out = append(out, a)
	}
	return out
}

// parseJudge reads llm_judge: a rubric string, or a mapping.
func (f *yfile) parseJudge(n *yaml.Node, what string) (*Judge, bool) {
	n = f.resolve(n)
	if n != nil && n.Kind == yaml.ScalarNode {
		s, ok := f.str(n, what)
		return &Judge{Rubric: s}, ok
	}
	pairs, ok := f.mapping(n, what)
	if !ok {
		return nil, false
	}
	f.strict(pairs, what, "rubric", "model", "threshold", "params")
	j := &Judge{}
	for _, p := range pairs {
		var good bool
		switch p.key {
		case "rubric":
			j.Rubric, good = f.str(p.v, what+".rubric")
		case "model":
			j.Model, good = f.str(p.v, what+".model")
		case "threshold":
			var t float64
			t, good = f.number(p.v, what+".threshold")
			j.Threshold = &t
		case "params":
			j.Params, good = f.jsonObject(p.v, what+".params")
		default:
			good = false
		}
		ok = ok && good
	}
	return j, ok
}
