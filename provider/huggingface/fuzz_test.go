package huggingface

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// FuzzDecodeResponse feeds arbitrary bodies to every decoder of a whole
// answer (/generate, TEI /embed, error bodies): none may panic, and a
// success must be a usable response.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"generated_text":"x","details":{"finish_reason":"length","generated_tokens":1,"prefill":[{"id":1}],"input_length":null}}`))
	f.Add([]byte(`[{"generated_text":"a"},{"generated_text":"b"}]`))
	f.Add([]byte(`[[0.5,-1e-3],[2]]`))
	f.Add([]byte(`{"error":"Model x is currently loading","estimated_time":1e308}`))
	f.Add([]byte(`{"error":["a","b"],"error_type":"validation"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if resp, err := fromGenerate(body, "m", 1, 3, newID); err == nil {
			if len(resp.Choices) != 1 || resp.Usage == nil {
				t.Fatalf("decoded %s to %+v: want one choice and usage", body, resp)
			}
			if _, err := json.Marshal(resp); err != nil {
				t.Fatalf("decoded %s to a response that does not encode: %v", body, err)
			}
		}
		_, _ = fromEmbed(body, "m", []string{"a", "b"})
		for _, status := range []int{422, 503} {
			if e := upstreamError(status, http.Header{}, body); e.RetryAfter < 0 {
				t.Fatalf("body %s: negative retry-after %v", body, e.RetryAfter)
			}
		}
	})
}

// FuzzDecodeStream feeds arbitrary SSE to a /generate_stream reader: it
// must end with io.EOF or a classified error (never panic or loop), and
// every chunk must encode.
func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte("data:{\"token\":{\"text\":\"a\",\"special\":false}}\n\ndata:{\"token\":{\"text\":\"</s>\",\"special\":true},\"generated_text\":\"a\",\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":2,\"input_length\":4}}\n\n"))
	f.Add([]byte("data:{\"error\":\"boom\",\"error_type\":\"overloaded\"}\n\n"))
	f.Add([]byte(": keep-alive\n\ndata: [DONE]\n\ndata:null\n\n"))
	f.Add([]byte("event: error\ndata:{\"token\":null,\"details\":{}}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newTestStream(io.NopCloser(bytes.NewReader(data)))
		for n := 0; ; n++ {
			ch, err := s.Recv()
			if err != nil {
				if err != io.EOF && switchboard.ErrorCodeOf(err) == switchboard.CodeInternal {
					t.Fatalf("stream %q: got an unclassified error %v", data, err)
				}
				return
			}
			if _, err := json.Marshal(ch); err != nil {
				t.Fatalf("stream %q: chunk %d does not encode: %v", data, n, err)
			}
			if n > 4*len(data)+8 {
				t.Fatalf("stream %q: %d chunks, more than the input can hold", data, n)
			}
		}
	})
}

// FuzzToGenerate feeds arbitrary chat requests (valid for the gateway) and
// chat templates to the prompt rendering: no panic; the only errors are
// invalid_request and template failures.
func FuzzToGenerate(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"temperature":0,"top_p":1,"stop":"x"}`), "")
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","content":null}],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`), "{{range .Messages}}{{.Role | printf \"%q\"}}{{end}}")
	f.Fuzz(func(t *testing.T, body []byte, tmplText string) {
		r, err := switchboard.DecodeChatRequest(body)
		if err != nil {
			return
		}
		tmpl, err := parseTemplate(tmplText)
		if err != nil {
			return
		}
		wire, err := toGenerate(r, tmpl)
		if err != nil {
			return
		}
		if _, err := json.Marshal(wire); err != nil {
			t.Fatalf("request %s: translation does not encode: %v", body, err)
		}
	})
}
