package ollama

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// FuzzDecodeResponse feeds arbitrary bodies to every decoder of a whole
// Ollama answer: none may panic, and a success must be a usable response.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"model":"m","created_at":"2024-07-22T20:33:28Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"done":true,"prompt_eval_count":1,"eval_count":2}`))
	f.Add([]byte(`{"message":{"tool_calls":[{"id":"x","function":{"arguments":"not json"}}]},"done":true}`))
	f.Add([]byte(`{"error":"model \"x\" not found, try pulling it first"}`))
	f.Add([]byte(`{"model":"e","embeddings":[[0.1,-2e-3],[]],"prompt_eval_count":3}`))
	f.Add([]byte(`{"models":[{"name":"llama3.2:latest","modified_at":"bad"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if resp, err := fromChatResponse(body, newID); err == nil {
			if len(resp.Choices) != 1 || resp.Usage == nil {
				t.Fatalf("decoded %s to %+v: want one choice and usage", body, resp)
			}
			if _, err := json.Marshal(resp); err != nil {
				t.Fatalf("decoded %s to a response that does not encode: %v", body, err)
			}
		}
		_, _ = fromEmbedResponse(body, "m", 2)
		_ = upstreamError(404, http.Header{}, body)
		var tags tagsResponse
		_ = json.Unmarshal(body, &tags)
	})
}

// FuzzDecodeStream feeds arbitrary NDJSON to a stream: it must end with
// io.EOF or an error (never panic or loop), and every chunk must encode.
func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte("{\"model\":\"m\",\"message\":{\"content\":\"a\"},\"done\":false}\n{\"done\":true,\"done_reason\":\"length\",\"eval_count\":1}\n"))
	f.Add([]byte("{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{}}}]}}\n\n{\"error\":\"boom\"}\n"))
	f.Add([]byte("null\n[]\n\"x\"\n"))
	f.Add([]byte("{\"message\":{\"thinking\":\"t\"}}\r\n{\"done\":true}"))
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

// FuzzToChatRequest feeds arbitrary chat requests (valid for the gateway)
// to the request translation: it must not panic, and what it produces must
// encode.
func FuzzToChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`))
	f.Add([]byte(`{"model":"m","tool_choice":{"function":{"name":"a"}},"tools":[{"type":"function","function":{"name":"a"}}],"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"a","arguments":"{}"}}]},{"role":"tool","content":"r"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := switchboard.DecodeChatRequest(body)
		if err != nil {
			return
		}
		cfg := Config{KeepAlive: "1m", Options: map[string]any{"num_ctx": 1}}
		wire, err := toChatRequest("m", r, &cfg, r.Stream)
		if err != nil {
			if switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
				t.Fatalf("request %s: got %v, want only invalid_request errors", body, err)
			}
			return
		}
		if _, err := json.Marshal(wire); err != nil {
			t.Fatalf("request %s: translation does not encode: %v", body, err)
		}
	})
}
