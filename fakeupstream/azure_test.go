package fakeupstream_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

var azureKey = map[string]string{"api-key": "a-key"}

// TestAzureGolden sends each testdata/azure/<case>.in.json ({"path",
// "body"}) and compares the answer, normalised, with <case>.golden.
func TestAzureGolden(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	ins, err := filepath.Glob("testdata/azure/*.in.json")
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
			resp, got := mustDo(t, t.Context(), http.MethodPost, url+c.Path, string(c.Body), azureKey)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Apim-Request-Id") == "" {
				t.Fatalf("got status %d (apim-request-id %q), want 200: %s", resp.StatusCode, resp.Header.Get("Apim-Request-Id"), got)
			}
			if strings.Contains(name, "stream") {
				checkEvents(t, got, false)
			}
			got = normalise(got)
			golden := filepath.Join("testdata", "azure", name+".golden")
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

func TestAzureErrors(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	const chat = "/openai/deployments/mock-echo/chat/completions"
	const body = `{"messages":[{"role":"user","content":"x"}]}`
	tests := []struct {
		name, path, body string
		header           map[string]string
		wantStatus       int
		wantCode         string
		wantMsg          string
	}{
		{"no api-version", chat, body, azureKey, 404, `"404"`, "Resource not found"},
		{"no key", chat + "?api-version=2024-10-21", body, nil, 401, `"401"`, "Access denied"},
		{"empty key", chat + "?api-version=2024-10-21", body, map[string]string{"api-key": ""}, 401, `"401"`, "Access denied"},
		{"bad body", chat + "?api-version=2024-10-21", `{"messages":3}`, azureKey, 400, "null", "'messages' must be an array"},
		{"mock status", chat + "?api-version=2024-10-21", `{"messages":[{"role":"user","content":"x"}],"mock":{"status":429,"retry_after":2}}`, azureKey, 429, `"rate_limit_exceeded"`, "Rate limit"},
		{"bearer", chat + "?api-version=2024-10-21", body, map[string]string{"Authorization": "Bearer entra"}, 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, got := mustDo(t, t.Context(), http.MethodPost, url+tc.path, tc.body, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, got, tc.wantStatus)
			}
			if tc.wantStatus == 200 {
				return
			}
			var e struct {
				Error struct {
					Code    json.RawMessage `json:"code"`
					Message string          `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(got, &e); err != nil || string(e.Error.Code) != tc.wantCode || !strings.Contains(e.Error.Message, tc.wantMsg) {
				t.Errorf("got %s (%v), want code %s and a message containing %q", got, err, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

// TestAzureRequireKey: with RequireKey, only the key (as a bearer token,
// which the server's own check also takes) passes.
func TestAzureRequireKey(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{RequireKey: "right"})
	path := url + "/openai/deployments/mock-echo/chat/completions?api-version=2024-10-21"
	body := `{"messages":[{"role":"user","content":"x"}]}`
	if resp, got := mustDo(t, t.Context(), http.MethodPost, path, body, map[string]string{"Authorization": "Bearer right"}); resp.StatusCode != 200 {
		t.Errorf("got %d %s, want 200", resp.StatusCode, got)
	}
	if resp, got := mustDo(t, t.Context(), http.MethodPost, path, body, map[string]string{"Authorization": "Bearer wrong"}); resp.StatusCode != 401 {
		t.Errorf("got %d %s, want 401", resp.StatusCode, got)
	}
}
