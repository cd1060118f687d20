package fakeupstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

const echoBody = `{"model":"mock-echo","messages":[{"role":"user","content":"hi"}]}`

type openAIErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func TestChatHeaders(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions", echoBody, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want 200: %s", resp.StatusCode, body)
	}
	for _, h := range []string{"x-request-id", "openai-processing-ms", "openai-version",
		"x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-requests",
		"x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("got content-type %q, want application/json", got)
	}
	var cr switchboard.ChatResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		t.Fatal(err)
	}
	if got := cr.Choices[0].Message.Text(); got != "hi" {
		t.Errorf("got reply %q, want hi", got)
	}
}

func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	tests := []struct {
		name           string
		path, body     string
		header         map[string]string
		wantStatus     int
		wantType       string
		wantCode       string
		wantParam      string
		wantRetryAfter string
	}{
		{name: "missing model", body: `{"messages":[{"role":"user","content":"x"}]}`, wantStatus: 400, wantType: "invalid_request_error", wantParam: "model"},
		{name: "missing messages", body: `{"model":"mock-echo"}`, wantStatus: 400, wantType: "invalid_request_error", wantParam: "messages"},
		{name: "bad role", body: `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, wantStatus: 400, wantType: "invalid_request_error", wantParam: "messages[0].role"},
		{name: "not JSON", body: `{"model":`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "bad mock option", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"mock":{"words":"many"}}`, wantStatus: 400, wantType: "invalid_request_error", wantParam: "mock.words"},
		{name: "bad mock header", body: echoBody, header: map[string]string{"x-mock-latency": "soon"}, wantStatus: 400, wantType: "invalid_request_error", wantParam: "mock.latency"},
		{name: "unknown tool", body: `{"model":"mock-tools","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}},"messages":[{"role":"user","content":"x"}]}`,
			wantStatus: 400, wantType: "invalid_request_error", wantParam: "tool_choice"},
		{name: "429 with retry-after", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"mock":{"status":429,"retry_after":2}}`,
			wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded", wantRetryAfter: "2"},
		{name: "429 by header", body: echoBody, header: map[string]string{"x-mock-status": "429", "x-mock-retry-after": "7"},
			wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded", wantRetryAfter: "7"},
		{name: "401", body: echoBody, header: map[string]string{"x-mock-status": "401"}, wantStatus: 401, wantType: "invalid_request_error", wantCode: "invalid_api_key"},
		{name: "500", body: echoBody, header: map[string]string{"x-mock-status": "500"}, wantStatus: 500, wantType: "server_error"},
		{name: "503 with retry-after", body: echoBody, header: map[string]string{"x-mock-status": "503", "x-mock-retry-after": "1"}, wantStatus: 503, wantType: "server_error", wantRetryAfter: "1"},
		{name: "500 has no retry-after", body: echoBody, header: map[string]string{"x-mock-status": "500", "x-mock-retry-after": "1"}, wantStatus: 500, wantType: "server_error"},
		{name: "stream errors before the stream", body: `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"mock":{"status":502}}`, wantStatus: 502, wantType: "server_error"},
		{name: "embeddings without input", path: "/v1/embeddings", body: `{"model":"e"}`, wantStatus: 400, wantType: "invalid_request_error", wantParam: "input"},
		{name: "embeddings too many dimensions", path: "/v1/embeddings", body: `{"model":"e","input":"x","dimensions":5000}`, wantStatus: 400, wantType: "invalid_request_error", wantParam: "dimensions"},
		{name: "embeddings 429", path: "/v1/embeddings", body: `{"model":"e","input":"x","mock":{"status":429}}`, wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded"},
		{name: "unknown route", path: "/v1/nope", body: `{}`, wantStatus: 404, wantType: "invalid_request_error"},
		{name: "unknown model", path: "/v1/models/gpt-9", wantStatus: 404, wantType: "invalid_request_error", wantCode: "model_not_found", wantParam: "model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, method := tc.path, http.MethodPost
			if path == "" {
				path = "/v1/chat/completions"
			}
			if tc.body == "" {
				method = http.MethodGet
			}
			resp, body := mustDo(t, t.Context(), method, url+path, tc.body, tc.header)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			var e openAIErrorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
				t.Fatalf("got body %s (%v), want OpenAI's error envelope with a message", body, err)
			}
			if e.Error.Type != tc.wantType || deref(e.Error.Code) != tc.wantCode || deref(e.Error.Param) != tc.wantParam {
				t.Errorf("got type %q code %q param %q, want %q %q %q", e.Error.Type, deref(e.Error.Code), deref(e.Error.Param), tc.wantType, tc.wantCode, tc.wantParam)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetryAfter {
				t.Errorf("got retry-after %q, want %q", got, tc.wantRetryAfter)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("missing x-request-id")
			}
			if tc.wantStatus == 429 && resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
				t.Errorf("got x-ratelimit-remaining-requests %q, want 0", resp.Header.Get("X-Ratelimit-Remaining-Requests"))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestEmbeddingsBase64(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	const req = `{"model":"text-embedding-3-small","input":["first text","second <text>"],"dimensions":64%s}`
	_, fb := mustDo(t, t.Context(), http.MethodPost, url+"/v1/embeddings", strings.Replace(req, "%s", `,"encoding_format":"float"`, 1), nil)
	_, bb := mustDo(t, t.Context(), http.MethodPost, url+"/v1/embeddings", strings.Replace(req, "%s", `,"encoding_format":"base64"`, 1), nil)

	var floats switchboard.EmbeddingResponse
	if err := json.Unmarshal(fb, &floats); err != nil {
		t.Fatalf("decode %s: %v", fb, err)
	}
	var b64 struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string `json:"object"`
			Index     int    `json:"index"`
			Embedding []byte `json:"embedding"` // base64 decodes into []byte
		} `json:"data"`
		Model string            `json:"model"`
		Usage switchboard.Usage `json:"usage"`
	}
	if err := json.Unmarshal(bb, &b64); err != nil {
		t.Fatalf("decode %s: %v", bb, err)
	}
	if len(floats.Data) != 2 || len(b64.Data) != 2 {
		t.Fatalf("got %d and %d vectors, want 2 and 2", len(floats.Data), len(b64.Data))
	}
	for i := range floats.Data {
		want := floats.Data[i].Embedding
		got := make([]float32, len(b64.Data[i].Embedding)/4)
		for j := range got {
			got[j] = float32frombytes(b64.Data[i].Embedding[4*j:])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("vector %d: base64 and float differ (-float +base64):\n%s", i, diff)
		}
		if len(want) != 64 || b64.Data[i].Index != i {
			t.Errorf("vector %d: got %d dims index %d, want 64 dims index %d", i, len(want), b64.Data[i].Index, i)
		}
	}
	if floats.Usage == nil || floats.Usage.PromptTokens != b64.Usage.PromptTokens || b64.Usage.TotalTokens == 0 {
		t.Errorf("got usage %+v and %+v, want the same non-zero usage", floats.Usage, b64.Usage)
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	_, body := mustDo(t, t.Context(), http.MethodGet, url+"/v1/models", "", nil)
	var list struct {
		Object string              `json:"object"`
		Data   []switchboard.Model `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.OwnedBy != "switchboard" || m.Created == 0 {
			t.Errorf("got model %+v, want object model, owned_by switchboard, created set", m)
		}
	}
	if diff := cmp.Diff([]string{"mock-echo", "mock-lorem", "mock-tools"}, ids); list.Object != "list" || diff != "" {
		t.Errorf("got object %q ids %v, want list of the three mock models", list.Object, ids)
	}
	resp, body := mustDo(t, t.Context(), http.MethodGet, url+"/v1/models/mock-lorem", "", nil)
	var m switchboard.Model
	if err := json.Unmarshal(body, &m); err != nil || resp.StatusCode != 200 || m.ID != "mock-lorem" {
		t.Errorf("GET /v1/models/mock-lorem: got %d %s, want the model", resp.StatusCode, body)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, fakeupstream.Options{})
	resp, body := mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions", echoBody, map[string]string{"x-mock-malformed": "true"})
	if resp.StatusCode != 200 || json.Valid(body) || len(body) == 0 {
		t.Errorf("got %d %s, want 200 with broken JSON", resp.StatusCode, body)
	}
	_, body = mustDo(t, t.Context(), http.MethodPost, url+"/v1/chat/completions",
		`{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b"}],"mock":{"malformed":true}}`, nil)
	r := sse.NewReader(strings.NewReader(string(body)))
	var valid []bool
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		valid = append(valid, string(ev.Data) == "[DONE]" || json.Valid(ev.Data))
	}
	if diff := cmp.Diff([]bool{true, false, true, true, true}, valid); diff != "" {
		t.Errorf("events valid JSON mismatch (-want +got):\n%s", diff)
	}
}

func TestFailAfter(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{})
	resp := mustStart(t, t.Context(), http.MethodPost, url+"/v1/chat/completions",
		`{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b c"}],"mock":{"fail_after":2}}`, nil)
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	n := 0
	var err error
	for ; ; n++ {
		if _, err = r.Next(); err != nil {
			break
		}
	}
	if n != 2 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %d events then %v, want 2 then unexpected EOF", n, err)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/chat/completions", strings.NewReader(echoBody))
	req.Header.Set("x-mock-fail-after", "0")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("non-streamed fail_after: got status %d, want a transport error", resp.StatusCode)
	}
	if got := s.Disconnects(); got != 0 {
		t.Errorf("got %d disconnects, want 0: the server cut, not the client", got)
	}
}

func TestStallAfterWaitsForTheClient(t *testing.T) {
	t.Parallel()
	s, url := newServer(t, fakeupstream.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := mustStart(t, ctx, http.MethodPost, url+"/v1/chat/completions",
		`{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b c"}]}`, map[string]string{"x-mock-stall-after": "1"})
	defer resp.Body.Close()
	if _, err := sse.NewReader(resp.Body).Next(); err != nil {
		t.Fatalf("first event: %v", err)
	}
	cancel()
	wctx, wcancel := context.WithTimeout(t.Context(), 2e9)
	defer wcancel()
	if err := s.WaitDisconnect(wctx); err != nil {
		t.Fatalf("WaitDisconnect: %v", err)
	}
}
