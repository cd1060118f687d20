package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenCreated is the creation time of every translated completion.
const goldenCreated = 1700000000

// The translations the golden files cover, by case name prefix. Inputs are
// testdata/<case>.in.json; outputs testdata/<case>.golden. Stream inputs are
// JSON arrays of event datas (Anthropic) or chunks (OpenAI); an element
// {"error": …} in an OpenAI chunk list ends the stream with that error.
var goldenKinds = []struct {
	prefix string
	run    func(in []byte) ([]byte, error)
}{
	{"inbound_request_", goldenInboundRequest},
	{"inbound_response_", goldenInboundResponse},
	{"inbound_stream_", goldenInboundStream},
	{"request_", goldenRequest},
	{"response_", goldenResponse},
	{"stream_", goldenStream},
}

// TestGolden runs every testdata/<case>.in.json through the translation its
// prefix names and compares the output byte for byte with
// testdata/<case>.golden; -update rewrites the golden files.
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
			var got []byte
			found := false
			for _, k := range goldenKinds {
				if strings.HasPrefix(name, k.prefix) {
					found = true
					out, err := k.run(input)
					if err != nil {
						out = []byte("error: " + errorText(err) + "\n")
					}
					got = out
					break
				}
			}
			if !found {
				t.Fatalf("case %s: name has no known prefix", name)
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
				t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// errorText renders an error for a golden file: a *switchboard.Error's code,
// param and message.
func errorText(err error) string {
	var e *switchboard.Error
	if errors.As(err, &e) {
		s := string(e.Code)
		if e.Param != "" {
			s += " [" + e.Param + "]"
		}
		if e.Type != "" {
			s += " (" + e.Type + ")"
		}
		return s + ": " + e.Message
	}
	return err.Error()
}

func indent(v any) ([]byte, error) {
	b, err := marshal(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func goldenRequest(in []byte) ([]byte, error) {
	req, err := switchboard.DecodeChatRequest(in)
	if err != nil {
		return nil, err
	}
	out, err := FromChat(req, "claude-sonnet-4-5", 4096)
	if err != nil {
		return nil, err
	}
	return indent(out)
}

func goldenResponse(in []byte) ([]byte, error) {
	r, err := DecodeResponse(in)
	if err != nil {
		return nil, err
	}
	return indent(ToChatResponse(r, goldenCreated))
}

func goldenStream(in []byte) ([]byte, error) {
	var events []json.RawMessage
	if err := json.Unmarshal(in, &events); err != nil {
		return nil, err
	}
	tr := NewChunkTranslator(goldenCreated)
	var out bytes.Buffer
	for _, ev := range events {
		c, err := tr.Next(ev)
		if err != nil {
			fmt.Fprintf(&out, "error: %s\n", errorText(err))
			break
		}
		if c == nil {
			continue
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&out, "data: %s\n", b)
	}
	fmt.Fprintf(&out, "done: %v\n", tr.Done())
	return out.Bytes(), nil
}

func goldenInboundRequest(in []byte) ([]byte, error) {
	r, err := DecodeRequest(in)
	if err != nil {
		return nil, err
	}
	req, err := ToChat(r)
	if err != nil {
		return nil, err
	}
	return indent(req)
}

func goldenInboundResponse(in []byte) ([]byte, error) {
	resp, err := switchboard.DecodeChatResponse(in)
	if err != nil {
		return nil, err
	}
	return indent(FromChatResponse(resp, "chatcmpl-fallback"))
}

func goldenInboundStream(in []byte) ([]byte, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(in, &items); err != nil {
		return nil, err
	}
	enc := NewEventEncoder("chatcmpl-fallback", "requested-model", 11)
	var b []byte
	var usage *switchboard.Usage
	for _, it := range items {
		var failure struct {
			Error *ErrorDetail `json:"error"`
		}
		if json.Unmarshal(it, &failure) == nil && failure.Error != nil {
			return AppendError(b, failure.Error.Type, failure.Error.Message), nil
		}
		c, err := switchboard.DecodeChunk(it)
		if err != nil {
			return nil, err
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		b = enc.Append(b, c)
	}
	return enc.Finish(b, usage), nil
}
