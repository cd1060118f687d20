package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/metrics"
	"github.com/switchboard-ai/switchboard/mock"
)

type records struct {
	mu  sync.Mutex
	all []switchboard.Inference
}

func (r *records) Record(_ context.Context, inf switchboard.Inference) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, inf)
	return nil
}

func (r *records) last(t *testing.T) switchboard.Inference {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		t.Fatal("no inference recorded")
	}
	return r.all[len(r.all)-1]
}

func echoProvider() *mock.Provider {
	return &mock.Provider{
		ChatFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
			if model == "missing" {
				return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Param: "model", VendorCode: "model_not_found", Message: "no such model"}
			}
			if o := switchboard.OutcomeFromContext(ctx); o != nil {
				o.Provider, o.UpstreamModel, o.Attempts = "fake", "up-"+model, 1
			}
			return &switchboard.ChatResponse{ID: "c1", Object: "chat.completion", Model: model,
				Choices: []switchboard.Choice{{Message: switchboard.Message{Role: "assistant", Content: switchboard.TextContent(req.Messages[0].Text())}, FinishReason: "stop"}},
				Usage:   &switchboard.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}}, nil
		},
	}
}

func newTestServer(t *testing.T, p switchboard.Provider, o Options) (*httptest.Server, *records) {
	t.Helper()
	rec := &records{}
	o.Provider = p
	o.Recorder = rec
	if o.Metrics == nil {
		o.Metrics = metrics.New("test", nil)
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	return srv, rec
}

func post(t *testing.T, url, ctype, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestErrors(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, echoProvider(), Options{MaxBodyBytes: 1024})
	tests := []struct {
		name, path, ctype, body string
		status                  int
		param, code             string
	}{
		{"malformed", "/v1/chat/completions", "application/json", `{"model":`, 400, "", "invalid_request"},
		{"wrong type", "/v1/chat/completions", "application/json", `{"model":"m","messages":"hi"}`, 400, "messages", "invalid_request"},
		{"missing model", "/v1/chat/completions", "application/json", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model", "invalid_request"},
		{"unknown model", "/v1/chat/completions", "application/json", `{"model":"missing","messages":[{"role":"user","content":"x"}]}`, 404, "model", "model_not_found"},
		{"too large", "/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`, 413, "", "request_too_large"},
		{"content type", "/v1/chat/completions", "text/plain", `{}`, 415, "", "unsupported_media_type"},
		{"empty body", "/v1/chat/completions", "application/json", ``, 400, "", "invalid_request"},
		{"unknown route", "/v1/nothing", "application/json", `{}`, 404, "", "unknown_url"},
		{"embeddings bad format", "/v1/embeddings", "application/json", `{"model":"m","input":"x","encoding_format":"hex"}`, 400, "encoding_format", "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := post(t, srv.URL+tc.path, tc.ctype, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var env struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("body is not the OpenAI error shape: %s", body)
			}
			if env.Error.Message == "" || env.Error.Type == "" {
				t.Errorf("got empty message or type: %s", body)
			}
			gotParam := ""
			if env.Error.Param != nil {
				gotParam = *env.Error.Param
			}
			if gotParam != tc.param {
				t.Errorf("got param %q, want %q", gotParam, tc.param)
			}
			if env.Error.Code == nil || *env.Error.Code != tc.code {
				t.Errorf("got code %v, want %q", env.Error.Code, tc.code)
			}
			if resp.Header.Get("X-Switchboard-Inference-Id") == "" {
				t.Error("no x-switchboard-inference-id header")
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, echoProvider(), Options{})
	resp, err := http.Get(srv.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("got %d, want 405", resp.StatusCode)
	}
}

func TestChatRecordsAndEchoesRequestID(t *testing.T) {
	t.Parallel()
	srv, rec := newTestServer(t, echoProvider(), Options{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hello"}]}`))
	req.Header.Set("X-Request-Id", "req-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "req-42" {
		t.Errorf("got x-request-id %q, want req-42", got)
	}
	id := resp.Header.Get("X-Switchboard-Inference-Id")
	if got := resp.Header.Get("X-Switchboard-Provider"); got != "fake" {
		t.Errorf("got provider header %q, want fake", got)
	}
	inf := rec.last(t)
	if inf.ID != id || inf.RequestID != "req-42" || inf.Model != "m" || inf.Provider != "fake" || inf.UpstreamModel != "up-m" ||
		inf.Status != 200 || inf.InputTokens != 3 || inf.OutputTokens != 2 || inf.Stream || inf.Endpoint != "chat" {
		t.Errorf("got record %+v", inf)
	}
	if !strings.Contains(string(body), `"content":"hello"`) {
		t.Errorf("got body %s", body)
	}
}

func chunk(content string, finish string) *switchboard.Chunk {
	c := &switchboard.Chunk{ID: "x", Object: "chat.completion.chunk", Model: "m",
		Choices: []switchboard.ChunkChoice{{Delta: switchboard.Message{Content: switchboard.TextContent(content)}}}}
	if finish != "" {
		c.Choices[0].FinishReason = &finish
	}
	return c
}

func streamProvider(err error, block bool) *mock.Provider {
	return &mock.Provider{ChatStreamFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
		usage := &switchboard.Chunk{ID: "x", Object: "chat.completion.chunk", Choices: []switchboard.ChunkChoice{},
			Usage: &switchboard.Usage{PromptTokens: 7, CompletionTokens: 2, TotalTokens: 9}}
		chunks := []*switchboard.Chunk{chunk("a", ""), chunk("b", "stop")}
		if err == nil && !block {
			chunks = append(chunks, usage)
		}
		return &mock.Stream{Ctx: ctx, Chunks: chunks, Err: err, Block: block}, nil
	}}
}

func TestStreamFraming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantEvents int
		wantUsage  bool
	}{
		{"usage hidden when not asked", `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`, 3, false},
		{"usage shown when asked", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, rec := newTestServer(t, streamProvider(nil, false), Options{})
			resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", tc.body)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("got content-type %q", ct)
			}
			events := strings.Split(strings.TrimSuffix(string(body), "\n\n"), "\n\n")
			if len(events) != tc.wantEvents {
				t.Fatalf("got %d events, want %d: %q", len(events), tc.wantEvents, body)
			}
			if events[len(events)-1] != "data: [DONE]" {
				t.Errorf("last event %q, want data: [DONE]", events[len(events)-1])
			}
			if got := strings.Contains(string(body), `"usage":{`); got != tc.wantUsage {
				t.Errorf("usage chunk present = %v, want %v", got, tc.wantUsage)
			}
			inf := rec.last(t)
			if inf.InputTokens != 7 || inf.OutputTokens != 2 || !inf.Stream || inf.TTFT <= 0 {
				t.Errorf("got record %+v", inf)
			}
		})
	}
}

func TestStreamMidwayError(t *testing.T) {
	t.Parallel()
	srv, rec := newTestServer(t, streamProvider(&switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream broke"}, false), Options{})
	_, body := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	if !strings.Contains(string(body), `data: {"error":{"message":"upstream stream broke"`) {
		t.Errorf("no in-band error event: %q", body)
	}
	if strings.Contains(string(body), "[DONE]") {
		t.Errorf("a failed stream must not end with [DONE]: %q", body)
	}
	if inf := rec.last(t); inf.Status != 502 || inf.ErrorCode != "upstream_error" {
		t.Errorf("got record status %d code %q, want 502 upstream_error", inf.Status, inf.ErrorCode)
	}
}

func TestStreamClientDisconnect(t *testing.T) {
	t.Parallel()
	canceled := make(chan struct{})
	p := &mock.Provider{ChatStreamFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
		go func() { <-ctx.Done(); close(canceled) }()
		return &mock.Stream{Ctx: ctx, Chunks: []*switchboard.Chunk{chunk("a", "")}, Block: true}, nil
	}}
	srv, rec := newTestServer(t, p, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	_, _ = resp.Body.Read(buf)
	cancel()
	resp.Body.Close()
	select {
	case <-canceled:
	case <-time.After(time.Second):
		t.Fatal("upstream context not cancelled within 1s of the client leaving")
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		n := len(rec.all)
		rec.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if inf := rec.last(t); inf.Status != StatusClientClosed {
		t.Errorf("got status %d, want 499", inf.Status)
	}
}

func TestUpstreamErrorPreserved(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{ChatFn: func(context.Context, string, *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
		return nil, &switchboard.Error{Code: switchboard.CodeRateLimited, Status: 429, RetryAfter: 2 * time.Second,
			Message: "Rate limit reached for gpt-4o", Type: "requests", VendorCode: "rate_limit_exceeded"}
	}}
	srv, _ := newTestServer(t, p, Options{})
	resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("got %d retry-after %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	want := `{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	if strings.TrimSpace(string(body)) != want {
		t.Errorf("got  %s\nwant %s", body, want)
	}
}

func TestInternalErrorHidesDetails(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{ChatFn: func(context.Context, string, *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
		return nil, errors.New("db password=hunter2 leaked")
	}}
	srv, _ := newTestServer(t, p, Options{})
	resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 500 || strings.Contains(string(body), "hunter2") {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{ChatFn: func(context.Context, string, *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
		panic("boom")
	}}
	srv, _ := newTestServer(t, p, Options{})
	resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 500 || !strings.Contains(string(body), "internal server error") {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

func TestLoadShedding(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	p := &mock.Provider{ChatFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
		entered <- struct{}{}
		<-release
		return echoProvider().ChatFn(ctx, model, req)
	}}
	srv, _ := newTestServer(t, p, Options{MaxInFlight: 1})
	done := make(chan int)
	go func() {
		resp, _ := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
		done <- resp.StatusCode
	}()
	<-entered
	resp, body := post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "overloaded") {
		t.Errorf("got %d %q %s, want 503 with retry-after", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	close(release)
	if got := <-done; got != 200 {
		t.Errorf("first request got %d, want 200", got)
	}
}

func TestEmbeddingsBase64(t *testing.T) {
	t.Parallel()
	vec := []float32{0.5, -1.25, 3}
	p := &mock.Provider{EmbedFn: func(context.Context, string, *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
		return &switchboard.EmbeddingResponse{Object: "list", Model: "e", Data: []switchboard.Embedding{{Object: "embedding", Embedding: vec}},
			Usage: &switchboard.Usage{PromptTokens: 1, TotalTokens: 1}}, nil
	}}
	srv, _ := newTestServer(t, p, Options{})
	_, body := post(t, srv.URL+"/v1/embeddings", "application/json", `{"model":"e","input":"hi","encoding_format":"base64"}`)
	var out struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Data) != 1 {
		t.Fatalf("got %s", body)
	}
	raw, err := base64.StdEncoding.DecodeString(out.Data[0].Embedding)
	if err != nil || len(raw) != 12 {
		t.Fatalf("got %d bytes, %v", len(raw), err)
	}
	for i, want := range vec {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != want {
			t.Errorf("got [%d]=%v, want %v", i, got, want)
		}
	}
	_, body = post(t, srv.URL+"/v1/embeddings", "application/json", `{"model":"e","input":["hi"]}`)
	if !bytes.Contains(body, []byte(`"embedding":[0.5,-1.25,3]`)) {
		t.Errorf("got %s", body)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	down := errors.New("no route to db")
	var storeErr error
	var mu sync.Mutex
	store := pingFunc(func(context.Context) error { mu.Lock(); defer mu.Unlock(); return storeErr })
	srv, _ := newTestServer(t, echoProvider(), Options{Store: store})
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz %d", code)
	}
	mu.Lock()
	storeErr = down
	mu.Unlock()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "no route to db") {
		t.Errorf("readyz with store down: %d %s", code, body)
	}
	post(t, srv.URL+"/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	_, body := get("/metrics")
	for _, want := range []string{
		`switchboard_requests_total{model="m",provider="fake",route="POST /v1/chat/completions",status="200"} 1`,
		`switchboard_tokens_total{direction="input",model="m",provider="fake"} 3`,
		`switchboard_request_duration_seconds_bucket`,
		`switchboard_in_flight_requests 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }
