package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// TestMain lets a test run this test binary as the real program: with
// SWITCHBOARD_TEST_EXEC_MAIN=1 it is `switchboard` itself.
func TestMain(m *testing.M) {
	if os.Getenv("SWITCHBOARD_TEST_EXEC_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

var listenRE = regexp.MustCompile(`addr=http://(\S+)`)

// TestSIGTERMUnderLoadLosesNothing starts the real process, drives it with
// concurrent clients (plain and streaming), sends SIGTERM in the middle, and
// checks that it exits 0 and that every response a client received is in
// the database exactly once.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process under load: skipped in -short")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "sb.db")
	cmd := exec.Command(os.Args[0], "serve", "--set", "server.listen=127.0.0.1:0", "--set", "storage.dsn="+db,
		"--set", "server.shutdown_grace=10s", "--set", "recorder.batch_size=50", "--set", "recorder.flush_interval=1s")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_EXEC_MAIN=1", "OPENAI_API_KEY=", "ANTHROPIC_API_KEY=", "OLLAMA_HOST=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addrCh := make(chan string, 1)
	var logs strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			logs.WriteString(line + "\n")
			logMu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "listening") {
				addrCh <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}

	var (
		mu       sync.Mutex
		received = map[string]bool{}
		sent     atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 20 * time.Second}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := `{"model":"mock-echo","messages":[{"role":"user","content":"one two three"}]}`
				if (w+i)%3 == 0 {
					body = `{"model":"mock-echo","stream":true,"messages":[{"role":"user","content":"a b c d e"}],"mock":{"chunk_delay":"20ms"}}`
				}
				sent.Add(1)
				resp, err := client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					continue // refused once shutdown started: never answered, never recorded
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					continue
				}
				if strings.Contains(body, `"stream":true`) && !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
					t.Errorf("stream cut during graceful shutdown: %q", b)
					continue
				}
				mu.Lock()
				received[resp.Header.Get("X-Switchboard-Inference-Id")] = true
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			logMu.Lock()
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit within 30s of SIGTERM")
	}
	close(stop)
	wg.Wait()

	ctx := context.Background()
	st, err := sqlite.New(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListInferences(ctx, switchboard.InferenceFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range recs {
		if ids[r.ID] {
			t.Errorf("record %s stored twice", r.ID)
		}
		ids[r.ID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) < 100 {
		t.Fatalf("only %d responses before shutdown: the load did not run", len(received))
	}
	missing := 0
	for id := range received {
		if !ids[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d answered inferences are not in the database", missing, len(received))
	}
	t.Logf("sent %d requests, %d answered with 200, %d records stored, 0 lost", sent.Load(), len(received), len(recs))
}
