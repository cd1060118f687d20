package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/sse"
	"github.com/switchboard-ai/switchboard/metrics"
	"github.com/switchboard-ai/switchboard/mock"
	mockprovider "github.com/switchboard-ai/switchboard/provider/mock"
)

// anthRecords collects inference records.
type anthRecords struct {
	mu  sync.Mutex
	all []switchboard.Inference
}

func (r *anthRecords) Record(_ context.Context, inf switchboard.Inference) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, inf)
	return nil
}

func (r *anthRecords) list() []switchboard.Inference {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]switchboard.Inference(nil), r.all...)
}

// anthServer serves p, recording inferences.
func anthServer(t *testing.T, p switchboard.Provider, o Options) (string, *anthRecords) {
	t.Helper()
	rec := &anthRecords{}
	o.Provider, o.Recorder = p, rec
	if o.Metrics == nil {
		o.Metrics = metrics.New("test", nil)
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// mockProvider is the in-process mock, which answers like an upstream.
func mockProvider(t *testing.T) switchboard.Provider {
	t.Helper()
	p, err := mockprovider.New(mockprovider.Config{}, switchboard.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// anthPost posts body to path with the headers an Anthropic SDK sends.
func anthPost(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "sk-ant-client")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type anthErr struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

type sseEvent struct {
	name string
	data map[string]any
}

// readEvents decodes an SSE body, checking every event's name is its data's type.
func readEvents(t *testing.T, body []byte) []sseEvent {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(body))
	var out []sseEvent
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("event %s: data %s: %v", ev.Event, ev.Data, err)
		}
		if data["type"] != ev.Event {
			t.Errorf("got event %q with data type %v", ev.Event, data["type"])
		}
		out = append(out, sseEvent{ev.Event, data})
	}
}

func eventNames(evs []sseEvent) string {
	names := make([]string, 0, len(evs))
	for _, e := range evs {
		if len(names) > 0 && names[len(names)-1] == e.name+"…" {
			continue
		}
		if len(names) > 0 && names[len(names)-1] == e.name {
			names[len(names)-1] = e.name + "…"
			continue
		}
		names = append(names, e.name)
	}
	return strings.Join(names, " ")
}

func TestMessagesErrors(t *testing.T) {
	t.Parallel()
	p := &mock.Provider{
		ChatFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
			switch model {
			case "missing":
				return nil, &switchboard.Error{Code: switchboard.CodeNotFound, Param: "model", VendorCode: "model_not_found", Message: "no such model"}
			case "overloaded":
				return nil, &switchboard.Error{Code: switchboard.CodeUnavailable, Status: 503, Type: "overloaded_error", Message: "Overloaded", RetryAfter: 2 * time.Second}
			case "limited":
				return nil, &switchboard.Error{Code: switchboard.CodeRateLimited, Message: "slow down", RetryAfter: 3 * time.Second}
			case "openai-400":
				return nil, &switchboard.Error{Code: switchboard.CodeInvalidRequest, Status: 400, Type: "invalid_request_error", Param: "temperature", Message: "bad temperature"}
			case "broken":
				return nil, errors.New("secret internal detail")
			}
			return nil, &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream broke"}
		},
	}
	base, _ := anthServer(t, p, Options{MaxBodyBytes: 4096})
	msg := func(model string) string {
		return `{"model":"` + model + `","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
	}
	tests := []struct {
		name, path, body string
		status           int
		typ, message     string
		retryAfter       string
	}{
		{"not json", "/v1/messages", `{"model":`, 400, "invalid_request_error", "There was an error parsing the body of your request: it must be a JSON object", ""},
		{"no max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "max_tokens: Field required", ""},
		{"bad role", "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, 400, "invalid_request_error", "messages.0.role: Input should be 'user' or 'assistant'", ""},
		{"bad block", "/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"AA"}}]}]}`, 400, "invalid_request_error", "messages.0.content.0.source.media_type: Field required", ""},
		{"count_tokens needs messages", "/v1/messages/count_tokens", `{"model":"m"}`, 400, "invalid_request_error", "messages: Field required", ""},
		{"too large", "/v1/messages", msg(strings.Repeat("x", 5000)), 413, "request_too_large", "request body is larger than the limit of 4096 bytes (server.max_body_bytes)", ""},
		{"unknown model", "/v1/messages", msg("missing"), 404, "not_found_error", "model: no such model", ""},
		{"overloaded upstream", "/v1/messages", msg("overloaded"), 529, "overloaded_error", "Overloaded", "2"},
		{"rate limited", "/v1/messages", msg("limited"), 429, "rate_limit_error", "slow down", "3"},
		{"upstream 400 keeps its param", "/v1/messages", msg("openai-400"), 400, "invalid_request_error", "temperature: bad temperature", ""},
		{"upstream broke", "/v1/messages", msg("other"), 502, "api_error", "upstream broke", ""},
		{"internal", "/v1/messages", msg("broken"), 500, "api_error", "internal server error", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := anthPost(t, base+tc.path, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var e anthErr
			if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" {
				t.Fatalf("got %s (%v), want Anthropic's error envelope", body, err)
			}
			if e.Error.Type != tc.typ || e.Error.Message != tc.message {
				t.Errorf("got %q %q, want %q %q", e.Error.Type, e.Error.Message, tc.typ, tc.message)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("got retry-after %q, want %q", got, tc.retryAfter)
			}
			if id := resp.Header.Get("Request-Id"); id == "" || e.RequestID != id {
				t.Errorf("got request-id header %q and body %q, want them set and equal", id, e.RequestID)
			}
		})
	}
	// The content type is checked as for chat.
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(msg("m")))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 415 || !strings.Contains(string(body), `"type":"invalid_request_error"`) {
		t.Errorf("got %d %s, want 415 invalid_request_error", resp.StatusCode, body)
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	base, rec := anthServer(t, mockProvider(t), Options{})
	resp, body := anthPost(t, base+"/v1/messages",
		`{"model":"mock-echo","max_tokens":50,"system":"be brief","messages":[{"role":"user","content":[{"type":"text","text":"hello "},{"type":"text","text":"there"}]}],"metadata":{"user_id":"u7"}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("got %d: %s", resp.StatusCode, body)
	}
	var m struct {
		ID, Type, Role, Model string
		Content               []struct{ Type, Text string }
		StopReason            string `json:"stop_reason"`
		StopSequence          *string
		Usage                 struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		}
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, "msg_") || m.Type != "message" || m.Role != "assistant" || m.Model != "mock-echo" || m.StopReason != "end_turn" {
		t.Errorf("got %s", body)
	}
	if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text != "hello there" {
		t.Errorf("got content %+v, want the echo", m.Content)
	}
	if m.Usage.InputTokens == 0 || m.Usage.OutputTokens != 2 {
		t.Errorf("got usage %+v", m.Usage)
	}
	if resp.Header.Get("X-Switchboard-Inference-Id") == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got headers %v", resp.Header)
	}
	r := rec.list()
	if len(r) != 1 || r[0].Endpoint != "messages" || r[0].Model != "mock-echo" || r[0].Stream || r[0].Status != 200 || r[0].OutputTokens != 2 || r[0].InputTokens == 0 {
		t.Errorf("got records %+v", r)
	}
}

func TestMessagesStream(t *testing.T) {
	t.Parallel()
	base, rec := anthServer(t, mockProvider(t), Options{})
	resp, body := anthPost(t, base+"/v1/messages", `{"model":"mock-echo","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"one two three"}]}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("got %d %v: %s", resp.StatusCode, resp.Header, body)
	}
	evs := readEvents(t, body)
	if got, want := eventNames(evs), "message_start content_block_start content_block_delta… content_block_stop message_delta message_stop"; got != want {
		t.Errorf("got events %s, want %s", got, want)
	}
	var text string
	for _, ev := range evs {
		if d, ok := ev.data["delta"].(map[string]any); ok && d["type"] == "text_delta" {
			text += d["text"].(string)
		}
	}
	if text != "one two three" {
		t.Errorf("got text %q", text)
	}
	delta := evs[len(evs)-2].data
	if delta["delta"].(map[string]any)["stop_reason"] != "end_turn" || delta["usage"].(map[string]any)["output_tokens"] != 3.0 {
		t.Errorf("got message_delta %v", delta)
	}
	r := rec.list()
	if len(r) != 1 || r[0].Endpoint != "messages" || !r[0].Stream || r[0].TTFT <= 0 || r[0].OutputTokens != 3 || r[0].Status != 200 {
		t.Errorf("got records %+v", r)
	}
}

func TestMessagesStreamTools(t *testing.T) {
	t.Parallel()
	base, _ := anthServer(t, mockProvider(t), Options{})
	_, body := anthPost(t, base+"/v1/messages", `{"model":"mock-tools","max_tokens":200,"stream":true,
		"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
		"messages":[{"role":"user","content":"weather?"}]}`)
	evs := readEvents(t, body)
	var input, name, stop string
	for _, ev := range evs {
		switch ev.name {
		case "content_block_start":
			cb := ev.data["content_block"].(map[string]any)
			if cb["type"] == "tool_use" {
				name = cb["name"].(string)
			}
		case "content_block_delta":
			if d := ev.data["delta"].(map[string]any); d["type"] == "input_json_delta" {
				input += d["partial_json"].(string)
			}
		case "message_delta":
			stop = ev.data["delta"].(map[string]any)["stop_reason"].(string)
		}
	}
	if name != "get_weather" || !json.Valid([]byte(input)) || !strings.Contains(input, `"city"`) || stop != "tool_use" {
		t.Errorf("got tool %q input %q stop %q from %s", name, input, stop, body)
	}
}

func TestMessagesStreamMidwayError(t *testing.T) {
	t.Parallel()
	content := func(s string) *switchboard.Chunk {
		return &switchboard.Chunk{ID: "chatcmpl-1", Model: "m", Choices: []switchboard.ChunkChoice{{Delta: switchboard.Message{Content: switchboard.TextContent(s)}}}}
	}
	p := &mock.Provider{ChatStreamFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
		return &mock.Stream{Chunks: []*switchboard.Chunk{content("par"), content("tial")},
			Err: &switchboard.Error{Code: switchboard.CodeUnavailable, Status: 503, Type: "overloaded_error", Message: "Overloaded"}}, nil
	}}
	base, rec := anthServer(t, p, Options{})
	resp, body := anthPost(t, base+"/v1/messages", `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}`)
	evs := readEvents(t, body)
	if got, want := eventNames(evs), "message_start content_block_start content_block_delta… error"; resp.StatusCode != 200 || got != want {
		t.Fatalf("got %d %s, want 200 %s", resp.StatusCode, got, want)
	}
	e := evs[len(evs)-1].data["error"].(map[string]any)
	if e["type"] != "overloaded_error" || e["message"] != "Overloaded" {
		t.Errorf("got error event %v", e)
	}
	if r := rec.list(); len(r) != 1 || r[0].Status != 529 || r[0].ErrorCode != "unavailable" {
		t.Errorf("got records %+v, want status 529 recorded", r)
	}
}

// counter is a provider that counts tokens.
type counter struct {
	*mock.Provider
	n   int
	err error
}

func (c *counter) CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error) {
	if model != "m" || len(req.Messages) != 2 || req.Messages[0].Role != "system" {
		return 0, errors.New("unexpected request")
	}
	return c.n, c.err
}

func TestCountTokens(t *testing.T) {
	t.Parallel()
	const body = `{"model":"m","system":"be brief","messages":[{"role":"user","content":"hello there"}],"tools":[{"name":"f","input_schema":{"type":"object"}}]}`
	tests := []struct {
		name       string
		p          switchboard.Provider
		wantStatus int
		wantBody   string
		wantSource string
	}{
		// 3 + 2 messages × 4 + ceil((8 + 11 + 1 + 17) / 4) = 21.
		{"estimate", &mock.Provider{}, 200, `{"input_tokens":21}`, "estimate"},
		{"provider", &counter{Provider: &mock.Provider{}, n: 42}, 200, `{"input_tokens":42}`, "provider"},
		{"provider cannot count", &counter{Provider: &mock.Provider{}, err: errors.ErrUnsupported}, 200, `{"input_tokens":21}`, "estimate"},
		{"provider fails", &counter{Provider: &mock.Provider{}, err: &switchboard.Error{Code: switchboard.CodeRateLimited, Message: "slow"}}, 429, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, rec := anthServer(t, tc.p, Options{})
			resp, got := anthPost(t, base+"/v1/messages/count_tokens", body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, got, tc.wantStatus)
			}
			if tc.wantBody != "" && strings.TrimSpace(string(got)) != tc.wantBody {
				t.Errorf("got %s, want %s", got, tc.wantBody)
			}
			if src := resp.Header.Get("X-Switchboard-Token-Count"); src != tc.wantSource {
				t.Errorf("got source %q, want %q", src, tc.wantSource)
			}
			if len(rec.list()) != 0 {
				t.Error("count_tokens must not record an inference")
			}
		})
	}
}

func TestMessagesLoadShedding(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	p := &mock.Provider{ChatFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
		started <- struct{}{}
		<-release
		return &switchboard.ChatResponse{ID: "c", Model: model, Choices: []switchboard.Choice{{Message: switchboard.Message{Role: "assistant", Content: switchboard.TextContent("ok")}, FinishReason: "stop"}}}, nil
	}}
	base, _ := anthServer(t, p, Options{MaxInFlight: 1})
	const body = `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`
	done := make(chan int)
	go func() {
		resp, _ := anthPost(t, base+"/v1/messages", body)
		done <- resp.StatusCode
	}()
	<-started
	resp, got := anthPost(t, base+"/v1/messages", body)
	close(release)
	var e anthErr
	if resp.StatusCode != 529 || json.Unmarshal(got, &e) != nil || e.Error.Type != "overloaded_error" || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("got %d %s, want 529 overloaded_error with retry-after", resp.StatusCode, got)
	}
	if st := <-done; st != 200 {
		t.Errorf("first request got %d", st)
	}
}
