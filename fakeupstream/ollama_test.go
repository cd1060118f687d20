package fakeupstream_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

var createdAtRE = regexp.MustCompile(`"created_at":"[^"]*"`)

// normaliseNative is normalise plus Ollama's created_at.
func normaliseNative(b []byte) []byte {
	return createdAtRE.ReplaceAll(normalise(b), []byte(`"created_at":"2023-11-14T22:13:20Z"`))
}

// goldenDir runs the golden cases of dir: each <case>.in.json is sent to
// the path route returns for its name, and the normalised body is compared
// with <case>.golden (-update rewrites them).
func goldenDir(t *testing.T, dir string, route func(name string) (method, path string)) {
	t.Helper()
	_, url := newServer(t, fakeupstream.Options{})
	ins, err := filepath.Glob(filepath.Join("testdata", dir, "*.in.json"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs in testdata/%s: %v", dir, err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			method, path := route(name)
			resp, got := mustDo(t, t.Context(), method, url+path, string(body), nil)
			got = append([]byte(resp.Status+" "+resp.Header.Get("Content-Type")+"\n"), normaliseNative(got)...)
			golden := filepath.Join("testdata", dir, name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestOllamaGolden sends testdata/ollama/<case>.in.json to /api/chat
// (embed_* to /api/embed) and compares status, content type and body.
func TestOllamaGolden(t *testing.T) {
	t.Parallel()
	goldenDir(t, "ollama", func(name string) (string, string) {
		if strings.HasPrefix(name, "embed_") {
			return http.MethodPost, "/api/embed"
		}
		return http.MethodPost, "/api/chat"
	})
}

func TestOllamaStreamIsNDJSON(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/api/chat",
		`{"model":"mock-lorem","options":{"num_predict":3},"messages":[{"role":"user","content":"x"}]}`, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("got %d %q, want 200 application/x-ndjson (streaming is the default)", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 3 pieces and the done line", len(lines))
	}
	last := lines[3]
	if last["done"] != true || last["done_reason"] != "length" || last["eval_count"] != 3.0 || last["prompt_eval_count"] == nil {
		t.Errorf("got last line %v, want done with counts", last)
	}
	for _, l := range lines[:3] {
		if l["done"] != false {
			t.Errorf("got line %v before the end, want done false", l)
		}
	}
}

func TestOllamaErrors(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	const ok = `{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name           string
		path, body     string
		header         map[string]string
		wantStatus     int
		wantMessage    string
		wantRetryAfter string
	}{
		{"empty body", "/api/chat", "", nil, 400, "missing request body", ""},
		{"bad JSON", "/api/chat", "{", nil, 400, "unexpected end of JSON input", ""},
		{"no model", "/api/chat", `{"messages":[]}`, nil, 400, "model is required", ""},
		{"bad image", "/api/chat", `{"model":"m","messages":[{"role":"user","content":"x","images":["%%%"]}]}`, nil, 400, "illegal base64 data", ""},
		{"string arguments", "/api/chat", `{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}]}`, nil, 400, "cannot unmarshal string", ""},
		{"bad format", "/api/chat", `{"model":"m","format":"yaml","messages":[]}`, nil, 400, "invalid format", ""},
		{"bad num_predict", "/api/chat", `{"model":"m","options":{"num_predict":"x"},"messages":[]}`, nil, 400, `option "num_predict" must be of type integer`, ""},
		{"not pulled", "/api/chat", ok, map[string]string{"x-mock-status": "404"}, 404, `model "llama3.2" not found, try pulling it first`, ""},
		{"busy", "/api/chat", ok, map[string]string{"x-mock-status": "503", "x-mock-retry-after": "2"}, 503, "server busy", "2"},
		{"embed no model", "/api/embed", `{"input":"x"}`, nil, 400, "model is required", ""},
		{"embed bad input", "/api/embed", `{"model":"e","input":[1,2]}`, nil, 400, "invalid input type", ""},
		{"embed status", "/api/embed", `{"model":"e","input":"x","mock":{"status":500}}`, nil, 500, "llama runner process has terminated", ""},
		{"bad mock option", "/api/chat", `{"model":"m","messages":[],"mock":{"nope":1}}`, nil, 400, "unknown mock option", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := mustDo(t, t.Context(), http.MethodPost, url+tc.path, tc.body, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tc.wantMessage) {
				t.Errorf("got body %s (%v), want {\"error\"} containing %q", body, err, tc.wantMessage)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetryAfter {
				t.Errorf("got retry-after %q, want %q", got, tc.wantRetryAfter)
			}
		})
	}
}

func TestOllamaTagsAndVersion(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodGet, url+"/api/tags", "", nil)
	var tags struct {
		Models []struct {
			Name, Model, ModifiedAt, Digest string
			Size                            int64
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &tags); err != nil || resp.StatusCode != 200 || len(tags.Models) != 3 {
		t.Fatalf("got %d %s (%v), want the three mock models", resp.StatusCode, body, err)
	}
	if m := tags.Models[0]; m.Name != "mock-echo:latest" || m.Model != m.Name || len(m.Digest) != 64 || m.Size == 0 {
		t.Errorf("got %+v", m)
	}
	resp, body = mustDo(t, t.Context(), http.MethodGet, url+"/api/version", "", nil)
	if resp.StatusCode != 200 || string(body) != `{"version":"`+fakeupstream.OllamaVersion+`"}` {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
}
