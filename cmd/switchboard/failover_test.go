package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard/engine"
	"github.com/switchboard-ai/switchboard/fakeupstream"
	"github.com/switchboard-ai/switchboard/sbtest"
)

// TestFailoverUnderLoad puts two upstreams behind one model, drives it with
// 50 concurrent clients, kills one upstream mid-load, and checks that no
// client sees an error, that the dead deployment's breaker opens within its
// failure threshold and half-opens after its cooldown.
func TestFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped in -short")
	}
	a := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	b := sbtest.NewFakeUpstream(t, fakeupstream.Options{})
	const cooldown = 700 * time.Millisecond
	var tmu sync.Mutex
	var transitions []transition
	_, base := startGatewayWith(t, func(m *Main) {
		m.OnBreakerChange = func(provider, model, from, to string) {
			if provider == "a" {
				tmu.Lock()
				transitions = append(transitions, transition{to, time.Now()})
				tmu.Unlock()
			}
		}
	}, `
providers:
  a: {type: openai, base_url: `+a.OpenAIBaseURL()+`, breaker: {failures: 5, cooldown: `+cooldown.String()+`}, timeouts: {connect: 1s}}
  b: {type: openai, base_url: `+b.OpenAIBaseURL()+`, breaker: {failures: 5, cooldown: `+cooldown.String()+`}}
models:
  duo:
    strategy: weighted
    routes: [{provider: a, model: gpt-4o-mini}, {provider: b, model: gpt-4o-mini}]
`, "log.level=error")

	var ok, failed atomic.Int64
	var perSlot [40]atomic.Int64 // successes per 100 ms
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var firstErr atomic.Value
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(base+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"duo","messages":[{"role":"user","content":"steady load"}],"mock":{"latency":"2ms"}}`))
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, string(body))
					continue
				}
				ok.Add(1)
				if slot := int(time.Since(start) / (100 * time.Millisecond)); slot < len(perSlot) {
					perSlot[slot].Add(1)
				}
			}
		}()
	}
	time.Sleep(800 * time.Millisecond)
	aBefore := a.Requests()
	a.Kill()
	killedAt := time.Now()

	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	tmu.Lock()
	var openedAt, halfOpenAt time.Time
	for _, tr := range transitions {
		switch {
		case tr.to == engine.StateOpen && openedAt.IsZero():
			openedAt = tr.at
		case tr.to == engine.StateHalfOpen && !openedAt.IsZero() && halfOpenAt.IsZero():
			halfOpenAt = tr.at
		}
	}
	tmu.Unlock()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d client errors after killing one of two upstreams, want 0 (first: %v)", n, firstErr.Load())
	}
	if openedAt.IsZero() {
		t.Fatal("the dead upstream's breaker never opened")
	}
	if d := openedAt.Sub(killedAt); d > time.Second {
		t.Errorf("breaker opened %v after the kill", d)
	}
	if halfOpenAt.IsZero() {
		t.Error("the breaker never half-opened")
	} else if d := halfOpenAt.Sub(openedAt); d < cooldown-50*time.Millisecond || d > cooldown+500*time.Millisecond {
		t.Errorf("half-open %v after opening, want about the %v cooldown", d, cooldown)
	}
	var slots []int64
	for i := range perSlot {
		slots = append(slots, perSlot[i].Load())
	}
	t.Logf("%d ok, %d failed; a served %d before the kill; breaker open %v after the kill, half-open %v later; successes per 100ms: %v",
		ok.Load(), failed.Load(), aBefore, openedAt.Sub(killedAt).Round(time.Millisecond), halfOpenAt.Sub(openedAt).Round(time.Millisecond), slots)
}

type transition struct {
	to string
	at time.Time
}
