package fakeupstream_test

// Benchmarks of the fake's own cost per request, which every gateway
// benchmark pays on top of the gateway's. Run:
//
//	go test -run '^$' -bench . -benchmem -count 10 ./fakeupstream/ | tee new.txt
//	benchstat old.txt new.txt
//
// BenchmarkChat/json is the number that should stay small: it is the
// upstream half of BenchmarkProxyChat. /http adds loopback networking and
// the client, as the gateway sees it.

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

const benchChatBody = `{"model":"mock-echo","messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Write one sentence about the sea, please, in plain words."}],"temperature":0.7,"max_tokens":256}`

// discard is a minimal http.ResponseWriter (and http.Flusher) so the
// benchmark measures the handler, not a recorder.
type discard struct {
	h      http.Header
	n      int
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.status = code }
func (d *discard) Flush()                      {}
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// replayBody serves the same body on every iteration.
type replayBody struct{ bytes.Reader }

func (*replayBody) Close() error { return nil }

func benchHandler(b *testing.B, path, body string, header ...string) {
	s := fakeupstream.New(fakeupstream.Options{})
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer sk-bench")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	r.ContentLength = int64(len(body))
	rb := &replayBody{}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rb.Reset([]byte(body))
		r.Body = rb
		clear(w.h)
		s.ServeHTTP(w, r)
	}
	if w.n == 0 || w.status != http.StatusOK {
		b.Fatalf("got status %d and %d bytes, want a 200 response", w.status, w.n)
	}
}

func BenchmarkChat(b *testing.B) {
	b.Run("json", func(b *testing.B) { benchHandler(b, "/v1/chat/completions", benchChatBody) })
	b.Run("stream", func(b *testing.B) {
		benchHandler(b, "/v1/chat/completions", strings.Replace(benchChatBody, `"temperature"`, `"stream":true,"stream_options":{"include_usage":true},"temperature"`, 1))
	})
	b.Run("anthropic", func(b *testing.B) {
		benchHandler(b, "/v1/messages", `{"model":"mock-echo","max_tokens":256,"system":"You are a helpful assistant.",`+
			`"messages":[{"role":"user","content":"Write one sentence about the sea, please, in plain words."}]}`,
			"Anthropic-Version", "2023-06-01")
	})
	b.Run("http", func(b *testing.B) {
		ts := httptest.NewServer(fakeupstream.New(fakeupstream.Options{}))
		defer ts.Close()
		client := ts.Client()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(benchChatBody))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("got status %d", resp.StatusCode)
			}
		}
	})
}

func BenchmarkEmbeddings(b *testing.B) {
	benchHandler(b, "/v1/embeddings", `{"model":"text-embedding-3-small","input":["the sea is calm tonight","the tide is full"],"encoding_format":"base64"}`)
}
