package mock

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/switchboard-ai/switchboard"
)

func mustProvider(tb testing.TB, cfg Config) *Provider {
	tb.Helper()
	p, err := New(cfg, switchboard.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// recvAll reads a stream to its end and returns the chunks and the final error.
func recvAll(s switchboard.ChatStream) ([]*switchboard.Chunk, error) {
	var out []*switchboard.Chunk
	for {
		c, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, c)
	}
}

var (
	idRE      = regexp.MustCompile(`"(chatcmpl|call)-?_?[0-9a-f]{24}"`)
	createdRE = regexp.MustCompile(`"created":\d+`)
)

// normalise replaces the random and time-dependent parts of a chunk.
func normalise(b []byte) string {
	s := idRE.ReplaceAllStringFunc(string(b), func(m string) string {
		if strings.HasPrefix(m, `"call`) {
			return `"call_ID"`
		}
		return `"chatcmpl-ID"`
	})
	return createdRE.ReplaceAllString(s, `"created":0`)
}

func TestStreamChunks(t *testing.T) {
	t.Parallel()
	const head = `{"id":"chatcmpl-ID","object":"chat.completion.chunk","created":0,"model":"mock-echo","service_tier":"default","system_fingerprint":"fp_mock","choices":[`
	tests := []struct {
		name string
		body string
		want []string
	}{
		{
			name: "without usage",
			body: `{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"hi there"}]}`,
			want: []string{
				head + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`,
				head + `{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}]}`,
				head + `{"index":0,"delta":{"content":" there"},"logprobs":null,"finish_reason":null}]}`,
				head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
			},
		},
		{
			name: "include_usage",
			body: `{"model":"mock-echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi there"}]}`,
			want: []string{
				head + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
				head + `{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				head + `{"index":0,"delta":{"content":" there"},"logprobs":null,"finish_reason":null}],"usage":null}`,
				head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
				head + `],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`,
			},
		},
		{
			name: "two choices interleave",
			body: `{"model":"mock-echo","stream":true,"n":2,"messages":[{"role":"user","content":"a"}]}`,
			want: []string{
				head + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`,
				head + `{"index":1,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}`,
				head + `{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}]}`,
				head + `{"index":1,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}]}`,
				head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
				head + `{"index":1,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
			},
		},
		{
			name: "tool call",
			body: `{"model":"mock-tools","stream":true,"tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"q":{"type":"string"}}}}}],"messages":[{"role":"user","content":"x"}]}`,
			want: []string{
				strings.Replace(head, "mock-echo", "mock-tools", 1) + `{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_ID","type":"function","function":{"name":"f","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}]}`,
				strings.Replace(head, "mock-echo", "mock-tools", 1) + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]},"logprobs":null,"finish_reason":null}]}`,
				strings.Replace(head, "mock-echo", "mock-tools", 1) + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"q"}}]},"logprobs":null,"finish_reason":null}]}`,
				strings.Replace(head, "mock-echo", "mock-tools", 1) + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":\""}}]},"logprobs":null,"finish_reason":null}]}`,
				strings.Replace(head, "mock-echo", "mock-tools", 1) + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"test"}}]},"logprobs":null,"finish_reason":null}]}`,
				strings.Replace(head, "mock-echo", "mock-tools", 1) + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"}"}}]},"logprobs":null,"finish_reason":null}]}`,
				strings.Replace(head, "mock-echo", "mock-tools", 1) + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}`,
			},
		},
	}
	p := mustProvider(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := mustRequest(t, tc.body)
			s, err := p.ChatStream(t.Context(), "", req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := recvAll(s)
			if err != nil {
				t.Fatalf("got error %v, want io.EOF", err)
			}
			var got []string
			for i, c := range chunks {
				if !req.WantsUsage() {
					// The provider always reports usage (the gateway hides
					// it from clients that did not ask): compare the rest.
					if len(c.Choices) == 0 && c.Usage != nil && i == len(chunks)-1 {
						continue
					}
					got = append(got, strings.Replace(normalise(c.Raw), `,"usage":null`, "", 1))
				} else {
					got = append(got, normalise(c.Raw))
				}
				// The struct is what a client decodes from Raw.
				var dec switchboard.Chunk
				if err := json.Unmarshal(c.Raw, &dec); err != nil {
					t.Fatalf("chunk %d: decode %s: %v", i, c.Raw, err)
				}
				if diff := cmp.Diff(&dec, c, cmpopts.IgnoreFields(switchboard.Chunk{}, "Raw")); diff != "" {
					t.Errorf("chunk %d: struct and decoded Raw differ (-decoded +struct):\n%s", i, diff)
				}
				if c.ID != chunks[0].ID {
					t.Errorf("chunk %d: got id %s, want %s like chunk 0", i, c.ID, chunks[0].ID)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("chunks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamMatchesChat(t *testing.T) {
	t.Parallel()
	p := mustProvider(t, Config{})
	body := `{"model":"mock-lorem","max_tokens":5,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`
	s, err := p.ChatStream(t.Context(), "", mustRequest(t, body))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := recvAll(s)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var finish string
	for _, c := range chunks {
		for _, cc := range c.Choices {
			text.WriteString(cc.Delta.Text())
			if cc.FinishReason != nil {
				finish = *cc.FinishReason
			}
		}
	}
	resp, err := p.Chat(t.Context(), "", mustRequest(t, strings.Replace(body, `"stream":true,"stream_options":{"include_usage":true},`, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := text.String(), resp.Choices[0].Message.Text(); got != want {
		t.Errorf("got streamed text %q, want %q as in Chat", got, want)
	}
	if got, want := finish, resp.Choices[0].FinishReason; got != want || got != "length" {
		t.Errorf("got finish_reason %q, want %q (length)", got, want)
	}
	last := chunks[len(chunks)-1]
	if diff := cmp.Diff(resp.Usage, last.Usage); diff != "" {
		t.Errorf("usage mismatch (-chat +stream):\n%s", diff)
	}
}

func TestStreamStallHonoursCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := mustProvider(t, Config{})
		ctx, cancel := context.WithCancel(t.Context())
		req := mustRequest(t, `{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b c"}],"mock":{"stall_after":2}}`)
		s, err := p.ChatStream(ctx, "", req)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := range 2 {
			if _, err := s.Recv(); err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
		}
		start := time.Now()
		time.AfterFunc(time.Hour, cancel)
		_, err = s.Recv()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != time.Hour {
			t.Errorf("Recv returned after %v, want it to block until the cancel (1h)", got)
		}
	})
}

func TestStreamFailAndMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mock    string
		wantN   int // chunks before the error
		wantErr error
	}{
		{"fail_after 2", `{"fail_after":2}`, 2, ErrAborted},
		{"fail_after 0", `{"fail_after":0}`, 0, ErrAborted},
		{"fail_after before usage", `{"fail_after":4}`, 4, ErrAborted},
		{"fail_after at the end", `{"fail_after":5}`, 5, ErrAborted},
		{"fail_after past the end", `{"fail_after":6}`, 5, nil},
		{"malformed", `{"malformed":true}`, MalformedChunk, ErrMalformed},
	}
	p := mustProvider(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := mustRequest(t, `{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b"}],"mock":`+tc.mock+`}`)
			s, err := p.ChatStream(t.Context(), "", req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			chunks, err := recvAll(s)
			if len(chunks) != tc.wantN {
				t.Errorf("got %d chunks, want %d", len(chunks), tc.wantN)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil && switchboard.ErrorCodeOf(err) != switchboard.CodeUpstream {
				t.Errorf("got code %s, want %s", switchboard.ErrorCodeOf(err), switchboard.CodeUpstream)
			}
			if _, again := s.Recv(); !errors.Is(again, tc.wantErr) && !(tc.wantErr == nil && errors.Is(again, io.EOF)) {
				t.Errorf("Recv after the end: got %v, want the same error again", again)
			}
		})
	}
}

func TestStreamPacing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := mustProvider(t, Config{Latency: time.Second})
		req := mustRequest(t, `{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b c"}],"mock":{"chunk_delay":"100ms"}}`)
		start := time.Now()
		s, err := p.ChatStream(t.Context(), "", req)
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("ChatStream returned after %v, want the configured latency 1s", got)
		}
		chunks, err := recvAll(s)
		if err != nil {
			t.Fatal(err)
		}
		// role, a, b, c, finish: four gaps of 100ms.
		if got, want := time.Since(start), time.Second+time.Duration(len(chunks)-1)*100*time.Millisecond; got != want {
			t.Errorf("stream took %v, want %v", got, want)
		}
	})
}

func TestStreamCloseCancels(t *testing.T) {
	t.Parallel()
	p := mustProvider(t, Config{})
	s, err := p.ChatStream(t.Context(), "", mustRequest(t, `{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled after Close", err)
	}
}
