package fakeupstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

func TestDisconnectDetected(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := mustStart(t, ctx, http.MethodPost, url+"/v1/chat/completions",
		`{"model":"mock-lorem","stream":true,"messages":[{"role":"user","content":"x"}],"mock":{"chunk_delay":"200ms","words":50}}`, nil)
	defer resp.Body.Close()
	if _, err := sse.NewReader(resp.Body).Next(); err != nil {
		t.Fatalf("first event: %v", err)
	}
	cancel()
	start := time.Now()
	wctx, wcancel := context.WithTimeout(t.Context(), time.Second)
	defer wcancel()
	if err := s.WaitDisconnect(wctx); err != nil {
		t.Fatalf("WaitDisconnect: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("disconnect seen after %v, want within 1s", d)
	}
	if got := s.Disconnects(); got != 1 {
		t.Errorf("got %d disconnects, want 1", got)
	}
	// The disconnect was consumed: another wait blocks.
	short, scancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer scancel()
	if err := s.WaitDisconnect(short); err == nil {
		t.Error("second WaitDisconnect returned at once, want it to wait for a new disconnect")
	}
}

func TestDisconnectDuringLatency(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(echoBody))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("got a response, want the client to give up during the latency")
	}
	wctx, wcancel := context.WithTimeout(t.Context(), time.Second)
	defer wcancel()
	if err := s.WaitDisconnect(wctx); err != nil {
		t.Fatalf("WaitDisconnect: %v", err)
	}
}

func TestNoDisconnectForFinishedResponses(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{})
	for range 5 {
		mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions",
			`{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b"}]}`, nil)
	}
	if got := s.Disconnects(); got != 0 {
		t.Errorf("got %d disconnects, want 0", got)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	_, slow := newServer(t, fakeupstream.Options{Latency: 30 * time.Millisecond})
	_, stuck := newServer(t, fakeupstream.Options{Latency: time.Hour})
	tests := []struct {
		name     string
		url      string
		header   map[string]string
		min, max time.Duration
	}{
		{"server default", slow, nil, 30 * time.Millisecond, time.Minute},
		{"request option", stuck, map[string]string{"x-mock-latency": "80ms"}, 80 * time.Millisecond, time.Minute},
		{"request overrides with zero", stuck, map[string]string{"x-mock-latency": "0s"}, 0, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			mustDo(t, t.Context(), http.MethodPost, tc.url+"/v1/chat/completions", echoBody, tc.header)
			if d := time.Since(start); d < tc.min || d > tc.max {
				t.Errorf("answered after %v, want between %v and %v", d, tc.min, tc.max)
			}
		})
	}
}

func TestRequireKey(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{RequireKey: "sk-test"})
	tests := []struct {
		name       string
		path       string
		header     map[string]string
		wantStatus int
		wantType   string // error type, in the vendor's shape
	}{
		{"no key", "/v1/chat/completions", nil, 401, "invalid_request_error"},
		{"wrong key", "/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-nope"}, 401, "invalid_request_error"},
		{"bearer", "/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-test"}, 200, ""},
		{"x-api-key", "/v1/chat/completions", map[string]string{"x-api-key": "sk-test"}, 200, ""},
		{"anthropic without key", "/v1/messages", anthropicHeaders, 401, "authentication_error"},
		{"anthropic with key", "/v1/messages", map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "sk-test"}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := echoBody
			if strings.HasPrefix(tc.path, "/v1/messages") {
				body = `{"model":"mock-echo","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
			}
			resp, b := mustDo(t, t.Context(), http.MethodPost, url+tc.path, body, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			if tc.wantType == "" {
				return
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Type != tc.wantType {
				t.Errorf("got body %s, want error type %s", b, tc.wantType)
			}
			if strings.Contains(string(b), "sk-") {
				t.Errorf("error body %s echoes the key", b)
			}
		})
	}
}

func TestInstrumentation(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{})
	for range 3 {
		mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions", echoBody, nil)
	}
	mustDo(t, t.Context(), http.MethodPost, url+"/v1/embeddings", `{"model":"e","input":"x"}`, map[string]string{"X-Trace": "42"})
	if got := s.Requests(); got != 4 {
		t.Errorf("got %d requests, want 4", got)
	}
	if got := s.RequestsTo("/v1/chat/completions"); got != 3 {
		t.Errorf("got %d chat requests, want 3", got)
	}
	last := s.LastRequest()
	if last.Method != http.MethodPost || last.Path != "/v1/embeddings" || string(last.Body) != `{"model":"e","input":"x"}` || last.Header.Get("X-Trace") != "42" {
		t.Errorf("got last request %+v, want the embeddings call with its body and headers", last)
	}
	if h := s.History(); len(h) != 4 || h[0].Path != "/v1/chat/completions" || h[3].Path != "/v1/embeddings" {
		t.Errorf("got history of %d, want 4 oldest first", len(h))
	}
	s.Reset()
	if s.Requests() != 0 || s.RequestsTo("/v1/chat/completions") != 0 || s.LastRequest().Path != "" || len(s.History()) != 0 {
		t.Error("Reset left state behind")
	}
}

func TestHistoryKeepsTheLast(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{})
	n := fakeupstream.MaxRecorded + 5
	for i := range n {
		mustDo(t, t.Context(), http.MethodGet, fmt.Sprintf("%s/v1/models?i=%d", url, i), "", map[string]string{"X-I": fmt.Sprint(i)})
	}
	h := s.History()
	if len(h) != fakeupstream.MaxRecorded {
		t.Fatalf("got %d recorded, want %d", len(h), fakeupstream.MaxRecorded)
	}
	if got, want := h[0].Header.Get("X-I"), "5"; got != want {
		t.Errorf("got oldest X-I %s, want %s", got, want)
	}
	if got, want := s.LastRequest().Header.Get("X-I"), fmt.Sprint(n-1); got != want {
		t.Errorf("got last X-I %s, want %s", got, want)
	}
}

func TestHandleHook(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{RequireKey: "k"})
	var seen string
	s.Handle(func(w http.ResponseWriter, r *http.Request) bool {
		b, _ := io.ReadAll(r.Body)
		seen = string(b)
		if r.Header.Get("X-Script") == "" {
			return false
		}
		w.WriteHeader(http.StatusTeapot)
		return true
	})
	resp, _ := mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions", echoBody, map[string]string{"X-Script": "1"})
	if resp.StatusCode != http.StatusTeapot || seen != echoBody {
		t.Errorf("got status %d body seen %q, want 418 and the body", resp.StatusCode, seen)
	}
	resp, _ = mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions", echoBody, map[string]string{"Authorization": "Bearer k"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("hook declined: got status %d, want 200 from the fake", resp.StatusCode)
	}
	s.Handle(nil)
	if got := s.Requests(); got != 2 {
		t.Errorf("got %d requests, want 2 (hooked ones count)", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			body := echoBody
			if i%2 == 0 {
				body = `{"model":"mock-lorem","stream":true,"messages":[{"role":"user","content":"x"}]}`
			}
			resp, b := mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions", body, nil)
			if resp.StatusCode != 200 {
				t.Errorf("got %d: %s", resp.StatusCode, b)
			}
			_ = s.History()
			_ = s.Disconnects()
		})
	}
	wg.Wait()
	if got := s.Requests(); got != 16 {
		t.Errorf("got %d requests, want 16", got)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", fakeupstream.MaxBodySize) + `"}]}`
	resp, _ := mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions", big, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("got status %d, want 413", resp.StatusCode)
	}
}
