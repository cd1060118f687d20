package azure

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden runs each testdata/<case>.in.json and compares the outcome
// with testdata/<case>.golden:
//
//	request_*  {"config", "model", "op", "request"} → the HTTP request Azure
//	           receives: request line, headers, body
//	response_* an Azure chat completion body → the completion the gateway reads
//	           (clients get the body itself, Azure's filter results included)
//	stream_*   a JSON array of Azure stream events → the chunks, one a line
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
				got = goldenResponse(t, raw)
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

// shownHeaders are the request headers a request golden shows.
var shownHeaders = []string{"Accept", "Api-Key", "Authorization", "Content-Type", "X-Ms-Client-Request-Id"}

func goldenRequest(t *testing.T, raw []byte) []byte {
	var c struct {
		Config  Config          `json:"config"`
		Model   string          `json:"model"`
		Op      string          `json:"op"`
		Request json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b := fmt.Appendf(nil, "%s %s\n", r.Method, r.URL.RequestURI())
		for _, h := range shownHeaders {
			if v := r.Header.Get(h); v != "" {
				b = fmt.Appendf(b, "%s: %s\n", h, v)
			}
		}
		b = fmt.Appendf(b, "\n%s\n", body)
		mu.Lock()
		seen = b
		mu.Unlock()
		switch c.Op {
		case "stream":
			io.WriteString(w, "data: [DONE]\n\n")
		case "embeddings":
			io.WriteString(w, `{"object":"list","data":[],"model":"m"}`)
		default:
			io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[]}`)
		}
	}))
	defer srv.Close()
	c.Config.Endpoint = strings.Replace(c.Config.Endpoint, "https://contoso.openai.azure.com", srv.URL, 1)
	cl, err := New(c.Config, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	switch c.Op {
	case "chat", "stream":
		req, err := switchboard.DecodeChatRequest(c.Request)
		if err != nil {
			t.Fatal(err)
		}
		if c.Op == "chat" {
			_, err = cl.Chat(ctx, c.Model, req)
		} else {
			var s switchboard.ChatStream
			if s, err = cl.ChatStream(ctx, c.Model, req); err == nil {
				_, err = s.Recv()
				s.Close()
			}
		}
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
	case "embeddings":
		req, err := switchboard.DecodeEmbeddingRequest(c.Request)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Embed(ctx, c.Model, req); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown op %q", c.Op)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(seen)
}

// answer returns a client whose upstream always answers with body.
func answer(t *testing.T, contentType string, body []byte) *Client {
	c, err := New(Config{Endpoint: "https://contoso.openai.azure.com", APIKey: "k"},
		switchboard.Deps{HTTP: &http.Client{Transport: roundTripper{contentType, body}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func goldenResponse(t *testing.T, raw []byte) []byte {
	req, _ := switchboard.DecodeChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	resp, err := answer(t, "application/json", raw).Chat(t.Context(), "gpt-4o", req)
	if err != nil {
		return fmt.Appendf(nil, "error: %v\n", err)
	}
	if !bytes.Equal(resp.Raw, raw) {
		t.Error("got Raw different from the upstream body, want it relayed unchanged")
	}
	b, _ := json.MarshalIndent(resp, "", "  ")
	return append(b, '\n')
}

func goldenStream(t *testing.T, raw []byte) []byte {
	var events []json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatal(err)
	}
	var body []byte
	for _, ev := range events {
		var done string
		if json.Unmarshal(ev, &done) == nil {
			ev = []byte(done)
		}
		var compact bytes.Buffer
		if json.Compact(&compact, ev) != nil {
			compact.Reset()
			compact.Write(ev)
		}
		body = append(append(append(body, "data: "...), compact.Bytes()...), "\n\n"...)
	}
	req, _ := switchboard.DecodeChatRequest([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	s, err := answer(t, "text/event-stream", body).ChatStream(t.Context(), "gpt-4o", req)
	if err != nil {
		return fmt.Appendf(nil, "error: %v\n", err)
	}
	defer s.Close()
	var out []byte
	for {
		c, err := s.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			return fmt.Appendf(out, "error: %v\n", err)
		}
		b, _ := json.Marshal(c)
		out = append(append(out, b...), '\n')
	}
}

// roundTripper answers every request with a 200 of the content type and body.
type roundTripper struct {
	contentType string
	body        []byte
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {rt.contentType}},
		Body: io.NopCloser(bytes.NewReader(rt.body)), Request: r,
	}, nil
}
