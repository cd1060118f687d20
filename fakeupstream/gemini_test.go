package fakeupstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

var geminiKey = map[string]string{"x-goog-api-key": "g-key"}

var (
	geminiResponseIDRE = regexp.MustCompile(`"responseId":"[0-9a-f]{24}"`)
	geminiSignatureRE  = regexp.MustCompile(`"thoughtSignature":"[A-Za-z0-9+/=]+"`)
)

// normaliseGemini replaces the random response ids and signatures.
func normaliseGemini(b []byte) []byte {
	b = geminiResponseIDRE.ReplaceAll(b, []byte(`"responseId":"ID"`))
	return geminiSignatureRE.ReplaceAll(b, []byte(`"thoughtSignature":"SIG"`))
}

// TestGeminiGolden sends each testdata/gemini/<case>.in.json ({"path",
// "body"}) and compares the answer, normalised, with <case>.golden.
func TestGeminiGolden(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	ins, err := filepath.Glob("testdata/gemini/*.in.json")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				Path string          `json:"path"`
				Body json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			resp, got := mustDo(t, t.Context(), http.MethodPost, url+c.Path, string(c.Body), geminiKey)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d, want 200: %s", resp.StatusCode, got)
			}
			if strings.Contains(c.Path, "alt=sse") {
				checkEvents(t, append(got, "data: [DONE]\n\n"...), false)
			} else if !json.Valid(got) {
				t.Errorf("got invalid JSON %s", got)
			}
			got = normaliseGemini(got)
			golden := filepath.Join("testdata", "gemini", name+".golden")
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

// geminiErrorOf decodes Google's error envelope.
func geminiErrorOf(t *testing.T, body []byte) (code int, status, msg string, details []map[string]any) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int              `json:"code"`
			Message string           `json:"message"`
			Status  string           `json:"status"`
			Details []map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e.Error.Code, e.Error.Status, e.Error.Message, e.Error.Details
}

func TestGeminiErrors(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	const gen = "/v1beta/models/mock-echo:generateContent"
	const user = `"contents":[{"role":"user","parts":[{"text":"x"}]}]`
	tests := []struct {
		name       string
		path, body string
		header     map[string]string
		wantStatus int
		wantGoogle string
		wantMsg    string
	}{
		{"no key", gen, `{` + user + `}`, nil, 403, "PERMISSION_DENIED", "unregistered callers"},
		{"key in query", gen + "?key=k", `{` + user + `,"mock":{"status":404}}`, nil, 404, "NOT_FOUND", "not found"},
		{"unknown field", gen, `{` + user + `,"temperature":1}`, geminiKey, 400, "INVALID_ARGUMENT", `Unknown name "temperature"`},
		{"no contents", gen, `{}`, geminiKey, 400, "INVALID_ARGUMENT", "contents is not specified"},
		{"bad role", gen, `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, geminiKey, 400, "INVALID_ARGUMENT", "valid role"},
		{"empty part", gen, `{"contents":[{"role":"user","parts":[{}]}]}`, geminiKey, 400, "INVALID_ARGUMENT", "oneof field 'data'"},
		{"bad base64", gen, `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"!"}}]}]}`, geminiKey, 400, "INVALID_ARGUMENT", "Base64 decoding failed"},
		{"additionalProperties", gen, `{` + user + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}}]}]}`,
			geminiKey, 400, "INVALID_ARGUMENT", `Unknown name "additionalProperties" at 'tools[0].function_declarations[0].parameters'`},
		{"type array", gen, `{` + user + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{"a":{"type":["string","null"]}}}}]}]}`,
			geminiKey, 400, "INVALID_ARGUMENT", "Invalid value at"},
		{"empty object parameters", gen, `{` + user + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{}}}]}]}`,
			geminiKey, 400, "INVALID_ARGUMENT", "should be non-empty for OBJECT type"},
		{"missing thought signature", gen, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"a":1}}}]}]}`,
			geminiKey, 400, "INVALID_ARGUMENT", "missing a thought_signature"},
		{"allowed names without ANY", gen, `{` + user + `,"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO","allowedFunctionNames":["f"]}}}`,
			geminiKey, 400, "INVALID_ARGUMENT", "allowed_function_names"},
		{"unknown function", "/v1beta/models/mock-tools:generateContent", `{` + user + `,"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}`,
			geminiKey, 400, "INVALID_ARGUMENT", "was not found"},
		{"bad mock option", gen, `{` + user + `,"mock":{"nope":1}}`, geminiKey, 400, "INVALID_ARGUMENT", "unknown mock option"},
		{"unknown method", "/v1beta/models/mock-echo:predict", `{}`, geminiKey, 404, "NOT_FOUND", "Method not found"},
		{"no method", "/v1beta/models/mock-echo", `{}`, geminiKey, 404, "NOT_FOUND", "not found"},
		{"429", gen, `{` + user + `,"mock":{"status":429,"retry_after":13}}`, geminiKey, 429, "RESOURCE_EXHAUSTED", "quota"},
		{"500 header option", gen, `{` + user + `}`, map[string]string{"x-goog-api-key": "k", "x-mock-status": "500"}, 500, "INTERNAL", "internal error"},
		{"503", gen, `{` + user + `,"mock":{"status":503}}`, geminiKey, 503, "UNAVAILABLE", "overloaded"},
		{"embed other model", "/v1beta/models/mock-embed:batchEmbedContents", `{"requests":[{"model":"models/x","content":{"parts":[{"text":"a"}]}}]}`, geminiKey, 400, "INVALID_ARGUMENT", "model of the URL"},
		{"embed empty", "/v1beta/models/mock-embed:batchEmbedContents", `{"requests":[]}`, geminiKey, 400, "INVALID_ARGUMENT", "must not be empty"},
		{"unknown model", "/v1beta/models/nope", "", geminiKey, 404, "NOT_FOUND", "models/nope is not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			resp, body := mustDo(t, t.Context(), method, url+tc.path, tc.body, tc.header)
			code, status, msg, details := geminiErrorOf(t, body)
			if resp.StatusCode != tc.wantStatus || code != tc.wantStatus || status != tc.wantGoogle || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("got %d %d %s %q, want %d %s containing %q", resp.StatusCode, code, status, msg, tc.wantStatus, tc.wantGoogle, tc.wantMsg)
			}
			if tc.name == "429" {
				if !bytes.Contains(body, []byte(`"retryDelay": "13s"`)) || len(details) != 3 {
					t.Errorf("got details %v, want QuotaFailure, Help and RetryInfo of 13s", details)
				}
			}
		})
	}
}

func TestGeminiModels(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodGet, url+"/v1beta/models", "", geminiKey)
	var list struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 || len(list.Models) != 3 || list.Models[0].Name != "models/mock-echo" {
		t.Fatalf("got %d %s (%v), want the three mock models", resp.StatusCode, body, err)
	}
	resp, body = mustDo(t, t.Context(), http.MethodGet, url+"/v1beta/models/mock-tools", "", geminiKey)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"name":"models/mock-tools"`)) {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
	// The OpenAI list at /v1/models is untouched.
	resp, body = mustDo(t, t.Context(), http.MethodGet, url+"/v1/models", "", nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"object":"list"`)) {
		t.Errorf("got %d %s, want the OpenAI list", resp.StatusCode, body)
	}
}

// TestGeminiWrongKey: with RequireKey, a Gemini request carrying it (and a
// bearer token, which the server's own check wants) passes; one with
// another x-goog-api-key gets Gemini's API_KEY_INVALID.
func TestGeminiWrongKey(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{RequireKey: "right"})
	body := `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`
	resp, got := mustDo(t, t.Context(), http.MethodPost, url+"/v1beta/models/m:generateContent", body,
		map[string]string{"Authorization": "Bearer right", "x-goog-api-key": "wrong"})
	if _, status, msg, _ := geminiErrorOf(t, got); resp.StatusCode != 400 || status != "INVALID_ARGUMENT" || !strings.Contains(msg, "API key not valid") || !bytes.Contains(got, []byte("API_KEY_INVALID")) {
		t.Errorf("got %d %s, want 400 API_KEY_INVALID", resp.StatusCode, got)
	}
	resp, got = mustDo(t, t.Context(), http.MethodPost, url+"/v1beta/models/m:generateContent", body,
		map[string]string{"Authorization": "Bearer right", "x-goog-api-key": "right"})
	if resp.StatusCode != 200 {
		t.Errorf("got %d %s, want 200", resp.StatusCode, got)
	}
}

func TestGeminiStreamBroken(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	body := `{"contents":[{"role":"user","parts":[{"text":"a b c d"}]}],"mock":{"malformed":true}}`
	resp, got := mustDo(t, t.Context(), http.MethodPost, url+"/v1beta/models/mock-echo:streamGenerateContent?alt=sse", body, geminiKey)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := strings.Split(strings.TrimSpace(string(got)), "\n\n")
	if len(events) != 4 || json.Valid([]byte(strings.TrimPrefix(events[1], "data: "))) {
		t.Errorf("got events %q, want 4 with the second broken", events)
	}
}

// FuzzGeminiHandlers feeds arbitrary bodies to the Gemini routes: the fake
// must answer (or cut the connection on purpose) and never panic.
func FuzzGeminiHandlers(f *testing.F) {
	f.Add(0, `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{"a":{"anyOf":[{"type":"string"},{"items":{}}]}}}}]}]}`)
	f.Add(1, `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"},"thoughtSignature":"x"}]}],"generationConfig":{"candidateCount":3,"maxOutputTokens":1},"mock":{"malformed":true}}`)
	f.Add(2, `{"requests":[{"model":"models/m","content":{"parts":[{"text":"a"}]},"outputDimensionality":4}]}`)
	f.Add(3, `{"generateContentRequest":{"contents":[{"parts":[{"functionResponse":{"name":"f","response":{"content":"r"}}}]}]}}`)
	f.Add(4, `{"content":{"parts":[{"text":"a"}]}}`)
	paths := []string{
		"/v1beta/models/mock-tools:generateContent", "/v1beta/models/mock-lorem:streamGenerateContent?alt=sse",
		"/v1beta/models/m:batchEmbedContents", "/v1/models/m:countTokens", "/v1beta/models/m:embedContent",
	}
	s := fakeupstream.New(fakeupstream.Options{})
	f.Fuzz(func(t *testing.T, route int, body string) {
		path := paths[uint(route)%uint(len(paths))]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("X-Goog-Api-Key", "k")
		w := httptest.NewRecorder()
		defer func() {
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				t.Fatalf("POST %s %q: panic %v", path, body, p)
			}
		}()
		s.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("POST %s %q: got status %d", path, body, w.Code)
		}
	})
}
