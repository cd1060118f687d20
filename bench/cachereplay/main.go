// Command cachereplay replays a chat workload with a known share of repeated
// requests through a gateway with the response cache on, and reports how
// many upstream calls and dollars the cache removed. bench/cache.sh runs it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "", "gateway base URL")
	n := flag.Int("n", 5000, "requests")
	repeat := flag.Float64("repeat", 0.7, "share of requests that repeat an earlier one")
	pool := flag.Int("pool", 200, "distinct repeated questions")
	clients := flag.Int("clients", 16, "concurrent clients")
	flag.Parse()

	rng := rand.New(rand.NewPCG(1, 2))
	bodies := make([]string, *n)
	for i := range bodies {
		q := fmt.Sprintf("unique question number %d about the sea", i)
		if rng.Float64() < *repeat {
			q = fmt.Sprintf("popular question %d about the sea", rng.IntN(*pool))
		}
		bodies[i] = `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"` + q + `"}]}`
	}
	var (
		mu      sync.Mutex
		hitLat  []time.Duration
		missLat []time.Duration
		results = map[string]int{}
	)
	work := make(chan string)
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				start := time.Now()
				resp, err := client.Post(*base+"/v1/chat/completions", "application/json", strings.NewReader(b))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				r := resp.Header.Get("X-Switchboard-Cache")
				mu.Lock()
				results[r]++
				if r == "hit" {
					hitLat = append(hitLat, d)
				} else {
					missLat = append(missLat, d)
				}
				mu.Unlock()
			}
		}()
	}
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // let the inference records reach the store
	resp, err := http.Get(*base + "/admin/v1/cache/stats?since=1h")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var st struct {
		Usage []struct {
			Cache    string  `json:"cache"`
			Requests int     `json:"requests"`
			CostUSD  float64 `json:"cost_usd"`
			SavedUSD float64 `json:"saved_usd"`
		} `json:"usage"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &st)
	var cost, saved float64
	for _, u := range st.Usage {
		cost += u.CostUSD
		saved += u.SavedUSD
	}
	p := func(d []time.Duration, q float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[int(q*float64(len(d)-1))]
	}
	out := map[string]any{
		"requests": *n, "repeat_share": *repeat, "results": results,
		"upstream_calls": results["miss"] + results["bypass"], "upstream_calls_avoided_share": float64(results["hit"]) / float64(*n),
		"cost_usd": cost, "saved_usd": saved, "spend_reduction_share": saved / (cost + saved),
		"hit_latency_p50_us": p(hitLat, 0.5).Microseconds(), "hit_latency_p99_us": p(hitLat, 0.99).Microseconds(),
		"miss_latency_p50_us": p(missLat, 0.5).Microseconds(),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	os.Stdout.Write(buf.Bytes())
}
