package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
	"github.com/switchboard-ai/switchboard/sqlite"
)

func cacheConfig(up *sbtest.FakeUpstream, tiers string) string {
	return `
cache:
  enabled: true
  ttl: 1h
` + tiers + `
providers:
  upstream: {type: openai, base_url: ` + up.OpenAIBaseURL() + `}
models:
  gpt-4o-mini: {routes: [{provider: upstream, model: gpt-4o-mini}]}
`
}

func chatWithHeaders(t *testing.T, client openai.Client, params openai.ChatCompletionNewParams) (*openai.ChatCompletion, http.Header) {
	t.Helper()
	var hdr http.Header
	resp, err := client.Chat.Completions.New(t.Context(), params, option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		resp, err := next(r)
		if resp != nil {
			hdr = resp.Header
		}
		return resp, err
	}))
	if err != nil {
		t.Fatal(err)
	}
	return resp, hdr
}

func TestCacheEndToEnd(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	m, base := startGateway(t, cacheConfig(up, "  memory: {max_bytes: 16MiB}"))
	client := sdk(base)
	params := openai.ChatCompletionNewParams{
		Model:       "gpt-4o-mini",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("cache me please")},
		Temperature: openai.Float(0),
	}
	first, h1 := chatWithHeaders(t, client, params)
	second, h2 := chatWithHeaders(t, client, params)
	if h1.Get("X-Switchboard-Cache") != "miss" || h2.Get("X-Switchboard-Cache") != "hit" || h2.Get("X-Switchboard-Cache-Tier") != "memory" {
		t.Fatalf("got %q then %q/%q", h1.Get("X-Switchboard-Cache"), h2.Get("X-Switchboard-Cache"), h2.Get("X-Switchboard-Cache-Tier"))
	}
	if up.RequestsTo("/v1/chat/completions") != 1 {
		t.Errorf("upstream called %d times, want 1", up.RequestsTo("/v1/chat/completions"))
	}
	if first.Choices[0].Message.Content != second.Choices[0].Message.Content || second.Usage.TotalTokens != first.Usage.TotalTokens {
		t.Errorf("hit differs from the original answer")
	}

	// A streamed request of the same question is replayed from the entry, in
	// framing the SDK accepts, usage included.
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model: params.Model, Messages: params.Messages, Temperature: params.Temperature,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != first.Choices[0].Message.Content || acc.Usage.CompletionTokens != first.Usage.CompletionTokens {
		t.Errorf("replayed stream: got %q usage %+v", acc.Choices[0].Message.Content, acc.Usage)
	}
	if up.RequestsTo("/v1/chat/completions") != 1 {
		t.Errorf("the replay called the upstream")
	}

	// Sampled requests are not cached; Cache-Control: no-cache refreshes.
	_, h := chatWithHeaders(t, client, openai.ChatCompletionNewParams{Model: params.Model, Messages: params.Messages, Temperature: openai.Float(0.8)})
	if h.Get("X-Switchboard-Cache") != "bypass" {
		t.Errorf("sampled request: got %q, want bypass", h.Get("X-Switchboard-Cache"))
	}
	if _, h = chatWithHeaders(t, client, params); h.Get("X-Switchboard-Cache") != "hit" {
		t.Errorf("repeat before no-cache: got %q, want hit", h.Get("X-Switchboard-Cache"))
	}
	resp, err := client.Chat.Completions.New(t.Context(), params, option.WithHeader("Cache-Control", "no-cache"))
	if err != nil || resp == nil {
		t.Fatal(err)
	}
	if up.RequestsTo("/v1/chat/completions") != 3 {
		t.Errorf("no-cache did not refresh: %d upstream calls, want 3", up.RequestsTo("/v1/chat/completions"))
	}

	// 100 concurrent identical misses: one upstream call.
	before := up.RequestsTo("/v1/chat/completions")
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: params.Model, Temperature: openai.Float(0),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("thundering herd")},
			}, option.WithJSONSet("mock", map[string]any{"latency": "100ms"}))
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := up.RequestsTo("/v1/chat/completions") - before; got != 1 {
		t.Errorf("100 concurrent identical requests made %d upstream calls, want 1", got)
	}

	// Stats and purge through the CLI, against the running gateway.
	var out, errb bytes.Buffer
	for deadline := time.Now().Add(5 * time.Second); ; { // the records reach the store within recorder.flush_interval
		out.Reset()
		code := run([]string{"cache", "stats", "--url", base}, &out, &errb)
		if code == 0 && strings.Contains(out.String(), "memory") && strings.Contains(out.String(), "hit rate") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache stats: exit %d\n%s%s", code, out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out.Reset()
	if code := run([]string{"cache", "purge", "--url", base, "--model", "gpt-4o-mini"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "deleted 2 entries") {
		t.Errorf("cache purge: exit %d %s%s", code, out.String(), errb.String())
	}
	_, h = chatWithHeaders(t, client, params)
	if h.Get("X-Switchboard-Cache") != "miss" {
		t.Errorf("after purge: got %q, want miss", h.Get("X-Switchboard-Cache"))
	}

	// The records: a hit costs nothing and saves what the call would have cost.
	dsn := m.Config.Storage.DSN
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sums, err := st.SumInferences(ctx, switchboard.InferenceFilter{}, []string{switchboard.GroupCache})
	if err != nil {
		t.Fatal(err)
	}
	var hit, miss *switchboard.InferenceSum
	for i := range sums {
		switch sums[i].Cache {
		case "hit":
			hit = &sums[i]
		case "miss":
			miss = &sums[i]
		}
	}
	if hit == nil || miss == nil || hit.CostUSD != 0 || hit.SavedUSD <= 0 || miss.CostUSD <= 0 {
		t.Errorf("got %+v", sums)
	}
}

func TestCacheDiskSurvivesRestart(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	dir := t.TempDir()
	conf := cacheConfig(up, "  disk: {path: "+filepath.Join(dir, "cache")+"}")
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Seed: openai.Int(1),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("remember me")}}
	m1, base1 := startGateway(t, conf)
	chatWithHeaders(t, sdk(base1), params)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, base2 := startGateway(t, conf)
	_, h := chatWithHeaders(t, sdk(base2), params)
	if h.Get("X-Switchboard-Cache") != "hit" || h.Get("X-Switchboard-Cache-Tier") != "disk" {
		t.Errorf("after restart: got %q from %q, want a disk hit", h.Get("X-Switchboard-Cache"), h.Get("X-Switchboard-Cache-Tier"))
	}
}

func TestCacheRedisSharedByReplicas(t *testing.T) {
	t.Parallel()
	url := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_REDIS_URL not set: skipping the Redis tier test")
	}
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	prefix := fmt.Sprintf("sbtest:%d:", time.Now().UnixNano())
	conf := cacheConfig(up, "  redis: {url: "+url+", prefix: \""+prefix+"\"}")
	_, a := startGateway(t, conf)
	_, b := startGateway(t, conf)
	params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Temperature: openai.Float(0),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("shared across replicas")}}
	chatWithHeaders(t, sdk(a), params)
	_, h := chatWithHeaders(t, sdk(b), params)
	if h.Get("X-Switchboard-Cache") != "hit" || h.Get("X-Switchboard-Cache-Tier") != "redis" {
		t.Errorf("replica b: got %q from %q, want a redis hit", h.Get("X-Switchboard-Cache"), h.Get("X-Switchboard-Cache-Tier"))
	}
	var out, errb bytes.Buffer
	if code := run([]string{"cache", "purge", "--url", a, "--all"}, &out, &errb); code != 0 {
		t.Errorf("purge: %s", errb.String())
	}
}

func TestSemanticCache(t *testing.T) {
	t.Parallel()
	for _, shadow := range []bool{false, true} {
		t.Run(fmt.Sprintf("shadow=%v", shadow), func(t *testing.T) {
			t.Parallel()
			up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
			_, base := startGateway(t, cacheConfig(up, fmt.Sprintf("  memory: {}\n  semantic: {enabled: true, shadow: %v}", shadow)))
			client := sdk(base)
			ask := func(q, system string) http.Header {
				msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage(q)}
				if system != "" {
					msgs = append([]openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system)}, msgs...)
				}
				_, h := chatWithHeaders(t, client, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Temperature: openai.Float(0), Messages: msgs})
				return h
			}
			ask("What is the capital of France?", "")
			near := ask("what is the capital of france", "")
			other := ask("What is the capital of Germany?", "")
			otherSystem := ask("what is the capital of france", "Answer in French.")
			if shadow {
				if near.Get("X-Switchboard-Cache") != "miss" {
					t.Errorf("shadow mode served %q", near.Get("X-Switchboard-Cache"))
				}
				resp, err := http.Get(base + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(b), `switchboard_cache_semantic_shadow_total{matched="false",model="gpt-4o-mini"} 1`) {
					t.Errorf("shadow hit not counted (the mock echoes, so the answers differ):\n%s", grepLines(string(b), "semantic_shadow"))
				}
				return
			}
			if near.Get("X-Switchboard-Cache") != "semantic-hit" || near.Get("X-Switchboard-Cache-Similarity") == "" {
				t.Errorf("near-duplicate: got %q (similarity %q), want semantic-hit", near.Get("X-Switchboard-Cache"), near.Get("X-Switchboard-Cache-Similarity"))
			}
			if other.Get("X-Switchboard-Cache") != "miss" {
				t.Errorf("a different question got %q", other.Get("X-Switchboard-Cache"))
			}
			if otherSystem.Get("X-Switchboard-Cache") != "miss" {
				t.Errorf("a different system prompt got %q: a semantic hit must not cross it", otherSystem.Get("X-Switchboard-Cache"))
			}
		})
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
