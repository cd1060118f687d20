package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/provider/mock"
	"github.com/switchboard-ai/switchboard/sbtest"
)

const testKey = "azure-test-key"

// newFake starts a fake Azure OpenAI resource and a client for it, which
// maps the model "gpt-4o" to the deployment mock-echo.
func newFake(t *testing.T, to switchboard.Timeouts) (*sbtest.FakeUpstream, *Client) {
	t.Helper()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	return f, mustClient(t, Config{Endpoint: f.URL, APIKey: testKey, Deployments: map[string]string{"gpt-4o": "mock-echo"}}, to)
}

func mustClient(t *testing.T, cfg Config, to switchboard.Timeouts) *Client {
	t.Helper()
	c, err := New(cfg, switchboard.Deps{Timeouts: to})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustChatReq(t *testing.T, body string) *switchboard.ChatRequest {
	t.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func collect(t *testing.T, s switchboard.ChatStream) ([]*switchboard.Chunk, error) {
	t.Helper()
	defer s.Close()
	var out []*switchboard.Chunk
	for {
		c, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	p, err := switchboard.Providers.New(t.Context(), "azure-openai", func(v any) error {
		*v.(*Config) = Config{Endpoint: "https://x.openai.azure.com", APIKey: "k"}
		return nil
	}, switchboard.Deps{})
	if err != nil || p == nil {
		t.Fatalf("got %v, %v; want a provider", p, err)
	}
}

func TestChat(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "gpt-4o", mustChatReq(t, `{"model":"alias","messages":[{"role":"user","content":"Hello Azure"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "Hello Azure" || resp.Model != "mock-echo" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("got %q from model %q, finish %q", got, resp.Model, resp.Choices[0].FinishReason)
	}
	if resp.Usage == nil || resp.Usage.CompletionTokens != 2 || resp.Raw == nil {
		t.Errorf("got usage %+v, raw %v", resp.Usage, resp.Raw != nil)
	}
	rec := f.LastRequest()
	if rec.Path != "/openai/deployments/mock-echo/chat/completions" || rec.Header.Get("Api-Key") != testKey || rec.Header.Get("Authorization") != "" {
		t.Errorf("got %s with api-key %q, authorization %q", rec.Path, rec.Header.Get("Api-Key"), rec.Header.Get("Authorization"))
	}
	if want := `{"model":"gpt-4o","messages":[{"role":"user","content":"Hello Azure"}]}`; string(rec.Body) != want {
		t.Errorf("got body %s, want %s", rec.Body, want)
	}

	// A model without a deployments entry is the deployment's name.
	resp, err = c.Chat(t.Context(), "mock-lorem", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"mock":{"words":2}}`))
	if err != nil || resp.Choices[0].Message.Text() != "Lorem ipsum" || f.LastRequest().Path != "/openai/deployments/mock-lorem/chat/completions" {
		t.Errorf("got %v, %v at %s", resp, err, f.LastRequest().Path)
	}
}

func TestADToken(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{RequireKey: "entra"})
	c := mustClient(t, Config{Endpoint: f.URL, ADToken: "entra"}, switchboard.Timeouts{})
	if _, err := c.Chat(t.Context(), "mock-echo", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`)); err != nil {
		t.Fatal(err)
	}
	if h := f.LastRequest().Header; h.Get("Authorization") != "Bearer entra" || h.Get("Api-Key") != "" {
		t.Errorf("got headers %v, want only the bearer token", h)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	s, err := c.ChatStream(t.Context(), "mock-lorem", mustChatReq(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"mock":{"words":4}}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collect(t, s)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, ch := range chunks {
		for _, cc := range ch.Choices {
			text.WriteString(cc.Delta.Text())
		}
	}
	last := chunks[len(chunks)-1]
	if text.String() != "Lorem ipsum dolor sit" || len(last.Choices) != 0 || last.Usage == nil || last.Usage.CompletionTokens != 4 {
		t.Errorf("got text %q, last chunk %+v", text.String(), last)
	}
	if !strings.Contains(string(f.LastRequest().Body), `"include_usage":true`) {
		t.Errorf("got body %s, want usage asked for", f.LastRequest().Body)
	}
}

const weatherTool = `{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false},"strict":true}}`

func TestTools(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, switchboard.Timeouts{})
	resp, err := c.Chat(t.Context(), "mock-tools", mustChatReq(t, `{"model":"m","tools":[`+weatherTool+`],"messages":[{"role":"user","content":"Weather?"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Arguments != `{"city":"test"}` {
		t.Fatalf("got %+v, want a get_weather call", resp.Choices[0])
	}
	assistant, _ := json.Marshal(msg)
	resp, err = c.Chat(t.Context(), "mock-tools", mustChatReq(t, `{"model":"m","tools":[`+weatherTool+`],"messages":[{"role":"user","content":"Weather?"},`+
		string(assistant)+`,{"role":"tool","tool_call_id":"`+msg.ToolCalls[0].ID+`","content":"rainy"}]}`))
	if err != nil || resp.Choices[0].Message.Text() != "rainy" {
		t.Errorf("got %v, %v; want the tool result echoed", resp, err)
	}
	s, err := c.ChatStream(t.Context(), "mock-tools", mustChatReq(t, `{"model":"m","stream":true,"tools":[`+weatherTool+`],"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collect(t, s)
	var args strings.Builder
	for _, ch := range chunks {
		for _, cc := range ch.Choices {
			for _, tc := range cc.Delta.ToolCalls {
				args.WriteString(tc.Function.Arguments)
			}
		}
	}
	if err != nil || args.String() != `{"city":"test"}` {
		t.Errorf("got arguments %q, %v", args.String(), err)
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	body := `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What is it?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}]}`
	resp, err := c.Chat(t.Context(), "gpt-4o", mustChatReq(t, body))
	if err != nil || resp.Choices[0].Message.Text() != "What is it?" {
		t.Fatalf("got %v, %v", resp, err)
	}
	if want := strings.Replace(body, `"model":"m"`, `"model":"gpt-4o"`, 1); string(f.LastRequest().Body) != want {
		t.Errorf("got body %s, want the image forwarded unchanged", f.LastRequest().Body)
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	f := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	c := mustClient(t, Config{Endpoint: f.URL + "/", APIKey: testKey, Deployments: map[string]string{"text-embedding-3-small": "emb-deploy"}}, switchboard.Timeouts{})
	req, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":["hello world","bye"],"dimensions":16}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Embed(t.Context(), "text-embedding-3-small", req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || resp.Model != "emb-deploy" || resp.Usage == nil || resp.Usage.PromptTokens == 0 {
		t.Fatalf("got %+v", resp)
	}
	if diff := cmp.Diff(mock.Vector("bye", 16), resp.Data[1].Embedding); diff != "" {
		t.Errorf("vector (-want +got):\n%s", diff)
	}
	if p := f.LastRequest().Path; p != "/openai/deployments/emb-deploy/embeddings" {
		t.Errorf("got path %q", p)
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	c := mustClient(t, Config{Endpoint: "https://x.openai.azure.com", APIKey: "k", Deployments: map[string]string{"gpt-4o": "a", "gpt-4o-mini": "b", "embed": "c"}}, switchboard.Timeouts{})
	ms, err := c.Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	if want := []string{"embed", "gpt-4o", "gpt-4o-mini"}; !slices.Equal(ids, want) {
		t.Errorf("got %v, want %v", ids, want)
	}
	c = mustClient(t, Config{Endpoint: "https://x.openai.azure.com", APIKey: "k"}, switchboard.Timeouts{})
	if ms, err := c.Models(t.Context()); err != nil || len(ms) != 0 {
		t.Errorf("got %v, %v; want no models without deployments", ms, err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	ok := Config{Endpoint: "https://x.openai.azure.com", APIKey: "k"}
	with := func(f func(*Config)) Config {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{with(func(c *Config) { c.Endpoint = "" }), "endpoint: required"},
		{with(func(c *Config) { c.Endpoint = "x.openai.azure.com" }), "endpoint: must be an absolute"},
		{with(func(c *Config) { c.Endpoint = "ftp://x" }), "endpoint"},
		{with(func(c *Config) { c.Endpoint = "https://x.openai.azure.com/openai/deployments/d/chat/completions" }), "endpoint: must be the resource's root"},
		{with(func(c *Config) { c.Endpoint = "https://x.openai.azure.com?api-version=1" }), "endpoint"},
		{with(func(c *Config) { c.APIKey = "" }), "api_key: required unless ad_token"},
		{with(func(c *Config) { c.ADToken = "t" }), "ad_token: set either"},
		{with(func(c *Config) { c.APIVersion = "2024-10-21&x=1" }), "api_version"},
		{with(func(c *Config) { c.Deployments = map[string]string{"gpt-4o": ""} }), "deployments.gpt-4o"},
		{with(func(c *Config) { c.Deployments = map[string]string{"gpt-4o": "a/b"} }), "deployments.gpt-4o"},
		{with(func(c *Config) { c.MaxConns = -1 }), "max_conns"},
	}
	for _, tc := range tests {
		_, err := New(tc.cfg, switchboard.Deps{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "azure-openai: ") {
			t.Errorf("New(%+v): got %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(ok, switchboard.Deps{}); err != nil {
		t.Errorf("got %v for a valid config", err)
	}
}

// handler answers every request of the fake with status and body.
func handler(status int, header, body string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if k, v, ok := strings.Cut(header, ": "); ok {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
		return true
	}
}

// TestErrorMapping is Azure's status → code table (STYLE §5).
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		mock       string
		hook       func(http.ResponseWriter, *http.Request) bool
		noKey      bool
		wantCode   switchboard.ErrorCode
		wantStatus int
		wantVendor string
		wantMsg    string
		wantRetry  time.Duration
		retryable  bool
	}{
		{name: "400", mock: `{"status":400}`, wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantMsg: "reject"},
		{name: "400 content_filter", hook: handler(400, "", `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"violence":{"filtered":true,"severity":"high"}}}}}`),
			wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantVendor: "content_filter", wantMsg: "content management policy"},
		{name: "400 context_length", hook: handler(400, "", `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`),
			wantCode: switchboard.CodeInvalidRequest, wantStatus: 400, wantVendor: "context_length_exceeded", wantMsg: "maximum context length"},
		{name: "401 no key", noKey: true, wantCode: switchboard.CodeUpstream, wantStatus: 502, wantVendor: "upstream_auth_failed", wantMsg: "Access denied", retryable: true},
		{name: "403", mock: `{"status":403}`, wantCode: switchboard.CodeUpstream, wantStatus: 502, wantVendor: "upstream_auth_failed", wantMsg: "credentials", retryable: true},
		{name: "404 DeploymentNotFound", hook: handler(404, "", `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`),
			wantCode: switchboard.CodeNotFound, wantStatus: 404, wantVendor: "DeploymentNotFound", wantMsg: "deployment"},
		{name: "429", mock: `{"status":429,"retry_after":4}`, wantCode: switchboard.CodeRateLimited, wantStatus: 429, wantVendor: "rate_limit_exceeded", wantMsg: "Rate limit", wantRetry: 4 * time.Second, retryable: true},
		{name: "429 retry-after-ms", hook: handler(429, "Retry-After-Ms: 1500", `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier."}}`),
			wantCode: switchboard.CodeRateLimited, wantStatus: 429, wantVendor: "429", wantMsg: "exceeded token rate limit", wantRetry: 1500 * time.Millisecond, retryable: true},
		{name: "500", mock: `{"status":500}`, wantCode: switchboard.CodeUnavailable, wantStatus: 500, wantMsg: "server had an error", retryable: true},
		{name: "503", mock: `{"status":503}`, wantCode: switchboard.CodeUnavailable, wantStatus: 503, wantMsg: "overloaded", retryable: true},
		{name: "504", mock: `{"status":504}`, wantCode: switchboard.CodeTimeout, wantStatus: 504, wantMsg: "timed out", retryable: true},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.name, stream), func(t *testing.T) {
				t.Parallel()
				f, c := newFake(t, switchboard.Timeouts{})
				if tc.hook != nil {
					f.Handle(tc.hook)
				}
				if tc.noKey {
					c = mustClient(t, Config{Endpoint: f.URL, APIKey: "k", Headers: map[string]string{"api-key": ""}}, switchboard.Timeouts{})
				}
				body := `{"model":"m","messages":[{"role":"user","content":"x"}]`
				if tc.mock != "" {
					body += `,"mock":` + tc.mock
				}
				var err error
				if stream {
					var s switchboard.ChatStream
					if s, err = c.ChatStream(t.Context(), "gpt-4o", mustChatReq(t, body+`,"stream":true}`)); err == nil {
						_, err = collect(t, s)
					}
				} else {
					_, err = c.Chat(t.Context(), "gpt-4o", mustChatReq(t, body+"}"))
				}
				var e *switchboard.Error
				if !errors.As(err, &e) {
					t.Fatalf("got %v, want *switchboard.Error", err)
				}
				if e.Code != tc.wantCode || e.Status != tc.wantStatus || e.VendorCode != tc.wantVendor || !strings.Contains(e.Message, tc.wantMsg) {
					t.Errorf("got code %s status %d vendor code %q message %q, want %s %d %q containing %q",
						e.Code, e.Status, e.VendorCode, e.Message, tc.wantCode, tc.wantStatus, tc.wantVendor, tc.wantMsg)
				}
				if e.RetryAfter != tc.wantRetry || switchboard.Retryable(err) != tc.retryable {
					t.Errorf("got retry after %v, retryable %v; want %v, %v", e.RetryAfter, switchboard.Retryable(err), tc.wantRetry, tc.retryable)
				}
			})
		}
	}
}

// TestContentFilterFinish checks that Azure's finish_reason content_filter
// reaches the client as it is.
func TestContentFilterFinish(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, switchboard.Timeouts{})
	f.Handle(handler(200, "Content-Type: application/json", `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"finish_reason":"content_filter","message":{"role":"assistant","content":null},"content_filter_results":{"sexual":{"filtered":true,"severity":"medium"}}}],"prompt_filter_results":[]}`))
	resp, err := c.Chat(t.Context(), "gpt-4o", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	if err != nil || resp.Choices[0].FinishReason != "content_filter" || !strings.Contains(string(resp.Raw), "content_filter_results") {
		t.Errorf("got %+v, %v; want finish content_filter with the raw filter results", resp, err)
	}
}

func TestBrokenStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mock     string
		idle     time.Duration
		wantCode switchboard.ErrorCode
	}{
		{"cut", `{"fail_after":2}`, 0, switchboard.CodeUpstream},
		{"malformed chunk", `{"malformed":true}`, 0, switchboard.CodeUpstream},
		{"stalled", `{"stall_after":1}`, 100 * time.Millisecond, switchboard.CodeTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, c := newFake(t, switchboard.Timeouts{Idle: tc.idle})
			s, err := c.ChatStream(t.Context(), "gpt-4o", mustChatReq(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c d"}],"mock":`+tc.mock+`}`))
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := collect(t, s)
			if switchboard.ErrorCodeOf(err) != tc.wantCode || len(chunks) == 0 {
				t.Errorf("got %v after %d chunks, want %s after some", err, len(chunks), tc.wantCode)
			}
		})
	}
	t.Run("no [DONE]", func(t *testing.T) {
		t.Parallel()
		f, c := newFake(t, switchboard.Timeouts{})
		f.Handle(handler(200, "Content-Type: text/event-stream", `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}`+"\n\n"))
		s, err := c.ChatStream(t.Context(), "gpt-4o", mustChatReq(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := collect(t, s); switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
			t.Errorf("got %v, want upstream_error for a truncated stream", err)
		}
	})
}

func TestMalformedBody(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, switchboard.Timeouts{})
	_, err := c.Chat(t.Context(), "gpt-4o", mustChatReq(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"mock":{"malformed":true}}`))
	if switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Errorf("got %v, want upstream_error (502)", err)
	}
	req, _ := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x","mock":{"malformed":true}}`))
	if _, err := c.Embed(t.Context(), "emb", req); switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
		t.Errorf("embed: got %v, want upstream_error (502)", err)
	}
}
