package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
)

type bufioReader struct{ *bufio.Reader }

func newBufioReader() *bufioReader { return &bufioReader{bufio.NewReaderSize(nil, 16<<10)} }

func findSummary(rep *Report, rate int) *RateSummary {
	for i := range rep.RateSummary {
		if rep.RateSummary[i].Rate == rate {
			return &rep.RateSummary[i]
		}
	}
	return nil
}

func verdicts(rep *Report, c config) []Verdict {
	var v []Verdict
	if s := rep.Sequential; s != nil {
		v = append(v,
			Verdict{"sequential overhead p50", fmt.Sprintf("≤ %d µs", targets.SeqP50.Microseconds()),
				fmt.Sprintf("%.0f µs", s.MedianP50), s.MedianP50 <= us(targets.SeqP50)},
			Verdict{"sequential overhead p99", fmt.Sprintf("≤ %d µs", targets.SeqP99.Microseconds()),
				fmt.Sprintf("%.0f µs", s.MedianP99), s.MedianP99 <= us(targets.SeqP99)})
	}
	if s := rep.TTFB; s != nil {
		v = append(v, Verdict{"streaming TTFB overhead p50", fmt.Sprintf("≤ %d µs", targets.TTFBP50.Microseconds()),
			fmt.Sprintf("%.0f µs", s.MedianP50), s.MedianP50 <= us(targets.TTFBP50)})
	}
	if len(rep.Ramp) > 0 {
		v = append(v, Verdict{"sustained rate on one core (p99 < " + c.p99Limit.String() + ", no errors)",
			fmt.Sprintf("≥ %d req/s", targets.MinRate), fmt.Sprintf("%d req/s", rep.MaxRate), rep.MaxRate >= targets.MinRate})
	}
	if s := findSummary(rep, c.cpuRate); s != nil {
		v = append(v, Verdict{fmt.Sprintf("gateway CPU per request at %d req/s", c.cpuRate), fmt.Sprintf("≤ %d µs", targets.CPUPerReq.Microseconds()),
			fmt.Sprintf("%.0f µs", s.CPUPerReqUs), s.CPUPerReqUs <= us(targets.CPUPerReq)})
	}
	if s := findSummary(rep, c.rssRate); s != nil {
		mib := float64(s.VmHWMKiB) / 1024
		v = append(v, Verdict{fmt.Sprintf("peak RSS (VmHWM) at %d req/s", c.rssRate), fmt.Sprintf("≤ %.0f MiB", targets.PeakRSSMiB),
			fmt.Sprintf("%.1f MiB", mib), mib <= targets.PeakRSSMiB})
	}
	if o := rep.Overload; o != nil {
		name := fmt.Sprintf("overload (%d req/s asked, %.0f/s sent)", o.Run.Rate, o.Run.SentRate)
		v = append(v, Verdict{name + ": RSS bounded", "RSS plateaus (last third ≤ ×1.1)",
			fmt.Sprintf("VmHWM %.1f MiB, last third ×%.2f", float64(o.Run.VmHWMKiB)/1024, o.RSSGrowth), o.RSSGrowth <= 1.1})
		// Shed rather than queued: no timeouts, only 503/429 besides 200,
		// and what is accepted is served within 1 s of being sent (a queue
		// of seconds is not shedding).
		met := o.Shed > 0 && o.Transport == 0 && o.OtherCodes == 0 && o.Run.OKRawP99us <= 1e6
		v = append(v, Verdict{name + ": excess shed, not queued", "only 200/503/429, no timeouts; 200s p99 ≤ 1 s after send",
			fmt.Sprintf("%d × 200, %d shed, %d transport errors, %d other; 200s p50/p99 %s / %s, 503s %s / %s after send",
				o.Run.OK, o.Shed, o.Transport, o.OtherCodes, fmtUs(o.Run.OKRawP50us), fmtUs(o.Run.OKRawP99us),
				fmtUs(o.Run.ShedRawP50us), fmtUs(o.Run.ShedRawP99us)), met})
	}
	return v
}

func fmtUs(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2f s", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1f ms", x/1e3)
	default:
		return fmt.Sprintf("%.0f µs", x)
	}
}

func mark(b bool) string {
	if b {
		return "met"
	}
	return "**not met**"
}

// Markdown renders the report as tables.
func (rep *Report) Markdown() string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	w("")
	w("| Measurement | Direct | Gateway | Overhead (gateway − direct) | other CPU (max) |")
	w("| --- | ---: | ---: | ---: | ---: |")
	closed := func(name string, s *ClosedResult) {
		if s == nil {
			return
		}
		other := 0.0
		for _, r := range s.Rounds {
			if !r.Noisy {
				other = max(other, r.Usage.OtherCPUPct)
			}
		}
		w("| %s p50 | %s | %s | **%s** (median of %d rounds; range %s … %s) | %.0f%% |", name, fmtUs(s.PooledDirect.P50us), fmtUs(s.PooledGateway.P50us),
			fmtUs(s.MedianP50), s.Clean, fmtUs(s.MinP50), fmtUs(s.MaxP50), other)
		w("| %s p99 | %s | %s | **%s** (median of %d rounds) | |", name, fmtUs(s.PooledDirect.P99us), fmtUs(s.PooledGateway.P99us),
			fmtUs(s.MedianP99), s.Clean)
	}
	closed("sequential non-streaming", rep.Sequential)
	closed("streaming TTFB (first byte)", rep.TTFB)
	if s := rep.FirstEvent; s != nil {
		w("| streaming first `data:` event p50 | %s | %s | %s | |", fmtUs(s.PooledDirect.P50us), fmtUs(s.PooledGateway.P50us), fmtUs(s.MedianP50))
	}
	for _, s := range rep.RateSummary {
		w("| %d req/s p50 / p99 | %s / %s | %s / %s | %s / %s (median of %d; errors: %d; gateway CPU %.0f µs/req (%.0f%% kernel), VmHWM %.1f MiB) | %.0f%% |", s.Rate,
			fmtUs(s.DirectP50us), fmtUs(s.DirectP99us), fmtUs(s.GatewayP50us), fmtUs(s.GatewayP99us),
			fmtUs(s.OverheadP50us), fmtUs(s.OverheadP99us), s.Rounds, s.Errors, s.CPUPerReqUs, 100*s.SysShare, float64(s.VmHWMKiB)/1024, s.OtherCPUMax)
	}
	if len(rep.Ramp) > 0 {
		w("")
		w("Ramp (gateway, one pinned core):")
		w("")
		rampTable(w, rep.Ramp)
	}
	if len(rep.GenCheck) > 0 {
		w("")
		w("Generator check (direct to the fake upstream, generator + upstream on core 0):")
		w("")
		rampTable(w, rep.GenCheck)
	}
	if o := rep.Overload; o != nil {
		codes := make([]string, 0, len(o.Run.Codes))
		for k, n := range o.Run.Codes {
			codes = append(codes, fmt.Sprintf("%s: %d", k, n))
		}
		slices.Sort(codes)
		w("")
		w("Overload: %d req/s asked for %.0f s; the generator sent %d (%.0f/s, at most %d outstanding) → codes {%s} (0 = transport error/timeout). "+
			"200s p50/p99 %s / %s after send (%s / %s after schedule), 503s p50/p99 %s / %s; VmHWM %.1f MiB, RSS growth over the last third ×%.2f, "+
			"RSS 2 s later %.1f MiB, peak in flight %d, gateway core %.0f%% busy.",
			o.Run.Rate, o.Run.Duration, o.Run.Sent, o.Run.SentRate, o.Run.PeakInFlight, strings.Join(codes, ", "),
			fmtUs(o.Run.OKRawP50us), fmtUs(o.Run.OKRawP99us), fmtUs(o.Run.OKP50us), fmtUs(o.Run.OKP99us),
			fmtUs(o.Run.ShedRawP50us), fmtUs(o.Run.ShedRawP99us),
			float64(o.Run.VmHWMKiB)/1024, o.RSSGrowth, float64(o.RSSAfterKiB)/1024, o.Run.PeakInFlight, o.Run.Usage.Core1BusyPct)
		if o.ProbeAfter != nil {
			w("Sequential probe 2 s after: p50 %s, p99 %s.", fmtUs(o.ProbeAfter.P50us), fmtUs(o.ProbeAfter.P99us))
		}
	}
	w("")
	w("| Target | Goal | Measured | |")
	w("| --- | --- | --- | --- |")
	for _, v := range rep.Verdicts {
		w("| %s | %s | %s | %s |", v.Name, v.Target, v.Measured, mark(v.Met))
	}
	return b.String()
}

func rampTable(w func(string, ...any), runs []RateResult) {
	w("| rate | pass | p50 | p99 | ok / sent | throughput | core 0 busy | core 1 (gateway) busy | other CPU |")
	w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range runs {
		pass := fmt.Sprint(r.Pass)
		if r.Noisy && !r.Pass {
			pass = "false (disturbed, not counted)"
		}
		w("| %d | %s | %s | %s | %d / %d | %.0f/s | %.0f%% | %.0f%% | %.0f%% |", r.Rate, pass, fmtUs(r.P50us), fmtUs(r.P99us),
			r.OK, r.Sent, r.Throughput, r.Usage.Core0BusyPct, r.Usage.Core1BusyPct, r.Usage.OtherCPUPct)
	}
}
