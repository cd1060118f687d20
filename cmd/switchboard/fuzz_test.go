package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

// fuzzEndpoints are the inference endpoints a client posts arbitrary bodies to.
var fuzzEndpoints = []string{
	"/v1/chat/completions",
	"/v1/embeddings",
	"/v1/messages",
	"/v1/messages/count_tokens",
	"/v1/feedback",
	"/v1/prompts/support_reply/render",
}

// FuzzGatewayEndpoints posts arbitrary bodies to the running gateway (the
// in-process mock and a pass-through model behind the fake upstream) and
// checks that every answer is a well-formed response: never a recovered
// panic or an internal error, and every error in the OpenAI (or, on
// /v1/messages, Anthropic) error shape with a message.
//
//	go test -run '^$' -fuzz FuzzGatewayEndpoints -fuzztime 5m ./cmd/switchboard/
func FuzzGatewayEndpoints(f *testing.F) {
	seeds := []struct {
		ep   uint8
		body string
	}{
		{0, `{"model":"mock-echo","messages":[{"role":"user","content":"hi"}]}`},
		{0, `{"model":"mock-model","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{0, `{"model":"mock-model","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}],"n":2,"seed":1}`},
		{0, `{"model":"mock-tools","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"auto"}`},
		{0, `{"model":"mock-echo","messages":[{"role":"tool","tool_call_id":"1","content":"r"}],"response_format":{"type":"json_object"}}`},
		{0, `{"prompt":{"id":"support_reply","variables":{"customer":"Ada","issue":"late"}}}`},
		{0, `{"model":"mock-echo","messages":[]}`},
		{0, `{"model":1}`},
		{0, `[]`},
		{1, `{"model":"mock-embed","input":["a","b"],"encoding_format":"base64"}`},
		{1, `{"model":"mock-embed","input":[[1,2,3]],"dimensions":8}`},
		{2, `{"model":"mock-echo","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"stream":true}`},
		{2, `{"model":"mock-echo","max_tokens":16,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}`},
		{3, `{"model":"mock-echo","messages":[{"role":"user","content":"count me"}]}`},
		{4, `{"inference_id":"0193b7a0-0000-7000-8000-000000000000","metric":"thumbs_up","value":true}`},
		{5, `{"label":"production","variables":{"customer":"Ada","issue":"late"}}`},
	}
	for _, s := range seeds {
		f.Add(s.ep, []byte(s.body))
	}
	up := sbtest.NewFakeUpstream(f, fakeupstream.Options{})
	_, base := startGateway(f, upstreamConfig(up, "prompts: {dir: ../../examples/prompts/prompts}\n"))
	cl := &http.Client{Timeout: 10 * time.Second}
	f.Fuzz(func(t *testing.T, ep uint8, body []byte) {
		// The mock's own options (latency, stalls, chosen error statuses) are
		// outside what this checks.
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) == nil && top["mock"] != nil {
			t.Skip()
		}
		path := fuzzEndpoints[int(ep)%len(fuzzEndpoints)]
		resp, err := cl.Post(base+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("POST %s: reading the answer: %v", path, err)
		}
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("POST %s %q: status %d: %s", path, body, resp.StatusCode, got)
		}
		if resp.StatusCode < 400 {
			return
		}
		var env struct {
			Type  string `json:"type"`
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		if err := json.Unmarshal(got, &env); err != nil || env.Error.Message == "" || env.Error.Type == "" {
			t.Fatalf("POST %s %q: status %d with a body not in the error shape: %s", path, body, resp.StatusCode, got)
		}
		if strings.Contains(env.Error.Message, "internal server error") {
			t.Fatalf("POST %s %q: internal error: %s", path, body, got)
		}
	})
}
