package main

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// RateResult is one open-loop run at a constant rate against one target.
type RateResult struct {
	Target   string  `json:"target"`
	Rate     int     `json:"rate"`
	Duration float64 `json:"duration_s"`
	// Sent is the number of requests the pacer scheduled and sent; Expected
	// is rate × duration.
	Sent     int `json:"sent"`
	Expected int `json:"expected"`
	// Codes counts HTTP statuses ("0" is a transport error or timeout).
	Codes  map[string]int `json:"codes"`
	Errors map[string]int `json:"errors,omitempty"`
	OK     int            `json:"ok"`
	// Throughput is successful responses per second over the run.
	Throughput float64 `json:"throughput_rps"`
	// Latency percentiles (µs) of every request, measured from the time the
	// constant-rate schedule says it should have been sent (so a generator
	// or server that falls behind shows up as latency: no coordinated
	// omission), to the last byte of the response.
	P50us float64 `json:"p50_us"`
	P90us float64 `json:"p90_us"`
	P99us float64 `json:"p99_us"`
	MaxUs float64 `json:"max_us"`
	// RawP50us/RawP99us are vegeta's own latencies, from the moment a worker
	// actually started the request; MaxLagUs is the largest gap between the
	// schedule and that start (the generator's own lateness).
	RawP50us float64 `json:"raw_p50_us"`
	RawP99us float64 `json:"raw_p99_us"`
	MaxLagUs float64 `json:"max_lag_us"`
	// OKP50us/OKP99us cover the 2xx responses only (useful under overload),
	// from the schedule; OKRaw… from the actual send, i.e. the time the
	// server took. ShedRaw… are the same for 503/429 answers.
	OKP50us      float64 `json:"ok_p50_us"`
	OKP99us      float64 `json:"ok_p99_us"`
	OKRawP50us   float64 `json:"ok_raw_p50_us"`
	OKRawP99us   float64 `json:"ok_raw_p99_us"`
	ShedRawP50us float64 `json:"shed_raw_p50_us,omitempty"`
	ShedRawP99us float64 `json:"shed_raw_p99_us,omitempty"`
	// SentRate is requests actually sent per second: below Rate when the
	// generator could not keep up (or ran out of workers).
	SentRate float64 `json:"sent_rate_rps"`
	// PeakInFlight is the most requests outstanding at once (a lower bound
	// on the vegeta workers, hence connections, the run needed).
	PeakInFlight int `json:"peak_in_flight"`

	// Gateway process facts over the run (only when Target is "gateway").
	CPUPerReqUs float64 `json:"gateway_cpu_per_request_us,omitempty"`
	VmHWMKiB    int64   `json:"gateway_vmhwm_kib,omitempty"`
	MaxRSSKiB   int64   `json:"gateway_max_sampled_rss_kib,omitempty"`
	MaxThreads  int64   `json:"gateway_max_threads,omitempty"`
	// RSSTimelineKiB is VmRSS every 100 ms (overload run only).
	RSSTimelineKiB []int64 `json:"gateway_rss_timeline_kib,omitempty"`
	Usage          Usage   `json:"usage"`

	Pass bool `json:"pass"`
	// Noisy: other work used ≥ NoiseLimit % of a core during the run.
	Noisy bool `json:"noisy"`
	// KeptNoisy: noisy, but kept in the summary after two redos.
	KeptNoisy bool `json:"kept_noisy,omitempty"`
}

type sample struct {
	seq  uint64
	code uint16
	ts   time.Time
	lat  time.Duration
	err  string
}

// rateOpts tune runRate.
type rateOpts struct {
	limitP99   time.Duration // the pass criterion on p99
	timeout    time.Duration // per request
	maxWorkers int
	settle     time.Duration // wait after the attack before reading CPU (recorder flush)
	gatewayPID int           // 0: do not sample the gateway
	timeline   bool          // keep the RSS timeline
	// pools, when set, keeps one client per target across runs, so that a
	// run reuses the previous runs' kept-alive connections instead of
	// opening (and, at its end, closing into TIME_WAIT) its own: with
	// thousands of sockets in TIME_WAIT on 127.0.0.1, connect() gets slow
	// and shows up in the next runs' tails. Nil: a fresh client per run,
	// closed after it (the overload run).
	pools map[string]*http.Client
}

// client returns the HTTP client for target name.
func (o rateOpts) client(name string) *http.Client {
	if o.pools == nil {
		c, _ := newClient(o.maxWorkers, o.timeout)
		return c
	}
	c := o.pools[name]
	if c == nil {
		c, _ = newClient(o.maxWorkers, o.timeout)
		o.pools[name] = c
	}
	return c
}

// runRate sends t.Body to t.URL at rate requests per second for dur, with
// vegeta's constant pacer and on-demand workers.
func runRate(ctx context.Context, t target, rate int, dur time.Duration, o rateOpts, smp *sampler) RateResult {
	client := o.client(t.Name)
	// Enough workers up front for 20 ms of latency; vegeta starts more when
	// every worker is busy, up to maxWorkers.
	workers := max(32, rate/50)
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(uint64(min(workers, o.maxWorkers))),
		vegeta.MaxWorkers(uint64(o.maxWorkers)),
		vegeta.MaxBody(0), // read and discard the body without keeping it
		vegeta.Redirects(vegeta.NoFollow),
	)
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodPost, URL: t.URL, Body: t.Body, Header: hdr})

	var (
		stop       = make(chan struct{})
		samplerWG  sync.WaitGroup
		maxRSS     int64
		maxThreads int64
		timeline   []int64
	)
	if o.gatewayPID > 0 && t.Name == "gateway" {
		_ = resetHWM(o.gatewayPID)
		samplerWG.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				if v, err := procStatus(o.gatewayPID, "VmRSS"); err == nil {
					maxRSS = max(maxRSS, v)
					if o.timeline {
						timeline = append(timeline, v)
					}
				}
				if v, err := procStatus(o.gatewayPID, "Threads"); err == nil {
					maxThreads = max(maxThreads, v)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
	}
	smp.reset()
	samples := make([]sample, 0, int(float64(rate)*dur.Seconds())+16)
	t0 := time.Now() // vegeta's own start is a few µs later: a conservative origin
	res := atk.Attack(targeter, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, dur, t.Name)
	go func() {
		<-ctx.Done()
		atk.Stop()
	}()
	for r := range res {
		samples = append(samples, sample{seq: r.Seq, code: r.Code, ts: r.Timestamp, lat: r.Latency, err: r.Error})
	}
	if o.pools == nil {
		client.CloseIdleConnections()
	}
	u := smp.usage() // core shares over the attack itself
	// The gateway's CPU includes the recorder's flush of the last records.
	time.Sleep(o.settle)
	close(stop)
	samplerWG.Wait()
	gwCPU := smp.cpuSince(0)

	interval := time.Second / time.Duration(rate)
	out := RateResult{Target: t.Name, Rate: rate, Duration: dur.Seconds(), Sent: len(samples),
		Expected: int(float64(rate) * dur.Seconds()), Codes: map[string]int{}, Usage: u}
	var lats, raw, okLats, okRaw, shedRaw []time.Duration
	var maxLag time.Duration
	var lastEnd time.Time
	for _, s := range samples {
		sched := t0.Add(time.Duration(s.seq+1) * interval)
		end := s.ts.Add(s.lat)
		l := end.Sub(sched)
		lats = append(lats, l)
		raw = append(raw, s.lat)
		maxLag = max(maxLag, s.ts.Sub(sched))
		if end.After(lastEnd) {
			lastEnd = end
		}
		out.Codes[strconv.Itoa(int(s.code))]++
		if s.code >= 200 && s.code < 300 && s.err == "" {
			out.OK++
			okLats = append(okLats, l)
			okRaw = append(okRaw, s.lat)
		} else {
			if s.code == 503 || s.code == 429 {
				shedRaw = append(shedRaw, s.lat)
			}
			if out.Errors == nil {
				out.Errors = map[string]int{}
			}
			if len(out.Errors) < 8 || out.Errors[s.err] > 0 {
				out.Errors[s.err]++
			}
		}
	}
	slices.Sort(lats)
	slices.Sort(raw)
	slices.Sort(okLats)
	slices.Sort(okRaw)
	slices.Sort(shedRaw)
	out.OKRawP50us, out.OKRawP99us = us(pct(okRaw, .5)), us(pct(okRaw, .99))
	out.ShedRawP50us, out.ShedRawP99us = us(pct(shedRaw, .5)), us(pct(shedRaw, .99))
	out.P50us, out.P90us, out.P99us, out.MaxUs = us(pct(lats, .5)), us(pct(lats, .9)), us(pct(lats, .99)), us(pct(lats, 1))
	out.RawP50us, out.RawP99us = us(pct(raw, .5)), us(pct(raw, .99))
	out.OKP50us, out.OKP99us = us(pct(okLats, .5)), us(pct(okLats, .99))
	out.MaxLagUs = us(maxLag)
	out.SentRate = float64(out.Sent) / dur.Seconds()
	if span := lastEnd.Sub(t0); span > 0 {
		out.Throughput = float64(out.OK) / span.Seconds()
	}
	out.PeakInFlight = peakInFlight(samples)
	if o.gatewayPID > 0 && t.Name == "gateway" {
		if len(samples) > 0 {
			out.CPUPerReqUs = us(gwCPU) / float64(len(samples))
		}
		out.VmHWMKiB, _ = procStatus(o.gatewayPID, "VmHWM")
		out.MaxRSSKiB, out.MaxThreads, out.RSSTimelineKiB = maxRSS, maxThreads, timeline
	}
	out.Noisy = u.OtherCPUPct >= NoiseLimit
	out.Pass = out.OK == out.Sent && out.Sent >= out.Expected*99/100 && time.Duration(out.P99us*1e3) < o.limitP99
	return out
}

// peakInFlight is the most requests outstanding at once in the samples.
func peakInFlight(s []sample) int {
	type ev struct {
		t time.Time
		d int
	}
	evs := make([]ev, 0, 2*len(s))
	for _, x := range s {
		evs = append(evs, ev{x.ts, 1}, ev{x.ts.Add(x.lat), -1})
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].t.Equal(evs[j].t) {
			return evs[i].d < evs[j].d
		}
		return evs[i].t.Before(evs[j].t)
	})
	cur, peak := 0, 0
	for _, e := range evs {
		cur += e.d
		peak = max(peak, cur)
	}
	return peak
}
