package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenConfig is the provider config the request translations run with:
// its options show how defaults merge with a request's own.
var goldenConfig = Config{KeepAlive: "10m", Options: map[string]any{"num_ctx": 8192, "temperature": 0.8}}

// counterIDs returns an id maker giving prefix + a sequence number, so
// golden output is stable.
func counterIDs() func(string) string {
	n := 0
	return func(prefix string) string {
		n++
		return fmt.Sprintf("%stest%d", prefix, n)
	}
}

// TestGolden runs every testdata/<case>.in.json through the translation its
// name starts with and compares the output with testdata/<case>.golden:
//
//	chat_request_*    OpenAI chat request → /api/chat body
//	chat_response_*   /api/chat body → OpenAI completion
//	stream_*          a JSON array of NDJSON lines → OpenAI chunks, one a line
//	embed_request_*   OpenAI embeddings request → /api/embed body
//	embed_response_*  /api/embed body → OpenAI embeddings response
//
// A translation that fails writes "error: " and the error instead.
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
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := translateGolden(t, name, input)
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
				t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func translateGolden(t *testing.T, name string, input []byte) []byte {
	t.Helper()
	cfg := goldenConfig
	switch {
	case strings.HasPrefix(name, "chat_request_"):
		r, err := switchboard.DecodeChatRequest(input)
		if err != nil {
			t.Fatalf("input is not a valid chat request: %v", err)
		}
		return render(toChatRequest("llama3.2", r, &cfg, r.Stream))
	case strings.HasPrefix(name, "chat_response_"):
		resp, err := fromChatResponse(input, counterIDs())
		return render(resp, asProviderError(err))
	case strings.HasPrefix(name, "stream_"):
		return renderStream(t, input)
	case strings.HasPrefix(name, "embed_request_"):
		r, err := switchboard.DecodeEmbeddingRequest(input)
		if err != nil {
			t.Fatalf("input is not a valid embeddings request: %v", err)
		}
		return render(toEmbedRequest("nomic-embed-text", r, &cfg))
	case strings.HasPrefix(name, "embed_response_"):
		var probe struct {
			Embeddings []json.RawMessage `json:"embeddings"`
		}
		_ = json.Unmarshal(input, &probe)
		resp, err := fromEmbedResponse(input, "nomic-embed-text", len(probe.Embeddings))
		return render(resp, asProviderError(err))
	}
	t.Fatalf("no translation for case %q: name it chat_request_*, chat_response_*, stream_*, embed_request_* or embed_response_*", name)
	return nil
}

// asProviderError wraps a decoding error as the client does.
func asProviderError(err error) error {
	var e *switchboard.Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return malformed(err)
}

// render is v indented, or "error: " and err.
func render[T any](v T, err error) []byte {
	if err != nil {
		return []byte(errorLine(err) + "\n")
	}
	b, merr := json.MarshalIndent(v, "", "  ")
	if merr != nil {
		return []byte("marshal: " + merr.Error() + "\n")
	}
	return append(b, '\n')
}

func errorLine(err error) string {
	var e *switchboard.Error
	if errors.As(err, &e) && e.Param != "" {
		return fmt.Sprintf("error: %s (param %s)", err, e.Param)
	}
	return "error: " + err.Error()
}

// renderStream feeds the lines, as NDJSON, to a stream and writes each
// chunk it yields on a line, then how it ended.
func renderStream(t *testing.T, input []byte) []byte {
	t.Helper()
	var lines []json.RawMessage
	if err := json.Unmarshal(input, &lines); err != nil {
		t.Fatalf("a stream case is a JSON array of lines: %v", err)
	}
	var body bytes.Buffer
	for _, l := range lines {
		var s string
		if json.Unmarshal(l, &s) == nil { // a raw line, possibly broken JSON
			body.WriteString(s)
		} else if err := json.Compact(&body, l); err != nil {
			t.Fatal(err)
		}
		body.WriteByte('\n')
	}
	s := newTestStream(io.NopCloser(&body))
	var out bytes.Buffer
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			out.WriteString("EOF\n")
			break
		}
		if err != nil {
			out.WriteString(errorLine(err) + "\n")
			break
		}
		b, err := json.Marshal(ch)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// newTestStream returns a stream over body with counter ids.
func newTestStream(body io.ReadCloser) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	return &stream{ctx: ctx, cancel: cancel, body: body, rd: newReader(body), st: streamState{newID: counterIDs()}}
}
