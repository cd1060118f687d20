package httpapi

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOverloadShedsWhileOverloaded: an overloaded process answers 503 at
// once; /healthz still answers.
func TestOverloadShedsWhileOverloaded(t *testing.T) {
	t.Parallel()
	ov := NewOverload(10*time.Millisecond, 0.9, time.Hour)
	ov.on.Store(true)
	srv, _ := newTestServer(t, echoProvider(), Options{Overload: ov})
	resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "server.shed_latency") {
		t.Fatalf("got %d %q %s, want 503 naming server.shed_latency", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	ov.on.Store(false)
	if resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != 200 {
		t.Fatalf("after the overload: %d %s", resp.StatusCode, body)
	}
}

// TestOverloadDetectsCPUSaturation saturates the CPUs with goroutines that
// never block, so runnable goroutines queue for a CPU: the detector turns
// on, and off again once they stop.
func TestOverloadDetectsCPUSaturation(t *testing.T) {
	ov := NewOverload(2*time.Millisecond, 0.9, 50*time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go ov.Run(ctx)
	var stop atomic.Bool
	for range 8 * runtime.GOMAXPROCS(0) {
		go func() {
			x := 0
			for !stop.Load() {
				for i := range 100000 {
					x += i
				}
			}
			_ = x
		}()
	}
	waitUntil(t, 10*time.Second, ov.Overloaded)
	stop.Store(true)
	waitUntil(t, 10*time.Second, func() bool { return !ov.Overloaded() })
}

func waitUntil(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
