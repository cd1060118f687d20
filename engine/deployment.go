package engine

import (
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/switchboard-ai/switchboard"
)

// BreakerConfig configures the circuit breaker of a provider's deployments.
type BreakerConfig struct {
	// Disabled turns the breaker off.
	Disabled bool
	// Failures is the number of consecutive failures that opens it (default 5).
	Failures int
	// Cooldown is how long it stays open before half-opening (default 30s).
	Cooldown time.Duration
	// Probes is how many requests a half-open breaker lets through (default 1).
	Probes int
}

// Breaker states as reported by DeploymentState.State.
const (
	StateClosed   = "closed"
	StateHalfOpen = "half_open"
	StateOpen     = "open"
)

// rateLimitCooldown is how long a deployment rests after consecutive429
// rate limits in a row that carried no Retry-After.
const (
	rateLimitCooldown = 5 * time.Second
	consecutive429    = 3
	ttfbSamples       = 128
	minHedgeSamples   = 20
	ewmaAlpha         = 0.2
)

// deployment is the shared runtime state of one (provider, upstream model)
// pair: its breaker, in-flight count, latency EWMA, rate-limit cooldown and
// recent times to first byte. Routes that name the same pair share it.
type deployment struct {
	provider *Provider
	model    string
	key      string

	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	inflight atomic.Int64
	ewmaBits atomic.Uint64 // float64 seconds; 0 = no sample yet
	cooldown atomic.Int64  // unix nanos until which the deployment rests
	limited  atomic.Int32  // consecutive 429s

	mu   sync.Mutex
	ttfb [ttfbSamples]time.Duration
	n    int // samples written in total
}

func newDeployment(p *Provider, model string, bc BreakerConfig, onChange func(d *deployment, from, to gobreaker.State)) *deployment {
	d := &deployment{provider: p, model: model, key: p.Name + "/" + model}
	if bc.Disabled {
		return d
	}
	failures := bc.Failures
	if failures <= 0 {
		failures = 5
	}
	cooldown := bc.Cooldown
	if cooldown <= 0 {
		cooldown = 30 * time.Second
	}
	probes := bc.Probes
	if probes <= 0 {
		probes = 1
	}
	d.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        d.key,
		MaxRequests: uint32(probes),
		Timeout:     cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
		// Only the upstream's failures count: a client's invalid request or
		// a client that left says nothing about the deployment's health.
		IsExcluded: func(err error) bool { return err != nil && !countsAgainst(err) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if onChange != nil {
				onChange(d, from, to)
			}
		},
	})
	return d
}

// countsAgainst reports whether err is the deployment's fault.
func countsAgainst(err error) bool {
	switch switchboard.ErrorCodeOf(err) {
	case switchboard.CodeUnavailable, switchboard.CodeTimeout, switchboard.CodeUpstream:
		return true
	}
	return false
}

// state returns the breaker state name.
func (d *deployment) state() string {
	if d.breaker == nil {
		return StateClosed
	}
	return stateName(d.breaker.State())
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	}
	return StateClosed
}

// resting reports whether the deployment should be skipped for now: its
// breaker is open or it is cooling down after rate limits.
func (d *deployment) resting(now time.Time) bool {
	return d.state() == StateOpen || now.UnixNano() < d.cooldown.Load()
}

// errBreakerOpen is returned when a deployment's breaker refuses a call.
var errBreakerOpen = errors.New("circuit breaker open")

// acquire asks the breaker for a call; done must be called with its result.
func (d *deployment) acquire() (done func(error), err error) {
	if d.breaker == nil {
		return func(error) {}, nil
	}
	done, err = d.breaker.Allow()
	if err != nil {
		return nil, errBreakerOpen
	}
	return done, nil
}

// observe records the outcome of a call: latency for the EWMA and the
// first-byte ring, and rate-limit cooldowns.
func (d *deployment) observe(err error, ttfb time.Duration, retryAfter time.Duration, now time.Time) {
	if err == nil {
		d.limited.Store(0)
		d.addLatency(ttfb)
		return
	}
	if switchboard.ErrorCodeOf(err) != switchboard.CodeRateLimited {
		return
	}
	n := d.limited.Add(1)
	switch {
	case retryAfter > 0:
		d.cooldown.Store(now.Add(retryAfter).UnixNano())
	case n >= consecutive429:
		d.cooldown.Store(now.Add(rateLimitCooldown).UnixNano())
	}
}

func (d *deployment) addLatency(v time.Duration) {
	sec := v.Seconds()
	for {
		old := d.ewmaBits.Load()
		next := sec
		if old != 0 {
			prev := math.Float64frombits(old)
			next = prev + ewmaAlpha*(sec-prev)
		}
		if next == 0 {
			next = 1e-9
		}
		if d.ewmaBits.CompareAndSwap(old, math.Float64bits(next)) {
			break
		}
	}
	d.mu.Lock()
	d.ttfb[d.n%ttfbSamples] = v
	d.n++
	d.mu.Unlock()
}

// ewma returns the latency EWMA in seconds (0: no sample yet).
func (d *deployment) ewma() float64 { return math.Float64frombits(d.ewmaBits.Load()) }

// quantile returns the q-quantile of recent times to first byte, and false
// while there are too few samples to trust it.
func (d *deployment) quantile(q float64) (time.Duration, bool) {
	d.mu.Lock()
	n := min(d.n, ttfbSamples)
	if n < minHedgeSamples {
		d.mu.Unlock()
		return 0, false
	}
	s := make([]time.Duration, n)
	copy(s, d.ttfb[:n])
	d.mu.Unlock()
	slices.Sort(s)
	i := int(math.Ceil(q*float64(n))) - 1
	return s[max(0, min(i, n-1))], true
}

// DeploymentState is a snapshot of one deployment, for /metrics and /readyz.
type DeploymentState struct {
	Provider string  `json:"provider"`
	Model    string  `json:"model"`
	State    string  `json:"state"`
	InFlight int64   `json:"in_flight"`
	EWMA     float64 `json:"latency_ewma_seconds"`
	Cooling  bool    `json:"rate_limit_cooldown"`
}
