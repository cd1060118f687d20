package fakeupstream_test

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

// lines is an io.Writer that hands each write (one log record) to a channel.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default: // nobody listens any more
	}
	return len(p), nil
}

func TestRun(t *testing.T) {
	t.Parallel()
	logs := make(lines, 16)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- fakeupstream.Run(ctx, "127.0.0.1:0", fakeupstream.Options{Log: slog.New(slog.NewTextHandler(logs, nil))})
	}()

	var addr string
	select {
	case line := <-logs:
		m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
		if m == nil || m[1] == "127.0.0.1:0" {
			t.Fatalf("got log line %q, want the real listening address", line)
		}
		addr = m[1]
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	}

	resp, body := mustDo(t, t.Context(), http.MethodPost, "http://"+addr+"/v1/chat/completions", echoBody, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d: %s", resp.StatusCode, body)
	}
	// A stream stalled forever must not keep Run from returning.
	stalled := mustStart(t, t.Context(), http.MethodPost, "http://"+addr+"/v1/chat/completions",
		`{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"x"}],"mock":{"stall_after":1}}`, nil)
	defer stalled.Body.Close()
	if _, err := sse.NewReader(stalled.Body).Next(); err != nil {
		t.Fatal(err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(fakeupstream.ShutdownGrace + 5*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRunBadAddress(t *testing.T) {
	t.Parallel()
	if err := fakeupstream.Run(t.Context(), "127.0.0.1:99999", fakeupstream.Options{}); err == nil {
		t.Fatal("got no error for an invalid port")
	}
}
