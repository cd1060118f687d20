package main

// go test -run '^$' -bench 'Proxy' -benchmem -count=10 ./cmd/switchboard/ | tee new.txt; benchstat old.txt new.txt
// BenchmarkProxyChat sends non-streaming chats through the whole gateway
// (HTTP server, router, openai provider, recorder into SQLite) to an
// in-process fake upstream; BenchmarkDirectChat sends the same requests to
// the fake directly. Their difference is the gateway's overhead; allocs/op
// of ProxyChat minus DirectChat is the gateway's allocations per request.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

var benchChat = []byte(`{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one sentence about the sea."}],"max_tokens":64}`)

func benchGateway(b *testing.B) (up *sbtest.FakeUpstream, base string) {
	return benchGatewayWith(b, "")
}

// benchGatewayWith adds extra YAML to the benchmark gateway's config.
func benchGatewayWith(b *testing.B, extra string) (up *sbtest.FakeUpstream, base string) {
	up = sbtest.NewFakeUpstream(b, fakeupstream.Options{})
	dir := b.TempDir()
	m := NewMain(io.Discard)
	m.Env = func(string) (string, bool) { return "", false }
	cfg := `
providers:
  up: {type: openai, base_url: ` + up.OpenAIBaseURL() + `}
models:
  bench: {routes: [{provider: up, model: gpt-4o-mini}]}
` + extra
	file := dir + "/c.yaml"
	if err := writeFile(file, cfg); err != nil {
		b.Fatal(err)
	}
	if err := m.Load([]string{file}, []string{"server.listen=127.0.0.1:0", "storage.dsn=" + dir + "/b.db", "log.level=warn"}); err != nil {
		b.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close(context.Background()) })
	return up, "http://" + m.Addr
}

func benchPost(b *testing.B, client *http.Client, url string, body []byte) {
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkProxyChat(b *testing.B) {
	_, base := benchGateway(b)
	benchPost(b, &http.Client{}, base+"/v1/chat/completions", benchChat)
}

// BenchmarkProxyChatLimited is BenchmarkProxyChat for a tenant key with
// every admission check on: key lookup, tenant RPM/TPM/concurrency and a
// daily budget (token estimate, worst-case price, reserve and settle), in
// memory. Its difference to ProxyChat is what limits and budgets cost.
func BenchmarkProxyChatLimited(b *testing.B) {
	_, base := benchGatewayWith(b, `
tenants:
  bench:
    keys: [sk-bench-0123456789abcdef]
    limits: {rpm: 100000000, tpm: 1000000000, concurrency: 10000}
    budget: {daily_usd: 1000000}
`)
	benchPost(b, &http.Client{Transport: bearer{"sk-bench-0123456789abcdef"}}, base+"/v1/chat/completions", benchChat)
}

func BenchmarkDirectChat(b *testing.B) {
	up, _ := benchGateway(b)
	benchPost(b, &http.Client{}, up.OpenAIBaseURL()+"/chat/completions", bytes.Replace(benchChat, []byte(`"bench"`), []byte(`"gpt-4o-mini"`), 1))
}

func BenchmarkProxyChatStream(b *testing.B) {
	_, base := benchGateway(b)
	benchPost(b, &http.Client{}, base+"/v1/chat/completions", bytes.Replace(benchChat, []byte(`"max_tokens"`), []byte(`"stream":true,"max_tokens"`), 1))
}

// BenchmarkCacheHit sends the same temperature-0 chat through a gateway
// with the memory tier on: after the first call every request is a hit.
// Compare with BenchmarkProxyChat (pass-through) and BenchmarkDirectChat.
func BenchmarkCacheHit(b *testing.B) {
	up, base := benchGatewayWith(b, "cache: {enabled: true, memory: {max_bytes: 64MiB}}\n")
	body := bytes.Replace(benchChat, []byte(`"max_tokens"`), []byte(`"temperature":0,"max_tokens"`), 1)
	benchPost(b, &http.Client{}, base+"/v1/chat/completions", body)
	if n := up.RequestsTo("/v1/chat/completions"); n != 1 {
		b.Fatalf("upstream called %d times, want 1", n)
	}
}
