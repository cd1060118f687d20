package limits

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

var _ Limiter = (*Memory)(nil)

// sweepEvery is how often (in µs of the limiter's clock) Memory drops the
// state of scopes whose buckets have drained and that no lease points to.
const sweepEvery = window

// Memory is a Limiter for a single node. One mutex guards every decision,
// so a call is atomic across its rules; the state of a scope is dropped once
// its buckets have drained, so memory is bounded by the scopes active in
// the last minute or so. (The sweep runs in the Admit that comes a minute
// after the last, under the mutex, in time proportional to the scopes.) Its
// leases never expire: settle every one of them, or the scope's state stays
// (and its concurrency slot stays taken).
type Memory struct {
	now       func() time.Time
	epoch     time.Time
	concRetry time.Duration

	mu     sync.Mutex
	states map[scopeKey]*state
	peak   int   // most states since the map was last rebuilt
	swept  int64 // µs of the last sweep
}

type scopeKey struct{ scope, id string }

// state is the state of the limits of one scope instance.
type state struct {
	rates [2]rate // Requests, Tokens
	n     int64   // concurrency slots held
	pins  int64   // leases that point here, which keep s from being swept
}

// rate is the state of one RPM or TPM limit.
type rate struct {
	d, t  int64 // the debt, and the µs it was written at
	limit int64 // the limit d was last written with, which drains it
}

// rate returns the state of rate k (Requests or Tokens).
func (s *state) rate(k Kind) *rate { return &s.rates[k-Requests] }

// idle reports whether s is back to its initial state at now.
func (s *state) idle(now int64) bool {
	for _, r := range s.rates {
		if drain(r.d, now-r.t, max(r.limit, 1)) > 0 {
			return false
		}
	}
	return s.n == 0 && s.pins == 0
}

// memoryLease is the state of a Lease from a Memory.
type memoryLease struct {
	owner   *Memory
	tokens  int64
	settled atomic.Bool
	refs    []leaseRef
	buf     [3]leaseRef // backing store of refs for the common case
}

// leaseRef is one scope of a memoryLease.
type leaseRef struct {
	s    *state
	tpm  int64 // the TPM limit to refund or charge at, 0 for none
	conc bool  // holds a concurrency slot
}

// NewMemory returns an empty Memory limiter. It takes WithClock and
// WithConcurrencyRetry.
func NewMemory(opts ...Option) *Memory {
	o := newOptions(opts)
	return &Memory{
		now:       o.now,
		epoch:     o.now(),
		concRetry: o.concRetry,
		states:    make(map[scopeKey]*state),
	}
}

// clock returns the µs since m was created.
func (m *Memory) clock() int64 { return m.now().Sub(m.epoch).Microseconds() }

// Admit implements Limiter.
func (m *Memory) Admit(_ context.Context, rules []Rule, tokens int64) (Decision, error) {
	if tokens < 0 {
		return Decision{}, ErrNegative
	}
	var ebuf [8]entry
	ents := appendEntries(ebuf[:0], rules, tokens)
	if len(ents) == 0 {
		return Decision{Allowed: true}, nil
	}
	var vbuf [8]int64
	var sbuf [8]*state
	vals, states := vbuf[:0], sbuf[:0]
	now := m.clock()
	ok := true

	m.mu.Lock()
	m.sweep(now)
	var s *state
	for i, e := range ents {
		if i == 0 || e.rule != ents[i-1].rule { // a rule's entries are adjacent
			s = m.state(&rules[e.rule])
		}
		states = append(states, s)
		if e.kind == Concurrency {
			vals = append(vals, s.n)
			ok = ok && s.n < e.limit
			continue
		}
		r := s.rate(e.kind)
		d := drain(r.d, now-r.t, e.limit)
		vals = append(vals, d)
		ok = ok && fits(d, e.cost, e.limit)
	}
	if ok {
		for i, e := range ents {
			s := states[i]
			if e.kind == Concurrency {
				s.n++
				vals[i] = s.n
				continue
			}
			r := s.rate(e.kind)
			r.d, r.t, r.limit = vals[i]+e.cost*window, now, e.limit
			vals[i] = r.d
		}
	}
	var l Lease
	if ok {
		l.m = m.newLease(rules, ents, states, tokens)
	}
	m.mu.Unlock()

	d := decide(rules, ents, vals, ok, m.concRetry)
	d.Lease = l
	return d, nil
}

// newLease returns the lease of an admitted request, pinning the states it
// points to, or nil if no rule has TPM or concurrency. m.mu is held.
func (m *Memory) newLease(rules []Rule, ents []entry, states []*state, tokens int64) *memoryLease {
	var l *memoryLease
	for i, e := range ents {
		r := &rules[e.rule]
		if i > 0 && e.rule == ents[i-1].rule || r.TPM <= 0 && r.Concurrency <= 0 {
			continue
		}
		if l == nil {
			l = &memoryLease{owner: m, tokens: tokens}
			l.refs = l.buf[:0]
		}
		var tpm int64
		if r.TPM > 0 {
			tpm = min(r.TPM, MaxLimit)
		}
		l.refs = append(l.refs, leaseRef{s: states[i], tpm: tpm, conc: r.Concurrency > 0})
		states[i].pins++
	}
	return l
}

// Settle implements Limiter.
func (m *Memory) Settle(_ context.Context, lease *Lease, actualTokens int64) error {
	if lease == nil || lease.m == nil && lease.r == nil {
		return nil
	}
	l := lease.m
	switch {
	case actualTokens < 0:
		return ErrNegative
	case l == nil || l.owner != m:
		return ErrForeignLease
	case !l.settled.CompareAndSwap(false, true):
		return nil
	}
	delta := actualTokens - l.tokens
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ref := range l.refs {
		s := ref.s
		if ref.tpm > 0 && delta != 0 {
			r := s.rate(Tokens)
			r.d, r.t, r.limit = add(drain(r.d, now-r.t, ref.tpm), delta), now, ref.tpm
		}
		if ref.conc && s.n > 0 {
			s.n--
		}
		s.pins--
	}
	return nil
}

// Charge implements Limiter.
func (m *Memory) Charge(_ context.Context, rules []Rule, requests, tokens int64) error {
	if requests < 0 || tokens < 0 {
		return ErrNegative
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range rules {
		r := &rules[i]
		if r.RPM > 0 && requests > 0 {
			m.charge(r, Requests, min(r.RPM, MaxLimit), requests, now)
		}
		if r.TPM > 0 && tokens > 0 {
			m.charge(r, Tokens, min(r.TPM, MaxLimit), tokens, now)
		}
	}
	return nil
}

// charge adds n units (n may be negative) to the rate k of r. m.mu is held.
func (m *Memory) charge(rule *Rule, k Kind, limit, n, now int64) {
	r := m.state(rule).rate(k)
	r.d, r.t, r.limit = add(drain(r.d, now-r.t, limit), n), now, limit
}

// state returns the state of the scope of r, creating it. m.mu is held.
func (m *Memory) state(r *Rule) *state {
	key := scopeKey{r.Scope, r.ID}
	s := m.states[key]
	if s == nil {
		s = new(state)
		m.states[key] = s
		m.peak = max(m.peak, len(m.states))
	}
	return s
}

// sweep drops, once every sweepEvery, the states that are back to their
// initial state, and rebuilds the map when it has shrunk a lot (Go maps
// never give memory back). m.mu is held.
func (m *Memory) sweep(now int64) {
	if now-m.swept < sweepEvery {
		return
	}
	m.swept = now
	for k, s := range m.states {
		if s.idle(now) {
			delete(m.states, k)
		}
	}
	if m.peak > 1024 && len(m.states) < m.peak/4 {
		// Not maps.Clone, which may keep the old capacity.
		states := make(map[scopeKey]*state, len(m.states))
		maps.Copy(states, m.states)
		m.states, m.peak = states, len(states)
	}
}
