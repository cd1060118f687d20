// Command failover drives a gateway with concurrent clients, kills one
// upstream process mid-load, and reports client errors, the throughput dip
// and the recovery time. bench/failover.sh runs it; see bench/README.md.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "", "gateway chat completions URL")
	model := flag.String("model", "duo", "model name")
	clients := flag.Int("clients", 50, "concurrent clients")
	duration := flag.Duration("duration", 12*time.Second, "length of the run")
	killAt := flag.Duration("kill-at", 4*time.Second, "when to kill the upstream")
	killPID := flag.Int("kill-pid", 0, "PID of the upstream to SIGKILL")
	slot := flag.Duration("slot", 100*time.Millisecond, "throughput bucket")
	flag.Parse()

	body := []byte(`{"model":"` + *model + `","messages":[{"role":"user","content":"steady load"}]}`)
	nSlots := int(*duration / *slot)
	okPerSlot := make([]atomic.Int64, nSlots)
	errPerSlot := make([]atomic.Int64, nSlots)
	var errs sync.Map
	start := time.Now()
	deadline := start.Add(*duration)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients * 2}, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := client.Post(*url, "application/json", bytes.NewReader(body))
				s := int(time.Since(start) / *slot)
				if s >= nSlots {
					return
				}
				if err != nil {
					errPerSlot[s].Add(1)
					errs.Store(err.Error(), true)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errPerSlot[s].Add(1)
					errs.Store(fmt.Sprintf("%d %s", resp.StatusCode, b), true)
					continue
				}
				okPerSlot[s].Add(1)
			}
		}()
	}
	killSlot := int(*killAt / *slot)
	time.Sleep(time.Until(start.Add(*killAt)))
	if *killPID > 0 {
		_ = syscall.Kill(*killPID, syscall.SIGKILL)
	}
	wg.Wait()

	var before float64
	for i := killSlot / 2; i < killSlot; i++ { // steady state: the second half before the kill
		before += float64(okPerSlot[i].Load())
	}
	before /= float64(killSlot - killSlot/2)
	minAfter, recovered := before, time.Duration(-1)
	var totalOK, totalErr int64
	perSlot := make([]int64, nSlots)
	for i := range okPerSlot {
		perSlot[i] = okPerSlot[i].Load()
		totalOK += perSlot[i]
		totalErr += errPerSlot[i].Load()
	}
	for i := killSlot; i < nSlots-1; i++ {
		v := float64(perSlot[i])
		minAfter = min(minAfter, v)
		if recovered < 0 && i > killSlot && v >= 0.9*before && float64(perSlot[i+1]) >= 0.9*before {
			recovered = time.Duration(i-killSlot) * *slot
		}
	}
	var errList []string
	errs.Range(func(k, _ any) bool { errList = append(errList, k.(string)); return len(errList) < 5 })
	out := map[string]any{
		"clients": *clients, "duration_s": duration.Seconds(), "kill_at_s": killAt.Seconds(),
		"requests_ok": totalOK, "client_errors": totalErr, "errors_sample": errList,
		"throughput_before_per_s": before / slot.Seconds(), "throughput_min_after_per_s": minAfter / slot.Seconds(),
		"recovery_ms": recovered.Milliseconds(), "ok_per_slot": perSlot, "slot_ms": slot.Milliseconds(),
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
