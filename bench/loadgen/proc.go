package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat and of
// /proc/stat. It is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU returns utime+stime of a process (every thread) from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	u, s, err := procUserSys(pid)
	return u + s, err
}

// procUserSys returns utime and stime of a process from /proc/PID/stat.
func procUserSys(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may contain spaces; fields restart after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state is field 3, so utime (14) and stime (15) are f[11], f[12].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut) * clockTick, time.Duration(st) * clockTick, nil
}

// procStatus returns a field of /proc/PID/status in KiB (VmRSS, VmHWM) or as
// a plain number (Threads).
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		v := strings.Fields(rest)
		if len(v) == 0 {
			break
		}
		return strconv.ParseInt(v[0], 10, 64)
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// resetHWM resets VmHWM (peak RSS) to the current RSS (Linux ≥ 4.0).
func resetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// cpuBusy returns busy time (everything but idle and iowait) per CPU, from
// /proc/stat, indexed by CPU number.
func cpuBusy() (map[int]time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	out := map[int]time.Duration{}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var busy int64
		for i, s := range f[1:] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			if i >= 8 { // guest, guest_nice are already in user, nice
				break
			}
			v, _ := strconv.ParseInt(s, 10, 64)
			busy += v
		}
		out[n] = time.Duration(busy) * clockTick
	}
	return out, nil
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// sampler tracks CPU use by our three processes and by everything else, per
// core, over one measurement.
type sampler struct {
	pids  [3]int // gateway, upstream, loadgen
	start time.Time
	cpu   [3]time.Duration
	gwSys time.Duration
	busy  map[int]time.Duration
	load  [3]float64
}

// Usage is what a sampler measured over one run.
type Usage struct {
	// GatewayCPUms, UpstreamCPUms and LoadgenCPUms are utime+stime over the run.
	GatewayCPUms  float64 `json:"gateway_cpu_ms"`
	GatewaySysMs  float64 `json:"gateway_sys_ms"` // the kernel's part of GatewayCPUms
	UpstreamCPUms float64 `json:"upstream_cpu_ms"`
	LoadgenCPUms  float64 `json:"loadgen_cpu_ms"`
	// OtherCPUPct is CPU used by other processes (and the kernel outside
	// our processes' accounting) during the run, in % of one core: a noise
	// indicator. Core0/Core1 are each core's busy share in %.
	OtherCPUPct  float64 `json:"other_cpu_pct"`
	Core0BusyPct float64 `json:"core0_busy_pct"`
	Core1BusyPct float64 `json:"core1_busy_pct"`
	// Load is /proc/loadavg (1, 5, 15 min) at the start of the run; it
	// includes the benchmark's own earlier phases.
	Load [3]float64 `json:"loadavg_at_start"`
}

func newSampler(gw, up int) *sampler {
	s := &sampler{pids: [3]int{gw, up, os.Getpid()}}
	s.reset()
	return s
}

func (s *sampler) reset() {
	s.start = time.Now()
	s.load = loadAvg()
	for i, p := range s.pids {
		s.cpu[i], _ = procCPU(p)
	}
	_, s.gwSys, _ = procUserSys(s.pids[0])
	s.busy, _ = cpuBusy()
}

func (s *sampler) usage() Usage {
	el := time.Since(s.start)
	var d [3]time.Duration
	for i, p := range s.pids {
		c, _ := procCPU(p)
		d[i] = c - s.cpu[i]
	}
	_, gwSys, _ := procUserSys(s.pids[0])
	busy, _ := cpuBusy()
	var total time.Duration
	for n, b := range busy {
		total += b - s.busy[n]
	}
	pct := func(x time.Duration) float64 { return 100 * float64(x) / float64(el) }
	return Usage{
		GatewayCPUms:  ms(d[0]),
		GatewaySysMs:  ms(gwSys - s.gwSys),
		UpstreamCPUms: ms(d[1]),
		LoadgenCPUms:  ms(d[2]),
		OtherCPUPct:   max(0, pct(total-d[0]-d[1]-d[2])),
		Core0BusyPct:  pct(busy[0] - s.busy[0]),
		Core1BusyPct:  pct(busy[1] - s.busy[1]),
		Load:          s.load,
	}
}

// cpuSince is process i's (0 gateway, 1 upstream, 2 loadgen) CPU since reset.
func (s *sampler) cpuSince(i int) time.Duration {
	c, _ := procCPU(s.pids[i])
	return c - s.cpu[i]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func us(d time.Duration) float64 { return float64(d) / 1e3 }

// timeWait returns the number of TCP sockets in TIME_WAIT (/proc/net/sockstat).
func timeWait() int {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[0] == "TCP:" && f[i] == "tw" {
				n, _ := strconv.Atoi(f[i+1])
				return n
			}
		}
	}
	return 0
}

// waitTimeWait waits (at most 65 s, TIME_WAIT's 60 s plus margin) until
// fewer than limit TCP sockets are in TIME_WAIT. Each run opens fresh
// connections; after a run that needed thousands, the ephemeral ports of
// 127.0.0.1 are crowded and connect() gets slow, which would penalise the
// next run.
func waitTimeWait(ctx context.Context, limit int) {
	deadline := time.Now().Add(65 * time.Second)
	n := timeWait()
	if n < limit {
		return
	}
	logf("  waiting for TIME_WAIT sockets to expire (%d ≥ %d)", n, limit)
	for n >= limit && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
		n = timeWait()
	}
}

// NoiseLimit is the "other CPU" (in % of one core) above which a run is
// considered disturbed by other work on the machine, and redone.
const NoiseLimit = 25.0

// waitQuiet waits (at most max) until the machine's CPU use, other than our
// three processes', stays under NoiseLimit over 2 s. It is called between
// runs, when our processes are idle.
func (s *sampler) waitQuiet(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	logged := false
	for ctx.Err() == nil {
		s.reset()
		time.Sleep(2 * time.Second)
		u := s.usage()
		if u.OtherCPUPct < NoiseLimit || time.Now().After(deadline) {
			if logged {
				logf("  machine quiet again (other CPU %.0f%%)", u.OtherCPUPct)
			}
			return
		}
		if !logged {
			logf("  other work on the machine (%.0f%% of a core): waiting up to %s", u.OtherCPUPct, max)
			logged = true
		}
	}
}
