package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testDecoder is a decoder with deterministic ids and time.
func testDecoder() decoder {
	n := 0
	return decoder{
		model:   "requested-model",
		created: 1700000000,
		newID: func(prefix string) string {
			n++
			return prefix + strconv.Itoa(n)
		},
		keep: func(string, string) {},
	}
}

// testEncoder knows one thought signature, for call_b.
func testEncoder() encoder {
	return encoder{signature: func(id string) (string, bool) {
		if id == "call_b" {
			return "c2lnLWI=", true
		}
		return "", false
	}}
}

// TestGolden translates each testdata/<case>.in.json and compares the
// result with testdata/<case>.golden:
//
//	request_*  an OpenAI chat request → the Gemini request body
//	response_* a Gemini response body → the OpenAI chat completion
//	stream_*   a JSON array of Gemini stream events → the OpenAI chunks, one a line
//
// A translation that fails writes "error: …" instead.
func TestGolden(t *testing.T) {
	t.Parallel()
	ins, err := filepath.Glob("testdata/*.in.json")
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
			var got []byte
			switch {
			case strings.HasPrefix(name, "request_"):
				got = goldenRequest(t, raw)
			case strings.HasPrefix(name, "response_"):
				got = goldenResponse(raw)
			case strings.HasPrefix(name, "stream_"):
				got = goldenStream(t, raw)
			default:
				t.Fatalf("unknown case kind %q", name)
			}
			golden := filepath.Join("testdata", name+".golden")
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
				t.Errorf("differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func goldenRequest(t *testing.T, raw []byte) []byte {
	req, err := switchboard.DecodeChatRequest(raw)
	if err != nil {
		t.Fatalf("input: %v", err)
	}
	g, err := testEncoder().request(req)
	if err != nil {
		return errorLine(err)
	}
	return mustIndent(t, g)
}

func goldenResponse(raw []byte) []byte {
	d := testDecoder()
	resp, err := d.response(raw)
	if err != nil {
		return errorLine(err)
	}
	b, _ := json.MarshalIndent(resp, "", "  ")
	return append(b, '\n')
}

func goldenStream(t *testing.T, raw []byte) []byte {
	var events []json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatalf("input: %v", err)
	}
	s := newStreamDecoder(testDecoder())
	var out []byte
	drain := func() {
		for c := s.next(); c != nil; c = s.next() {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			out = append(append(out, b...), '\n')
		}
	}
	for _, ev := range events {
		err := s.event(ev)
		drain()
		if err != nil {
			return append(out, errorLine(err)...)
		}
	}
	err := s.end()
	drain()
	if err != nil {
		out = append(out, errorLine(err)...)
	}
	return out
}

// errorLine describes a translation error: code, vendor code, param and message.
func errorLine(err error) []byte {
	var e *switchboard.Error
	if !errors.As(err, &e) {
		return []byte("error: " + err.Error() + "\n")
	}
	return fmt.Appendf(nil, "error: code=%s status=%d vendor_code=%q param=%q: %s\n", e.Code, e.Status, e.VendorCode, e.Param, e.Message)
}

func mustIndent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}
