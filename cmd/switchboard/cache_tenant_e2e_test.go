package main

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

// The response cache behind real API keys: a hit is free but rate limited,
// and entries (exact and semantic) never cross tenants.

const (
	cacheTenantOtherKey = "sk-other-0123456789abcdef"
	cacheTenantOffKey   = "sk-nocache-0123456789abcdef"
	cacheTenantEagerKey = "sk-eager-0123456789abcdef"
)

// cacheTenantConfig serves gpt-4o-mini from up (its provider block ends
// with providerLimits), priced at $1 per 1K tokens so costs read easily,
// behind the tenants acme ($10 a day, plus the acmeLimits line), other,
// nocache, eager and ops (admin). cacheExtra is added under cache:.
func cacheTenantConfig(up *sbtest.FakeUpstream, providerLimits, acmeLimits, cacheExtra string) string {
	return `
cache:
  enabled: true
  ttl: 1h
  memory: {max_bytes: 16MiB}
` + cacheExtra + `
pricing: {models: {gpt-4o-mini: {input: 1000, output: 1000, max_output_tokens: 100}}}
providers:
  upstream: {type: openai, base_url: ` + up.OpenAIBaseURL() + `, api_key: sk-upstream` + providerLimits + `}
models:
  gpt-4o-mini: {routes: [{provider: upstream, model: gpt-4o-mini}]}
tenants:
  acme:
    keys: [` + acmeKey + `]
    budget: {daily_usd: 10}
` + acmeLimits + `
  other:
    keys: [` + cacheTenantOtherKey + `]
  nocache:
    keys: [` + cacheTenantOffKey + `]
  eager:
    keys: [` + cacheTenantEagerKey + `]
  ops:
    keys: [` + opsKey + `]
    scopes: [admin]
`
}

// cacheTenantBody is a cacheable (temperature 0) chat request for gpt-4o-mini.
func cacheTenantBody(question string) string {
	q, _ := json.Marshal(question)
	return `{"model":"gpt-4o-mini","temperature":0,"max_tokens":10,"messages":[{"role":"user","content":` + string(q) + `}]}`
}

// cacheTenantChat posts body with key and returns the response and its body.
func cacheTenantChat(t *testing.T, base, key, body string) (*http.Response, string) {
	t.Helper()
	return call(t, "POST", base+"/v1/chat/completions", key, body)
}

// mustCacheTenantCost returns a response's x-switchboard-cost-usd.
func mustCacheTenantCost(t *testing.T, resp *http.Response) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(resp.Header.Get("X-Switchboard-Cost-Usd"), 64)
	if err != nil {
		t.Fatalf("x-switchboard-cost-usd %q: %v", resp.Header.Get("X-Switchboard-Cost-Usd"), err)
	}
	return v
}

// mustCacheTenantKey creates a key through the admin API and returns its ID
// and secret.
func mustCacheTenantKey(t *testing.T, base, body string) (id, key string) {
	t.Helper()
	resp, out := call(t, "POST", base+"/admin/v1/keys", opsKey, body)
	if resp.StatusCode != 201 {
		t.Fatalf("create key %s: %d %s", body, resp.StatusCode, out)
	}
	var k struct{ ID, Key string }
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
		t.Fatalf("create key: %v %s", err, out)
	}
	return k.ID, k.Key
}

// cacheTenantWindow is one window of a budget as the quota reports it.
type cacheTenantWindow struct {
	SpentUSD    float64 `json:"spent_usd"`
	ReservedUSD float64 `json:"reserved_usd"`
}

// cacheTenantSpend waits until nothing is reserved in tenant's one budget
// window (tickets settle after the answer is sent) and returns its spend.
func cacheTenantSpend(t *testing.T, m *Main, tenant string) float64 {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := m.quota.BudgetStatus(t.Context(), "tenant", tenant)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(st)
		var rows []struct {
			Windows []cacheTenantWindow `json:"windows"`
		}
		if err := json.Unmarshal(b, &rows); err != nil || len(rows) != 1 || len(rows[0].Windows) != 1 {
			t.Fatalf("budget status: %v %s", err, b)
		}
		if w := rows[0].Windows[0]; w.ReservedUSD == 0 {
			return w.SpentUSD
		}
		if time.Now().After(deadline) {
			t.Fatalf("budget still has reservations: %s", b)
		}
	}
}

// TestCacheTenantHitIsFreeButRateLimited: a hit never reaches the router, so
// it passes while the upstream's own rate limit is spent and costs nothing
// (header, record, budget), but it is a request of its caller and counts
// against the caller's rpm, at the tenant or the key scope.
func TestCacheTenantHitIsFreeButRateLimited(t *testing.T) {
	t.Parallel()
	const rpm = 5
	for _, scope := range []string{"tenant", "key"} {
		t.Run(scope, func(t *testing.T) {
			t.Parallel()
			up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
			acmeLimits := "    limits: {rpm: " + strconv.Itoa(rpm) + "}"
			if scope == "key" {
				acmeLimits = ""
			}
			m, base := startGateway(t, cacheTenantConfig(up, ", limits: {rpm: 2}", acmeLimits, ""))
			key, wantScope := acmeKey, "tenant:acme"
			if scope == "key" {
				var id string
				id, key = mustCacheTenantKey(t, base, `{"tenant":"acme","name":"capped","limits":{"rpm":`+strconv.Itoa(rpm)+`}}`)
				wantScope = "key:" + id
			}
			upstreamCalls := func() int { return up.RequestsTo("/v1/chat/completions") }
			q1, q2 := cacheTenantBody("what is a gateway?"), cacheTenantBody("what is a cache?")

			// Two misses: two upstream calls, which spend the upstream's 2 rpm.
			missCost := map[string]float64{}
			for i, q := range []string{q1, q2} {
				resp, body := cacheTenantChat(t, base, key, q)
				if resp.StatusCode != 200 || resp.Header.Get("X-Switchboard-Cache") != "miss" {
					t.Fatalf("miss %d: %d %q %s", i+1, resp.StatusCode, resp.Header.Get("X-Switchboard-Cache"), body)
				}
				if missCost[q] = mustCacheTenantCost(t, resp); missCost[q] <= 0 {
					t.Errorf("miss %d: cost %v, want > 0", i+1, missCost[q])
				}
			}
			if got := upstreamCalls(); got != 2 {
				t.Fatalf("after two misses: %d upstream calls, want 2", got)
			}
			spentByMisses := cacheTenantSpend(t, m, "acme")
			if want := missCost[q1] + missCost[q2]; math.Abs(spentByMisses-want) > 1e-9 {
				t.Errorf("budget after the misses: spent %.9f, want %.9f", spentByMisses, want)
			}

			// The upstream is spent: another tenant's request for q1 (a miss
			// for it: it never sees acme's entry) is refused at the upstream.
			resp, body := cacheTenantChat(t, base, cacheTenantOtherKey, q1)
			if resp.StatusCode != 429 || !strings.Contains(body, `upstream \"upstream\"`) {
				t.Fatalf("other tenant with the upstream spent: %d %s, want a 429 at the upstream scope", resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Switchboard-Limit-Scope"); got != "upstream:upstream" || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
				t.Errorf("other tenant with the upstream spent: scope %q remaining %q, want upstream:upstream and 0", got, resp.Header.Get("X-Ratelimit-Remaining-Requests"))
			}
			if got := upstreamCalls(); got != 2 {
				t.Errorf("a request refused at the upstream scope reached it: %d upstream calls, want 2", got)
			}

			// Hits: served while the upstream limit is spent, no upstream
			// call, cost 0, and each one takes a request of acme's rpm.
			for i, q := range []string{q1, q2, q1} {
				n := 3 + i // the request's number within the minute
				resp, body := cacheTenantChat(t, base, key, q)
				if resp.StatusCode != 200 {
					t.Fatalf("request %d (hit): %d %s", n, resp.StatusCode, body)
				}
				h := resp.Header
				if h.Get("X-Switchboard-Cache") != "hit" || h.Get("X-Switchboard-Cache-Tier") != "memory" {
					t.Errorf("request %d: cache %q tier %q, want a memory hit", n, h.Get("X-Switchboard-Cache"), h.Get("X-Switchboard-Cache-Tier"))
				}
				if got := h.Get("X-Switchboard-Cost-Usd"); got != "0" {
					t.Errorf("request %d: x-switchboard-cost-usd %q, want 0", n, got)
				}
				if got, want := h.Get("X-Ratelimit-Remaining-Requests"), strconv.Itoa(rpm-n); got != want {
					t.Errorf("request %d: x-ratelimit-remaining-requests %q, want %s", n, got, want)
				}
				if got := h.Get("X-Switchboard-Limit-Scope"); got != wantScope {
					t.Errorf("request %d: x-switchboard-limit-scope %q, want %q", n, got, wantScope)
				}
			}
			if got := upstreamCalls(); got != 2 {
				t.Errorf("after three hits: %d upstream calls, want 2", got)
			}

			// The (rpm+1)-th request of the minute is refused, hit or not.
			resp, body = cacheTenantChat(t, base, key, q1)
			if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "rate_limit_exceeded") {
				t.Fatalf("request %d: %d %s, want 429 rate_limit_exceeded", rpm+1, resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Switchboard-Limit-Scope"); got != wantScope {
				t.Errorf("request %d: x-switchboard-limit-scope %q, want %q", rpm+1, got, wantScope)
			}

			// The budget was charged for the misses only.
			if got := cacheTenantSpend(t, m, "acme"); math.Abs(got-spentByMisses) > 1e-12 {
				t.Errorf("budget after the hits: spent %.9f, want %.9f (the misses only)", got, spentByMisses)
			}

			// The records: misses cost what their header said; hits cost 0
			// and saved what the call they avoided would have cost.
			var recs []switchboard.Inference
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				var err error
				recs, err = m.store.ListInferences(t.Context(), switchboard.InferenceFilter{TenantID: "acme"})
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) == rpm+1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("got %d records for acme, want %d", len(recs), rpm+1)
				}
			}
			var hits, misses, refused int
			var saved float64
			for _, r := range recs {
				switch {
				case r.Status == 429:
					refused++
				case r.Cache == "miss":
					misses++
					if r.CostUSD == nil || *r.CostUSD <= 0 || r.SavedUSD != nil {
						t.Errorf("miss record: cost %v saved %v, want cost > 0 and no savings", cacheTenantUSD(r.CostUSD), cacheTenantUSD(r.SavedUSD))
					}
				case r.Cache == "hit":
					hits++
					if r.CostUSD == nil || *r.CostUSD != 0 || r.SavedUSD == nil || *r.SavedUSD <= 0 {
						t.Errorf("hit record: cost %v saved %v, want cost 0 and savings > 0", cacheTenantUSD(r.CostUSD), cacheTenantUSD(r.SavedUSD))
					}
					if r.SavedUSD != nil {
						saved += *r.SavedUSD
					}
					if r.Attempts != 0 {
						t.Errorf("hit record: %d upstream attempts, want 0", r.Attempts)
					}
				default:
					t.Errorf("unexpected record: status %d cache %q", r.Status, r.Cache)
				}
			}
			if want := 2*missCost[q1] + missCost[q2]; math.Abs(saved-want) > 1e-9 {
				t.Errorf("hits saved %.9f in all, want %.9f (what q1 twice and q2 once cost)", saved, want)
			}
			if hits != 3 || misses != 2 || refused != 1 {
				t.Errorf("records: %d hits, %d misses, %d refused; want 3, 2, 1", hits, misses, refused)
			}
		})
	}
}

// cacheTenantUSD formats a recorded amount; nil is unknown.
func cacheTenantUSD(v *float64) string {
	if v == nil {
		return "null"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// TestCacheTenantIsolation: two tenants with real keys (one in the file, one
// created at run time) send the same requests; each has its own exact and
// semantic entries. A tenant's cache policy applies to its keys only.
func TestCacheTenantIsolation(t *testing.T) {
	t.Parallel()
	up := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	_, base := startGateway(t, cacheTenantConfig(up, "", "", `  semantic: {enabled: true, embedder: local}
  tenants:
    nocache: {mode: "off"}
    eager: {mode: always}`))
	if resp, body := call(t, "POST", base+"/admin/v1/tenants", opsKey, `{"name":"beta"}`); resp.StatusCode != 201 {
		t.Fatalf("create tenant beta: %d %s", resp.StatusCode, body)
	}
	_, betaKey := mustCacheTenantKey(t, base, `{"tenant":"beta","name":"app"}`)
	upstreamCalls := func() int { return up.RequestsTo("/v1/chat/completions") }

	type step struct {
		who, key, question string
		want               string // x-switchboard-cache
		upstream           int    // upstream calls after the step
	}
	exact := cacheTenantBody("tell me about tenants")
	steps := []step{
		{"acme", acmeKey, "tell me about tenants", "miss", 1},
		{"acme", acmeKey, "tell me about tenants", "hit", 1},
		{"beta", betaKey, "tell me about tenants", "miss", 2},
		{"beta", betaKey, "tell me about tenants", "hit", 2},
		// Semantic: acme's paraphrase hits acme's entry; beta's never does.
		{"acme", acmeKey, "What is the capital of France?", "miss", 3},
		{"acme", acmeKey, "Whats the capital of France", "semantic-hit", 3},
		{"beta", betaKey, "what is the capital of france", "miss", 4}, // in acme's index: similarity 1
		// beta's own entry now serves beta's paraphrases.
		{"beta", betaKey, "Whats the capital of France", "semantic-hit", 4},
		{"beta", betaKey, "What is the capital of France?", "semantic-hit", 4},
	}
	for i, s := range steps {
		resp, body := cacheTenantChat(t, base, s.key, cacheTenantBody(s.question))
		if resp.StatusCode != 200 {
			t.Fatalf("step %d (%s %q): %d %s", i+1, s.who, s.question, resp.StatusCode, body)
		}
		h := resp.Header
		if got := h.Get("X-Switchboard-Cache"); got != s.want {
			t.Errorf("step %d (%s %q): x-switchboard-cache %q, want %q", i+1, s.who, s.question, got, s.want)
		}
		if got := upstreamCalls(); got != s.upstream {
			t.Errorf("step %d (%s %q): %d upstream calls, want %d", i+1, s.who, s.question, got, s.upstream)
		}
		hit := s.want == "hit" || s.want == "semantic-hit"
		if got := h.Get("X-Switchboard-Cache-Tier"); (hit && got != "memory") || (!hit && got != "") {
			t.Errorf("step %d (%s): x-switchboard-cache-tier %q on a %s", i+1, s.who, got, s.want)
		}
		if got := h.Get("X-Switchboard-Cache-Similarity"); (s.want == "semantic-hit") != (got != "") {
			t.Errorf("step %d (%s): x-switchboard-cache-similarity %q on a %s", i+1, s.who, got, s.want)
		}
		// Stored or served, the entry is the caller's tenant's.
		if got, want := h.Get("X-Switchboard-Cache-Key"), "v1/"+s.who+"/upstream/gpt-4o-mini/"; !strings.HasPrefix(got, want) {
			t.Errorf("step %d (%s): x-switchboard-cache-key %q, want prefix %q", i+1, s.who, got, want)
		}
		if hit {
			if got := h.Get("X-Switchboard-Cost-Usd"); got != "0" {
				t.Errorf("step %d (%s): x-switchboard-cost-usd %q on a hit, want 0", i+1, s.who, got)
			}
		}
		if s.want == "semantic-hit" {
			if sim, err := strconv.ParseFloat(h.Get("X-Switchboard-Cache-Similarity"), 64); err != nil || sim < 0.92 || sim > 1 {
				t.Errorf("step %d (%s): similarity %q, want within [0.92, 1]", i+1, s.who, h.Get("X-Switchboard-Cache-Similarity"))
			}
		}
	}

	// A streamed request replays the tenant's entry, headers included.
	stream := strings.Replace(exact, `"temperature":0`, `"temperature":0,"stream":true`, 1)
	resp, body := cacheTenantChat(t, base, betaKey, stream)
	if resp.StatusCode != 200 || resp.Header.Get("X-Switchboard-Cache") != "hit" || resp.Header.Get("X-Switchboard-Cache-Tier") != "memory" ||
		!strings.HasPrefix(resp.Header.Get("X-Switchboard-Cache-Key"), "v1/beta/") || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("streamed repeat: %d cache %q tier %q key %q\n%s", resp.StatusCode, resp.Header.Get("X-Switchboard-Cache"),
			resp.Header.Get("X-Switchboard-Cache-Tier"), resp.Header.Get("X-Switchboard-Cache-Key"), body)
	}
	if got := upstreamCalls(); got != 4 {
		t.Errorf("the streamed hit called the upstream: %d calls, want 4", got)
	}

	// cache.tenants: nocache's policy is off (bypass, every time upstream);
	// eager's is always (a sampled request is cached, but only for eager).
	sampled := strings.Replace(exact, `"temperature":0`, `"temperature":0.8`, 1)
	policies := []struct {
		name, key, body string
		want            []string
	}{
		{"nocache mode off, cached question", cacheTenantOffKey, exact, []string{"bypass", "bypass"}},
		{"acme deterministic, sampled", acmeKey, sampled, []string{"bypass", "bypass"}},
		{"eager mode always, sampled", cacheTenantEagerKey, sampled, []string{"miss", "hit"}},
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			for i, want := range p.want {
				before := upstreamCalls()
				resp, body := cacheTenantChat(t, base, p.key, p.body)
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
				}
				if got := resp.Header.Get("X-Switchboard-Cache"); got != want {
					t.Errorf("request %d: x-switchboard-cache %q, want %q", i+1, got, want)
				}
				wantCalls := 1
				if want == "hit" {
					wantCalls = 0
				}
				if got := upstreamCalls() - before; got != wantCalls {
					t.Errorf("request %d (%s): %d upstream calls, want %d", i+1, want, got, wantCalls)
				}
				if want == "bypass" && (resp.Header.Get("X-Switchboard-Cache-Tier") != "" || resp.Header.Get("X-Switchboard-Cache-Key") != "") {
					t.Errorf("request %d: a bypass has tier %q key %q", i+1, resp.Header.Get("X-Switchboard-Cache-Tier"), resp.Header.Get("X-Switchboard-Cache-Key"))
				}
			}
		})
	}
}
