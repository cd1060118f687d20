package prompt

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/provider/mock"
)

// testPrompts has a test of every assertion kind, passing and failing,
// run against the mock provider: mock-echo answers with the last user
// message, {"echo": …} under response_format json_object, and the
// request field mock.content scripts its answer (the judge's verdict).
const testPrompts = `
id: capital
model: mock-echo
variables:
  country: {type: string, required: true}
messages:
  - system: You are a geography teacher.
  - user: "The capital of {{ country }} is Paris."
tests:
  - name: all pass
    variables: {country: France}
    assert:
      - contains: Paris
      - not_contains: London
      - regex: "^The capital of France"
      - max_length: 40
  - name: contains fails
    variables: {country: France}
    assert:
      - contains: Berlin
      - regex: "(?i)paris"
  - name: not_contains, regex, max_length fail
    variables: {country: France}
    assert:
      - not_contains: Paris
      - regex: "^Paris"
      - max_length: 10
  - name: judge passes
    variables: {country: France}
    assert:
      - llm_judge:
          rubric: Names the capital correctly
          params: {mock: {content: '{"pass": true, "reason": "Paris is right"}'}}
  - name: judge fails
    variables: {country: Spain}
    assert:
      - llm_judge:
          rubric: Names the capital correctly
          params: {mock: {content: '{"pass": false, "reason": "Madrid, not Paris"}'}}
  - name: judge score under threshold
    variables: {country: France}
    assert:
      - llm_judge:
          rubric: Is witty
          threshold: 0.8
          params: {mock: {content: 'Verdict: {"score": 0.4, "reason": "flat"}'}}
  - name: judge score over threshold
    variables: {country: France}
    assert:
      - llm_judge:
          rubric: Is witty
          threshold: 0.3
          model: judge-model
          params: {mock: {content: "` + "```" + `json\n{\"score\": 0.4}\n` + "```" + `"}}
  - name: judge talks nonsense
    variables: {country: France}
    assert:
      - llm_judge:
          rubric: Anything
          params: {mock: {content: 'I think it is fine'}}
  - name: render fails
    variables: {}
    assert:
      - contains: x
`

const jsonPrompts = `
id: extract
model: mock-echo
params: {response_format: {type: json_object}}
template: "{{ text }}"
tests:
  - name: json
    variables: {text: hello}
    assert:
      - is_json: true
      - json_schema:
          type: object
          required: [echo]
          properties: {echo: {type: string, const: hello}}
  - name: schema fails
    variables: {text: hello}
    assert:
      - json_schema: {type: object, required: [answer]}
  - name: not json
    variables: {text: hello}
    params: {response_format: {type: text}}
    assert:
      - is_json: true
      - json_schema: {type: object}
`

func newTestRegistry(t *testing.T) *Registry {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"capital.yaml": testPrompts, "extract.yaml": jsonPrompts,
		"untested.yaml": "template: hi\n"})
	return mustRegistry(t, Options{Dir: dir})
}

func newMock(t *testing.T) *mock.Provider {
	t.Helper()
	p, err := mock.New(mock.Config{}, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunTests(t *testing.T) {
	t.Parallel()
	r := newTestRegistry(t)
	rep, err := r.RunTests(t.Context(), newMock(t), TestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		Test       string
		Pass       bool
		Assertions string // kinds that failed
		Error      bool
	}
	var got []outcome
	for _, res := range rep.Results {
		o := outcome{Test: res.Prompt + "/" + res.Test, Pass: res.Pass, Error: res.Error != ""}
		var failed []string
		for _, a := range res.Assertions {
			if !a.Pass {
				failed = append(failed, a.Kind)
			}
		}
		o.Assertions = strings.Join(failed, ",")
		got = append(got, o)
	}
	want := []outcome{
		{"capital/all pass", true, "", false},
		{"capital/contains fails", false, "contains", false},
		{"capital/not_contains, regex, max_length fail", false, "not_contains,regex,max_length", false},
		{"capital/judge passes", true, "", false},
		{"capital/judge fails", false, "llm_judge", false},
		{"capital/judge score under threshold", false, "llm_judge", false},
		{"capital/judge score over threshold", true, "", false},
		{"capital/judge talks nonsense", false, "llm_judge", false},
		{"capital/render fails", false, "", true},
		{"extract/json", true, "", false},
		{"extract/schema fails", false, "json_schema", false},
		{"extract/not json", false, "is_json,json_schema", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if rep.Passed != 4 || rep.Failed != 8 || rep.OK() {
		t.Errorf("passed %d, failed %d, OK %t; want 4, 8, false", rep.Passed, rep.Failed, rep.OK())
	}
	byName := map[string]Result{}
	for _, res := range rep.Results {
		byName[res.Test] = res
	}
	for name, want := range map[string]string{
		"contains fails":              `output does not contain "Berlin"`,
		"judge fails":                 "pass false: Madrid, not Paris",
		"judge score under threshold": "score 0.4 (threshold 0.8): flat",
		"judge talks nonsense":        "no JSON verdict",
		"schema fails":                "does not match the schema",
	} {
		res := byName[name]
		if !slices0Contains(res.Assertions, want) {
			t.Errorf("%s: assertions %+v, want a detail with %q", name, res.Assertions, want)
		}
	}
	if res := byName["render fails"]; !strings.Contains(res.Error, `variable "country" is required`) {
		t.Errorf("render fails: error %q", res.Error)
	}
	if res := byName["all pass"]; res.Output != "The capital of France is Paris." || res.Model != "mock-echo" || res.Version != "1" {
		t.Errorf("all pass: %+v", res)
	}

	// Only passing tests: OK.
	ok, err := r.RunTests(t.Context(), newMock(t), TestOptions{Prompts: []string{"capital"}, Model: "mock-echo"})
	if err != nil {
		t.Fatal(err)
	}
	if ok.OK() {
		t.Errorf("a run with failures is OK")
	}
	if _, err := r.RunTests(t.Context(), newMock(t), TestOptions{Prompts: []string{"nope"}}); !errors.Is(err, switchboard.ErrNotFound) {
		t.Errorf("RunTests of an unknown prompt: %v", err)
	}
	if _, err := r.RunTests(t.Context(), newMock(t), TestOptions{Label: "production"}); codeOf(err) != switchboard.CodeNotFound {
		t.Errorf("RunTests of a missing label: %v", err)
	}
}

func slices0Contains(as []AssertionResult, detail string) bool {
	for _, a := range as {
		if strings.Contains(a.Detail, detail) {
			return true
		}
	}
	return false
}

// judgeSpy records the requests it gets and answers with a verdict.
type judgeSpy struct {
	models []string
	reqs   []*switchboard.ChatRequest
}

func (j *judgeSpy) Chat(_ context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	j.models = append(j.models, model)
	j.reqs = append(j.reqs, req)
	text := "the answer"
	if len(j.reqs) == 2 {
		text = `{"pass": true}`
	}
	return &switchboard.ChatResponse{Choices: []switchboard.Choice{{Message: switchboard.Message{Role: "assistant",
		Content: switchboard.TextContent(text)}}}}, nil
}

func TestRunTestsModels(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yaml": `
model: prompt-model
params: {temperature: 0.1}
template: "Q {{ q }}"
tests:
  - name: t
    variables: {q: x}
    model: test-model
    params: {temperature: 0.7, seed: 3}
    assert:
      - llm_judge: {rubric: "Is an answer", params: {temperature: 0}}
`})
	r := mustRegistry(t, Options{Dir: dir})
	for _, tc := range []struct {
		opts        TestOptions
		model, judg string
	}{
		{TestOptions{}, "test-model", "test-model"},
		{TestOptions{Model: "run-model"}, "run-model", "run-model"},
		{TestOptions{JudgeModel: "judge"}, "test-model", "judge"},
	} {
		spy := &judgeSpy{}
		rep, err := r.RunTests(t.Context(), spy, tc.opts)
		if err != nil || !rep.OK() {
			t.Fatalf("RunTests(%+v): %+v, %v", tc.opts, rep, err)
		}
		if diff := cmp.Diff([]string{tc.model, tc.judg}, spy.models); diff != "" {
			t.Errorf("RunTests(%+v) models (-want +got):\n%s", tc.opts, diff)
		}
		req := spy.reqs[0]
		if *req.Temperature != 0.7 || *req.Seed != 3 || req.Model != tc.model || req.Messages[0].Text() != "Q x" {
			t.Errorf("test request: model %s, temperature %v, seed %v, messages %+v", req.Model, *req.Temperature, *req.Seed, req.Messages)
		}
		judge := spy.reqs[1]
		if *judge.Temperature != 0 || len(judge.Messages) != 2 || !strings.Contains(judge.Messages[1].Text(), "Rubric:\nIs an answer\n\nOutput to evaluate:\nthe answer") {
			t.Errorf("judge request: %+v", judge.Messages)
		}
	}
}

func TestReportWriters(t *testing.T) {
	t.Parallel()
	r := newTestRegistry(t)
	rep, err := r.RunTests(t.Context(), newMock(t), TestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, want := range []string{
		"PROMPT   VERSION  TEST",
		"capital  1        all pass",
		"PASS",
		"\nFAIL capital@1 \"contains fails\" (",
		"  contains: output does not contain \"Berlin\"\n",
		"  output: The capital of France is Paris.\n",
		"  error: render: prompt \"capital\": variable \"country\" is required\n",
		"\n4 passed, 8 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table does not contain %q:\n%s", want, out)
		}
	}

	var buf bytes.Buffer
	if err := rep.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Errors   int `xml:"errors,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Tests int    `xml:"tests,attr"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit XML does not parse: %v\n%s", err, buf.String())
	}
	if doc.Tests != 12 || doc.Failures != 7 || doc.Errors != 1 || len(doc.Suites) != 2 {
		t.Fatalf("JUnit totals: tests %d failures %d errors %d suites %d; want 12 7 1 2", doc.Tests, doc.Failures, doc.Errors, len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "capital@1" || s.Tests != 9 || s.Cases[0].Classname != "capital" || s.Cases[0].Failure != nil {
		t.Errorf("first suite: %+v", s)
	}
	if f := s.Cases[1].Failure; f == nil || !strings.Contains(f.Message, `contains: output does not contain "Berlin"`) {
		t.Errorf("failure of %q: %+v", s.Cases[1].Name, f)
	}
	if e := s.Cases[8].Error; e == nil || !strings.Contains(e.Message, "render:") {
		t.Errorf("error of %q: %+v", s.Cases[8].Name, e)
	}
	if !strings.HasPrefix(buf.String(), xml.Header) {
		t.Errorf("JUnit output has no XML header")
	}
}
