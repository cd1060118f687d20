package httpapi

import (
	"context"
	"math"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Overload watches how long runnable goroutines wait for a CPU (the Go
// scheduler's latency histogram). When the process is CPU-bound, requests
// queue in the run queue long before max_in_flight is reached, and every
// one of them gets slower; while the recent scheduling latency is above a
// threshold, new requests are refused with 503 at once instead, so the
// requests already accepted finish in time. This sheds by queueing delay,
// as CoDel does, rather than by a fixed concurrency.
type Overload struct {
	threshold time.Duration
	quantile  float64
	every     time.Duration
	on        atomic.Bool
	latency   atomic.Int64 // the last measured quantile, ns

	sample []metrics.Sample
	prev   []uint64
}

const schedLatencies = "/sched/latencies:seconds"

// NewOverload returns a detector that reports overload while the q-quantile
// of the scheduling latency over the last interval exceeds threshold.
func NewOverload(threshold time.Duration, q float64, interval time.Duration) *Overload {
	return &Overload{threshold: threshold, quantile: q, every: interval,
		sample: []metrics.Sample{{Name: schedLatencies}}}
}

// Overloaded reports whether new requests should be shed.
func (o *Overload) Overloaded() bool { return o != nil && o.on.Load() }

// Latency is the last measured scheduling-latency quantile.
func (o *Overload) Latency() time.Duration { return time.Duration(o.latency.Load()) }

// Run measures every interval until ctx ends.
func (o *Overload) Run(ctx context.Context) {
	t := time.NewTicker(o.every)
	defer t.Stop()
	o.measure()
	for {
		select {
		case <-ctx.Done():
			o.on.Store(false)
			return
		case <-t.C:
			o.measure()
		}
	}
}

// measure reads the cumulative histogram, takes the difference with the
// previous reading and sets the state from its quantile.
func (o *Overload) measure() {
	metrics.Read(o.sample)
	if o.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return
	}
	h := o.sample[0].Value.Float64Histogram()
	if len(o.prev) != len(h.Counts) {
		o.prev = make([]uint64, len(h.Counts))
		copy(o.prev, h.Counts)
		return
	}
	var total uint64
	for i, c := range h.Counts {
		total += c - o.prev[i]
	}
	if total == 0 {
		o.latency.Store(0)
		o.on.Store(false)
		return
	}
	rank := uint64(math.Ceil(o.quantile * float64(total)))
	var seen uint64
	q := 0.0
	for i, c := range h.Counts {
		seen += c - o.prev[i]
		if seen >= rank {
			q = h.Buckets[i] // the bucket's lower bound: never overstates
			break
		}
	}
	copy(o.prev, h.Counts)
	if math.IsInf(q, 0) || q < 0 {
		q = 0
	}
	d := time.Duration(q * float64(time.Second))
	o.latency.Store(int64(d))
	o.on.Store(d > o.threshold)
}
