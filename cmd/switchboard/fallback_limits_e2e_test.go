package main

import (
	"strings"
	"testing"
)

// A fallback's call counts against the model that served it and, with
// count_fallbacks, against the model the client asked for too.
func TestFallbackCountsAgainstRequestedModel(t *testing.T) {
	t.Parallel()
	for _, count := range []bool{false, true} {
		name := "served-model-only"
		if count {
			name = "count_fallbacks"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			flag := "false"
			if count {
				flag = "true"
			}
			// primary's only route is refused at once (nothing listens on
			// port 1), so every request is served by the fallback.
			_, base := startGateway(t, `
providers:
  down: {type: openai, base_url: "http://127.0.0.1:1/v1", api_key: none}
  demo: {type: mock}
models:
  primary:
    routes: [{provider: down, model: gpt-4o-mini}]
    retry: {attempts: 1}
    limits: {rpm: 2}
    count_fallbacks: `+flag+`
    fallbacks: [{on: [rate_limited, server_error, timeout], to: [backup]}]
  backup:
    routes: [{provider: demo, model: mock-echo}]
`)
			url := base + "/v1/chat/completions"
			body := `{"model":"primary","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
			var ok, limited int
			for range 4 {
				resp, b := call(t, "POST", url, "", body)
				switch resp.StatusCode {
				case 200:
					ok++
					if got := resp.Header.Get("X-Switchboard-Fallback-Model"); got != "backup" {
						t.Errorf("fallback header %q, want backup", got)
					}
				case 429:
					limited++
					if !strings.Contains(b, "rate_limit") {
						t.Errorf("429 body %s", b)
					}
				default:
					t.Fatalf("status %d: %s", resp.StatusCode, b)
				}
			}
			// Each request is one (refused) attempt on primary. Without
			// count_fallbacks, primary's rpm 2 stops the third request's
			// primary attempt but the fallback still serves it; with it,
			// the fallback of request 1 uses primary's second slot, so
			// request 2 finds primary's limit spent for both.
			if !count && ok != 4 {
				t.Fatalf("served-model-only: %d ok, %d limited; want 4 ok", ok, limited)
			}
			if count && (ok != 1 || limited != 3) {
				t.Fatalf("count_fallbacks: %d ok, %d limited; want 1 ok, 3 limited", ok, limited)
			}
		})
	}
}
