package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePrompts writes a prompts folder: the seed layout and a native file.
func writePrompts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"prompt_templates.yaml": `prompts:
  v1:
    rag_query:
      template: "Context: {{ context }}\nQuestion: {{ question }}"
      version: "1.0"
      description: Answer from context
`,
		"greet.yaml": `description: Greet a customer
labels: {production: "1"}
versions:
  - version: "1"
    model: mock-echo
    params: {max_tokens: 50}
    variables:
      name: {type: string, required: true, max_length: 20}
    messages:
      - system: "You are terse."
      - user: "Say hello to {{ name }}."
  - version: "2"
    model: mock-echo
    params: {max_tokens: 50}
    variables:
      name: {type: string, required: true, max_length: 20}
    messages:
      - system: "You are warm."
      - user: "Greet {{ name }} warmly."
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPromptCallsThroughTheGateway(t *testing.T) {
	t.Parallel()
	dir := writePrompts(t)
	_, base := startGateway(t, "prompts: {dir: "+dir+", poll: 50ms}\n")
	chat := base + "/v1/chat/completions"

	// The production label (version 1) renders into the messages; the
	// mock echoes the last user message.
	resp, body := call(t, "POST", chat, "", `{"prompt":{"id":"greet","variables":{"name":"Ada"}}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("prompt call: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "Say hello to Ada.") {
		t.Errorf("answer %s does not echo the rendered prompt", body)
	}
	if resp.Header.Get("X-Switchboard-Prompt") != "greet" || resp.Header.Get("X-Switchboard-Prompt-Version") != "1" || resp.Header.Get("X-Switchboard-Prompt-Label") != "production" {
		t.Errorf("prompt headers %v", resp.Header)
	}
	// An explicit version, and the seed layout with a client model.
	resp, body = call(t, "POST", chat, "", `{"prompt":{"id":"greet","version":"2","variables":{"name":"Bo"}}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "Greet Bo warmly.") || resp.Header.Get("X-Switchboard-Prompt-Version") != "2" {
		t.Fatalf("version 2: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = call(t, "POST", chat, "", `{"model":"mock-echo","prompt":{"id":"rag_query","variables":{"context":"sky is blue","question":"colour?"}}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "Question: colour?") {
		t.Fatalf("seed prompt: %d %s", resp.StatusCode, body)
	}

	// Bad variables are a 400 naming the variable.
	for _, tc := range []struct{ body, param string }{
		{`{"prompt":{"id":"greet","variables":{}}}`, "prompt.variables.name"},
		{`{"prompt":{"id":"greet","variables":{"name":5}}}`, "prompt.variables.name"},
		{`{"prompt":{"id":"greet","variables":{"name":"a very long name indeed, too long"}}}`, "prompt.variables.name"},
		{`{"model":"mock-echo","prompt":{"id":"rag_query","variables":{"context":"x"}}}`, "prompt.variables.question"},
		{`{"prompt":{"variables":{}}}`, "prompt.id"},
	} {
		resp, body := call(t, "POST", chat, "", tc.body)
		var e struct {
			Error struct{ Param, Message string }
		}
		_ = json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != 400 || e.Error.Param != tc.param {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.body, resp.StatusCode, body, tc.param)
		}
	}
	if resp, body := call(t, "POST", chat, "", `{"prompt":{"id":"nope"}}`); resp.StatusCode != 404 {
		t.Errorf("unknown prompt: %d %s", resp.StatusCode, body)
	}

	// Render without calling a model.
	resp, body = call(t, "POST", base+"/v1/prompts/greet/render", "", `{"label":"production","variables":{"name":"Cy"}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "Say hello to Cy.") || !strings.Contains(body, `"version":"1"`) {
		t.Fatalf("render: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, "POST", base+"/v1/prompts/greet/render", "", `{"variables":{}}`); resp.StatusCode != 400 || !strings.Contains(body, `"param":"variables.name"`) {
		t.Errorf("render without a required variable: %d %s", resp.StatusCode, body)
	}

	// Promote version 2, then roll back: each change is in the history and
	// the audit log.
	if resp, body := call(t, "PUT", base+"/admin/v1/prompts/greet/labels/production", "", `{"version":"2","reason":"warmer"}`); resp.StatusCode != 200 {
		t.Fatalf("promote: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, "POST", chat, "", `{"prompt":{"id":"greet","variables":{"name":"Di"}}}`)
	if !strings.Contains(body, "Greet Di warmly.") {
		t.Fatalf("after promote: %s", body)
	}
	if resp, body := call(t, "POST", base+"/admin/v1/prompts/greet/labels/production/rollback", "", `{"reason":"too warm"}`); resp.StatusCode != 200 {
		t.Fatalf("rollback: %d %s", resp.StatusCode, body)
	}
	_, body = call(t, "POST", chat, "", `{"prompt":{"id":"greet","variables":{"name":"Ed"}}}`)
	if !strings.Contains(body, "Say hello to Ed.") {
		t.Fatalf("after rollback: %s", body)
	}
	_, body = call(t, "GET", base+"/admin/v1/prompts/greet/labels/production/history", "", "")
	if !strings.Contains(body, "too warm") || !strings.Contains(body, "warmer") {
		t.Errorf("history %s", body)
	}
	_, body = call(t, "GET", base+"/admin/v1/audit?target=prompt:greet", "", "")
	if !strings.Contains(body, "prompt.promote") || !strings.Contains(body, "prompt.rollback") {
		t.Errorf("audit %s", body)
	}
	_, body = call(t, "GET", base+"/admin/v1/prompts/greet/diff?from=1&to=2", "", "")
	if !strings.Contains(body, "messages") {
		t.Errorf("diff %s", body)
	}

	// Created through the admin API, in the files' shorthand: 201 with JSON,
	// the same content again is 200; a bad field is named.
	def := `{"id":"api_made","variables":{"who":"string"},"messages":[{"system":"Be brief."},{"user":"Hi {{ who }}"}],"model":"mock-echo"}`
	resp, body = call(t, "POST", base+"/admin/v1/prompts", "", def)
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("create: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body := call(t, "POST", base+"/admin/v1/prompts", "", def); resp.StatusCode != 200 {
		t.Fatalf("create again: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, "POST", chat, "", `{"prompt":{"id":"api_made","variables":{"who":"Gus"}}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "Hi Gus") {
		t.Fatalf("API-made prompt: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, "POST", base+"/admin/v1/prompts", "", `{"id":"bad","model":5,"template":"x"}`)
	if resp.StatusCode != 400 || !strings.Contains(body, `"param":"model"`) || strings.Contains(body, "prompt.") {
		t.Errorf("bad create: %d %s", resp.StatusCode, body)
	}

	// A bad edit is refused with file:line and the good set stays live.
	if err := os.WriteFile(filepath.Join(dir, "greet.yaml"), []byte("versions: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, body := call(t, "GET", base+"/admin/v1/prompts", "", "")
		return strings.Contains(body, "greet.yaml:")
	})
	if resp, body := call(t, "POST", chat, "", `{"prompt":{"id":"greet","variables":{"name":"Fa"}}}`); resp.StatusCode != 200 {
		t.Fatalf("after a bad edit: %d %s", resp.StatusCode, body)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
