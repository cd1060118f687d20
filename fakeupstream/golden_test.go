package fakeupstream_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden sends each testdata/<case>.in.json (openai_* to
// /v1/chat/completions, anthropic_* to /v1/messages) and compares the body,
// ids and timestamps normalised, byte for byte with testdata/<case>.golden.
// Streams must also decode with internal/sse into events of valid JSON.
func TestGolden(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	ins, err := filepath.Glob("testdata/*.in.json")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			path, header := "/v1/chat/completions", map[string]string(nil)
			if strings.HasPrefix(name, "anthropic_") {
				path, header = "/v1/messages", anthropicHeaders
			}
			resp, got := mustDo(t, t.Context(), http.MethodPost, url+path, string(body), header)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d, want 200: %s", resp.StatusCode, got)
			}
			if strings.Contains(name, "stream") {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
					t.Errorf("got content-type %q, want text/event-stream", ct)
				}
				checkEvents(t, got, strings.HasPrefix(name, "anthropic_"))
			} else if !json.Valid(got) {
				t.Errorf("got invalid JSON %s", got)
			}
			got = normalise(got)
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
				t.Errorf("body differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// checkEvents decodes an SSE body: every event's data is JSON (OpenAI's
// stream ends with [DONE]); Anthropic events are named after their type.
func checkEvents(t *testing.T, body []byte, named bool) {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(body))
	var last string
	for n := 0; ; n++ {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		last = string(ev.Data)
		if last == "[DONE]" && !named {
			continue
		}
		var typed struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(ev.Data, &typed); err != nil {
			t.Fatalf("event %d: data %s: %v", n, ev.Data, err)
		}
		if named && ev.Event != typed.Type {
			t.Errorf("event %d: got event: %q, want the data's type %q", n, ev.Event, typed.Type)
		}
	}
	if !named && last != "[DONE]" {
		t.Errorf("got last event %q, want [DONE]", last)
	}
}
