package prompt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard-ai/switchboard"
)

// Completer answers chat completions: the gateway's engine, or any
// switchboard.Provider (the mock in CI).
type Completer interface {
	Chat(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error)
}

// TestOptions select and configure a test run.
type TestOptions struct {
	// Prompts are the IDs to test; empty means every prompt with tests.
	Prompts []string
	// Version or Label picks the version of each prompt to test; neither
	// means the default resolution (production, else latest).
	Version, Label string
	// Model, when set, is the model every test runs against (else the
	// test's model, else the version's).
	Model string
	// JudgeModel is the model of llm_judge assertions that name none;
	// empty means the model under test.
	JudgeModel string
	// Parallel is how many tests run at once; 0 means 4.
	Parallel int
	// Timeout bounds each test, judge calls included; 0 means 2 minutes.
	Timeout time.Duration
}

// Report is the outcome of a test run.
type Report struct {
	Results  []Result      `json:"results"`
	Passed   int           `json:"passed"`
	Failed   int           `json:"failed"`
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether every test passed (and at least one ran).
func (r *Report) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// Result is the outcome of one test.
type Result struct {
	Prompt  string `json:"prompt"`
	Version string `json:"version"`
	Hash    string `json:"hash"`
	Test    string `json:"test"`
	Model   string `json:"model"`
	Pass    bool   `json:"pass"`
	// Output is the model's answer.
	Output string `json:"output"`
	// Error, when set, is why the test could not run to its assertions
	// (rendering, the completion).
	Error      string            `json:"error,omitempty"`
	Assertions []AssertionResult `json:"assertions"`
	Duration   time.Duration     `json:"duration_ns"`
	File       string            `json:"file,omitempty"`
	Line       int               `json:"line,omitempty"`
}

// AssertionResult is the outcome of one assertion.
type AssertionResult struct {
	Kind   string `json:"kind"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail,omitempty"`
}

// RunTests runs the tests of the selected prompts against c. It returns an
// error only when the selection is wrong (an unknown prompt, a version or
// label a prompt lacks); failing tests are in the report.
func (r *Registry) RunTests(ctx context.Context, c Completer, opts TestOptions) (*Report, error) {
	start := time.Now()
	type job struct {
		p  *Prompt
		v  *Version
		tc TestCase
	}
	var jobs []job
	ids := opts.Prompts
	if len(ids) == 0 {
		for _, p := range r.List() {
			if len(p.Tests) > 0 {
				ids = append(ids, p.ID)
			}
		}
	}
	for _, id := range ids {
		p, err := r.Get(id)
		if err != nil {
			return nil, err
		}
		v, err := p.resolve(Ref{ID: id, Version: opts.Version, Label: opts.Label})
		if err != nil {
			return nil, err
		}
		for _, tc := range p.Tests {
			jobs = append(jobs, job{p, v, tc})
		}
	}
	rep := &Report{Results: make([]Result, len(jobs))}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			rep.Results[i] = runTest(tctx, c, j.v, j.tc, opts)
		})
	}
	wg.Wait()
	for _, res := range rep.Results {
		if res.Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// runTest renders v with tc's variables, asks c, and checks the answer.
func runTest(ctx context.Context, c Completer, v *Version, tc TestCase, opts TestOptions) Result {
	start := time.Now()
	res := Result{Prompt: v.PromptID, Version: v.Version, Hash: v.Hash, Test: tc.Name, File: tc.File, Line: tc.Line,
		Assertions: []AssertionResult{}}
	defer func() { res.Duration = time.Since(start) }()
	res.Model = firstNonEmpty(opts.Model, tc.Model, v.Spec.Model)
	if res.Model == "" {
		res.Error = "no model: set model in the prompt or the test, or choose one for the run"
		return res
	}
	rd, err := v.Render(tc.Variables)
	if err != nil {
		res.Error = "render: " + errorMessage(err)
		return res
	}
	req, err := rd.ChatRequest(res.Model, tc.Params)
	if err != nil {
		res.Error = "build request: " + errorMessage(err)
		return res
	}
	out, err := complete(ctx, c, res.Model, req)
	if err != nil {
		res.Error = "completion: " + errorMessage(err)
		return res
	}
	res.Output = out
	res.Pass = true
	judgeModel := firstNonEmpty(opts.JudgeModel, res.Model)
	for _, a := range tc.Assert {
		ar := a.check(ctx, c, judgeModel, out)
		res.Pass = res.Pass && ar.Pass
		res.Assertions = append(res.Assertions, ar)
	}
	return res
}

// complete asks c and returns the first choice's text.
func complete(ctx context.Context, c Completer, model string, req *switchboard.ChatRequest) (string, error) {
	resp, err := c.Chat(ctx, model, req)
	if err != nil {
		return "", err
	}
	if len(resp.Choices) == 0 {
		return "", errors.New("the model answered with no choice")
	}
	return resp.Choices[0].Message.Text(), nil
}

// check runs one assertion on out.
func (a *Assertion) check(ctx context.Context, c Completer, judgeModel, out string) AssertionResult {
	res := AssertionResult{Kind: a.Kind}
	fail := func(format string, args ...any) AssertionResult {
		res.Detail = fmt.Sprintf(format, args...)
		return res
	}
	switch a.Kind {
	case AssertContains:
		if !strings.Contains(out, a.Text) {
			return fail("output does not contain %q", a.Text)
		}
	case AssertNotContains:
		if strings.Contains(out, a.Text) {
			return fail("output contains %q", a.Text)
		}
	case AssertRegex:
		if !a.re.MatchString(out) {
			return fail("output does not match /%s/", a.Text)
		}
	case AssertIsJSON:
		if !json.Valid([]byte(out)) {
			return fail("output is not valid JSON")
		}
	case AssertJSONSchema:
		v, err := decodeValue(json.RawMessage(out))
		if err != nil {
			return fail("output is not valid JSON")
		}
		if err := a.schema.Validate(jsonSchemaValue(v)); err != nil {
			return fail("output does not match the schema: %s", clip(strings.ReplaceAll(err.Error(), "\n", "; "), 500))
		}
	case AssertMaxLength:
		if n := utf8.RuneCountInString(out); n > a.N {
			return fail("output is %d characters long, more than %d", n, a.N)
		}
	case AssertLLMJudge:
		return a.Judge.check(ctx, c, judgeModel, out)
	default:
		return fail("unknown assertion %q", a.Kind)
	}
	res.Pass = true
	return res
}

// judgeSystem instructs the judge model.
const judgeSystem = `You are a strict evaluator of a language model's output. ` +
	`Read the rubric and the output, decide whether the output satisfies the rubric, and reply with JSON only, ` +
	`no prose and no code fence: {"pass": true or false, "score": a number from 0 to 1, "reason": "one sentence"}.`

// verdict is the judge's JSON reply.
type verdict struct {
	Pass   *bool    `json:"pass"`
	Score  *float64 `json:"score"`
	Reason string   `json:"reason"`
}

// check asks the judge model about out.
func (j *Judge) check(ctx context.Context, c Completer, model, out string) AssertionResult {
	res := AssertionResult{Kind: AssertLLMJudge}
	model = firstNonEmpty(j.Model, model)
	fields := maps.Clone(j.Params)
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	fields["model"], _ = json.Marshal(model)
	fields["messages"], _ = json.Marshal([]switchboard.Message{
		{Role: "system", Content: switchboard.TextContent(judgeSystem)},
		{Role: "user", Content: switchboard.TextContent("Rubric:\n" + j.Rubric + "\n\nOutput to evaluate:\n" + out)},
	})
	body, _ := json.Marshal(fields)
	req, err := switchboard.DecodeChatRequest(body)
	if err != nil {
		res.Detail = "judge request: " + errorMessage(err)
		return res
	}
	answer, err := complete(ctx, c, model, req)
	if err != nil {
		res.Detail = "judge " + model + ": " + errorMessage(err)
		return res
	}
	v, err := parseVerdict(answer)
	if err != nil {
		res.Detail = fmt.Sprintf("judge %s: %v; it answered %q", model, err, clip(answer, 200))
		return res
	}
	switch {
	case j.Threshold != nil && v.Score != nil:
		res.Pass = *v.Score >= *j.Threshold
		res.Detail = fmt.Sprintf("score %g (threshold %g)", *v.Score, *j.Threshold)
	case v.Pass != nil:
		res.Pass = *v.Pass
		res.Detail = fmt.Sprintf("pass %t", *v.Pass)
	default: // a score without a threshold
		res.Pass = *v.Score >= 0.5
		res.Detail = fmt.Sprintf("score %g (threshold 0.5)", *v.Score)
	}
	if v.Reason != "" {
		res.Detail += ": " + v.Reason
	}
	return res
}

// parseVerdict finds the JSON object in a judge's answer (code fences and
// prose around it are tolerated).
func parseVerdict(answer string) (*verdict, error) {
	start, end := strings.Index(answer, "{"), strings.LastIndex(answer, "}")
	if start < 0 || end < start {
		return nil, errors.New("no JSON verdict in the answer")
	}
	var v verdict
	if err := json.Unmarshal([]byte(answer[start:end+1]), &v); err != nil {
		return nil, fmt.Errorf("the verdict is not valid JSON: %v", err)
	}
	if v.Pass == nil && v.Score == nil {
		return nil, errors.New(`the verdict has neither "pass" nor "score"`)
	}
	return &v, nil
}

// jsonSchemaValue converts decoded values to the types the jsonschema
// package validates (json.Number for numbers).
func jsonSchemaValue(v any) any {
	switch x := v.(type) {
	case int64:
		return json.Number(fmt.Sprint(x))
	case float64:
		return json.Number(fmt.Sprint(x))
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = jsonSchemaValue(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k := range x {
			out[k] = jsonSchemaValue(x[k])
		}
		return out
	}
	return v
}

// errorMessage is the message of err fit for a report: a
// *switchboard.Error's message, else the error.
func errorMessage(err error) string {
	var e *switchboard.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

func firstNonEmpty(s ...string) string {
	if i := slices.IndexFunc(s, func(x string) bool { return x != "" }); i >= 0 {
		return s[i]
	}
	return ""
}
