package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	badType := filepath.Join(dir, "badtype.yaml")
	_ = os.WriteFile(good, []byte(`
storage: {driver: sqlite, dsn: `+filepath.Join(dir, "x.db")+`}
providers:
  upstream: {type: openai, base_url: http://127.0.0.1:9/v1, api_key: sk-very-secret}
  demo: {type: mock}
models:
  mock-model: {routes: [{provider: upstream, model: gpt-4o-mini}]}
`), 0o600)
	_ = os.WriteFile(bad, []byte("server:\n  lisen: 1\n"), 0o600)
	_ = os.WriteFile(badType, []byte("providers:\n  x: {type: opnai}\n"), 0o600)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantOut    string
		wantErr    string
		wantNotOut string
	}{
		{"validate ok", []string{"config", "validate", "--config", good}, 0, "configuration OK: 2 providers, 1 models", "", ""},
		{"print masks secrets", []string{"config", "print", "--config", good}, 0, "REDACTED", "", "sk-very-secret"},
		{"unknown key", []string{"config", "validate", "--config", bad}, 1, "", bad + ":2", ""},
		{"unknown provider type", []string{"config", "validate", "--config", badType}, 1, "", `unknown provider type "opnai"`, ""},
		{"bad set", []string{"config", "validate", "--set", "server.max_in_flight=abc"}, 1, "", "max_in_flight", ""},
		{"version", []string{"version"}, 0, "switchboard dev", "", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command", ""},
		{"no command", nil, 2, "", "Usage", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_HOST"} {
				t.Setenv(k, "")
			}
			t.Chdir(dir)
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("got exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q lacks %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.wantErr)
			}
			if tc.wantNotOut != "" && strings.Contains(out.String()+errb.String(), tc.wantNotOut) {
				t.Errorf("output contains %q", tc.wantNotOut)
			}
		})
	}
}

// TestShippedConfigsValidate keeps the example configurations true.
func TestShippedConfigsValidate(t *testing.T) {
	for _, f := range []string{"../../config.example.yaml", "../../examples/upstream.yaml", "../../bench/gateway.yaml"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			abs, err := filepath.Abs(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(abs); err != nil {
				t.Skipf("%s not present", f)
			}
			for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_HOST", "GEMINI_API_KEY"} {
				t.Setenv(k, "")
			}
			t.Chdir(t.TempDir())
			var out, errb bytes.Buffer
			if code := run([]string{"config", "validate", "--config", abs, "--set", "storage.dsn=" + filepath.Join(t.TempDir(), "x.db")}, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
		})
	}
}
