package fakeupstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard/fakeupstream"
)

// FuzzHandlers feeds arbitrary bodies to every POST route: the fake must
// answer (or cut the connection on purpose, for fail_after) and never panic.
func FuzzHandlers(f *testing.F) {
	f.Add(0, `{"model":"mock-tools","stream":true,"n":2,"tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"a":{"type":"string"}}}}}],"messages":[{"role":"user","content":"x"}]}`)
	f.Add(1, `{"model":"mock-tools","max_tokens":2,"stream":true,"tools":[{"name":"f","input_schema":{"properties":{"b":{"enum":[1]}}}}],"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"text","text":"r"}]}]}]}`)
	f.Add(2, `{"model":"e","input":[[1,2],[3]],"encoding_format":"base64","dimensions":3}`)
	f.Add(1, `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"mock":{"malformed":true,"stall_after":1}}`)
	f.Add(3, `{"model":"m","system":[{"type":"text","text":"s"}],"messages":[]}`)
	paths := []string{"/v1/chat/completions", "/v1/messages", "/v1/embeddings", "/v1/messages/count_tokens"}
	s := fakeupstream.New(fakeupstream.Options{})
	f.Fuzz(func(t *testing.T, route int, body string) {
		path := paths[uint(route)%uint(len(paths))]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Anthropic-Version", "2023-06-01")
		w := httptest.NewRecorder()
		defer func() {
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				t.Fatalf("POST %s %q: panic %v", path, body, p)
			}
		}()
		s.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("POST %s %q: got status %d", path, body, w.Code)
		}
	})
}
