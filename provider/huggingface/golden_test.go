package huggingface

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
	"github.com/switchboard-ai/switchboard/internal/sse"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCreated is the creation time of golden completions.
const goldenCreated = 1700000000

// goldenPromptTokens is the prompt estimate golden translations run with.
const goldenPromptTokens = 7

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
//	chat_request_*    OpenAI chat request → TGI /generate body (default template)
//	chat_response_*   /generate body → OpenAI completion
//	stream_*          a JSON array of /generate_stream event data → OpenAI chunks, one a line
//	embed_request_*   OpenAI embeddings request → TEI /embed body
//	embed_response_*  TEI /embed body → OpenAI embeddings response
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
	switch {
	case strings.HasPrefix(name, "chat_request_"):
		r, err := switchboard.DecodeChatRequest(input)
		if err != nil {
			t.Fatalf("input is not a valid chat request: %v", err)
		}
		tmpl, err := parseTemplate("")
		if err != nil {
			t.Fatal(err)
		}
		wire, err := toGenerate(r, tmpl)
		if err == nil {
			// The prompt on its own lines, so template changes read well in diffs.
			return append([]byte("inputs:\n"+wire.Inputs+"\nbody:\n"), render(wire, nil)...)
		}
		return render(wire, err)
	case strings.HasPrefix(name, "chat_response_"):
		resp, err := fromGenerate(input, "tgi", goldenCreated, goldenPromptTokens, counterIDs())
		return render(resp, asProviderError(err))
	case strings.HasPrefix(name, "stream_"):
		return renderStream(t, input)
	case strings.HasPrefix(name, "embed_request_"):
		r, err := switchboard.DecodeEmbeddingRequest(input)
		if err != nil {
			t.Fatalf("input is not a valid embeddings request: %v", err)
		}
		return render(toEmbed(r))
	case strings.HasPrefix(name, "embed_response_"):
		var probe []json.RawMessage
		_ = json.Unmarshal(input, &probe)
		texts := make([]string, len(probe))
		for i := range texts {
			texts[i] = "hello world" // 3 tokens by the estimate
		}
		resp, err := fromEmbed(input, "bge-small", texts)
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

// renderStream sends the events as TGI frames them ("data:{…}") to a
// stream and writes each chunk it yields on a line, then how it ended. An
// element that is a JSON string is sent as raw data (possibly broken JSON).
func renderStream(t *testing.T, input []byte) []byte {
	t.Helper()
	var events []json.RawMessage
	if err := json.Unmarshal(input, &events); err != nil {
		t.Fatalf("a stream case is a JSON array of event data: %v", err)
	}
	var body bytes.Buffer
	for _, ev := range events {
		body.WriteString("data:")
		var s string
		if json.Unmarshal(ev, &s) == nil {
			body.WriteString(s)
		} else if err := json.Compact(&body, ev); err != nil {
			t.Fatal(err)
		}
		body.WriteString("\n\n")
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

// newTestStream returns a stream over body with counter ids and the golden
// model, time and prompt estimate.
func newTestStream(body io.ReadCloser) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	return &stream{ctx: ctx, cancel: cancel, body: body, rd: sse.NewReader(body),
		st: streamState{newID: counterIDs(), model: "tgi", created: goldenCreated, promptTokens: goldenPromptTokens}}
}
