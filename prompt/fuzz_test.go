package prompt

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// FuzzLoad feeds arbitrary bytes to the prompt file loader, then renders
// whatever loads with the tests' variables and with none. Nothing may
// panic; every load problem names the file; every render failure is an
// error the client can be shown. Seeds: testdata/fuzz/FuzzLoad and the
// example folders. Run: go test ./prompt -run '^$' -fuzz FuzzLoad -fuzztime 60s
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/seed/prompt_templates.yaml", "testdata/native/support_reply.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newSetBuilder()
		b.parseFile("fuzz.yaml", "fuzz.yaml", data)
		fs, err := b.finish()
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("a load problem that does not name the file: %q", line)
				}
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("load error %v is no *LoadError", err)
			}
			return
		}
		for id, p := range fs.prompts {
			for _, v := range p.versions {
				spec, err := decodeSpec(v.content)
				if err != nil {
					t.Fatalf("%s: stored content does not decode: %v", id, err)
				}
				c, err := compile(id, spec)
				if err != nil {
					t.Fatalf("%s: a loaded version does not compile from its content: %v", id, err)
				}
				ver := &Version{PromptID: id, Version: v.version, Hash: v.hash, Spec: *spec, compiled: c}
				tests := append([]TestCase{{}}, p.tests...)
				for _, tc := range tests {
					if _, err := ver.Render(tc.Variables); err != nil {
						var se *switchboard.Error
						if !errors.As(err, &se) || se.Code != switchboard.CodeInvalidRequest {
							t.Fatalf("%s: render error %v is no invalid_request", id, err)
						}
					}
				}
			}
		}
	})
}
