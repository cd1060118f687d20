package logbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriterKeepsLinesWholeAndFlushes(t *testing.T) {
	t.Parallel()
	var out syncBuf
	w := New(&out, 64, 20*time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				_, _ = w.Write([]byte("line-" + strings.Repeat("x", g) + "\n"))
			}
		}(g)
	}
	wg.Wait()
	deadline := time.Now().Add(time.Second)
	for strings.Count(out.String(), "\n") < 800 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := strings.Count(out.String(), "\n"); got != 800 {
		t.Fatalf("got %d lines after the periodic flush, want 800", got)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "line-") || strings.Trim(l[5:], "x") != "" {
			t.Fatalf("torn line %q", l)
		}
	}
	if _, err := w.Write([]byte("last\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "last\n") {
		t.Error("Close did not flush")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("write after Close succeeded")
	}
}
