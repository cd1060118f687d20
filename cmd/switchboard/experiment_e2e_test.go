package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// experimentConfig serves the prompt "ask": version 1 answers, version 2
// answers too, version 3 fails (its params script the mock to return 500).
func experimentConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	const ask = `labels: {production: "1"}
versions:
  - version: "1"
    model: echo
    variables: {q: string}
    messages: [{user: "Q1: {{ q }}"}]
  - version: "2"
    model: echo
    variables: {q: string}
    messages: [{user: "Q2: {{ q }}"}]
  - version: "3"
    model: echo-bad
    params: {mock: {status: 500}}
    variables: {q: string}
    messages: [{user: "Q3: {{ q }}"}]
`
	if err := os.WriteFile(filepath.Join(dir, "ask.yaml"), []byte(ask), 0o600); err != nil {
		t.Fatal(err)
	}
	return `
providers:
  demo: {type: mock}
  bad: {type: mock}
models:
  echo: {routes: [{provider: demo, model: mock-echo}], retry: {attempts: 1}}
  # The failing version has its own deployment, so that its circuit
  # breaker does not also stop the stable version's traffic.
  echo-bad: {routes: [{provider: bad, model: mock-echo}], retry: {attempts: 1}}
prompts: {dir: ` + dir + `, poll: 50ms}
experiments: {interval: 100ms, refresh: 50ms` + extra + `}
`
}

type askResult struct {
	status            int
	id, variant, vers string
}

func ask(t *testing.T, base, unit string) askResult {
	t.Helper()
	body := `{"user":"` + unit + `","prompt":{"id":"ask","variables":{"q":"why?"}}}`
	resp, b := call(t, "POST", base+"/v1/chat/completions", "", body)
	if resp.StatusCode != 200 && resp.StatusCode < 500 {
		t.Fatalf("ask %s: %d %s", unit, resp.StatusCode, b)
	}
	return askResult{resp.StatusCode, resp.Header.Get("X-Switchboard-Inference-Id"), resp.Header.Get("X-Switchboard-Variant"),
		resp.Header.Get("X-Switchboard-Prompt-Version")}
}

// TestExperimentEndToEnd: traffic with units → feedback → report JSON and
// HTML → ship; then a degraded canary is rolled back by the monitor, with
// an alert and an audit event carrying the numbers.
func TestExperimentEndToEnd(t *testing.T) {
	t.Parallel()
	var alerts struct {
		sync.Mutex
		bodies []string
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		alerts.Lock()
		alerts.bodies = append(alerts.bodies, string(b))
		alerts.Unlock()
	}))
	defer hook.Close()
	_, base := startGateway(t, experimentConfig(t, `, notifiers: [{type: webhook, url: "`+hook.URL+`"}]`))

	spec := `{"name":"ask-ab","prompt":"ask","label":"production","control":"v1",
	  "variants":[{"name":"v1","prompt_version":"1","weight":1},{"name":"v2","prompt_version":"2","weight":1}],
	  "metrics":[{"name":"thumbs_up","kind":"binary","direction":"higher"}]}`
	if resp, body := call(t, "POST", base+"/admin/v1/experiments", "", spec); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	// 300 units, two requests each: the variant is sticky per unit and the
	// prompt version follows the variant. Feedback: v2 is liked more.
	counts := map[string]int{}
	for i := range 300 {
		unit := fmt.Sprintf("user-%d", i)
		a, b := ask(t, base, unit), ask(t, base, unit)
		if a.status != 200 || a.variant == "" || a.variant != b.variant || a.vers != b.vers {
			t.Fatalf("unit %s: %+v then %+v", unit, a, b)
		}
		if want := map[string]string{"v1": "1", "v2": "2"}[a.variant]; a.vers != want {
			t.Fatalf("variant %s served version %s", a.variant, a.vers)
		}
		counts[a.variant]++
		liked := i%10 < 3
		if a.variant == "v2" {
			liked = i%10 < 7
		}
		fb := fmt.Sprintf(`{"inference_id":%q,"metric":"thumbs_up","value":%t}`, a.id, liked)
		if resp, body := call(t, "POST", base+"/v1/feedback", "", fb); resp.StatusCode != 201 {
			t.Fatalf("feedback: %d %s", resp.StatusCode, body)
		}
		if i == 0 { // idempotent: the same pair again changes nothing
			if resp, body := call(t, "POST", base+"/v1/feedback", "", fb); resp.StatusCode != 200 || !strings.Contains(body, `"unchanged"`) {
				t.Fatalf("repeated feedback: %d %s", resp.StatusCode, body)
			}
		}
	}
	if counts["v1"] < 100 || counts["v2"] < 100 {
		t.Fatalf("split %v", counts)
	}
	if resp, body := call(t, "POST", base+"/v1/feedback", "", `{"inference_id":"x","metric":"thumbs_up","value":"yes"}`); resp.StatusCode != 400 || !strings.Contains(body, `"value"`) {
		t.Errorf("bad feedback: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, "POST", base+"/v1/feedback", "", `{"inference_id":"chatcmpl-typo","metric":"thumbs_up","value":true}`); resp.StatusCode != 404 || !strings.Contains(body, `"param":"inference_id"`) {
		t.Errorf("feedback on an unknown inference: %d %s", resp.StatusCode, body)
	}

	var rep struct {
		Units    int64
		Variants []struct {
			Name  string
			Units int64
		}
		SRM *struct {
			Mismatch bool
		}
		Metrics []struct {
			Name string
			Arms []struct {
				Variant string
				Units   int64
				Mean    float64
			}
			Comparisons []struct {
				Variant    string
				Diff       float64
				Fixed      *struct{ Method string }
				Sequential *struct {
					Method      string
					Significant bool
				}
				Outcome string
			}
		}
		Decision struct{ Action, Variant string }
	}
	waitFor(t, func() bool { // the records are written in batches
		_, body := call(t, "GET", base+"/admin/v1/experiments/ask-ab/report", "", "")
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("report %s: %v", body, err)
		}
		return rep.Units == 300
	})
	if rep.SRM == nil || rep.SRM.Mismatch {
		t.Errorf("SRM %+v", rep.SRM)
	}
	var thumbs bool
	for _, m := range rep.Metrics {
		if m.Name != "thumbs_up" {
			continue
		}
		thumbs = true
		if len(m.Arms) != 2 || len(m.Comparisons) != 1 {
			t.Fatalf("thumbs_up %+v", m)
		}
		c := m.Comparisons[0]
		if c.Variant != "v2" || c.Diff < 0.3 || c.Fixed == nil || c.Sequential == nil || c.Sequential.Method == "" || !c.Sequential.Significant || c.Outcome != "better" {
			t.Errorf("comparison %+v", c)
		}
	}
	if !thumbs || rep.Decision.Action != "ship" || rep.Decision.Variant != "v2" {
		t.Errorf("report: thumbs %v decision %+v", thumbs, rep.Decision)
	}
	// The HTML report, rendered by a real browser.
	dom := browserDOM(t, base+"/admin/v1/experiments/ask-ab/report.html")
	for _, want := range []string{"ask-ab", "thumbs_up", "v2"} {
		if !strings.Contains(dom, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	// Ship by hand: production now serves version 2.
	if resp, body := call(t, "POST", base+"/admin/v1/experiments/ask-ab/ship", "", `{"variant":"v2","reason":"liked more"}`); resp.StatusCode != 200 || !strings.Contains(body, `"shipped"`) {
		t.Fatalf("ship: %d %s", resp.StatusCode, body)
	}
	waitFor(t, func() bool { return ask(t, base, "after-ship").vers == "2" })

	// A canary of the failing version 3 on 50 % of production is rolled
	// back by the monitor.
	resp, body := call(t, "POST", base+"/admin/v1/prompts/ask/canary", "", `{"name":"ask-canary","version":"3","percent":50,"planned_units":100000}`)
	if resp.StatusCode != 201 {
		t.Fatalf("canary: %d %s", resp.StatusCode, body)
	}
	var failed int
	for i := 0; i < 2000; i++ {
		if ask(t, base, fmt.Sprintf("c-%d", i)).status >= 500 {
			failed++
		}
		if i%100 == 99 {
			_, body := call(t, "GET", base+"/admin/v1/experiments/ask-canary", "", "")
			if strings.Contains(body, `"rolled_back"`) {
				break
			}
		}
	}
	waitForStatus(t, base, "ask-canary", "rolled_back")
	if failed == 0 {
		t.Fatal("the canary never failed")
	}
	// The status is written before the gateway's resolver reloads, so the
	// first calls after it may still be in the canary for a moment.
	waitFor(t, func() bool {
		a := ask(t, base, "after-rollback")
		if a.vers != "2" || a.status != 200 || a.variant != "" {
			t.Logf("after the rollback: %+v, want version 2 outside any experiment", a)
			return false
		}
		return true
	})
	// The audit event follows the label move, which follows the status the
	// resolver already sees: it may come a moment later.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body = call(t, "GET", base+"/admin/v1/audit?target=experiment:ask-canary", "", "")
		if strings.Contains(body, "rollback") && strings.Contains(body, "error") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback in the audit within 5 s: %s", body)
		}
	}
	waitFor(t, func() bool {
		alerts.Lock()
		defer alerts.Unlock()
		return len(alerts.bodies) > 0 && strings.Contains(strings.Join(alerts.bodies, "\n"), "ask-canary")
	})
	t.Logf("canary rolled back after %d failed calls", failed)
}

// TestCanaryPromotedEndToEnd: a healthy canary (no errors in either arm,
// so the error rate never has the 10 events a rollback test needs) is
// promoted to 100 % by the monitor once its planned sample is reached.
func TestCanaryPromotedEndToEnd(t *testing.T) {
	t.Parallel()
	_, base := startGateway(t, experimentConfig(t, ""))
	resp, body := call(t, "POST", base+"/admin/v1/prompts/ask/canary", "",
		`{"name":"ask-v2","version":"2","percent":50,"planned_units":200,"guards":[{"name":"error"}]}`)
	if resp.StatusCode != 201 {
		t.Fatalf("canary: %d %s", resp.StatusCode, body)
	}
	waitFor(t, func() bool { return ask(t, base, "probe").variant != "" })
	for i := 0; i < 2000; i++ {
		if a := ask(t, base, fmt.Sprintf("u-%d", i)); a.status != 200 {
			t.Fatalf("call %d: %+v", i, a)
		}
		if i >= 200 && i%50 == 0 {
			if _, body := call(t, "GET", base+"/admin/v1/experiments/ask-v2", "", ""); strings.Contains(body, `"shipped"`) {
				break
			}
		}
	}
	waitForStatus(t, base, "ask-v2", "shipped")
	waitFor(t, func() bool {
		a := ask(t, base, "after-ship")
		return a.status == 200 && a.vers == "2" && a.variant == ""
	})
	_, body = call(t, "GET", base+"/admin/v1/prompts/ask/labels/production/history", "", "")
	if !strings.Contains(body, `"system"`) {
		t.Errorf("label history lacks the system promotion: %s", body)
	}
}

// waitForStatus waits until the experiment name has status, logging the
// experiment and its report while it has not.
func waitForStatus(t *testing.T, base, name, status string) {
	t.Helper()
	waitFor(t, func() bool {
		_, body := call(t, "GET", base+"/admin/v1/experiments/"+name, "", "")
		if !strings.Contains(body, `"status":"`+status+`"`) {
			_, rep := call(t, "GET", base+"/admin/v1/experiments/"+name+"/report", "", "")
			t.Logf("%s not %s yet: %s\nreport: %s", name, status, body, rep)
			return false
		}
		return true
	})
}
