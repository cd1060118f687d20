package azure

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// FuzzDecodeResponse feeds arbitrary bodies through Chat: a completion or
// a coded error, never a panic.
func FuzzDecodeResponse(f *testing.F) {
	ins, _ := filepath.Glob("testdata/response_*.in.json")
	for _, in := range ins {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"choices":[{"message":{"tool_calls":[{"function":{"arguments":1}}]}}],"usage":{"prompt_tokens":"x"}}`))
	req, err := switchboard.DecodeChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := answer(t, "application/json", body).Chat(t.Context(), "gpt-4o", req)
		if err == nil && resp == nil {
			t.Fatal("got neither a response nor an error")
		}
		if err != nil && switchboard.ErrorCodeOf(err) == switchboard.CodeInternal {
			t.Fatalf("got %v, want a coded error", err)
		}
	})
}

// FuzzDecodeStream feeds arbitrary SSE bodies through ChatStream: io.EOF or
// a coded error, never a panic or a hang.
func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[],\"prompt_filter_results\":[]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"content_filter\"}]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"error\":{\"code\":\"content_filter\",\"message\":\"m\"}}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":\"x\"}]}}]}\n\n"))
	req, err := switchboard.DecodeChatRequest([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := answer(t, "text/event-stream", body).ChatStream(t.Context(), "gpt-4o", req)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for range len(body) + 2 {
			_, err := s.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				if switchboard.ErrorCodeOf(err) == switchboard.CodeInternal {
					t.Fatalf("got %v, want a coded error", err)
				}
				return
			}
		}
		t.Fatal("stream did not end")
	})
}
