package gemini

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// addGoldenSeeds adds the testdata inputs whose names start with prefix.
func addGoldenSeeds(f *testing.F, prefix string) {
	ins, _ := filepath.Glob("testdata/" + prefix + "*.in.json")
	for _, in := range ins {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
}

// FuzzDecodeResponse feeds arbitrary bodies to the response decoder and the
// error mapping: they must return a response or an error, never panic.
func FuzzDecodeResponse(f *testing.F) {
	addGoldenSeeds(f, "response_")
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}},{"text":null}]},"index":-3}]}`))
	f.Add([]byte(`[{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"-5s"}]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := testDecoder()
		resp, err := d.response(data)
		if err == nil && (resp == nil || len(resp.Choices) == 0) {
			t.Fatalf("got %+v without error, want choices", resp)
		}
		if err != nil && switchboard.ErrorCodeOf(err) == switchboard.CodeInternal {
			t.Fatalf("got %v, want a coded error", err)
		}
		for _, status := range []int{400, 429, 503} {
			if e := upstreamError(status, http.Header{}, data); e.Code == "" {
				t.Fatalf("status %d: got no code", status)
			}
		}
	})
}

// roundTripper answers every request with a 200 and body.
type roundTripper []byte

func (b roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(b)), Request: r,
	}, nil
}

// FuzzDecodeStream feeds arbitrary SSE bodies through ChatStream: every
// stream ends with io.EOF or a coded error, never a panic or a hang.
func FuzzDecodeStream(f *testing.F) {
	f.Add([]byte("data: " + firstEvent + "\r\n\r\ndata: {\"candidates\":[{\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1}}\r\n\r\n"))
	f.Add([]byte("data: {\"candidates\":[{\"index\":1000000000,\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\"}}]},\"finishReason\":\"SAFETY\"}]}\n\n"))
	f.Add([]byte("event: error\ndata: {\"error\":{\"code\":700}}\n\n"))
	f.Add([]byte("data: [{\"error\":{\"code\":429,\"message\":\"x\"}}]\n\ndata: {"))
	req, err := switchboard.DecodeChatRequest([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := New(Config{APIKey: "k"}, switchboard.Deps{HTTP: &http.Client{Transport: roundTripper(body)}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.ChatStream(t.Context(), "m", req)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for range len(body) + 10 {
			ch, err := s.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				if switchboard.ErrorCodeOf(err) == switchboard.CodeInternal {
					t.Fatalf("got %v, want a coded error", err)
				}
				return
			}
			if ch == nil {
				t.Fatal("got a nil chunk")
			}
		}
		t.Fatal("stream did not end")
	})
}
