package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"time"
)

// newClient returns a keep-alive HTTP/1.1 client for one target.
func newClient(conns int, timeout time.Duration) (*http.Client, *http.Transport) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, tr
}

// target is one side of a comparison: the fake upstream directly, or the
// gateway in front of it.
type target struct {
	Name   string // "direct" or "gateway"
	URL    string // the chat completions URL
	Body   []byte // non-streaming request
	Stream []byte // streaming request
}

// callOnce sends one non-streaming chat and reads the whole response. The
// latency runs from before the request is written to the last body byte.
func callOnce(ctx context.Context, c *http.Client, t target) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: status %d", t.Name, resp.StatusCode)
	}
	return lat, nil
}

// streamOnce sends one streaming chat: ttfb is the time to the first
// response byte (status line), first the time to the first complete
// "data:" event, total the time to the end of the stream. It checks the
// stream ends with data: [DONE].
func streamOnce(ctx context.Context, c *http.Client, t target, br *bufio.Reader) (ttfb, first, total time.Duration, err error) {
	var gotFirst time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { gotFirst = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, t.URL, bytes.NewReader(t.Stream))
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, 0, 0, fmt.Errorf("%s stream: status %d", t.Name, resp.StatusCode)
	}
	br.Reset(resp.Body)
	var last []byte
	for {
		line, rerr := br.ReadSlice('\n')
		if first == 0 && bytes.HasPrefix(line, []byte("data:")) {
			first = time.Since(start)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			last = append(last[:0], line...)
		}
		if rerr == bufio.ErrBufferFull {
			continue
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, 0, rerr
		}
	}
	total = time.Since(start)
	if !bytes.Equal(bytes.TrimSpace(last), []byte("data: [DONE]")) {
		return 0, 0, 0, fmt.Errorf("%s stream: last line %q, want data: [DONE]", t.Name, last)
	}
	return gotFirst.Sub(start), first, total, nil
}

// SideStats summarises one side of one round, in microseconds.
type SideStats struct {
	N     int     `json:"n"`
	P50us float64 `json:"p50_us"`
	P90us float64 `json:"p90_us"`
	P99us float64 `json:"p99_us"`
	MaxUs float64 `json:"max_us"`
}

func stats(d []time.Duration) SideStats {
	s := slices.Clone(d)
	slices.Sort(s)
	return SideStats{N: len(s), P50us: us(pct(s, 0.50)), P90us: us(pct(s, 0.90)), P99us: us(pct(s, 0.99)), MaxUs: us(pct(s, 1))}
}

// pct is the nearest-rank percentile of sorted s.
func pct(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s))*q+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// RoundPair is one interleaved round: both sides, and gateway minus direct.
type RoundPair struct {
	Round     int       `json:"round"`
	First     string    `json:"first"` // which side ran first this round
	Direct    SideStats `json:"direct"`
	Gateway   SideStats `json:"gateway"`
	DiffP50us float64   `json:"overhead_p50_us"`
	DiffP99us float64   `json:"overhead_p99_us"`
	Usage     Usage     `json:"usage"`
	// Noisy: other work used ≥ NoiseLimit % of a core during the round; the
	// round is left out of the medians.
	Noisy bool `json:"noisy"`
}

// ClosedResult is a sequential (one request at a time) measurement.
type ClosedResult struct {
	Kind      string      `json:"kind"` // "sequential" or "ttfb" or "stream_first_event"
	PerRound  int         `json:"requests_per_side_per_round"`
	Rounds    []RoundPair `json:"rounds"`
	Clean     int         `json:"clean_rounds"` // rounds in the medians
	MedianP50 float64     `json:"median_overhead_p50_us"`
	MedianP99 float64     `json:"median_overhead_p99_us"`
	// MinP50/MaxP50 show the spread of the per-round p50 overheads.
	MinP50 float64 `json:"min_overhead_p50_us"`
	MaxP50 float64 `json:"max_overhead_p50_us"`
	// Pooled are percentiles over every round's samples of one side.
	PooledDirect  SideStats `json:"pooled_direct"`
	PooledGateway SideStats `json:"pooled_gateway"`
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// closedLoop runs rounds of n requests per side, alternating which side goes
// first, with a fresh warm keep-alive connection per side. measure returns
// the latencies to compare for one request (several kinds at once for
// streams: index 0 is the main one).
func closedLoop(ctx context.Context, kinds []string, direct, gateway target, rounds, n, warmup int,
	smp *sampler, measure func(*http.Client, target) ([]time.Duration, error)) ([]ClosedResult, error) {
	clients := map[string]*http.Client{}
	for _, t := range []target{direct, gateway} {
		c, tr := newClient(4, 30*time.Second)
		defer tr.CloseIdleConnections()
		clients[t.Name] = c
		for range warmup {
			if _, err := measure(c, t); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	out := make([]ClosedResult, len(kinds))
	pooled := make([]map[string][]time.Duration, len(kinds))
	for k := range kinds {
		out[k] = ClosedResult{Kind: kinds[k], PerRound: n}
		pooled[k] = map[string][]time.Duration{}
	}
	// A round disturbed by other work on the machine is kept (flagged) but
	// replaced by a new one, up to rounds extra rounds.
	clean, lastNoisy := 0, false
	for r := 0; clean < rounds && r < 2*rounds; r++ {
		if lastNoisy {
			smp.waitQuiet(ctx, 30*time.Second)
		}
		order := []target{direct, gateway}
		if r%2 == 1 {
			order = []target{gateway, direct}
		}
		smp.reset()
		samples := make([]map[string][]time.Duration, len(kinds))
		for k := range kinds {
			samples[k] = map[string][]time.Duration{}
		}
		for _, t := range order {
			for range n {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				lats, err := measure(clients[t.Name], t)
				if err != nil {
					return nil, err
				}
				for k := range kinds {
					samples[k][t.Name] = append(samples[k][t.Name], lats[k])
				}
			}
		}
		u := smp.usage()
		noisy := u.OtherCPUPct >= NoiseLimit
		lastNoisy = noisy
		if !noisy {
			clean++
		} else {
			logf("  round %d disturbed (other CPU %.0f%%): flagged, one more round", r+1, u.OtherCPUPct)
		}
		for k := range kinds {
			d, g := stats(samples[k]["direct"]), stats(samples[k]["gateway"])
			out[k].Rounds = append(out[k].Rounds, RoundPair{Round: r + 1, First: order[0].Name, Direct: d, Gateway: g,
				DiffP50us: g.P50us - d.P50us, DiffP99us: g.P99us - d.P99us, Usage: u, Noisy: noisy})
			if !noisy {
				pooled[k]["direct"] = append(pooled[k]["direct"], samples[k]["direct"]...)
				pooled[k]["gateway"] = append(pooled[k]["gateway"], samples[k]["gateway"]...)
			}
		}
	}
	for k := range out {
		var p50, p99 []float64
		for _, rp := range out[k].Rounds {
			if rp.Noisy && clean > 0 {
				continue
			}
			p50 = append(p50, rp.DiffP50us)
			p99 = append(p99, rp.DiffP99us)
		}
		out[k].Clean = len(p50)
		out[k].MedianP50, out[k].MedianP99 = median(p50), median(p99)
		out[k].MinP50, out[k].MaxP50 = slices.Min(p50), slices.Max(p50)
		out[k].PooledDirect, out[k].PooledGateway = stats(pooled[k]["direct"]), stats(pooled[k]["gateway"])
	}
	return out, nil
}
