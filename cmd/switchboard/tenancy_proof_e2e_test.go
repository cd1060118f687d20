package main

// End-to-end proofs of issue 4 (tenants, rate limits, budgets, cost
// tracking): streamed inferences are priced and charged exactly once however
// they end; replicas sharing Redis share one rate limit and one budget; spend
// survives a restart. Run them alone with
//
//	SWITCHBOARD_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
//	SWITCHBOARD_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	go test ./cmd/switchboard -run TestProof -count=1
//
// Without SWITCHBOARD_TEST_REDIS_URL the replica tests and the Redis restart
// case skip; without SWITCHBOARD_TEST_POSTGRES_URL the replicas share one
// SQLite file instead of a PostgreSQL schema.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/httpapi"
	"github.com/switchboard-ai/switchboard/sbtest"
	"github.com/switchboard-ai/switchboard/sqlite"
	"github.com/switchboard-ai/switchboard/tokenize"
)

// Prices of sb-proof-model in USD per million tokens: distinct input and
// output prices, so a cost that counts one as the other shows.
const (
	proofInputPerM  = 1000
	proofOutputPerM = 2000
)

// proofCost is what the price table charges for in prompt and out completion
// tokens of sb-proof-model (rounded to the nano-dollar, as pricing does).
func proofCost(in, out int) float64 {
	return math.Round(float64(in*proofInputPerM+out*proofOutputPerM)/1e6*1e9) / 1e9
}

// proofStreamConfig routes model "streamer" to sb-proof-model on the fake
// upstream and gives tenant acme a daily budget large enough never to bite.
func proofStreamConfig(up *sbtest.FakeUpstream) string {
	return `
providers:
  upstream: {type: openai, base_url: ` + up.OpenAIBaseURL() + `, api_key: sk-upstream, timeouts: {idle: 2s, first_byte: 2s}}
models:
  streamer: {routes: [{provider: upstream, model: sb-proof-model}]}
pricing: {models: {sb-proof-model: {input: ` + strconv.Itoa(proofInputPerM) + `, output: ` + strconv.Itoa(proofOutputPerM) + `, max_output_tokens: 50000}}}
tenants:
  acme:
    keys: [` + acmeKey + `]
    budget: {daily_usd: 1000, action: block}
  ops:
    keys: [` + opsKey + `]
    scopes: [admin]
`
}

// streamBody is a streamed request for "streamer", asking for usage, whose
// reply is words one-token words, paced and broken by the fake upstream's
// mock options.
func streamBody(words int, mock map[string]any) string {
	mock["content"] = strings.TrimSpace(strings.Repeat("tok ", words))
	b, _ := json.Marshal(map[string]any{
		"model": "streamer", "stream": true, "stream_options": map[string]bool{"include_usage": true}, "max_tokens": words + 10,
		"messages": []map[string]string{{"role": "user", "content": "say tok a few times"}},
		"mock":     mock,
	})
	return string(b)
}

// messagesBody is streamBody for Anthropic's /v1/messages.
func messagesBody(words int, mock map[string]any) string {
	mock["content"] = strings.TrimSpace(strings.Repeat("tok ", words))
	b, _ := json.Marshal(map[string]any{
		"model": "streamer", "stream": true, "max_tokens": words + 10,
		"messages": []map[string]string{{"role": "user", "content": "say tok a few times"}},
		"mock":     mock,
	})
	return string(b)
}

// openStream posts body to path as acme and returns the response, whose
// body the caller reads; cancel ends the request.
func openStream(t *testing.T, base, path, body string) (resp *http.Response, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+acmeKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("stream: got %d %s, want 200", resp.StatusCode, b)
	}
	return resp, cancel
}

// nextEvent returns the data of the next server-sent event, or io.EOF.
func nextEvent(br *bufio.Reader) (string, error) {
	for {
		line, err := br.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			return data, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// budgetWindow is one window of a budget as GET /admin/v1/budgets shows it.
type budgetWindow struct {
	Window      string  `json:"window"`
	CapUSD      float64 `json:"cap_usd"`
	SpentUSD    float64 `json:"spent_usd"`
	ReservedUSD float64 `json:"reserved_usd"`
}

// mustAcmeBudget returns the one window of acme's budget, from the admin API.
func mustAcmeBudget(t *testing.T, base string) budgetWindow {
	t.Helper()
	resp, body := call(t, "GET", base+"/admin/v1/budgets?tenant=acme", opsKey, "")
	var out struct {
		Data []struct {
			Scope   string         `json:"scope"`
			ID      string         `json:"id"`
			Windows []budgetWindow `json:"windows"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); resp.StatusCode != 200 || err != nil || len(out.Data) != 1 || len(out.Data[0].Windows) != 1 {
		t.Fatalf("budgets: %d %v %s, want one tenant budget with one window", resp.StatusCode, err, body)
	}
	return out.Data[0].Windows[0]
}

// mustAcmeUsage returns acme's row of the admin usage report of the last hour.
func mustAcmeUsage(t *testing.T, base string) switchboard.InferenceSum {
	t.Helper()
	resp, body := call(t, "GET", base+"/admin/v1/usage?by=tenant&since=1h&tenant=acme", opsKey, "")
	var out struct {
		Data []switchboard.InferenceSum `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); resp.StatusCode != 200 || err != nil || len(out.Data) != 1 {
		t.Fatalf("usage: %d %v %s, want one row", resp.StatusCode, err, body)
	}
	return out.Data[0]
}

// waitRecords waits until m's store holds at least n records of acme (they
// are written in batches) and returns them. A record is queued after its
// request's budget reservation is settled, so the ledger is settled too.
func waitRecords(t *testing.T, m *Main, n int) []switchboard.Inference {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := m.store.ListInferences(t.Context(), switchboard.InferenceFilter{TenantID: "acme", Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d records of acme after 5s, want %d", len(recs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closeAndList stops m gracefully (which flushes every queued record) and
// returns every record in its SQLite store.
func closeAndList(t *testing.T, m *Main) []switchboard.Inference {
	t.Helper()
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
	recs, err := st.ListInferences(ctx, switchboard.InferenceFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// near reports whether two dollar amounts are equal to the nano-dollar the
// ledger counts in (n of them summed may differ by n nano-dollars).
func near(a, b float64, n int) bool { return math.Abs(a-b) <= float64(n)*1e-9+1e-12 }

// checkChargedOnce checks that the request with inference ID id has exactly
// one record, charged cost, and that the tenant's budget was charged that
// same cost once, with nothing left reserved. It returns the record.
func checkChargedOnce(t *testing.T, m *Main, base, id string) switchboard.Inference {
	t.Helper()
	waitRecords(t, m, 1)
	w := mustAcmeBudget(t, base)
	usage := mustAcmeUsage(t, base)
	recs := closeAndList(t, m)
	if len(recs) != 1 || recs[0].ID != id {
		t.Fatalf("got %d records (%+v), want exactly one, of inference %s", len(recs), recs, id)
	}
	r := recs[0]
	if r.CostUSD == nil {
		t.Fatalf("record cost is unknown (null), want a cost: %+v", r)
	}
	if want := proofCost(r.InputTokens, r.OutputTokens); !near(*r.CostUSD, want, 1) {
		t.Errorf("record cost %.9f for %d+%d tokens, want %.9f from the price table", *r.CostUSD, r.InputTokens, r.OutputTokens, want)
	}
	if !near(w.SpentUSD, *r.CostUSD, 1) || w.ReservedUSD != 0 {
		t.Errorf("budget spent %.9f (reserved %.9f), want the record's cost %.9f charged once and nothing reserved", w.SpentUSD, w.ReservedUSD, *r.CostUSD)
	}
	if usage.Requests != 1 || !near(usage.CostUSD, *r.CostUSD, 1) {
		t.Errorf("usage report: %d requests costing %.9f, want 1 costing %.9f", usage.Requests, usage.CostUSD, *r.CostUSD)
	}
	if left := w.CapUSD - w.SpentUSD - w.ReservedUSD; !near(left, w.CapUSD-*r.CostUSD, 1) {
		t.Errorf("budget left %.9f, want the cap minus the cost, %.9f", left, w.CapUSD-*r.CostUSD)
	}
	return r
}

// TestProofStreamCost: a streamed inference is priced from the tokens the
// upstream produced and charged exactly once (one record, one settlement of
// the budget reservation), whether it completes, the client leaves midway or
// the upstream breaks midway.
func TestProofStreamCost(t *testing.T) {
	t.Parallel()

	t.Run("completed with include_usage", func(t *testing.T) {
		up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
		m, base := startGateway(t, proofStreamConfig(up))
		const words = 20
		resp, cancel := openStream(t, base, "/v1/chat/completions", streamBody(words, map[string]any{}))
		defer cancel()
		defer resp.Body.Close()
		// The status line and headers go out with the first chunk, before the
		// upstream has reported usage: a stream's head cannot carry
		// x-switchboard-cost-usd. Its cost is in the final usage chunk
		// (usage.cost), the trailer, the record and the budget.
		if got := resp.Header.Get("X-Switchboard-Cost-Usd"); got != "" {
			t.Errorf("stream head carries x-switchboard-cost-usd %q before the cost can be known", got)
		}
		br := bufio.NewReader(resp.Body)
		var usage *switchboard.Usage
		done := false
		for {
			data, err := nextEvent(br)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if data == "[DONE]" {
				done = true
				continue
			}
			var c struct {
				Choices []json.RawMessage  `json:"choices"`
				Usage   *switchboard.Usage `json:"usage"`
			}
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				t.Fatalf("chunk %s: %v", data, err)
			}
			if c.Usage != nil {
				if usage != nil {
					t.Errorf("a second usage chunk: %s", data)
				}
				usage = c.Usage
			}
		}
		if !done || usage == nil {
			t.Fatalf("got [DONE] %v, usage %+v: want both", done, usage)
		}
		if usage.Cost == nil {
			t.Fatalf("final usage chunk has no cost: %+v", usage)
		}
		if want := proofCost(usage.PromptTokens, usage.CompletionTokens); usage.CompletionTokens != words || !near(*usage.Cost, want, 1) {
			t.Errorf("usage %d+%d tokens, cost %.9f; want %d completion tokens, cost %.9f", usage.PromptTokens, usage.CompletionTokens, *usage.Cost, words, want)
		}
		// It follows the body as the trailer x-switchboard-cost-usd.
		if got := resp.Trailer.Get("X-Switchboard-Cost-Usd"); got == "" {
			t.Errorf("no x-switchboard-cost-usd trailer (trailers %v)", resp.Trailer)
		} else if v, err := strconv.ParseFloat(got, 64); err != nil || !near(v, *usage.Cost, 1) {
			t.Errorf("trailer x-switchboard-cost-usd %q, want %.9f", got, *usage.Cost)
		}
		id := resp.Header.Get("X-Switchboard-Inference-Id")
		r := checkChargedOnce(t, m, base, id)
		if r.Status != 200 || !r.Stream || r.InputTokens != usage.PromptTokens || r.OutputTokens != usage.CompletionTokens || !near(*r.CostUSD, *usage.Cost, 0) {
			t.Errorf("record %+v, want status 200 and the usage chunk's tokens and cost", r)
		}
	})

	// A client that leaves is charged what the upstream produced before the
	// gateway noticed: a slow upstream is cut while the gateway waits for
	// the next chunk (the request's context ends), a fast one mostly while
	// the gateway is writing to the client (the write fails first).
	for _, tc := range []struct {
		name, path string
		words      int
		mock       map[string]any
	}{
		{"client cancels, slow upstream", "/v1/chat/completions", 200, map[string]any{"chunk_delay": "20ms"}},
		{"client cancels, fast upstream", "/v1/chat/completions", 50000, map[string]any{}},
		{"client cancels /v1/messages, fast upstream", "/v1/messages", 50000, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
			m, base := startGateway(t, proofStreamConfig(up))
			body := streamBody(tc.words, tc.mock)
			if tc.path == "/v1/messages" {
				body = messagesBody(tc.words, tc.mock)
			}
			resp, cancel := openStream(t, base, tc.path, body)
			br := bufio.NewReader(resp.Body)
			for i := range 6 {
				if _, err := nextEvent(br); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			id := resp.Header.Get("X-Switchboard-Inference-Id")
			cancel()
			resp.Body.Close()
			r := checkChargedOnce(t, m, base, id)
			full := proofCost(0, tc.words) // the full completion costs more than its output alone
			if r.Status != httpapi.StatusClientClosed || r.ErrorCode != string(switchboard.CodeCanceled) {
				t.Errorf("record status %d %q, want 499 canceled", r.Status, r.ErrorCode)
			}
			if r.OutputTokens <= 0 || r.OutputTokens >= tc.words || *r.CostUSD <= 0 || *r.CostUSD >= full {
				t.Errorf("record %d output tokens, cost %.9f; want some of the %d tokens, cost in (0, %.6f)", r.OutputTokens, *r.CostUSD, tc.words, full)
			}
			t.Logf("charged %.6f USD for %d+%d tokens (the full completion: over %.6f)", *r.CostUSD, r.InputTokens, r.OutputTokens, full)
		})
	}

	t.Run("upstream fails midway", func(t *testing.T) {
		up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
		m, base := startGateway(t, proofStreamConfig(up))
		const words, failAfter = 40, 10
		resp, cancel := openStream(t, base, "/v1/chat/completions", streamBody(words, map[string]any{"chunk_delay": "30ms", "fail_after": failAfter}))
		defer cancel()
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if _, err := nextEvent(br); err != nil {
			t.Fatal(err)
		}
		// While the stream runs, its worst case is held on the budget.
		if w := mustAcmeBudget(t, base); w.ReservedUSD <= 0 || w.SpentUSD != 0 {
			t.Errorf("mid-stream budget: spent %.9f, reserved %.9f; want nothing spent, the worst case reserved", w.SpentUSD, w.ReservedUSD)
		}
		var sawError, sawDone bool
		for {
			data, err := nextEvent(br)
			if err != nil {
				break
			}
			sawDone = sawDone || data == "[DONE]"
			sawError = sawError || strings.HasPrefix(data, `{"error"`)
		}
		if !sawError || sawDone {
			t.Errorf("got an in-band error %v, [DONE] %v; want an error and no [DONE]", sawError, sawDone)
		}
		id := resp.Header.Get("X-Switchboard-Inference-Id")
		r := checkChargedOnce(t, m, base, id)
		if r.Status < 500 || r.Status == httpapi.StatusClientClosed || r.ErrorCode == "" {
			t.Errorf("record status %d %q, want an upstream error status", r.Status, r.ErrorCode)
		}
		if r.OutputTokens <= 0 || r.OutputTokens > failAfter || *r.CostUSD <= 0 || *r.CostUSD >= proofCost(0, words) {
			t.Errorf("record %d output tokens, cost %.9f; want at most the %d tokens produced, cost in (0, %.6f)", r.OutputTokens, *r.CostUSD, failAfter, proofCost(0, words))
		}
		t.Logf("status %d %s, charged %.6f USD for %d+%d tokens", r.Status, r.ErrorCode, *r.CostUSD, r.InputTokens, r.OutputTokens)
	})
}

// proofRedis returns SWITCHBOARD_TEST_REDIS_URL and a key prefix of the
// test's own, whose keys are deleted at cleanup; it skips without the URL.
func proofRedis(t *testing.T) (rawURL, prefix string) {
	t.Helper()
	rawURL = os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if rawURL == "" {
		t.Skip("SWITCHBOARD_TEST_REDIS_URL not set: skipping a proof that needs Redis")
	}
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("SWITCHBOARD_TEST_REDIS_URL: %v", err)
	}
	prefix = "sbtest-" + randomHex(6)
	t.Cleanup(func() {
		c := goredis.NewClient(o)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		it := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for it.Next(ctx) {
			c.Del(ctx, it.Val())
		}
	})
	return rawURL, prefix
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// proofSharedStore returns the --set overrides of a store that replicas
// share: a PostgreSQL schema of the test's own (dropped at cleanup) when
// SWITCHBOARD_TEST_POSTGRES_URL is set, else one SQLite file.
func proofSharedStore(t *testing.T) []string {
	t.Helper()
	base := os.Getenv("SWITCHBOARD_TEST_POSTGRES_URL")
	if base == "" {
		t.Log("SWITCHBOARD_TEST_POSTGRES_URL not set: replicas share a SQLite file")
		return []string{"storage.dsn=" + filepath.Join(t.TempDir(), "shared.db")}
	}
	schema := "sbtest_" + randomHex(6)
	exec := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connect to SWITCHBOARD_TEST_POSTGRES_URL: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	t.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("SWITCHBOARD_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return []string{"storage.driver=postgres", "storage.dsn=" + u.String()}
}

// startReplicas starts n gateways with one config that share Redis (under
// a prefix of the test's own) and one store.
func startReplicas(t *testing.T, n int, yaml string) ([]*Main, []string) {
	t.Helper()
	redisURL, prefix := proofRedis(t)
	yaml += "\nredis: {url: " + redisURL + ", prefix: " + prefix + "}\n"
	sets := proofSharedStore(t)
	var ms []*Main
	var bases []string
	for range n {
		m, base := startGateway(t, yaml, sets...)
		ms, bases = append(ms, m), append(bases, base)
	}
	return ms, bases
}

// proofTenants declares acme (with the given limits and budget YAML) and
// ops (admin), and prices mock-echo (the in-process mock) at price USD per
// million tokens.
func proofTenants(price int, acme string) string {
	p := strconv.Itoa(price)
	return `
pricing: {models: {mock-echo: {input: ` + p + `, output: ` + p + `, max_output_tokens: 100}}}
tenants:
  acme:
    keys: [` + acmeKey + `]
    ` + acme + `
  ops:
    keys: [` + opsKey + `]
    scopes: [admin]
`
}

// answer is one response of a load test.
type answer struct {
	status int
	header http.Header
	body   string
}

// hammer sends total chat requests as acme from clients goroutines,
// request i to replica i % len(bases), and returns the answers.
func hammer(t *testing.T, bases []string, clients, total int, body string) []answer {
	t.Helper()
	// Keep connections alive between requests, and close them at the end:
	// a connection dialed but never used would hold up a graceful shutdown
	// for 5 s (net/http waits that long for a new connection's request).
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	out := make([]answer, total)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= total {
					return
				}
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, bases[n%len(bases)]+"/v1/chat/completions", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Authorization", "Bearer "+acmeKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Error(err)
				}
				out[n] = answer{resp.StatusCode, resp.Header, string(b)}
			}
		})
	}
	wg.Wait()
	return out
}

// TestProofReplicasShareRateLimit: three replicas sharing Redis enforce one
// 300-RPM tenant limit. The limit is GCRA with a burst of the whole minute,
// so in a run of d, limit + d/(60s/300) requests may pass: the test counts
// exactly that many, give or take 2 % of the limit.
func TestProofReplicasShareRateLimit(t *testing.T) {
	t.Parallel()
	const limit, total = 300, 450
	_, bases := startReplicas(t, 3, proofTenants(1, "limits: {rpm: 300}"))
	start := time.Now()
	answers := hammer(t, bases, 30, total, chatBody)
	elapsed := time.Since(start)
	ok, limited := 0, 0
	for i, a := range answers {
		switch a.status {
		case http.StatusOK:
			ok++
			if a.header.Get("X-Ratelimit-Limit-Requests") != "300" || a.header.Get("X-Switchboard-Limit-Scope") != "tenant:acme" {
				t.Errorf("request %d: 200 with headers %v", i, a.header)
			}
		case http.StatusTooManyRequests:
			limited++
			h := a.header
			if h.Get("Retry-After") == "" || h.Get("X-Ratelimit-Limit-Requests") != "300" || h.Get("X-Ratelimit-Remaining-Requests") != "0" ||
				h.Get("X-Ratelimit-Reset-Requests") == "" || h.Get("X-Switchboard-Limit-Scope") != "tenant:acme" || !strings.Contains(a.body, `"code":"rate_limit_exceeded"`) {
				t.Errorf("request %d: 429 with headers %v, body %s", i, h, a.body)
			}
		default:
			t.Errorf("request %d: %d %s", i, a.status, a.body)
		}
	}
	refill := int(elapsed / (time.Minute / limit))
	want := min(limit+refill, total)
	if tol := limit * 2 / 100; ok < want-tol || ok > want+tol {
		t.Errorf("%d of %d requests passed in %v, want %d ± %d (the limit %d plus %d refilled)", ok, total, elapsed, want, tol, limit, refill)
	}
	t.Logf("%d passed, %d got 429, of %d in %v on 3 replicas; limit %d + %d refilled = %d", ok, limited, total, elapsed.Round(time.Millisecond), limit, refill, want)
}

// TestProofReplicasShareBudget: 50 clients spread over three replicas
// sharing Redis spend a $0.05 daily budget: what is recorded never exceeds
// it, the ledger agrees with the records (each inference charged once), and
// the rest are refused with insufficient_quota.
func TestProofReplicasShareBudget(t *testing.T) {
	t.Parallel()
	const capUSD, clients, total = 0.05, 50, 200
	ms, bases := startReplicas(t, 3, proofTenants(100, "budget: {daily_usd: 0.05, action: block}"))
	answers := hammer(t, bases, clients, total, chatBody)
	ok, refused := 0, 0
	for i, a := range answers {
		switch {
		case a.status == http.StatusOK:
			ok++
		case a.status == http.StatusTooManyRequests && strings.Contains(a.body, `"code":"insufficient_quota"`) && strings.Contains(a.body, `"type":"insufficient_quota"`):
			refused++
		default:
			t.Errorf("request %d: %d %s", i, a.status, a.body)
		}
	}
	if ok == 0 || refused == 0 {
		t.Fatalf("%d passed, %d refused: want both", ok, refused)
	}
	// Every request is recorded, the refused ones at no cost.
	recs := waitRecords(t, ms[0], total)
	var spent float64
	n200 := 0
	for _, r := range recs {
		if r.CostUSD != nil {
			spent += *r.CostUSD
		}
		if r.Status == 200 {
			n200++
		}
	}
	if len(recs) != total || n200 != ok {
		t.Errorf("got %d records, %d of them 200; want %d, %d", len(recs), n200, total, ok)
	}
	if spent > capUSD+1e-9 || spent < capUSD/2 {
		t.Errorf("recorded spend %.9f of a %.2f budget: want at most the budget, most of it used", spent, capUSD)
	}
	for i, base := range bases {
		w := mustAcmeBudget(t, base)
		if !near(w.SpentUSD, spent, len(recs)) || w.ReservedUSD != 0 || w.CapUSD != capUSD {
			t.Errorf("replica %d: budget spent %.9f, reserved %.9f of %.2f; want the recorded %.9f, nothing reserved", i, w.SpentUSD, w.ReservedUSD, w.CapUSD, spent)
		}
	}
	t.Logf("%d passed, %d refused with insufficient_quota; recorded spend %.6f of %.2f USD", ok, refused, spent, capUSD)
}

// TestProofRestartKeepsSpend: spend survives a graceful restart on the same
// store (summed from the records on a single node; kept in Redis when set),
// and the restarted gateway refuses what no longer fits.
func TestProofRestartKeepsSpend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		redis bool
	}{{"sqlite", false}, {"redis", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const capUSD = 0.1
			// $1 per 1K tokens: chatBody reserves about $0.018 and costs about $0.01.
			cfg := proofTenants(1000, "budget: {daily_usd: 0.1, action: block}")
			if tc.redis {
				u, prefix := proofRedis(t)
				cfg += "\nredis: {url: " + u + ", prefix: " + prefix + "}\n"
			}
			dsn := "storage.dsn=" + filepath.Join(t.TempDir(), "sb.db")
			m1, base1 := startGateway(t, cfg, dsn)
			for i := range 5 {
				if resp, body := call(t, "POST", base1+"/v1/chat/completions", acmeKey, chatBody); resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
				}
			}
			waitRecords(t, m1, 5) // each is written once its request is settled
			before := mustAcmeBudget(t, base1)
			if before.SpentUSD <= 0 || before.ReservedUSD != 0 {
				t.Fatalf("before the restart: spent %.9f, reserved %.9f", before.SpentUSD, before.ReservedUSD)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := m1.Close(ctx); err != nil {
				t.Fatal(err)
			}

			_, base2 := startGateway(t, cfg, dsn)
			after := mustAcmeBudget(t, base2)
			if !near(after.SpentUSD, before.SpentUSD, 5) || after.ReservedUSD != 0 {
				t.Fatalf("after the restart: spent %.9f (reserved %.9f), want %.9f as before", after.SpentUSD, after.ReservedUSD, before.SpentUSD)
			}
			// A request whose worst case fits the cap but not what is left:
			// one token more than the tokens left pay for, at $0.001 each.
			left := capUSD - after.SpentUSD
			prompt := mustPromptTokens(t, chatBody)
			maxTokens := int(math.Round(left*1e9))/1e6 - prompt + 1
			if worst := float64(prompt+maxTokens) * 1000 / 1e6; maxTokens < 1 || maxTokens > 100 || worst > capUSD {
				t.Fatalf("cannot build the probe: %.6f left, prompt %d tokens", left, prompt)
			}
			probe := strings.Replace(chatBody, `"max_tokens":10`, `"max_tokens":`+strconv.Itoa(maxTokens), 1)
			resp, body := call(t, "POST", base2+"/v1/chat/completions", acmeKey, probe)
			if resp.StatusCode != 429 || !strings.Contains(body, `"code":"insufficient_quota"`) {
				t.Fatalf("request needing %d tokens with $%.6f left: %d %s, want 429 insufficient_quota", prompt+maxTokens, left, resp.StatusCode, body)
			}
			// What still fits is served.
			if resp, body := call(t, "POST", base2+"/v1/chat/completions", acmeKey, chatBody); resp.StatusCode != 200 {
				t.Fatalf("request that fits: %d %s", resp.StatusCode, body)
			}
			t.Logf("spent %.6f before the restart, %.6f after; a request reserving %.6f of %.6f left was refused",
				before.SpentUSD, after.SpentUSD, float64(prompt+maxTokens)*1000/1e6, left)
		})
	}
}

// mustPromptTokens counts the prompt tokens of a chat body as admission does.
func mustPromptTokens(t *testing.T, body string) int {
	t.Helper()
	req, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return tokenize.CountChat(req.Model, req)
}
