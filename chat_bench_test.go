package switchboard

import "testing"

// go test -run '^$' -bench 'Decode|UpstreamBody' -benchmem .
// Watch allocs/op and ns/op: this runs once per chat request.

var benchBody = []byte(`{"model":"mock-echo","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write one sentence about the sea."}],"temperature":0.7,"max_tokens":64,"user":"u-123"}`)

func BenchmarkDecodeChatRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := DecodeChatRequest(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpstreamBody(b *testing.B) {
	r, err := DecodeChatRequest(benchBody)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.UpstreamBody("gpt-4o-mini"); err != nil {
			b.Fatal(err)
		}
	}
}

var benchResp = []byte(`{"id":"chatcmpl-71aaeb0fb313f7b562af1073","object":"chat.completion","created":1795634429,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"The sea is a vast, restless expanse that connects every shore.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":14,"total_tokens":38,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_mock"}`)

func BenchmarkDecodeChatResponse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchResp)))
	for b.Loop() {
		if _, err := DecodeChatResponse(benchResp); err != nil {
			b.Fatal(err)
		}
	}
}
