package switchboard

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeChatRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		wantParam string // "" = valid
		wantMsg   string
	}{
		{"minimal", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "", ""},
		{"parts", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}}]}]}`, "", ""},
		{"tools", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`, "", ""},
		{"nulls", `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":null,"user":null}`, "", ""},
		{"not json", `{"model":`, "", "not valid JSON"},
		{"array body", `[1]`, "", "must be a JSON object"},
		{"missing model", `{"messages":[{"role":"user","content":"hi"}]}`, "model", "model parameter"},
		{"model number", `{"model":5,"messages":[{"role":"user","content":"hi"}]}`, "model", "must be a string"},
		{"missing messages", `{"model":"m"}`, "messages", "'messages'"},
		{"messages object", `{"model":"m","messages":{}}`, "messages", "must be an array"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "at least one"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role", "invalid value"},
		{"missing role", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role", "missing"},
		{"missing content", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user"}]}`, "messages[1].content", "missing"},
		{"content number", `{"model":"m","messages":[{"role":"user","content":1}]}`, "messages[0].content", "string or an array"},
		{"temperature string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, "temperature", "must be a number"},
		{"stream string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":"yes"}`, "stream", "boolean"},
		{"n zero", `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":0}`, "n", "between"},
		{"max_tokens negative", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":-1}`, "max_tokens", "at least 1"},
		{"stream_options without stream", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, "stream_options", "only allowed"},
		{"tool without name", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name", "required"},
		{"prompt only", `{"prompt":{"id":"rag_query","variables":{"q":"x"}}}`, "", ""},
		{"prompt with messages", `{"prompt":{"id":"p"},"messages":[{"role":"user","content":"hi"}],"model":"m"}`, "", ""},
		{"prompt string", `{"prompt":"rag_query"}`, "prompt", "must be an object"},
		{"prompt empty model", `{"prompt":{"id":"p"},"model":""}`, "model", "non-empty"},
		{"stop number", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":3}`, "stop", "string or an array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeChatRequest([]byte(tc.body))
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want *Error", err)
			}
			if e.Code != CodeInvalidRequest {
				t.Errorf("got code %s, want invalid_request", e.Code)
			}
			if e.Param != tc.wantParam {
				t.Errorf("got param %q, want %q", e.Param, tc.wantParam)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", e.Message, tc.wantMsg)
			}
		})
	}
}

func TestChatRequestKeepsUnknownFields(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","messages":[{"role":"user","content":"hi","x_msg":1}],"logprobs":true,"metadata":{"a":"b"},"seed":7,"n":2,"response_format":{"type":"json_object"}}`
	r, err := DecodeChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(r.Extra["logprobs"]); got != "true" {
		t.Errorf("got logprobs %q, want true", got)
	}
	if got := string(r.Messages[0].Extra["x_msg"]); got != "1" {
		t.Errorf("got x_msg %q, want 1", got)
	}
	// Re-encoding (the path taken once a request was changed) keeps them too.
	r.Raw = nil
	out, err := r.UpstreamBody("up")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"logprobs", "metadata", "seed", "n", "response_format"} {
		if _, ok := m[k]; !ok {
			t.Errorf("re-encoded body lost %q: %s", k, out)
		}
	}
	if m["model"] != "up" {
		t.Errorf("got model %v, want up", m["model"])
	}
	if msg := m["messages"].([]any)[0].(map[string]any); msg["x_msg"] != 1.0 {
		t.Errorf("re-encoded message lost x_msg: %s", out)
	}
}

func TestUpstreamBodyPatchesInPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"model only", `{"model":"alias", "messages":[{"role":"user","content":"hi"}],"zz":1}`,
			`{"model":"gpt-4o", "messages":[{"role":"user","content":"hi"}],"zz":1}`},
		{"stream adds usage", `{"stream":true,"model":"alias","messages":[{"role":"user","content":"hi"}]}`,
			`{"stream_options":{"include_usage":true},"stream":true,"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`},
		{"stream with usage kept", `{"model":"alias","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{"stream usage false forced", `{"model":"alias","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{"other stream options kept", `{"model":"alias","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false},"messages":[{"role":"user","content":"hi"}]}`},
		{"empty stream options", `{"model":"alias","stream":true,"stream_options":{},"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{"null stream options replaced, not doubled", `{"model":"alias","stream":true,"stream_options":null,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{"null stream options without stream", `{"model":"alias","stream":false,"stream_options":null,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"gpt-4o","stream":false,"stream_options":null,"messages":[{"role":"user","content":"hi"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeChatRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.UpstreamBody("gpt-4o")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestStreamOptionsReencoded(t *testing.T) {
	t.Parallel()
	r, err := DecodeChatRequest([]byte(`{"model":"alias","stream":true,"stream_options":{"include_obfuscation":false},"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Raw = nil // as after a prompt is applied: the request is encoded anew
	got, err := r.UpstreamBody("gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		StreamOptions map[string]any `json:"stream_options"`
	}
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if m.StreamOptions["include_usage"] != true || m.StreamOptions["include_obfuscation"] != false {
		t.Errorf("stream_options = %v, want include_usage true and include_obfuscation false kept: %s", m.StreamOptions, got)
	}
	_, err = DecodeChatRequest([]byte(`{"model":"m","stream":true,"stream_options":{"include_usage":"yes"},"messages":[{"role":"user","content":"hi"}]}`))
	var e *Error
	if !errors.As(err, &e) || e.Param != "stream_options.include_usage" {
		t.Errorf("include_usage \"yes\": got %v, want an error naming stream_options.include_usage", err)
	}
}

func TestMessageText(t *testing.T) {
	t.Parallel()
	m := Message{Role: "user", Content: json.RawMessage(`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]`)}
	if got := m.Text(); got != "ab" {
		t.Errorf("got %q, want ab", got)
	}
	m.Content = TextContent("h\"i")
	if got := m.Text(); got != "h\"i" {
		t.Errorf("got %q, want h\"i", got)
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"x":[1,{"y":"}"}]}`))
	f.Add([]byte(`{"model":"\u006d","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeChatRequest(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidRequest {
				t.Fatalf("error %v is not an invalid_request *Error", err)
			}
			return
		}
		// A valid request re-encodes, patched or not, to valid JSON that
		// decodes to the same model and message count.
		for _, raw := range [][]byte{r.Raw, nil} {
			r.Raw = raw
			out, err := r.UpstreamBody("other")
			if err != nil {
				t.Fatalf("upstream body: %v", err)
			}
			back, err := DecodeChatRequest(out)
			if err != nil {
				t.Fatalf("re-decode of %s: %v", out, err)
			}
			if back.Model != "other" || len(back.Messages) != len(r.Messages) {
				t.Fatalf("got model %q and %d messages, want other and %d", back.Model, len(back.Messages), len(r.Messages))
			}
		}
	})
}

func FuzzDecodeEmbeddingRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","input":"hi","encoding_format":"base64"}`))
	f.Add([]byte(`{"model":"m","input":[[1,2],[3]]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := DecodeEmbeddingRequest(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
		}
	})
}
