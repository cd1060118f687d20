package sbtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestFakeUpstream(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{RequireKey: "k"})
	if got, want := f.OpenAIBaseURL(), f.URL+"/v1"; got != want || !strings.HasPrefix(f.URL, "http://127.0.0.1:") {
		t.Errorf("got base URL %q (URL %q), want %q on loopback", got, f.URL, want)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.OpenAIBaseURL()+"/chat/completions",
		strings.NewReader(`{"model":"mock-echo","messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k")
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d (%v), want 200 with a completion", resp.StatusCode, err)
	}
	if got := body.Choices[0].Message.Content; got != "hello" {
		t.Errorf("got %q, want hello", got)
	}
	if got := f.RequestsTo("/v1/chat/completions"); got != 1 {
		t.Errorf("got %d requests, want 1", got)
	}
}

// TestFakeUpstreamCleanupCutsStalledStreams leaves a stream stalled: the
// cleanup must still close the server (the test would hang otherwise).
func TestFakeUpstreamCleanupCutsStalledStreams(t *testing.T) {
	t.Parallel()
	// Registered first, so it runs after the fake's cleanup has cut the stream.
	var body io.Closer
	t.Cleanup(func() {
		if body != nil {
			body.Close()
		}
	})
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	req, err := http.NewRequest(http.MethodPost, f.OpenAIBaseURL()+"/chat/completions",
		strings.NewReader(`{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-mock-stall-after", "0")
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body = resp.Body
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
}
