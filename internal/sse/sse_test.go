package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t testing.TB, in string) ([]Event, error) {
	r := NewReader(strings.NewReader(in))
	var out []Event
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		ev.Data = append([]byte(nil), ev.Data...)
		out = append(out, ev)
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string // event|data
	}{
		{"openai", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []string{`|{"a":1}`, `|[DONE]`}},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []string{"|x", "|y"}},
		{"anthropic", "event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n", []string{"message_start|{}", `ping|{"type": "ping"}`}},
		{"multiline", "data: a\ndata: b\n\n", []string{"|a\nb"}},
		{"comments", ": keep-alive\n\ndata: z\n\n", []string{"|z"}},
		{"no space", "data:z\n\n", []string{"|z"}},
		{"eof without blank", "data: last", []string{"|last"}},
		{"event reset", "event: a\n\ndata: b\n\n", []string{"|b"}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := readAll(t, tc.in)
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			var got []string
			for _, e := range evs {
				got = append(got, e.Event+"|"+string(e.Data))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAppendEventRoundTrip(t *testing.T) {
	t.Parallel()
	b := AppendEvent(nil, "delta", []byte("line1\nline2"))
	if got, want := string(b), "event: delta\ndata: line1\ndata: line2\n\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	evs, err := readAll(t, string(b))
	if err != nil || len(evs) != 1 || string(evs[0].Data) != "line1\nline2" || evs[0].Event != "delta" {
		t.Fatalf("got %+v %v", evs, err)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	in := "data: " + strings.Repeat("x", MaxEventSize+10) + "\n\n"
	if _, err := readAll(t, in); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("got %v, want ErrEventTooLarge", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("data: {\"a\":1}\n\ndata: [DONE]\n\n")
	f.Add("event: x\r\ndata: y\r\n\r\n: c\n")
	f.Add("data")
	f.Fuzz(func(t *testing.T, in string) {
		evs, _ := readAll(t, in)
		for _, e := range evs {
			// Re-framing an event and reading it back yields the same data.
			back, err := readAll(t, string(AppendEvent(nil, "", e.Data)))
			if err != nil || len(back) != 1 || string(back[0].Data) != string(e.Data) {
				t.Fatalf("round trip of %q: got %+v %v", e.Data, back, err)
			}
		}
	})
}
