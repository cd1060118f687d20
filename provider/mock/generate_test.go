package mock

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/switchboard-ai/switchboard"
)

// mustRequest decodes a chat request body as the gateway does.
func mustRequest(tb testing.TB, body string) *switchboard.ChatRequest {
	tb.Helper()
	req, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
	return req
}

const weatherTools = `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
	"properties":{"city":{"type":"string"},"days":{"type":"integer"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}},
	{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":["string","null"]},"utc":{"type":"boolean"}}}}}]`

func TestGenerate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		opts       Options
		wantText   string
		wantTool   string // "name args" when a tool call is expected
		wantFinish string
		wantN      int
		wantTokens int // completion tokens of all choices
	}{
		{
			name:     "echo last user message",
			body:     `{"model":"mock-echo","messages":[{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":"hello  big\nworld"}]}`,
			wantText: "hello  big\nworld", wantFinish: "stop", wantN: 1, wantTokens: 3,
		},
		{
			name:     "echo content parts",
			body:     `{"model":"mock-echo","messages":[{"role":"user","content":[{"type":"text","text":"a b"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":" c"}]}]}`,
			wantText: "a b c", wantFinish: "stop", wantN: 1, wantTokens: 3,
		},
		{
			name:     "echo without user message",
			body:     `{"model":"mock-echo","messages":[{"role":"system","content":"be nice"}]}`,
			wantText: "(empty)", wantFinish: "stop", wantN: 1, wantTokens: 1,
		},
		{
			name:     "stop sequence ends the reply before it",
			body:     `{"model":"mock-echo","stop":["zz","big"],"messages":[{"role":"user","content":"hello  big world"}]}`,
			wantText: "hello  ", wantFinish: "stop", wantN: 1, wantTokens: 2,
		},
		{
			name:     "stop string, and max_tokens still cuts first",
			body:     `{"model":"mock-echo","stop":"world","max_tokens":1,"messages":[{"role":"user","content":"hello big world"}]}`,
			wantText: "hello", wantFinish: "length", wantN: 1, wantTokens: 1,
		},
		{
			name:     "stop sequence not in the reply",
			body:     `{"model":"mock-echo","stop":["", "nope"],"messages":[{"role":"user","content":"hello"}]}`,
			wantText: "hello", wantFinish: "stop", wantN: 1, wantTokens: 1,
		},
		{
			name:     "unknown model echoes",
			body:     `{"model":"gpt-4o","messages":[{"role":"user","content":"ping"}]}`,
			wantText: "ping", wantFinish: "stop", wantN: 1, wantTokens: 1,
		},
		{
			name:       "lorem default",
			body:       `{"model":"mock-lorem","messages":[{"role":"user","content":"x"}]}`,
			wantText:   "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et",
			wantFinish: "stop", wantN: 1, wantTokens: 16,
		},
		{
			name:     "lorem words option",
			body:     `{"model":"mock-lorem","messages":[{"role":"user","content":"x"}]}`,
			opts:     Options{Words: 3},
			wantText: "Lorem ipsum dolor", wantFinish: "stop", wantN: 1, wantTokens: 3,
		},
		{
			name:     "lorem capped by max_tokens",
			body:     `{"model":"mock-lorem","max_tokens":4,"messages":[{"role":"user","content":"x"}]}`,
			wantText: "Lorem ipsum dolor sit", wantFinish: "length", wantN: 1, wantTokens: 4,
		},
		{
			name:     "max_completion_tokens truncates echo",
			body:     `{"model":"mock-echo","max_completion_tokens":2,"messages":[{"role":"user","content":"one two three"}]}`,
			wantText: "one two", wantFinish: "length", wantN: 1, wantTokens: 2,
		},
		{
			name:     "max_tokens equal to the length is a stop",
			body:     `{"model":"mock-echo","max_tokens":3,"messages":[{"role":"user","content":"one two three"}]}`,
			wantText: "one two three", wantFinish: "stop", wantN: 1, wantTokens: 3,
		},
		{
			name:     "n choices",
			body:     `{"model":"mock-echo","n":3,"messages":[{"role":"user","content":"hi you"}]}`,
			wantText: "hi you", wantFinish: "stop", wantN: 3, wantTokens: 6,
		},
		{
			name:     "json_object",
			body:     `{"model":"mock-echo","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"say \"hi\""}]}`,
			wantText: `{"echo": "say \"hi\""}`, wantFinish: "stop", wantN: 1, wantTokens: 3,
		},
		{
			name:     "json_schema",
			body:     `{"model":"mock-echo","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"ok":{"type":"boolean"}}}}},"messages":[{"role":"user","content":"x"}]}`,
			wantText: `{"ok":true}`, wantFinish: "stop", wantN: 1, wantTokens: 1,
		},
		{
			name:     "content option",
			body:     `{"model":"mock-lorem","messages":[{"role":"user","content":"x"}]}`,
			opts:     Options{Content: new("fixed reply")},
			wantText: "fixed reply", wantFinish: "stop", wantN: 1, wantTokens: 2,
		},
		{
			name:     "tools: first tool",
			body:     `{"model":"mock-tools","tools":` + weatherTools + `,"messages":[{"role":"user","content":"weather?"}]}`,
			wantTool: `get_weather {"city":"test","days":1,"unit":"c"}`, wantFinish: "tool_calls", wantN: 1, wantTokens: 13,
		},
		{
			name:     "tools: tool_choice names a function",
			body:     `{"model":"mock-tools","tools":` + weatherTools + `,"tool_choice":{"type":"function","function":{"name":"get_time"}},"messages":[{"role":"user","content":"time?"}]}`,
			wantTool: `get_time {"zone":"test","utc":true}`, wantFinish: "tool_calls", wantN: 1, wantTokens: 9,
		},
		{
			name:     "tools: required",
			body:     `{"model":"mock-tools","tools":` + weatherTools + `,"tool_choice":"required","messages":[{"role":"user","content":"x"}]}`,
			wantTool: `get_weather {"city":"test","days":1,"unit":"c"}`, wantFinish: "tool_calls", wantN: 1, wantTokens: 13,
		},
		{
			name:     "tools: max_tokens cuts the arguments",
			body:     `{"model":"mock-tools","max_tokens":3,"tools":` + weatherTools + `,"messages":[{"role":"user","content":"x"}]}`,
			wantTool: `get_weather {"city":"`, wantFinish: "length", wantN: 1, wantTokens: 3,
		},
		{
			name:     "tools: tool_choice none echoes",
			body:     `{"model":"mock-tools","tools":` + weatherTools + `,"tool_choice":"none","messages":[{"role":"user","content":"no tools"}]}`,
			wantText: "no tools", wantFinish: "stop", wantN: 1, wantTokens: 2,
		},
		{
			name: "tools: answers a tool result with text",
			body: `{"model":"mock-tools","tools":` + weatherTools + `,"messages":[{"role":"user","content":"weather?"},
				{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"call_1","content":"sunny, 21C"}]}`,
			wantText: "sunny, 21C", wantFinish: "stop", wantN: 1, wantTokens: 2,
		},
		{
			name:     "tools: without tools echoes",
			body:     `{"model":"mock-tools","messages":[{"role":"user","content":"plain"}]}`,
			wantText: "plain", wantFinish: "stop", wantN: 1, wantTokens: 1,
		},
		{
			name:     "tools ignored by echo",
			body:     `{"model":"mock-echo","tools":` + weatherTools + `,"messages":[{"role":"user","content":"plain"}]}`,
			wantText: "plain", wantFinish: "stop", wantN: 1, wantTokens: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := mustRequest(t, tc.body)
			c, err := Generate("", req, tc.opts)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if len(c.Choices) != tc.wantN {
				t.Fatalf("got %d choices, want %d", len(c.Choices), tc.wantN)
			}
			for i, o := range c.Choices {
				if tc.wantTool != "" {
					if o.ToolCall == nil {
						t.Fatalf("choice %d: got text %q, want a tool call", i, o.Text())
					}
					if got := o.ToolCall.Name + " " + o.ToolCall.Arguments(); got != tc.wantTool {
						t.Errorf("choice %d: got tool call %s, want %s", i, got, tc.wantTool)
					}
					if !strings.HasPrefix(o.ToolCall.ID, "call_") || len(o.ToolCall.ID) != 29 {
						t.Errorf("choice %d: got tool call id %q, want call_ and 24 hex digits", i, o.ToolCall.ID)
					}
				} else if got := o.Text(); o.ToolCall != nil || got != tc.wantText {
					t.Errorf("choice %d: got text %q (tool call %v), want %q", i, got, o.ToolCall, tc.wantText)
				}
				if o.FinishReason != tc.wantFinish {
					t.Errorf("choice %d: got finish_reason %q, want %q", i, o.FinishReason, tc.wantFinish)
				}
			}
			if got := c.CompletionTokens(); got != tc.wantTokens {
				t.Errorf("got %d completion tokens, want %d", got, tc.wantTokens)
			}
			if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Model != req.Model || c.Created == 0 {
				t.Errorf("got id %q model %q created %d, want chatcmpl- id, model %q, a creation time", c.ID, c.Model, c.Created, req.Model)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		req       *switchboard.ChatRequest
		wantParam string
	}{
		{
			name:      "unknown tool_choice function",
			req:       mustRequest(t, `{"model":"mock-tools","tools":`+weatherTools+`,"tool_choice":{"type":"function","function":{"name":"nope"}},"messages":[{"role":"user","content":"x"}]}`),
			wantParam: "tool_choice",
		},
		{
			name:      "n out of range (request built in code)",
			req:       &switchboard.ChatRequest{Model: "mock-echo", N: new(0)},
			wantParam: "n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Generate("", tc.req, Options{})
			var e *switchboard.Error
			if !errors.As(err, &e) || e.Code != switchboard.CodeInvalidRequest || e.Param != tc.wantParam {
				t.Fatalf("got %v, want invalid_request on %s", err, tc.wantParam)
			}
		})
	}
}

func TestArgumentsFromSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, schema, want string
	}{
		{"all types", `{"type":"object","properties":{"s":{"type":"string"},"n":{"type":"number"},"i":{"type":"integer"},"b":{"type":"boolean"},"o":{"type":"object"},"a":{"type":"array"},"x":{}}}`,
			`{"s":"test","n":1,"i":1,"b":true,"o":null,"a":null,"x":null}`},
		{"order kept", `{"properties":{"z":{"type":"string"},"a":{"type":"string"}}}`, `{"z":"test","a":"test"}`},
		{"enum", `{"properties":{"u":{"type":"string","enum":["kelvin","c"]},"k":{"enum":[3, 4]}}}`, `{"u":"kelvin","k":3}`},
		{"nullable type list", `{"properties":{"v":{"type":["null","integer"]}}}`, `{"v":1}`},
		{"escaped name", `{"properties":{"a\"b":{"type":"string"}}}`, `{"a\"b":"test"}`},
		{"no properties", `{"type":"object"}`, `{}`},
		{"empty", ``, `{}`},
		{"not an object", `[1,2]`, `{}`},
		{"properties not an object", `{"properties":[1]}`, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ArgumentsFromSchema(json.RawMessage(tc.schema))
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("got invalid JSON %s", got)
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"one", []string{"one"}},
		{"one two", []string{"one", " two"}},
		{"  lead", []string{"  lead"}},
		{"trail  ", []string{"trail  "}},
		{"a\n\nb c ", []string{"a", "\n\nb", " c "}},
		{"   ", []string{"   "}},
		{"héllo wörld", []string{"héllo", " wörld"}},
	}
	for _, tc := range tests {
		got := splitWords(tc.in)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitWords(%q) mismatch (-want +got):\n%s", tc.in, diff)
		}
		if strings.Join(got, "") != tc.in {
			t.Errorf("splitWords(%q) pieces join to %q", tc.in, strings.Join(got, ""))
		}
	}
}

func TestSplitJSON(t *testing.T) {
	t.Parallel()
	got := splitJSON(`{"city":"test","days":1}`)
	want := []string{`{"`, `city`, `":"`, `test`, `","`, `days`, `":`, `1`, `}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitJSON mismatch (-want +got):\n%s", diff)
	}
}

func TestEstimatePromptTokens(t *testing.T) {
	t.Parallel()
	req := mustRequest(t, `{"model":"m","messages":[{"role":"system","content":"12345"},{"role":"user","content":"1234"}]}`)
	// (ceil(5/4)+3) + (ceil(4/4)+3) + 3
	if got, want := EstimatePromptTokens(req.Messages), 12; got != want {
		t.Errorf("got %d, want %d", got, want)
	}
}

// TestResponseMatchesJSON checks that the struct Chat returns is what a
// client decodes from the bytes the fake upstream sends.
func TestResponseMatchesJSON(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"text":  `{"model":"mock-echo","n":2,"messages":[{"role":"user","content":"<b>tag</b> & \"quotes\" \u2028 é"}]}`,
		"tools": `{"model":"mock-tools","tools":` + weatherTools + `,"messages":[{"role":"user","content":"x"}]}`,
		"empty": `{"model":"mock-echo","messages":[{"role":"user","content":"x"}],"mock":{"content":""}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := mustRequest(t, body)
			opts, err := ParseOptions(req.Extra["mock"], nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Generate("", req, opts)
			if err != nil {
				t.Fatal(err)
			}
			raw := c.AppendJSON(nil)
			var got switchboard.ChatResponse
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("decode %s: %v", raw, err)
			}
			if diff := cmp.Diff(c.Response(), &got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Response() and decoded AppendJSON differ (-struct +decoded):\n%s", diff)
			}
			for i, ch := range got.Choices {
				if tc := c.Choices[i].ToolCall; tc == nil && ch.Message.Text() != c.Choices[i].Text() {
					t.Errorf("choice %d: got content %q, want %q", i, ch.Message.Text(), c.Choices[i].Text())
				}
			}
		})
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\t\n\r\b\f", "<>&", "é 世界 🎉", "bad\xffutf8", "line\u2028sep\u2029"} {
		var want strings.Builder
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(appendString(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want.String())
		}
	}
}
