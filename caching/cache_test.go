package caching

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/mock"
)

// mapCache is a minimal switchboard.Cache for these tests.
type mapCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (m *mapCache) Get(_ context.Context, k string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[k]
	return v, ok, nil
}

func (m *mapCache) Set(_ context.Context, k string, v []byte, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[k] = v
	return nil
}

func (m *mapCache) Delete(_ context.Context, k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, k)
	return nil
}

func (m *mapCache) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

type resolver map[string][]Target

func (r resolver) Candidates(model string) ([]Target, error) {
	t, ok := r[model]
	if !ok {
		return nil, errors.New("unknown model")
	}
	return t, nil
}

// upstream answers with the last user message and counts its calls; served
// names the deployment it claims to be.
type upstream struct {
	calls  atomic.Int64
	served Target
	delay  time.Duration
	fail   bool
}

func (u *upstream) provider() *mock.Provider {
	return &mock.Provider{
		ChatFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
			u.calls.Add(1)
			time.Sleep(u.delay)
			if o := switchboard.OutcomeFromContext(ctx); o != nil {
				o.Provider, o.UpstreamModel = u.served.Provider, u.served.Model
			}
			text := req.Messages[len(req.Messages)-1].Text()
			return &switchboard.ChatResponse{ID: "c1", Object: "chat.completion", Model: u.served.Model,
				Choices: []switchboard.Choice{{Message: switchboard.Message{Role: "assistant", Content: switchboard.TextContent("echo: " + text)}, FinishReason: "stop"}},
				Usage:   &switchboard.Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}}, nil
		},
		ChatStreamFn: func(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
			u.calls.Add(1)
			if o := switchboard.OutcomeFromContext(ctx); o != nil {
				o.Provider, o.UpstreamModel = u.served.Provider, u.served.Model
			}
			stop := "stop"
			text := req.Messages[len(req.Messages)-1].Text()
			chunks := []*switchboard.Chunk{
				{ID: "s1", Model: u.served.Model, Choices: []switchboard.ChunkChoice{{Delta: switchboard.Message{Role: "assistant", Content: switchboard.TextContent("")}}}},
				{ID: "s1", Model: u.served.Model, Choices: []switchboard.ChunkChoice{{Delta: switchboard.Message{Content: switchboard.TextContent("echo: ")}}}},
				{ID: "s1", Model: u.served.Model, Choices: []switchboard.ChunkChoice{{Delta: switchboard.Message{Content: switchboard.TextContent(text)}}}},
			}
			var err error
			if u.fail {
				err = &switchboard.Error{Code: switchboard.CodeUpstream, Message: "cut"}
			} else {
				chunks = append(chunks,
					&switchboard.Chunk{ID: "s1", Choices: []switchboard.ChunkChoice{{Delta: switchboard.Message{}, FinishReason: &stop}}},
					&switchboard.Chunk{ID: "s1", Choices: []switchboard.ChunkChoice{}, Usage: &switchboard.Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}})
			}
			return &mock.Stream{Chunks: chunks, Err: err}, nil
		},
	}
}

var a = Target{Provider: "a", Model: "m-a"}

func newCache(t *testing.T, u *upstream, opts Options) (*Cache, *mapCache) {
	t.Helper()
	store := &mapCache{m: map[string][]byte{}}
	opts.Store = store
	if opts.Resolver == nil {
		opts.Resolver = resolver{"x": {a}}
	}
	return New(u.provider(), opts), store
}

func req(t *testing.T, body string) *switchboard.ChatRequest {
	t.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func call(t *testing.T, c *Cache, tenant, body string) (*switchboard.ChatResponse, *switchboard.Outcome) {
	t.Helper()
	out := &switchboard.Outcome{}
	ctx := switchboard.NewContextWithOutcome(context.Background(), out)
	if tenant != "" {
		ctx = switchboard.NewContextWithPrincipal(ctx, switchboard.Principal{TenantID: tenant})
	}
	resp, err := c.Chat(ctx, "x", req(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func TestPolicyAndKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		first, then string
		wantResult  string
		wantCalls   int64
	}{
		{"temperature 0 repeats hit", `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`, ResultHit, 1},
		{"seed repeats hit", `{"model":"x","seed":3,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","seed":3,"messages":[{"role":"user","content":"hi"}]}`, ResultHit, 1},
		{"key order, whitespace, user and stream ignored", `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}],"user":"u1"}`,
			`{ "messages" : [ {"content":"hi", "role":"user"} ], "user":"u2", "temperature":0.0, "model":"x" }`, ResultHit, 1},
		{"other message misses", `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","temperature":0,"messages":[{"role":"user","content":"ho"}]}`, ResultMiss, 2},
		{"other parameter misses", `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","temperature":0,"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`, ResultMiss, 2},
		{"unknown fields are in the key", `{"model":"x","temperature":0,"logit_bias":{"1":2},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","temperature":0,"logit_bias":{"1":3},"messages":[{"role":"user","content":"hi"}]}`, ResultMiss, 2},
		{"sampled requests bypass", `{"model":"x","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}`, ResultBypass, 2},
		{"body opt-in", `{"model":"x","cache":{"ttl":60},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","cache":{"ttl":60},"messages":[{"role":"user","content":"hi"}]}`, ResultHit, 1},
		{"no-cache refreshes", `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"x","temperature":0,"cache":{"no-cache":true},"messages":[{"role":"user","content":"hi"}]}`, ResultMiss, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := &upstream{served: a}
			c, _ := newCache(t, u, Options{})
			call(t, c, "", tc.first)
			resp, out := call(t, c, "", tc.then)
			if out.Cache != tc.wantResult || u.calls.Load() != tc.wantCalls {
				t.Errorf("got %s with %d upstream calls, want %s with %d", out.Cache, u.calls.Load(), tc.wantResult, tc.wantCalls)
			}
			if resp.Choices[0].Message.Text() != "echo: hi" && resp.Choices[0].Message.Text() != "echo: ho" {
				t.Errorf("got %q", resp.Choices[0].Message.Text())
			}
			if tc.wantResult == ResultHit && (out.Provider != "a" || out.UpstreamModel != "m-a" || out.CacheTier == "") {
				t.Errorf("hit outcome %+v", out)
			}
		})
	}
}

func TestBodyControlStrippedAndValidated(t *testing.T) {
	t.Parallel()
	u := &upstream{served: a}
	var seen *switchboard.ChatRequest
	p := u.provider()
	inner := p.ChatFn
	p.ChatFn = func(ctx context.Context, model string, r *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
		seen = r
		return inner(ctx, model, r)
	}
	c := New(p, Options{Store: &mapCache{m: map[string][]byte{}}, Resolver: resolver{"x": {a}}})
	r := req(t, `{"model":"x","cache":{"ttl":"10m","namespace":"n1"},"messages":[{"role":"user","content":"hi"}]}`)
	if _, err := c.Chat(switchboard.NewContextWithOutcome(context.Background(), &switchboard.Outcome{}), "x", r); err != nil {
		t.Fatal(err)
	}
	if _, ok := seen.Extra["cache"]; ok || seen.Raw != nil {
		t.Error("the cache object reached the upstream")
	}
	_, err := c.Chat(context.Background(), "x", req(t, `{"model":"x","cache":{"ttl":"soon"},"messages":[{"role":"user","content":"hi"}]}`))
	var e *switchboard.Error
	if !errors.As(err, &e) || e.Param != "cache.ttl" {
		t.Errorf("got %v, want a 400 naming cache.ttl", err)
	}
}

func TestMaxAgeAndNoStore(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	u := &upstream{served: a}
	c, store := newCache(t, u, Options{Now: func() time.Time { return now }})
	body := `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	call(t, c, "", body)
	now = now.Add(time.Minute)
	ctx := switchboard.NewContextWithCacheControl(context.Background(), maxAge(30*time.Second))
	out := &switchboard.Outcome{}
	if _, err := c.Chat(switchboard.NewContextWithOutcome(ctx, out), "x", req(t, body)); err != nil {
		t.Fatal(err)
	}
	if out.Cache != ResultMiss {
		t.Errorf("a 60 s old entry served under max-age=30: %s", out.Cache)
	}
	u2 := &upstream{served: a}
	c2, store2 := newCache(t, u2, Options{})
	ctx = switchboard.NewContextWithCacheControl(context.Background(), switchboard.CacheControl{NoStore: true})
	if _, err := c2.Chat(switchboard.NewContextWithOutcome(ctx, &switchboard.Outcome{}), "x", req(t, body)); err != nil {
		t.Fatal(err)
	}
	if store2.len() != 0 || store.len() != 1 {
		t.Errorf("no-store stored %d entries", store2.len())
	}
}

func TestStoredUnderServingDeployment(t *testing.T) {
	t.Parallel()
	b := Target{Provider: "b", Model: "m-b"}
	// The primary model x has only deployment a, but the answer came from b
	// (a fallback to another model): it must not be stored under x's key.
	u := &upstream{served: b}
	c, store := newCache(t, u, Options{Resolver: resolver{"x": {a}}})
	body := `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	call(t, c, "", body)
	if store.len() != 0 {
		t.Fatalf("a fallback's answer was stored under the primary: %d entries", store.len())
	}
	// With b among x's deployments, it is stored under b and found again.
	c2, store2 := newCache(t, u, Options{Resolver: resolver{"x": {a, b}}})
	call(t, c2, "", body)
	_, out := call(t, c2, "", body)
	if store2.len() != 1 || out.Cache != ResultHit || out.Provider != "b" {
		t.Errorf("got %d entries, %+v", store2.len(), out)
	}
	for k := range store2.m {
		if !strings.HasPrefix(k, Prefix("", "b", "m-b")) {
			t.Errorf("key %s not under b's prefix", k)
		}
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	u := &upstream{served: a}
	c, _ := newCache(t, u, Options{})
	body := `{"model":"x","temperature":0,"messages":[{"role":"user","content":"secret"}]}`
	call(t, c, "acme", body)
	_, out := call(t, c, "globex", body)
	if out.Cache != ResultMiss {
		t.Errorf("tenant globex got %s of acme's entry", out.Cache)
	}
	_, out = call(t, c, "acme", body)
	if out.Cache != ResultHit {
		t.Errorf("acme got %s of its own entry", out.Cache)
	}
}

func collect(t *testing.T, s switchboard.ChatStream) (string, *switchboard.Usage, error) {
	t.Helper()
	defer s.Close()
	acc := newAccumulator()
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			r := acc.response()
			if r == nil {
				return "", nil, errors.New("incomplete")
			}
			return r.Choices[0].Message.Text(), r.Usage, nil
		}
		if err != nil {
			return "", nil, err
		}
		acc.add(ch)
	}
}

func TestStreams(t *testing.T) {
	t.Parallel()
	u := &upstream{served: a}
	c, store := newCache(t, u, Options{})
	body := `{"model":"x","stream":true,"temperature":0,"messages":[{"role":"user","content":"stream me"}]}`
	ctx := switchboard.NewContextWithOutcome(context.Background(), &switchboard.Outcome{})
	s, err := c.ChatStream(ctx, "x", req(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if text, _, err := collect(t, s); err != nil || text != "echo: stream me" {
		t.Fatalf("got %q %v", text, err)
	}
	if store.len() != 1 {
		t.Fatalf("completed stream not stored")
	}
	// Replayed to a streaming client, with usage.
	out := &switchboard.Outcome{}
	s, err = c.ChatStream(switchboard.NewContextWithOutcome(context.Background(), out), "x", req(t, body))
	if err != nil {
		t.Fatal(err)
	}
	text, usage, err := collect(t, s)
	if err != nil || text != "echo: stream me" || usage == nil || usage.CompletionTokens != 3 || out.Cache != ResultHit {
		t.Errorf("replay: got %q %+v %v %s", text, usage, err, out.Cache)
	}
	// And to a non-streaming one.
	resp, out2 := call(t, c, "", strings.Replace(body, `"stream":true,`, "", 1))
	if out2.Cache != ResultHit || resp.Choices[0].Message.Text() != "echo: stream me" || u.calls.Load() != 1 {
		t.Errorf("non-stream after stream: %s %q, %d calls", out2.Cache, resp.Choices[0].Message.Text(), u.calls.Load())
	}
}

func TestTruncatedStreamNotStored(t *testing.T) {
	t.Parallel()
	u := &upstream{served: a, fail: true}
	c, store := newCache(t, u, Options{})
	s, err := c.ChatStream(switchboard.NewContextWithOutcome(context.Background(), &switchboard.Outcome{}), "x",
		req(t, `{"model":"x","stream":true,"temperature":0,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := collect(t, s); err == nil {
		t.Fatal("want the stream's error")
	}
	if store.len() != 0 {
		t.Error("a truncated stream was stored")
	}
}

func TestSingleFlight(t *testing.T) {
	t.Parallel()
	u := &upstream{served: a, delay: 50 * time.Millisecond}
	c, _ := newCache(t, u, Options{})
	body := `{"model":"x","temperature":0,"messages":[{"role":"user","content":"same"}]}`
	var wg sync.WaitGroup
	var hits atomic.Int64
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, out := call(t, c, "", body)
			if resp.Choices[0].Message.Text() != "echo: same" {
				t.Errorf("got %q", resp.Choices[0].Message.Text())
			}
			if out.Cache == ResultHit {
				hits.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := u.calls.Load(); got != 1 {
		t.Errorf("100 concurrent identical requests made %d upstream calls, want 1", got)
	}
	if hits.Load() != 99 {
		t.Errorf("got %d hits, want 99", hits.Load())
	}
}

func TestEmbeddingsPerItem(t *testing.T) {
	t.Parallel()
	var asked [][]string
	var mu sync.Mutex
	p := &mock.Provider{EmbedFn: func(_ context.Context, model string, r *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
		var in []string
		_ = json.Unmarshal(r.Input, &in)
		mu.Lock()
		asked = append(asked, in)
		mu.Unlock()
		resp := &switchboard.EmbeddingResponse{Model: "m-a", Usage: &switchboard.Usage{PromptTokens: len(in)}}
		for i, s := range in {
			resp.Data = append(resp.Data, switchboard.Embedding{Index: i, Embedding: []float32{float32(len(s)), float32(s[0])}})
		}
		return resp, nil
	}}
	c := New(p, Options{Store: &mapCache{m: map[string][]byte{}}, Resolver: resolver{"e": {a}}})
	embed := func(inputs ...string) *switchboard.EmbeddingResponse {
		b, _ := json.Marshal(inputs)
		r, err := switchboard.DecodeEmbeddingRequest([]byte(`{"model":"e","input":` + string(b) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Embed(switchboard.NewContextWithOutcome(context.Background(), &switchboard.Outcome{}), "e", r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	embed("aa", "bbb")
	resp := embed("bbb", "c", "aa")
	if len(asked) != 2 || strings.Join(asked[1], ",") != "c" {
		t.Fatalf("upstream was asked %v, want only [c] the second time", asked)
	}
	want := [][]float32{{3, 'b'}, {1, 'c'}, {2, 'a'}}
	for i, d := range resp.Data {
		if d.Index != i || d.Embedding[0] != want[i][0] || d.Embedding[1] != want[i][1] {
			t.Errorf("item %d: got %v, want %v", i, d.Embedding, want[i])
		}
	}
}

func TestPieces(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("héllo wörld ", 20)
	if got := strings.Join(pieces(s, 16), ""); got != s {
		t.Errorf("pieces lost text")
	}
}

func maxAge(d time.Duration) switchboard.CacheControl { return switchboard.CacheControl{MaxAge: &d} }

func TestTenantAndModelPolicy(t *testing.T) {
	t.Parallel()
	u := &upstream{served: a}
	c, _ := newCache(t, u, Options{
		Tenants: map[string]Policy{"acme": {Mode: ModeAlways}, "globex": {Mode: ModeOff}},
		Models:  map[string]Policy{},
	})
	sampled := `{"model":"x","temperature":0.9,"messages":[{"role":"user","content":"hi"}]}`
	call(t, c, "acme", sampled)
	if _, out := call(t, c, "acme", sampled); out.Cache != ResultHit {
		t.Errorf("acme (mode always): got %s, want hit", out.Cache)
	}
	det := `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	call(t, c, "globex", det)
	if _, out := call(t, c, "globex", det); out.Cache != ResultBypass {
		t.Errorf("globex (mode off): got %s, want bypass", out.Cache)
	}
	c2, _ := newCache(t, &upstream{served: a}, Options{
		Tenants: map[string]Policy{"acme": {Mode: ModeAlways}},
		Models:  map[string]Policy{"x": {Mode: ModeOff}},
	})
	if _, out := call(t, c2, "acme", det); out.Cache != ResultBypass {
		t.Errorf("model policy must win over the tenant's: got %s", out.Cache)
	}
}
