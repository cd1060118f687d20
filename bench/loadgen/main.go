// Command loadgen measures Switchboard's overhead: it sends the same chat
// requests to the fake upstream directly and through the gateway, in
// interleaved rounds, and writes a JSON report and a markdown table.
//
// It is started by bench/run.sh, which builds and pins the processes; see
// bench/README.md. Sequential and TTFB measurements use a closed-loop
// keep-alive client (one request at a time); rate measurements use vegeta's
// constant (open-loop) pacer, with latency taken from each request's
// scheduled send time.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Targets are the goals; Report marks each met or not met.
var targets = struct {
	SeqP50, SeqP99, TTFBP50 time.Duration
	MinRate                 int
	CPUPerReq               time.Duration
	PeakRSSMiB              float64
}{160 * time.Microsecond, time.Millisecond, 250 * time.Microsecond, 4500, 185 * time.Microsecond, 80}

type config struct {
	direct, gateway           string // base URLs (http://host:port)
	directModel, gatewayModel string
	gatewayPID, upstreamPID   int
	words                     int
	rounds, seqN, ttfbN       int
	warmup                    int
	rates                     []int
	rateRounds                int
	duration                  time.Duration
	rampStart, rampStep       int
	rampMax                   int
	p99Limit                  time.Duration
	cpuRate, rssRate          int
	loadRate                  int
	rampWorkers               int
	overloadFactor            float64
	overloadDur               time.Duration
	maxWorkers                int
	phases                    map[string]bool
	out                       string
	meta                      string
	anyProxy                  bool
}

func main() {
	var c config
	var rates, phases string
	flag.StringVar(&c.direct, "direct", "", "fake upstream base URL, e.g. http://127.0.0.1:9000")
	flag.StringVar(&c.gateway, "gateway", "", "gateway base URL")
	flag.StringVar(&c.directModel, "direct-model", "mock-lorem", "model name sent to the upstream directly")
	flag.StringVar(&c.gatewayModel, "gateway-model", "bench", "model name sent to the gateway (routed to -direct-model)")
	flag.IntVar(&c.gatewayPID, "gateway-pid", 0, "gateway process id (CPU and RSS)")
	flag.IntVar(&c.upstreamPID, "upstream-pid", 0, "upstream process id (CPU accounting)")
	flag.IntVar(&c.words, "words", 16, "words per completion (mock option)")
	flag.IntVar(&c.rounds, "rounds", 7, "interleaved rounds for the sequential and TTFB measurements")
	flag.IntVar(&c.seqN, "seq-n", 2000, "sequential requests per side per round")
	flag.IntVar(&c.ttfbN, "ttfb-n", 1000, "streams per side per round")
	flag.IntVar(&c.warmup, "warmup", 300, "warm-up requests per side")
	flag.StringVar(&rates, "rates", "500,1000,2000", "fixed rates (req/s), comma-separated")
	flag.IntVar(&c.rateRounds, "rate-rounds", 2, "interleaved rounds per fixed rate")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "length of each rate run")
	flag.IntVar(&c.rampStart, "ramp-start", 3000, "first rate of the gateway ramp")
	flag.IntVar(&c.rampStep, "ramp-step", 500, "ramp step")
	flag.IntVar(&c.rampMax, "ramp-max", 12000, "ramp ceiling")
	flag.DurationVar(&c.p99Limit, "p99-limit", 50*time.Millisecond, "a rate is sustained when p99 is below this and nothing fails")
	flag.IntVar(&c.cpuRate, "cpu-rate", 1000, "rate whose gateway runs give CPU per request")
	flag.IntVar(&c.rssRate, "rss-rate", 2000, "rate whose gateway runs give peak RSS")
	flag.IntVar(&c.loadRate, "load-rate", 1000, "rate of the gwrate phase (bench/profile.sh)")
	flag.Float64Var(&c.overloadFactor, "overload-factor", 3, "overload rate as a multiple of the highest sustained rate")
	flag.DurationVar(&c.overloadDur, "overload-duration", 10*time.Second, "length of the overload run")
	flag.IntVar(&c.maxWorkers, "max-workers", 8000, "most concurrent requests (and connections) the generator opens in the overload run")
	flag.IntVar(&c.rampWorkers, "rate-workers", 1000, "most concurrent requests (and connections) in the fixed-rate and ramp runs")
	flag.StringVar(&phases, "phases", "seq,ttfb,rates,ramp,gencheck,overload", "phases to run")
	flag.StringVar(&c.out, "out", "", "write the JSON report here (default stdout)")
	flag.StringVar(&c.meta, "meta", "", "JSON object of run facts to embed (machine, command, …)")
	freePort := flag.Bool("free-port", false, "print a free TCP port on 127.0.0.1 and exit")
	relayMode := flag.String("relay", "", "run a floor proxy instead (tcp: byte relay; http: minimal net/http proxy) on -listen, forwarding to -relay-upstream")
	relayListen := flag.String("listen", "127.0.0.1:0", "address of the -relay proxy")
	relayUpstream := flag.String("relay-upstream", "", "upstream host:port of the -relay proxy")
	flag.BoolVar(&c.anyProxy, "any-proxy", false, "the -gateway is not Switchboard (a -relay floor): skip the check for its headers")
	calibrate := flag.Bool("calibrate", false, "print the milliseconds a fixed CPU-bound workload takes (SHA-256 of 64 MiB) and exit")
	flag.Parse()
	if *calibrate {
		buf := make([]byte, 64<<20)
		start := time.Now()
		sum := sha256.Sum256(buf)
		fmt.Printf("%.0f\n", ms(time.Since(start))+float64(sum[0]&0))
		return
	}
	if *relayMode != "" {
		if err := relay(*relayMode, *relayListen, *relayUpstream); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	if *freePort {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		return
	}
	if c.direct == "" || c.gateway == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -direct and -gateway are required")
		os.Exit(2)
	}
	for _, s := range strings.Split(rates, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "loadgen: bad rate %q\n", s)
			os.Exit(2)
		}
		c.rates = append(c.rates, n)
	}
	c.phases = map[string]bool{}
	for _, p := range strings.Split(phases, ",") {
		c.phases[strings.TrimSpace(p)] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if c.out == "" {
		os.Stdout.Write(append(b, '\n'))
	} else if err := os.WriteFile(c.out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	fmt.Print(rep.Markdown())
}

// twLimit is the number of TIME_WAIT sockets above which a rate run first
// waits for them to expire (about 30 % of Linux's default ephemeral range).
const twLimit = 8000

// Report is the whole JSON output.
type Report struct {
	Meta     json.RawMessage `json:"meta,omitempty"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	LoadGen  map[string]any  `json:"loadgen"`

	Sequential *ClosedResult `json:"sequential,omitempty"`
	TTFB       *ClosedResult `json:"ttfb,omitempty"`
	FirstEvent *ClosedResult `json:"stream_first_event,omitempty"`
	StreamEnd  *ClosedResult `json:"stream_total,omitempty"`

	Rates       []RateResult  `json:"rates,omitempty"`
	RateSummary []RateSummary `json:"rate_summary,omitempty"`
	Ramp        []RateResult  `json:"ramp,omitempty"`
	MaxRate     int           `json:"max_sustained_rate"`
	GenCheck    []RateResult  `json:"generator_check,omitempty"`
	// DirectMaxRate is the highest rate the generator check sustained
	// straight to the upstream (0: none, or not run).
	DirectMaxRate int                `json:"direct_max_sustained_rate"`
	Overload      *Overload          `json:"overload,omitempty"`
	Metrics       map[string]float64 `json:"gateway_metrics_at_end,omitempty"`

	Verdicts []Verdict `json:"targets"`
}

// RateSummary is the median over rounds at one fixed rate.
type RateSummary struct {
	Rate          int     `json:"rate"`
	DirectP50us   float64 `json:"direct_p50_us"`
	DirectP99us   float64 `json:"direct_p99_us"`
	GatewayP50us  float64 `json:"gateway_p50_us"`
	GatewayP99us  float64 `json:"gateway_p99_us"`
	OverheadP50us float64 `json:"overhead_p50_us"`
	OverheadP99us float64 `json:"overhead_p99_us"`
	CPUPerReqUs   float64 `json:"gateway_cpu_per_request_us"`
	VmHWMKiB      int64   `json:"gateway_vmhwm_kib_max"`
	Errors        int     `json:"errors"`
	Rounds        int     `json:"rounds"`
	OtherCPUMax   float64 `json:"other_cpu_pct_max"`
	// SysShare is the kernel's share of the gateway's CPU (median).
	SysShare float64 `json:"gateway_sys_share"`
}

// Overload is the run at a multiple of the sustained rate.
type Overload struct {
	Run RateResult `json:"run"`
	// Shed is the number of 503 and 429 answers; Timeouts transport errors.
	Shed       int `json:"shed"`
	Transport  int `json:"transport_errors"`
	OtherCodes int `json:"other_non_2xx"`
	// RSSGrowth is the largest RSS in the last third of the run over the
	// largest in the first two thirds (≤ 1.1: a plateau).
	RSSGrowth float64 `json:"rss_growth_last_third"`
	// After: 2 s after the run, RSS and a sequential probe.
	RSSAfterKiB    int64      `json:"rss_after_kib"`
	ProbeAfter     *SideStats `json:"sequential_probe_after,omitempty"`
	ShedMetricDiff float64    `json:"shed_metric_delta"`
}

// Verdict is one target, met or not.
type Verdict struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func chatBody(model string, words int, stream bool) []byte {
	s := ""
	if stream {
		s = `"stream":true,"stream_options":{"include_usage":true},`
	}
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"system","content":"You are a helpful assistant."},`+
		`{"role":"user","content":"Write one sentence about the sea."}],%s"max_tokens":64,"mock":{"words":%d}}`, model, s, words)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func run(ctx context.Context, c config) (*Report, error) {
	rep := &Report{Started: time.Now().UTC(), LoadGen: map[string]any{
		"go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0), "pacer": "vegeta v12.13.0 ConstantPacer, on-demand workers",
		"max_workers_overload": c.maxWorkers, "max_workers_rates": min(c.rampWorkers, c.maxWorkers), "words": c.words,
	}}
	if c.meta != "" {
		rep.Meta = json.RawMessage(c.meta)
	}
	direct := target{Name: "direct", URL: c.direct + "/v1/chat/completions",
		Body: chatBody(c.directModel, c.words, false), Stream: chatBody(c.directModel, c.words, true)}
	gateway := target{Name: "gateway", URL: c.gateway + "/v1/chat/completions",
		Body: chatBody(c.gatewayModel, c.words, false), Stream: chatBody(c.gatewayModel, c.words, true)}
	smp := newSampler(c.gatewayPID, c.upstreamPID)
	if err := sanity(ctx, direct, gateway, c.anyProxy); err != nil {
		return nil, err
	}
	shed0 := scrape(c.gateway)["switchboard_shed_requests_total"]

	if c.phases["seq"] {
		smp.waitQuiet(ctx, 60*time.Second)
		logf("sequential: %d rounds × %d requests per side", c.rounds, c.seqN)
		res, err := closedLoop(ctx, []string{"sequential"}, direct, gateway, c.rounds, c.seqN, c.warmup, smp,
			func(cl *http.Client, t target) ([]time.Duration, error) {
				d, err := callOnce(ctx, cl, t)
				return []time.Duration{d}, err
			})
		if err != nil {
			return nil, fmt.Errorf("sequential: %w", err)
		}
		rep.Sequential = &res[0]
		logf("  overhead p50 %.0f µs, p99 %.0f µs (median of rounds)", res[0].MedianP50, res[0].MedianP99)
	}
	if c.phases["ttfb"] {
		logf("streaming TTFB: %d rounds × %d streams per side", c.rounds, c.ttfbN)
		brs := map[string]*bufioReader{}
		res, err := closedLoop(ctx, []string{"ttfb", "stream_first_event", "stream_total"}, direct, gateway, c.rounds, c.ttfbN, c.warmup/2, smp,
			func(cl *http.Client, t target) ([]time.Duration, error) {
				br := brs[t.Name]
				if br == nil {
					br = newBufioReader()
					brs[t.Name] = br
				}
				a, b, d, err := streamOnce(ctx, cl, t, br.Reader)
				return []time.Duration{a, b, d}, err
			})
		if err != nil {
			return nil, fmt.Errorf("ttfb: %w", err)
		}
		rep.TTFB, rep.FirstEvent, rep.StreamEnd = &res[0], &res[1], &res[2]
		logf("  TTFB overhead p50 %.0f µs; first event %.0f µs", res[0].MedianP50, res[1].MedianP50)
	}

	// Rate and ramp runs need at most rate × 50 ms outstanding requests to
	// pass; capping the workers at rampWorkers bounds the connections (and
	// TIME_WAIT sockets) a failing step opens. The overload run uses maxWorkers.
	ro := rateOpts{limitP99: c.p99Limit, timeout: 10 * time.Second, maxWorkers: min(c.rampWorkers, c.maxWorkers),
		settle: 600 * time.Millisecond, gatewayPID: c.gatewayPID, pools: map[string]*http.Client{}}
	defer func() {
		for _, cl := range ro.pools {
			cl.CloseIdleConnections()
		}
	}()
	if c.phases["rates"] || c.phases["ramp"] {
		logf("warm-up: 2 s at 500 req/s per side")
		for _, t := range []target{direct, gateway} {
			runRate(ctx, t, 500, 2*time.Second, ro, smp)
		}
	}
	if c.phases["rates"] {
		for _, rate := range c.rates {
			for r := range c.rateRounds {
				order := []target{direct, gateway}
				if r%2 == 1 {
					order = []target{gateway, direct}
				}
				// A pair disturbed by other work is kept (flagged) and redone,
				// at most twice.
				for attempt := 0; attempt < 3; attempt++ {
					noisy := false
					for _, t := range order {
						if ctx.Err() != nil {
							return nil, ctx.Err()
						}
						res := runRate(ctx, t, rate, c.duration, ro, smp)
						rep.Rates = append(rep.Rates, res)
						noisy = noisy || res.Noisy
						logf("  rate %5d %-7s round %d: p50 %7.0f µs  p99 %8.0f µs  ok %d/%d  cpu/req %.0f µs  hwm %d KiB  other %.0f%%",
							rate, t.Name, r+1, res.P50us, res.P99us, res.OK, res.Sent, res.CPUPerReqUs, res.VmHWMKiB, res.Usage.OtherCPUPct)
					}
					if !noisy {
						break
					}
					// The pair is compared as a whole: flag both sides.
					rep.Rates[len(rep.Rates)-1].Noisy, rep.Rates[len(rep.Rates)-2].Noisy = true, true
					if attempt < 2 {
						logf("  round disturbed by other work: redone")
						smp.waitQuiet(ctx, 60*time.Second)
					} else {
						// Keep the last pair in the summary even though it is noisy.
						for i := len(rep.Rates) - 2; i < len(rep.Rates); i++ {
							rep.Rates[i].Noisy = false
							rep.Rates[i].KeptNoisy = true
						}
					}
				}
			}
		}
		rep.RateSummary = summarize(rep.Rates, c.rates)
	}
	if c.phases["ramp"] {
		logf("ramp: gateway from %d by %d req/s, %s each, until p99 ≥ %s or errors (each failure retried once)", c.rampStart, c.rampStep, c.duration, c.p99Limit)
		waitTimeWait(ctx, twLimit)
		rep.Ramp, rep.MaxRate = ramp(ctx, gateway, c.rampStart, c.rampStep, c.rampMax, c.duration, ro, smp)
	}
	if c.phases["gencheck"] {
		// The same ramp straight to the upstream, from the gateway's highest
		// sustained rate up: the generator and the upstream share core 0, so
		// this is the ceiling of the test bed itself.
		start := c.rampStart
		if rep.MaxRate > 0 {
			start = rep.MaxRate
		}
		ceiling := c.rampMax
		if rep.MaxRate > 0 {
			ceiling = max(2*rep.MaxRate, start+2*c.rampStep)
		}
		logf("generator check: direct from %d by %d req/s (up to %d)", start, c.rampStep, ceiling)
		waitTimeWait(ctx, twLimit)
		rep.GenCheck, rep.DirectMaxRate = ramp(ctx, direct, start, c.rampStep, ceiling, c.duration, ro, smp)
	}
	// Gateway-only load for bench/profile.sh: closed-loop or at one rate, for -duration.
	if c.phases["gwseq"] {
		logf("gateway only, sequential, for %s", c.duration)
		cl, tr := newClient(2, 10*time.Second)
		var lat []time.Duration
		for end := time.Now().Add(c.duration); time.Now().Before(end) && ctx.Err() == nil; {
			d, err := callOnce(ctx, cl, gateway)
			if err != nil {
				return nil, err
			}
			lat = append(lat, d)
		}
		tr.CloseIdleConnections()
		s := stats(lat)
		logf("  %d requests, p50 %.0f µs, p99 %.0f µs", s.N, s.P50us, s.P99us)
	}
	if c.phases["gwrate"] {
		logf("gateway only, %d req/s for %s", c.loadRate, c.duration)
		res := runRate(ctx, gateway, c.loadRate, c.duration, ro, smp)
		logf("  ok %d/%d, p50 %.0f µs, p99 %.0f µs, CPU/req %.0f µs", res.OK, res.Sent, res.P50us, res.P99us, res.CPUPerReqUs)
	}
	if c.phases["overload"] && ctx.Err() == nil {
		base := rep.MaxRate
		if base == 0 {
			base = targets.MinRate
		}
		rate := int(float64(base) * c.overloadFactor)
		logf("overload: gateway at %d req/s (%.1f× %d) for %s", rate, c.overloadFactor, base, c.overloadDur)
		time.Sleep(2 * time.Second)
		waitTimeWait(ctx, twLimit)
		smp.waitQuiet(ctx, 60*time.Second)
		o := ro
		o.maxWorkers = c.maxWorkers
		o.timeline = true
		o.pools = nil // its own connections, closed at its end
		for _, cl := range ro.pools {
			cl.CloseIdleConnections() // the gateway sees only the overload's connections
		}
		res := runRate(ctx, gateway, rate, c.overloadDur, o, smp)
		ov := &Overload{Run: res}
		for code, n := range res.Codes {
			switch code {
			case "200":
			case "503", "429":
				ov.Shed += n
			case "0":
				ov.Transport += n
			default:
				ov.OtherCodes += n
			}
		}
		if tl := res.RSSTimelineKiB; len(tl) >= 3 {
			cut := len(tl) * 2 / 3
			ov.RSSGrowth = float64(slices.Max(tl[cut:])) / float64(slices.Max(tl[:cut]))
		}
		time.Sleep(2 * time.Second)
		ov.RSSAfterKiB, _ = procStatus(c.gatewayPID, "VmRSS")
		cl, tr := newClient(2, 10*time.Second)
		var probe []time.Duration
		for range 300 {
			if d, err := callOnce(ctx, cl, gateway); err == nil {
				probe = append(probe, d)
			}
		}
		tr.CloseIdleConnections()
		if len(probe) > 0 {
			s := stats(probe)
			ov.ProbeAfter = &s
		}
		ov.ShedMetricDiff = scrape(c.gateway)["switchboard_shed_requests_total"] - shed0
		rep.Overload = ov
		logf("  codes %v  ok p99 %.0f µs  hwm %d KiB  rss growth %.2f  rss after %d KiB", res.Codes, res.OKP99us, res.VmHWMKiB, ov.RSSGrowth, ov.RSSAfterKiB)
	}
	time.Sleep(500 * time.Millisecond)
	rep.Metrics = scrape(c.gateway)
	rep.Finished = time.Now().UTC()
	rep.Verdicts = verdicts(rep, c)
	return rep, nil
}

// sanity checks both sides answer, and that the gateway proxies.
func sanity(ctx context.Context, direct, gateway target, anyProxy bool) error {
	cl, tr := newClient(2, 10*time.Second)
	defer tr.CloseIdleConnections()
	br := newBufioReader()
	for _, t := range []target{direct, gateway} {
		if _, err := callOnce(ctx, cl, t); err != nil {
			return fmt.Errorf("sanity: %w", err)
		}
		if _, _, _, err := streamOnce(ctx, cl, t, br.Reader); err != nil {
			return fmt.Errorf("sanity: %w", err)
		}
	}
	resp, err := cl.Post(gateway.URL, "application/json", strings.NewReader(string(gateway.Body)))
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if (!anyProxy && resp.Header.Get("X-Switchboard-Inference-Id") == "") || !strings.Contains(string(b), `"choices"`) {
		return fmt.Errorf("sanity: the gateway did not answer a proxied completion: %s", b)
	}
	return nil
}

// scrape reads the gateway's unlabelled and summed switchboard_* metrics.
func scrape(base string) map[string]float64 {
	out := map[string]float64{}
	cl, tr := newClient(1, 5*time.Second)
	defer tr.CloseIdleConnections()
	resp, err := cl.Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "switchboard_") && !strings.HasPrefix(line, "go_") && !strings.HasPrefix(line, "process_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			if strings.Contains(name, "_bucket") {
				continue
			}
			name = name[:j]
		}
		out[name] += v
	}
	return out
}

func summarize(all []RateResult, rates []int) []RateSummary {
	var out []RateSummary
	for _, rate := range rates {
		var d, g []RateResult
		for _, r := range all {
			if r.Rate != rate || r.Noisy {
				continue
			}
			if r.Target == "direct" {
				d = append(d, r)
			} else {
				g = append(g, r)
			}
		}
		s := RateSummary{Rate: rate, Rounds: min(len(d), len(g))}
		var dp50, dp99, gp50, gp99, o50, o99, cpu, sys []float64
		for i := range s.Rounds {
			dp50, dp99 = append(dp50, d[i].P50us), append(dp99, d[i].P99us)
			gp50, gp99 = append(gp50, g[i].P50us), append(gp99, g[i].P99us)
			o50, o99 = append(o50, g[i].P50us-d[i].P50us), append(o99, g[i].P99us-d[i].P99us)
			cpu = append(cpu, g[i].CPUPerReqUs)
			if g[i].Usage.GatewayCPUms > 0 {
				sys = append(sys, g[i].Usage.GatewaySysMs/g[i].Usage.GatewayCPUms)
			}
			s.VmHWMKiB = max(s.VmHWMKiB, g[i].VmHWMKiB)
			s.OtherCPUMax = max(s.OtherCPUMax, d[i].Usage.OtherCPUPct, g[i].Usage.OtherCPUPct)
			s.Errors += d[i].Sent - d[i].OK + g[i].Sent - g[i].OK
		}
		s.DirectP50us, s.DirectP99us, s.GatewayP50us, s.GatewayP99us = median(dp50), median(dp99), median(gp50), median(gp99)
		s.OverheadP50us, s.OverheadP99us, s.CPUPerReqUs, s.SysShare = median(o50), median(o99), median(cpu), median(sys)
		out = append(out, s)
	}
	return out
}

// ramp runs t at start, start+step, … up to ceiling and stops at the first
// rate that fails twice in a row; it returns every run and the highest rate
// that passed.
func ramp(ctx context.Context, t target, start, step, ceiling int, dur time.Duration, ro rateOpts, smp *sampler) ([]RateResult, int) {
	smp.waitQuiet(ctx, 60*time.Second)
	var runs []RateResult
	best := 0
	for rate := start; rate <= ceiling && ctx.Err() == nil; rate += step {
		var res RateResult
		noisyRetries := 0
		for try := 0; try < 2; try++ {
			if try > 0 {
				time.Sleep(2 * time.Second)
				waitTimeWait(ctx, twLimit)
			}
			res = runRate(ctx, t, rate, dur, ro, smp)
			if !res.Pass && res.Noisy && noisyRetries < 3 {
				// Disturbed by other work: does not count as a try.
				runs = append(runs, res)
				logf("  %s %5d: failed while other work used %.0f%% of a core: not counted, redone", t.Name, rate, res.Usage.OtherCPUPct)
				noisyRetries++
				try--
				smp.waitQuiet(ctx, 60*time.Second)
				continue
			}
			runs = append(runs, res)
			logf("  %s %5d%s: pass %-5v p50 %7.0f µs  p99 %9.0f µs  ok %d/%d  thr %.0f/s  core0 %.0f%% core1 %.0f%%  other %.0f%%",
				t.Name, rate, map[bool]string{true: " (retry)"}[try > 0], res.Pass, res.P50us, res.P99us, res.OK, res.Sent, res.Throughput,
				res.Usage.Core0BusyPct, res.Usage.Core1BusyPct, res.Usage.OtherCPUPct)
			if res.Pass {
				break
			}
		}
		if !res.Pass {
			break
		}
		best = rate
		time.Sleep(time.Second)
	}
	return runs, best
}
