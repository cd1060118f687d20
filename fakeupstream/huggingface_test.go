package fakeupstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

// TestHuggingFaceGolden sends testdata/huggingface/<case>.in.json to TGI's
// /generate (stream_* to /generate_stream, embed_* to TEI's /embed) and
// compares status, content type and body.
func TestHuggingFaceGolden(t *testing.T) {
	t.Parallel()
	goldenDir(t, "huggingface", func(name string) (string, string) {
		switch {
		case strings.HasPrefix(name, "stream_"):
			return http.MethodPost, "/generate_stream"
		case strings.HasPrefix(name, "embed_"):
			return http.MethodPost, "/embed"
		}
		return http.MethodPost, "/generate"
	})
}

func TestTGIStreamFraming(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/generate_stream",
		`{"inputs":"<|im_start|>user\nred green blue<|im_end|>\n<|im_start|>assistant\n","parameters":{"max_new_tokens":2}}`, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.HasPrefix(body, []byte("data:{")) {
		t.Errorf("got %q, want TGI's framing, data: without a space", body[:min(len(body), 20)])
	}
	rd := sse.NewReader(bytes.NewReader(body))
	var events []map[string]any
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			t.Fatalf("event %s: %v", ev.Data, err)
		}
		events = append(events, m)
	}
	if len(events) != 2 {
		t.Fatalf("got %d events, want 2 (max_new_tokens)", len(events))
	}
	last := events[1]
	details, _ := last["details"].(map[string]any)
	if last["generated_text"] != "red green" || details["finish_reason"] != "length" || details["generated_tokens"] != 2.0 || details["input_length"] == nil {
		t.Errorf("got last event %v", last)
	}
	if events[0]["generated_text"] != nil || events[0]["details"] != nil {
		t.Errorf("got first event %v, want null generated_text and details", events[0])
	}
}

func TestHuggingFaceErrors(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	const ok = `{"inputs":"hi","parameters":{"details":true}}`
	tests := []struct {
		name           string
		path, body     string
		header         map[string]string
		wantStatus     int
		wantMessage    string // in the error body (or the whole plain text)
		wantType       string
		wantEstimate   float64
		wantRetryAfter string
	}{
		{"no inputs", "/generate", `{"parameters":{}}`, nil, 422, "missing field `inputs`", "", 0, ""},
		{"not JSON", "/generate", `{`, nil, 422, "Failed to deserialize the JSON body", "", 0, ""},
		{"empty inputs", "/generate", `{"inputs":""}`, nil, 422, "`inputs` cannot be empty", "validation", 0, ""},
		{"temperature 0", "/generate", `{"inputs":"x","parameters":{"temperature":0}}`, nil, 422, "`temperature` must be strictly positive", "validation", 0, ""},
		{"top_p 1", "/generate", `{"inputs":"x","parameters":{"top_p":1.0}}`, nil, 422, "`top_p` must be > 0.0 and < 1.0", "validation", 0, ""},
		{"5 stops", "/generate", `{"inputs":"x","parameters":{"stop":["a","b","c","d","e"]}}`, nil, 422, "up to 4 stop sequences. Given: 5", "validation", 0, ""},
		{"negative seed", "/generate", `{"inputs":"x","parameters":{"seed":-1}}`, nil, 422, "Failed to deserialize", "", 0, ""},
		{"loading", "/generate", ok, map[string]string{"x-mock-status": "503"}, 503, "is currently loading", "", 20, ""},
		{"loading with retry", "/generate", ok, map[string]string{"x-mock-status": "503", "x-mock-retry-after": "7"}, 503, "is currently loading", "", 7, "7"},
		{"overloaded", "/generate_stream", ok, map[string]string{"x-mock-status": "429", "x-mock-retry-after": "1"}, 429, "Model is overloaded", "overloaded", 0, "1"},
		{"generation", "/generate", `{"inputs":"x","mock":{"status":424}}`, nil, 424, "Request failed during generation", "generation", 0, ""},
		{"token", "/generate", ok, map[string]string{"x-mock-status": "401"}, 401, "Invalid credentials", "", 0, ""},
		{"tei empty", "/embed", `{"inputs":[]}`, nil, 422, "`inputs` cannot be empty", "Validation", 0, ""},
		{"tei no inputs", "/embed", `{}`, nil, 422, "missing field `inputs`", "", 0, ""},
		{"tei dimensions", "/embed", `{"inputs":"x","dimensions":99999}`, nil, 422, "'dimensions' must be between", "Validation", 0, ""},
		{"tei loading", "/embed", `{"inputs":"x","mock":{"status":503}}`, nil, 503, "is currently loading", "", 20, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := mustDo(t, t.Context(), http.MethodPost, url+tc.path, tc.body, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetryAfter {
				t.Errorf("got retry-after %q, want %q", got, tc.wantRetryAfter)
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				if !strings.Contains(string(body), tc.wantMessage) {
					t.Errorf("got %s, want it to contain %q", body, tc.wantMessage)
				}
				return
			}
			var e struct {
				Error         string   `json:"error"`
				ErrorType     string   `json:"error_type"`
				EstimatedTime *float64 `json:"estimated_time"`
			}
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tc.wantMessage) || e.ErrorType != tc.wantType {
				t.Errorf("got %s (%v), want error containing %q with type %q", body, err, tc.wantMessage, tc.wantType)
			}
			if tc.wantEstimate != 0 && (e.EstimatedTime == nil || *e.EstimatedTime != tc.wantEstimate) {
				t.Errorf("got estimated_time %v, want %v", e.EstimatedTime, tc.wantEstimate)
			}
		})
	}
}

// TestTGIStreamValidationError: like TGI, /generate_stream reports
// validation errors inside a 200 event stream.
func TestTGIStreamValidationError(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/generate_stream", `{"inputs":"x","parameters":{"decoder_input_details":true}}`, nil)
	want := "data:{\"error\":\"Input validation error: `decoder_input_details` == true is not supported when streaming tokens\",\"error_type\":\"validation\"}\n\n"
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

func TestTGIInfo(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodGet, url+"/info", "", nil)
	var info struct {
		ModelID string `json:"model_id"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 || info.ModelID != fakeupstream.TGIModel || info.Version == "" {
		t.Errorf("got %d %s (%v)", resp.StatusCode, body, err)
	}
}

// FuzzNativeHandlers feeds arbitrary bodies to the Ollama, TGI and TEI
// routes: the fake must answer (or cut the connection on purpose, for
// fail_after) and never panic.
func FuzzNativeHandlers(f *testing.F) {
	f.Add(0, `{"model":"mock-tools","tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"a":{"type":"string"}}}}}],"messages":[{"role":"user","content":"x"}]}`)
	f.Add(0, `{"model":"m","format":{"type":"object"},"options":{"num_predict":1},"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":null}}]}],"mock":{"malformed":true}}`)
	f.Add(1, `{"model":"e","input":["a",""],"dimensions":2}`)
	f.Add(2, `{"inputs":"<|im_start|>user\nx","parameters":{"max_new_tokens":1,"grammar":{"type":"json"}}}`)
	f.Add(3, `{"inputs":"x","parameters":{"stop":["a"],"top_p":0.5},"mock":{"stall_after":1}}`)
	f.Add(4, `{"inputs":[[1],[2,3]],"truncate":true}`)
	paths := []string{"/api/chat", "/api/embed", "/generate", "/generate_stream", "/embed"}
	s := fakeupstream.New(fakeupstream.Options{})
	f.Fuzz(func(t *testing.T, route int, body string) {
		path := paths[uint(route)%uint(len(paths))]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body))
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
