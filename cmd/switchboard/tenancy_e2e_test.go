package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	acmeKey = "sk-acme-0123456789abcdef"
	opsKey  = "sk-ops-0123456789abcdefgh"
)

// tenancyConfig prices mock-echo at $1 per 1K tokens (so budgets bite) and
// declares two tenants: acme (limited) and ops (admin).
func tenancyConfig(extra string) string {
	return `
pricing: {models: {mock-echo: {input: 1000, output: 1000, max_output_tokens: 100}}}
tenants:
  acme:
    keys: [` + acmeKey + `]
    limits: {rpm: 5}
  ops:
    keys: [` + opsKey + `]
    scopes: [admin]
` + extra
}

func call(t *testing.T, method, url, key, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const chatBody = `{"model":"mock-echo","messages":[{"role":"user","content":"hi"}],"max_tokens":10}`

func TestAuthAndRateLimit(t *testing.T) {
	t.Parallel()
	_, base := startGateway(t, tenancyConfig(""))
	url := base + "/v1/chat/completions"
	if resp, body := call(t, "POST", url, "", chatBody); resp.StatusCode != 401 || !strings.Contains(body, "missing_api_key") {
		t.Fatalf("no key: %d %s", resp.StatusCode, body)
	}
	resp, body := call(t, "POST", url, "sk-wrong-0123456789abcdef", chatBody)
	if resp.StatusCode != 401 || !strings.Contains(body, "invalid_api_key") || strings.Contains(body, "0123456789abcdef") {
		t.Fatalf("wrong key: %d %s (the key must not be echoed)", resp.StatusCode, body)
	}
	for i := 1; i <= 5; i++ {
		resp, body := call(t, "POST", url, acmeKey, chatBody)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Ratelimit-Remaining-Requests"); got != strconv.Itoa(5-i) {
			t.Errorf("request %d: remaining %q, want %d", i, got, 5-i)
		}
		if resp.Header.Get("X-Ratelimit-Limit-Requests") != "5" || resp.Header.Get("X-Switchboard-Limit-Scope") != "tenant:acme" {
			t.Errorf("request %d: headers %v", i, resp.Header)
		}
		if resp.Header.Get("X-Switchboard-Cost-Usd") == "" {
			t.Errorf("request %d: no x-switchboard-cost-usd", i)
		}
	}
	resp, body = call(t, "POST", url, acmeKey, chatBody)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "rate_limit_exceeded") {
		t.Fatalf("6th request: %d %s", resp.StatusCode, body)
	}
	// The admin API needs the admin scope.
	if resp, body := call(t, "GET", base+"/admin/v1/tenants", acmeKey, ""); resp.StatusCode != 403 {
		t.Fatalf("inference key on admin API: %d %s", resp.StatusCode, body)
	}
}

func TestKeysCreatedAndRevokedAtRunTime(t *testing.T) {
	t.Parallel()
	_, base := startGateway(t, tenancyConfig(""))
	resp, body := call(t, "POST", base+"/admin/v1/keys", opsKey, `{"tenant":"acme","name":"ci","models":["mock-echo"],"limits":{"rpm":-1}}`)
	if resp.StatusCode != 400 || !strings.Contains(body, `"param":"limits.rpm"`) {
		t.Fatalf("negative limit: %d %s", resp.StatusCode, body)
	}
	resp, body = call(t, "POST", base+"/admin/v1/keys", opsKey, `{"tenant":"acme","name":"ci","models":["mock-echo"]}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	var k struct{ ID, Key string }
	if err := json.Unmarshal([]byte(body), &k); err != nil || !strings.HasPrefix(k.Key, "sk-sb-") {
		t.Fatalf("create key: %v %s", err, body)
	}
	if resp, body := call(t, "POST", base+"/v1/chat/completions", k.Key, chatBody); resp.StatusCode != 200 {
		t.Fatalf("new key: %d %s", resp.StatusCode, body)
	}
	other := strings.Replace(chatBody, "mock-echo", "other", 1)
	if resp, body := call(t, "POST", base+"/v1/chat/completions", k.Key, other); resp.StatusCode != 403 || !strings.Contains(body, "model_not_allowed") {
		t.Fatalf("model outside the key's list: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, "GET", base+"/admin/v1/keys?tenant=acme", opsKey, ""); resp.StatusCode != 200 || strings.Contains(body, k.Key) || !strings.Contains(body, k.ID) {
		t.Fatalf("list keys must show the ID, never the key: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, "DELETE", base+"/admin/v1/keys/"+k.ID, opsKey, ""); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if resp, body := call(t, "POST", base+"/v1/chat/completions", k.Key, chatBody); resp.StatusCode != 401 || !strings.Contains(body, "revoked") {
		t.Fatalf("revoked key: %d %s", resp.StatusCode, body)
	}
	// Usage is grouped by the tenant and key that made each request (records
	// are written in batches: wait for them).
	want := `{"tenant":"acme","key":"` + k.ID + `","requests":2,` // the 200 and the 403; the 401 is not an inference
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, body = call(t, "GET", base+"/admin/v1/usage?by=tenant,key&since=1h", opsKey, "")
		if resp.StatusCode == 200 && strings.Contains(body, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage: %d %s, want a row starting %s", resp.StatusCode, body, want)
		}
	}
}

// TestRevocationReachesReplicas revokes a key on one replica and checks the
// other refuses it within a second (they share one SQLite file here).
func TestRevocationReachesReplicas(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/shared.db"
	_, a := startGateway(t, tenancyConfig(""), "storage.dsn="+db)
	_, b := startGateway(t, tenancyConfig(""), "storage.dsn="+db)
	_, body := call(t, "POST", a+"/admin/v1/keys", opsKey, `{"tenant":"acme"}`)
	var k struct{ ID, Key string }
	_ = json.Unmarshal([]byte(body), &k)
	deadline := time.Now().Add(2 * time.Second)
	for {
		resp, _ := call(t, "POST", b+"/v1/chat/completions", k.Key, chatBody)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b never accepted the new key")
		}
		time.Sleep(50 * time.Millisecond)
	}
	call(t, "DELETE", a+"/admin/v1/keys/"+k.ID, opsKey, "")
	revoked := time.Now()
	for {
		resp, _ := call(t, "POST", b+"/v1/chat/completions", k.Key, chatBody)
		if resp.StatusCode == 401 {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("replica b still accepts a key revoked %s ago", time.Since(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBudgetHoldsUnderConcurrency: 50 clients against a $0.50 daily budget;
// each request reserves its worst case, so recorded spend never passes the cap.
func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(tenancyConfig(""), "limits: {rpm: 5}", "budget: {daily_usd: 0.5}", 1)
	m, base := startGateway(t, cfg)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 4 {
				resp, body := call(t, "POST", base+"/v1/chat/completions", acmeKey, chatBody)
				switch {
				case resp.StatusCode == 200:
					ok.Add(1)
				case resp.StatusCode == 429 && strings.Contains(body, "insufficient_quota"):
					refused.Add(1)
				default:
					t.Errorf("%d %s", resp.StatusCode, body)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("ok %d, refused %d: want both", ok.Load(), refused.Load())
	}
	st, err := m.quota.BudgetStatus(t.Context(), "tenant", "acme")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	var rows []struct {
		Windows []struct {
			CapUSD   float64 `json:"cap_usd"`
			SpentUSD float64 `json:"spent_usd"`
			Reserved float64 `json:"reserved_usd"`
		} `json:"windows"`
	}
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) != 1 || len(rows[0].Windows) != 1 {
		t.Fatalf("status: %v %s", err, b)
	}
	w := rows[0].Windows[0]
	if w.SpentUSD > w.CapUSD || w.SpentUSD < w.CapUSD/2 || w.Reserved != 0 {
		t.Errorf("spent %.6f of %.2f (reserved %.6f): want at most the cap, most of it used, nothing left reserved", w.SpentUSD, w.CapUSD, w.Reserved)
	}
}

func TestOpenOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	m := NewMain(io.Discard)
	m.Env = func(string) (string, bool) { return "", false }
	dir := t.TempDir()
	if err := m.Load(nil, []string{"server.listen=0.0.0.0:0", "storage.dsn=" + dir + "/sb.db"}); err != nil {
		t.Fatal(err)
	}
	err := m.Run(t.Context())
	_ = m.Close(t.Context())
	if err == nil || !strings.Contains(err.Error(), "without API keys") {
		t.Fatalf("got %v, want a refusal to listen without keys", err)
	}
}
