package anthropic

// The translations run once per request (FromChat, DecodeRequest, ToChat)
// or once per stream event (ChunkTranslator, EventEncoder). Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/anthropic/
//
// allocs/op is the number to watch: per-event allocations multiply by the
// length of every stream.

import (
	"testing"

	"github.com/switchboard-ai/switchboard"
)

const benchChat = `{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},
{"role":"user","content":"What is the weather in Paris today?"},
{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
{"role":"tool","tool_call_id":"call_1","content":"18C and sunny"}],
"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
"temperature":0.2,"max_tokens":256}`

const benchMessages = `{"model":"m","max_tokens":256,"system":"You are a helpful assistant.","messages":[
{"role":"user","content":"What is the weather in Paris today?"},
{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C and sunny"}]}],
"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]}`

func BenchmarkFromChat(b *testing.B) {
	req, err := switchboard.DecodeChatRequest([]byte(benchChat))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := FromChat(req, "claude", 4096)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequestToChat(b *testing.B) {
	body := []byte(benchMessages)
	b.ReportAllocs()
	for b.Loop() {
		r, err := DecodeRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ToChat(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChunkTranslator(b *testing.B) {
	start := []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}`)
	delta := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word"}}`)
	tr := NewChunkTranslator(1)
	if _, err := tr.Next(start); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Next(delta); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventEncoder(b *testing.B) {
	c := &switchboard.Chunk{ID: "chatcmpl-1", Model: "m", Choices: []switchboard.ChunkChoice{{Delta: switchboard.Message{Content: switchboard.TextContent(" word")}}}}
	enc := NewEventEncoder("x", "m", 1)
	buf := enc.Append(nil, c)
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.Append(buf[:0], c)
	}
}
