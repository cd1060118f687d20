package anthropic

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// addGoldenSeeds adds the golden inputs whose name starts with prefix.
func addGoldenSeeds(f *testing.F, prefix string) {
	ins, _ := filepath.Glob(filepath.Join("testdata", prefix+"*.in.json"))
	for _, in := range ins {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
}

// FuzzDecodeRequest feeds arbitrary bodies to the inbound decoder and, when
// they decode, through both request translations: nothing may panic.
func FuzzDecodeRequest(f *testing.F) {
	addGoldenSeeds(f, "inbound_request_")
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image"}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = DecodeCountTokensRequest(body)
		r, err := DecodeRequest(body)
		if err != nil {
			if switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
				t.Fatalf("got %v, want an invalid_request error", err)
			}
			return
		}
		chat, err := ToChat(r)
		if err != nil {
			return
		}
		_ = EstimateInputTokens(chat)
		if out, err := FromChat(chat, "m", 16); err == nil {
			if _, err := marshal(out); err != nil {
				t.Fatalf("encode %+v: %v", out, err)
			}
		}
	})
}

// FuzzFromChat feeds arbitrary OpenAI request bodies to the provider's
// request translation.
func FuzzFromChat(f *testing.F) {
	addGoldenSeeds(f, "request_")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := switchboard.DecodeChatRequest(body)
		if err != nil {
			return
		}
		out, err := FromChat(req, "m", 16)
		if err != nil {
			return
		}
		if _, err := out.CountTokensBody(); err != nil {
			t.Fatalf("count tokens body: %v", err)
		}
	})
}

// FuzzDecodeResponse feeds arbitrary bodies to the response decoder, the
// response translation and the error mapping.
func FuzzDecodeResponse(f *testing.F) {
	addGoldenSeeds(f, "response_")
	f.Add([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = UpstreamError(529, http.Header{"Retry-After": {string(body)}}, body)
		_ = StreamError(body)
		_, _, _ = DecodeModelList(body)
		r, err := DecodeResponse(body)
		if err != nil {
			return
		}
		resp := ToChatResponse(r, 1)
		_ = FromChatResponse(resp, "x")
	})
}

// FuzzStreamEvent feeds an arbitrary event to a translator in each state
// (fresh, started, with a tool block open) and an arbitrary chunk to the
// event encoder.
func FuzzStreamEvent(f *testing.F) {
	f.Add([]byte(`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}`))
	f.Add([]byte(`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":3}}`))
	f.Add([]byte(`{"type":"error","error":{"type":"api_error","message":"x"}}`))
	f.Add([]byte(`{"id":"c","choices":[{"index":0,"delta":{"content":"hi","tool_calls":[{"index":3,"function":{"arguments":"{"}}]},"finish_reason":"length"}],"usage":{"prompt_tokens":1}}`))
	start := []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":1}}}`)
	tool := []byte(`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, prelude := range [][][]byte{nil, {start}, {start, tool}} {
			tr := NewChunkTranslator(1)
			for _, p := range prelude {
				if _, err := tr.Next(p); err != nil {
					t.Fatal(err)
				}
			}
			_, _ = tr.Next(data)
			_, _ = tr.Next(data)
			_ = tr.Usage()
		}
		c, err := switchboard.DecodeChunk(data)
		if err != nil {
			return
		}
		enc := NewEventEncoder("x", "m", 1)
		b := enc.Append(nil, c)
		b = enc.Append(b, c)
		_ = enc.Finish(b, c.Usage)
	})
}
