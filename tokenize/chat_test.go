package tokenize

import (
	"testing"

	"github.com/switchboard-ai/switchboard"
)

func mustRequest(tb testing.TB, body string) *switchboard.ChatRequest {
	tb.Helper()
	r, err := switchboard.DecodeChatRequest([]byte(body))
	if err != nil {
		tb.Fatalf("decode request: %v", err)
	}
	return r
}

// cookbookMessages is the example conversation of OpenAI's cookbook ("How
// to count tokens with tiktoken", section 6).
const cookbookMessages = `[
	{"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
	{"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
	{"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
	{"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
	{"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
	{"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
]`

// cookbookTools is the example of the cookbook's section 7, on counting
// tool definitions.
const cookbookTools = `{
	"messages": [
		{"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
		{"role": "user", "content": "What's the weather like in San Francisco?"}
	],
	"tools": [{
		"type": "function",
		"function": {
			"name": "get_current_weather",
			"description": "Get the current weather in a given location",
			"parameters": {
				"type": "object",
				"properties": {
					"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
					"unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
				},
				"required": ["location"]
			}
		}
	}]
}`

// TestCountChatCookbook checks the prompt_tokens the OpenAI API reported
// for the cookbook's examples, as the cookbook prints them.
func TestCountChatCookbook(t *testing.T) {
	t.Parallel()
	messages := mustRequest(t, `{"model":"x","messages":`+cookbookMessages+`}`)
	tools := mustRequest(t, `{"model":"x",`+cookbookTools[1:])
	tests := []struct {
		model          string
		messages, tool int
	}{
		{"gpt-3.5-turbo", 129, 105},
		{"gpt-4-0613", 129, 105},
		{"gpt-4", 129, 105},
		{"gpt-4o", 124, 101},
		{"gpt-4o-mini", 124, 101},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			if got := CountChat(tc.model, messages); got != tc.messages {
				t.Errorf("messages: got %d, want %d", got, tc.messages)
			}
			if got := CountChat(tc.model, tools); got != tc.tool {
				t.Errorf("with tools: got %d, want %d", got, tc.tool)
			}
		})
	}
}

// TestCountChatParts checks each rule of CountChat against the same sum
// written out with Count.
func TestCountChatParts(t *testing.T) {
	t.Parallel()
	const model = "gpt-4o"
	c := func(s string) int { return Count(model, s) }
	msg := func(role string, n int) int { return tokensPerMessage + c(role) + n }
	tests := []struct {
		name string
		body string
		want int
	}{
		{
			name: "string content",
			body: `{"model":"m","messages":[{"role":"user","content":"Hello there\nfriend"}]}`,
			want: replyPriming + msg("user", c("Hello there\nfriend")),
		},
		{
			name: "name",
			body: `{"model":"m","messages":[{"role":"user","name":"ada","content":"hi"}]}`,
			want: replyPriming + msg("user", c("hi")+tokensPerName+c("ada")),
		},
		{
			name: "text parts",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"first part"},{"type":"text","text":"second"}]}]}`,
			want: replyPriming + msg("user", c("first part")+c("second")),
		},
		{
			name: "images by detail",
			body: `{"model":"m","messages":[{"role":"user","content":[
				{"type":"text","text":"what is this?"},
				{"type":"image_url","image_url":{"url":"https://x/a.png","detail":"low"}},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
				{"type":"image_url","image_url":{"url":"https://x/c.png"}},
				{"type":"image_url","image_url":"https://x/d.png"},
				{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`,
			want: replyPriming + msg("user", c("what is this?")+85+765+765+765),
		},
		{
			name: "tool calls and result",
			body: `{"model":"m","messages":[
				{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
				{"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21}"}]}`,
			want: replyPriming + msg("assistant", c("get_weather")+c(`{"city":"Paris"}`)) + msg("tool", c(`{"temp":21}`)),
		},
		{
			name: "legacy function_call",
			body: `{"model":"m","messages":[{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},{"role":"function","name":"f","content":"ok"}]}`,
			want: replyPriming + msg("assistant", c("f")+c("{}")) + msg("function", c("ok")+tokensPerName+c("f")),
		},
		{
			name: "refusal",
			body: `{"model":"m","messages":[{"role":"assistant","refusal":"I can't help with that."},{"role":"assistant","content":[{"type":"refusal","refusal":"No."}]}]}`,
			want: replyPriming + msg("assistant", c("I can't help with that.")) + msg("assistant", c("No.")),
		},
		{
			name: "nested tool schema counted as JSON",
			body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","description":"Does f.",
				"parameters":{"type":"object","properties":{"items":{"type":"array","items":{"type":"string"}}},"$defs":{"a":{"type":"string"}}}}}]}`,
			want: replyPriming + msg("user", c("hi")) + o200kTools.funcEnd + o200kTools.funcInit + c("f:Does f") +
				c("$defs") + c(`{"a":{"type":"string"}}`) +
				o200kTools.propInit + o200kTools.propKey + c("items") + c(`{"type":"array","items":{"type":"string"}}`),
		},
		{
			name: "legacy functions",
			body: `{"model":"m","messages":[{"role":"user","content":"hi"}],"functions":[{"name":"f","description":"d","parameters":{"type":"object","properties":{"x":{"type":"integer"}}}}]}`,
			want: replyPriming + msg("user", c("hi")) + o200kTools.funcEnd + o200kTools.funcInit + c("f:d") +
				o200kTools.propInit + o200kTools.propKey + c("x:integer:"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CountChat(model, mustRequest(t, tc.body)); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCountChatModel(t *testing.T) {
	t.Parallel()
	req := mustRequest(t, `{"model":"gpt-4o","messages":`+cookbookMessages+`}`)
	if got := CountChat("", req); got != 124 {
		t.Errorf("model from the request (gpt-4o): got %d, want 124", got)
	}
	if got := CountChat("gpt-4", req); got != 129 {
		t.Errorf("model given (gpt-4): got %d, want 129", got)
	}
	if got := CountChat("gpt-4", nil); got != 0 {
		t.Errorf("nil request: got %d, want 0", got)
	}
}
