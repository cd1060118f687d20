package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cliPrompts is a prompts folder and a SQLite store in a temporary
// directory, driven through the binary's run function.
type cliPrompts struct {
	dir, prompts, dsn string
}

// cliPromptFiles is the folder the CLI tests load: the seed layout, a
// native prompt with two versions, a variable schema, a partial and tests
// (an llm_judge scripted through the mock provider).
var cliPromptFiles = map[string]string{
	"prompt_templates.yaml": `prompts:
  v1:
    rag_query:
      template: "Context: {{ context }}\nQuestion: {{ question }}"
      version: "1.0"
      description: Answer from context
`,
	"_partials/policy.j2": `Never promise a refund.`,
	"greet.yaml": `description: Greet a customer
labels: {production: "1"}
versions:
  - version: "1"
    model: mock-echo
    variables:
      name: {type: string, required: true, max_length: 20}
    messages:
      - system: "You are terse. {% include 'policy.j2' %}"
      - user: "Say hello to {{ name }}."
  - version: "2"
    model: mock-echo
    variables:
      name: {type: string, required: true, max_length: 20}
    messages:
      - system: "You are warm. {% include 'policy.j2' %}"
      - user: "Greet {{ name }} warmly."
tests:
  - name: names the customer
    variables: {name: Ada}
    assert:
      - contains: Ada
      - max_length: 100
  - name: the judge agrees
    variables: {name: Ada}
    assert:
      - llm_judge:
          rubric: Names the customer
          threshold: 0.5
          params: {mock: {content: '{"pass": true, "score": 0.9, "reason": "ok"}'}}
`,
}

// failingPromptFile has a failing assertion, a judge that says no and a
// test that cannot render.
const failingPromptFile = `model: mock-echo
variables: {name: {type: string, required: true}}
messages:
  - user: "Say hello to {{ name }}."
tests:
  - name: passes
    variables: {name: Ada}
    assert: [{contains: Ada}]
  - name: wrong greeting
    variables: {name: Ada}
    assert: [{contains: Ada}, {regex: "^Hello"}]
  - name: the judge disagrees
    variables: {name: Ada}
    assert:
      - llm_judge:
          rubric: Writes a haiku
          params: {mock: {content: '{"pass": false, "score": 0.1, "reason": "not a haiku"}'}}
  - name: misses a variable
    variables: {}
    assert: [{contains: Ada}]
`

func newCLIPrompts(t *testing.T, files map[string]string) *cliPrompts {
	t.Helper()
	// The deployment overrides would replace --set storage.dsn.
	t.Setenv("SWITCHBOARD_DATABASE_URL", "")
	dir := t.TempDir()
	c := &cliPrompts{dir: dir, prompts: filepath.Join(dir, "prompts"), dsn: filepath.Join(dir, "sb.db")}
	for name, body := range files {
		p := filepath.Join(c.prompts, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// run runs the CLI with the test's store, prompts folder and a mock
// provider, and returns the exit code and outputs.
func (c *cliPrompts) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	args = append(args, "--set", "storage.dsn="+c.dsn, "--set", "prompts.dir="+c.prompts, "--set", "providers.demo.type=mock")
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun runs the CLI and fails the test unless it exits 0.
func (c *cliPrompts) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errb := c.run(t, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errb)
	}
	return out
}

// mustFail runs the CLI, wants exit 1 and a message on stderr that
// contains every want.
func (c *cliPrompts) mustFail(t *testing.T, args []string, want ...string) {
	t.Helper()
	code, out, errb := c.run(t, args...)
	if code != 1 {
		t.Fatalf("%s: got exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errb)
	}
	for _, w := range want {
		if !strings.Contains(errb, w) {
			t.Errorf("%s: stderr %q lacks %q", strings.Join(args, " "), lastLine(errb), w)
		}
	}
}

// lastLine is the last non-empty line of s (the CLI's error; the lines
// before it are logs).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestPromptCmdListShowRender(t *testing.T) {
	c := newCLIPrompts(t, cliPromptFiles)

	out := c.mustRun(t, "prompt", "list")
	for _, want := range []string{"ID", "VERSIONS", "greet", "production=1", "rag_query", "1.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("prompt list lacks %q:\n%s", want, out)
		}
	}
	var list []struct {
		ID       string
		Versions []struct{ Version string }
		Labels   map[string]string
	}
	if err := json.Unmarshal([]byte(c.mustRun(t, "prompt", "list", "--format", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "greet" || len(list[0].Versions) != 2 || list[0].Labels["production"] != "1" || list[1].ID != "rag_query" {
		t.Errorf("prompt list --format json: got %+v", list)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default is production", []string{"prompt", "show", "greet"}, "1"},
		{"by version", []string{"prompt", "show", "greet", "--version", "2"}, "2"},
		{"by label", []string{"prompt", "show", "--label", "production", "greet"}, "1"},
		{"seed layout", []string{"prompt", "show", "rag_query"}, "1.0"},
	} {
		t.Run("show/"+tc.name, func(t *testing.T) {
			var v struct {
				PromptID string `json:"prompt_id"`
				Version  string
				Hash     string
				Spec     struct{ Partials map[string]string }
			}
			if err := json.Unmarshal([]byte(c.mustRun(t, tc.args...)), &v); err != nil {
				t.Fatal(err)
			}
			if v.Version != tc.want || len(v.Hash) != 64 {
				t.Errorf("got version %q hash %q, want version %q", v.Version, v.Hash, tc.want)
			}
			if v.PromptID == "greet" && v.Spec.Partials["policy.j2"] == "" {
				t.Errorf("the version did not capture its partial: %+v", v.Spec)
			}
		})
	}
	c.mustFail(t, []string{"prompt", "show", "nope"}, `no prompt "nope"`)
	c.mustFail(t, []string{"prompt", "show", "greet", "--label", "staging"}, `no label "staging"`)
	c.mustFail(t, []string{"prompt", "show", "greet", "--version", "9"}, `no version "9"`)

	t.Run("render", func(t *testing.T) {
		var rd struct {
			ID, Version, Label, Model string
			Messages                  []struct{ Role, Content string }
		}
		if err := json.Unmarshal([]byte(c.mustRun(t, "prompt", "render", "greet", "--vars", `{"name": "Ada"}`)), &rd); err != nil {
			t.Fatal(err)
		}
		if rd.Version != "1" || rd.Label != "production" || rd.Model != "mock-echo" || len(rd.Messages) != 2 ||
			rd.Messages[0].Content != "You are terse. Never promise a refund." || rd.Messages[1].Content != "Say hello to Ada." {
			t.Errorf("render: got %+v", rd)
		}
		vars := filepath.Join(c.dir, "vars.json")
		if err := os.WriteFile(vars, []byte(`{"name": "Bo"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if out := c.mustRun(t, "prompt", "render", "greet", "--version", "2", "--vars-file", vars); !strings.Contains(out, "Greet Bo warmly.") {
			t.Errorf("render --vars-file: %s", out)
		}
		if out := c.mustRun(t, "prompt", "render", "rag_query", "--vars", `{"context": "sky", "question": "colour?"}`); !strings.Contains(out, `Context: sky\nQuestion: colour?`) {
			t.Errorf("render seed prompt: %s", out)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"wrong type", []string{"--vars", `{"name": 5}`}, []string{`variable "name"`, "string"}},
		{"missing", []string{"--vars", `{}`}, []string{`variable "name" is required`}},
		{"too long", []string{"--vars", `{"name": "a name much longer than twenty"}`}, []string{`variable "name" is too long`}},
		{"undeclared", []string{"--vars", `{"name": "Ada", "nmae": "x"}`}, []string{`variable "nmae" is not a variable of this prompt`}},
		{"not JSON", []string{"--vars", `name=Ada`}, []string{"--vars", "not a JSON object"}},
		{"no vars file", []string{"--vars-file", "/nonexistent/vars.json"}, []string{"vars.json"}},
	} {
		t.Run("render/bad/"+tc.name, func(t *testing.T) {
			c.mustFail(t, append([]string{"prompt", "render", "greet"}, tc.args...), tc.want...)
		})
	}
	c.mustFail(t, []string{"prompt", "render", "rag_query", "--vars", `{"context": "x"}`}, `variable "question"`)

	for _, args := range [][]string{{"prompt"}, {"prompt", "frob"}, {"prompt", "show"}, {"prompt", "promote", "greet", "production"}} {
		if code, _, errb := c.run(t, args...); code != 1 || !strings.Contains(errb, "usage: switchboard prompt list") {
			t.Errorf("%v: got exit %d, want 1 and the usage: %s", args, code, lastLine(errb))
		}
	}
}

func TestPromptCmdLabels(t *testing.T) {
	c := newCLIPrompts(t, cliPromptFiles)

	if out := c.mustRun(t, "prompt", "promote", "greet", "production", "2", "--reason", "warmer"); out != "greet/production: 1 → 2\n" {
		t.Errorf("promote: got %q", out)
	}
	if out := c.mustRun(t, "prompt", "promote", "greet", "production", "2"); out != "greet/production already points at 2\n" {
		t.Errorf("promote again: got %q", out)
	}
	// Each command is a new process: the label lives in the store, and a
	// restart does not re-apply the file's production: "1".
	if out := c.mustRun(t, "prompt", "show", "greet"); !strings.Contains(out, `"version": "2"`) {
		t.Errorf("after promote, show serves:\n%s", out)
	}
	if out := c.mustRun(t, "prompt", "render", "greet", "--vars", `{"name": "Cy"}`); !strings.Contains(out, "Greet Cy warmly.") {
		t.Errorf("after promote, render: %s", out)
	}
	if out := c.mustRun(t, "prompt", "promote", "greet", "staging", "1"); out != "greet/staging: - → 1\n" {
		t.Errorf("promote a new label: got %q", out)
	}
	c.mustFail(t, []string{"prompt", "promote", "greet", "production", "7"}, `no version "7"`)
	c.mustFail(t, []string{"prompt", "promote", "nope", "production", "1"}, `"nope"`)

	if out := c.mustRun(t, "prompt", "rollback", "greet", "production", "--reason", "too warm"); out != "greet/production rolled back: 2 → 1\n" {
		t.Errorf("rollback: got %q", out)
	}
	c.mustFail(t, []string{"prompt", "rollback", "greet", "production"}, "no earlier version to roll back to")
	if out := c.mustRun(t, "prompt", "rollback", "greet", "production", "--to", "1"); out != "greet/production already points at 1\n" {
		t.Errorf("rollback to the current version: got %q", out)
	}
	if out := c.mustRun(t, "prompt", "rollback", "greet", "production", "--to", "2", "--reason", "back again"); out != "greet/production rolled back: 1 → 2\n" {
		t.Errorf("rollback --to: got %q", out)
	}

	out := c.mustRun(t, "prompt", "history", "greet", "production")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("history: got %d lines, want a header and 4 changes:\n%s", len(lines), out)
	}
	for i, want := range [][]string{
		{"rollback", "1", "2", "cli", "back again"},
		{"rollback", "2", "1", "cli", "too warm"},
		{"promote", "1", "2", "cli", "warmer"},
		{"promote", "-", "1", "file:"},
	} {
		// TIME ACTION FROM TO ACTOR REASON; the reason may have spaces.
		fields := strings.Fields(lines[i+1])
		if len(fields) < 5 {
			t.Errorf("history row %d: %q", i, lines[i+1])
			continue
		}
		got := append(fields[1:5:5], strings.Join(fields[5:], " "))
		for j, w := range want {
			if !strings.HasPrefix(got[j], w) {
				t.Errorf("history row %d column %d: got %q, want %q (%q)", i, j+1, got[j], w, lines[i+1])
			}
		}
	}
	var hs []struct {
		Action, Version, Actor, Reason string
		PreviousVersion                string `json:"previous_version"`
	}
	if err := json.Unmarshal([]byte(c.mustRun(t, "prompt", "history", "greet", "production", "--format", "json")), &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs) != 4 || hs[1].Action != "rollback" || hs[1].Version != "1" || hs[1].PreviousVersion != "2" || hs[1].Reason != "too warm" {
		t.Errorf("history --format json: got %+v", hs)
	}

	out = c.mustRun(t, "prompt", "diff", "greet", "1", "2")
	for _, want := range []string{"changed: messages", "--- greet@1", "+++ greet@2", "-  Say hello to {{ name }}.", "+  Greet {{ name }} warmly."} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	// Labels are accepted wherever versions are.
	if out := c.mustRun(t, "prompt", "diff", "greet", "production", "2"); out != "greet: production and 2 have the same content\n" {
		t.Errorf("diff of the same content: got %q", out)
	}
	var d struct {
		Changed []string
		Unified string
	}
	if err := json.Unmarshal([]byte(c.mustRun(t, "prompt", "diff", "greet", "staging", "production", "--format", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Changed) != 1 || d.Changed[0] != "messages" || !strings.Contains(d.Unified, "+++ greet@2") {
		t.Errorf("diff --format json: got %+v", d)
	}
	c.mustFail(t, []string{"prompt", "diff", "greet", "1", "9"}, `"9"`)
}

func TestPromptCmdStatsEmptyStore(t *testing.T) {
	c := newCLIPrompts(t, cliPromptFiles)
	out := c.mustRun(t, "prompt", "stats", "greet")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "VERSION") || !strings.Contains(lines[0], "FEEDBACK") {
		t.Errorf("stats on an empty store: got %q, want the header only", out)
	}
	out = c.mustRun(t, "prompt", "stats", "greet", "--by", "label", "--since", "24h", "--format", "json")
	var rows []json.RawMessage
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 0 {
		t.Errorf("stats --format json: got %q (%v), want no rows", out, err)
	}
	c.mustFail(t, []string{"prompt", "stats", "greet", "--by", "model"}, "--by must be version or label")
	c.mustFail(t, []string{"prompt", "stats", "greet", "--since", "yesterday"}, "since")
	c.mustFail(t, []string{"prompt", "stats", "bad id!"}, "invalid prompt ID")
}

func TestPromptCmdTest(t *testing.T) {
	t.Run("passing suite", func(t *testing.T) {
		c := newCLIPrompts(t, cliPromptFiles)
		junit := filepath.Join(c.dir, "out.xml")
		out := c.mustRun(t, "prompt", "test", "--junit", junit)
		for _, want := range []string{"PROMPT", "RESULT", "names the customer", "the judge agrees", "PASS", "2 passed, 0 failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("prompt test output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "FAIL") {
			t.Errorf("a test failed:\n%s", out)
		}
		doc := mustJUnit(t, junit)
		if doc.Tests != 2 || doc.Failures != 0 || doc.Errors != 0 || len(doc.Suites) != 1 || doc.Suites[0].Name != "greet@1" {
			t.Errorf("junit: got %+v", doc)
		}
		// Another version, and the JSON report.
		var rep struct {
			Passed, Failed int
			Results        []struct{ Version, Output string }
		}
		if err := json.Unmarshal([]byte(c.mustRun(t, "prompt", "test", "greet", "--version", "2", "--format", "json")), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Passed != 2 || rep.Failed != 0 || len(rep.Results) != 2 || rep.Results[0].Version != "2" || rep.Results[0].Output != "Greet Ada warmly." {
			t.Errorf("prompt test --version 2 --format json: got %+v", rep)
		}
		c.mustFail(t, []string{"prompt", "test", "nope"}, `no prompt "nope"`)
		c.mustFail(t, []string{"prompt", "test", "greet", "--label", "staging"}, `no label "staging"`)
	})

	t.Run("failing suite", func(t *testing.T) {
		c := newCLIPrompts(t, map[string]string{"hello.yaml": failingPromptFile})
		junit := filepath.Join(c.dir, "out.xml")
		code, out, errb := c.run(t, "prompt", "test", "--junit", junit)
		if code != 1 || !strings.Contains(errb, "prompt tests failed") {
			t.Fatalf("got exit %d (%s), want 1 and %q", code, lastLine(errb), "prompt tests failed")
		}
		for _, want := range []string{
			`FAIL hello@1 "wrong greeting"`, "regex: output does not match /^Hello/", "output: Say hello to Ada.",
			`FAIL hello@1 "the judge disagrees"`, "llm_judge: pass false: not a haiku",
			`FAIL hello@1 "misses a variable"`, `error: render: prompt "hello": variable "name" is required`,
			"1 passed, 3 failed",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		doc := mustJUnit(t, junit)
		if doc.Tests != 4 || doc.Failures != 2 || doc.Errors != 1 || len(doc.Suites) != 1 {
			t.Fatalf("junit totals: got tests %d failures %d errors %d suites %d, want 4, 2, 1, 1", doc.Tests, doc.Failures, doc.Errors, len(doc.Suites))
		}
		s := doc.Suites[0]
		if s.Name != "hello@1" || s.Tests != 4 || s.Failures != 2 || s.Errors != 1 {
			t.Errorf("junit suite: got %+v", s)
		}
		var failures, errors int
		for _, tc := range s.Cases {
			if tc.Failure != nil {
				failures++
				if tc.Failure.Type != "assertion" || tc.Failure.Message == "" {
					t.Errorf("junit failure of %q: %+v", tc.Name, tc.Failure)
				}
			}
			if tc.Error != nil {
				errors++
			}
			if tc.File == "" || tc.Line == 0 {
				t.Errorf("junit case %q has no file:line", tc.Name)
			}
		}
		if failures != 2 || errors != 1 {
			t.Errorf("junit cases: got %d failures and %d errors, want 2 and 1", failures, errors)
		}
	})

	t.Run("no tests", func(t *testing.T) {
		c := newCLIPrompts(t, map[string]string{"prompt_templates.yaml": cliPromptFiles["prompt_templates.yaml"]})
		code, out, _ := c.run(t, "prompt", "test")
		if code != 1 || !strings.Contains(out, "0 passed, 0 failed") {
			t.Errorf("a run with no tests: got exit %d, %q; want 1 (nothing passed)", code, out)
		}
	})
}

// TestPromptCmdExample keeps examples/prompts true: its configuration
// validates and its prompt tests pass.
func TestPromptCmdExample(t *testing.T) {
	dir, err := filepath.Abs("../../examples/prompts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("examples/prompts not present: %v", err)
	}
	c := &cliPrompts{dir: t.TempDir(), prompts: filepath.Join(dir, "prompts")}
	c.dsn = filepath.Join(c.dir, "sb.db")
	t.Setenv("SWITCHBOARD_DATABASE_URL", "")
	cfg := filepath.Join(dir, "switchboard.yaml")
	if out := c.mustRun(t, "config", "validate", "--config", cfg); !strings.Contains(out, "configuration OK") {
		t.Errorf("config validate: %s", out)
	}
	junit := filepath.Join(c.dir, "out.xml")
	out := c.mustRun(t, "prompt", "test", "--config", cfg, "--junit", junit)
	if !strings.Contains(out, "5 passed, 0 failed") {
		t.Errorf("the example's prompt tests:\n%s", out)
	}
	if doc := mustJUnit(t, junit); doc.Tests != 5 || doc.Failures != 0 || doc.Errors != 0 {
		t.Errorf("junit: %+v", doc)
	}
	var spec struct{ Name string }
	b, err := os.ReadFile(filepath.Join(dir, "ab.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil || spec.Name == "" {
		t.Fatalf("ab.json: %v", err)
	}
	if out := c.mustRun(t, "experiment", "create", "--file", filepath.Join(dir, "ab.json"), "--config", cfg); out != spec.Name+": running (ab)\n" {
		t.Errorf("experiment create --file ab.json: got %q", out)
	}
}

// junitDoc is the JUnit XML the CLI writes, as CI readers parse it.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			File    string `xml:"file,attr"`
			Line    int    `xml:"line,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func mustJUnit(t *testing.T, path string) junitDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("junit XML does not parse: %v\n%s", err, b)
	}
	return doc
}

// TestCLILogsAreNotLost: a one-shot command's log lines reach stderr
// before it returns (a server buffers its log and flushes it every
// log.flush_interval; a command that returned sooner lost its lines).
func TestCLILogsAreNotLost(t *testing.T) {
	c := newCLIPrompts(t, cliPromptFiles)
	code, _, errb := c.run(t, "prompt", "list", "--set", "log.flush_interval=1h")
	if code != 0 || !strings.Contains(errb, "database ready") {
		t.Errorf("prompt list: exit %d, stderr %q; want the store's \"database ready\" line", code, errb)
	}
}
