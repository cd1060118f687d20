package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTracesExported runs the gateway with an OTLP/HTTP endpoint and checks
// that a chat request's spans arrive with the GenAI attributes.
func TestTracesExported(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			rd = zr
		}
		b, _ := io.ReadAll(rd)
		mu.Lock()
		if r.URL.Path == "/v1/traces" {
			got = append(got, b...)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	m, base := startGateway(t, "providers: {demo: {type: mock}}\n", "tracing.endpoint="+collector.URL, "tracing.service_name=sb-test")
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"model":"mock-echo","messages":[{"role":"user","content":"trace me"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil { // flushes the span batcher
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"gen_ai.request.model", "gen_ai.operation.name", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.provider.name", "mock-echo", "sb-test"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("exported spans lack %q", want)
		}
	}
	// The caller's trace is continued: its trace ID is in the export.
	if !bytes.Contains(got, []byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6}) {
		t.Error("the incoming traceparent's trace ID is not in the export")
	}
}
