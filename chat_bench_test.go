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
