// Package limits enforces requests-per-minute, tokens-per-minute and
// concurrency limits at several scopes at once (global, tenant, API key,
// model, upstream), on one node (Memory) or shared by every replica (Redis).
//
// # Algorithm
//
// Each rate (RPM or TPM) of each rule is a GCRA, the generic cell rate
// algorithm: a leaky bucket kept as a single number, with a burst of the
// whole per-minute limit. A 60-RPM rule admits exactly 60 of 100 requests
// that arrive at once, then one a second. A request costs 1 against RPM and
// its token estimate against TPM.
//
// Instead of GCRA's theoretical arrival time (TAT) the state is the debt D =
// (TAT - now) × limit, in microseconds × units per minute, with the time it
// was last written. A unit of cost adds one minute (60,000,000 µs) to D, a
// microsecond drains limit from it, and a cost c fits while D + c×60e6 <=
// limit×60e6. Every quantity is then an integer: no rounding for limits that
// do not divide a minute, and Lua's doubles (Redis) compute exactly what Go
// computes as long as the numbers stay below 2^53, that is for limits up to
// 150,000,000 a minute; above that Redis rounds, by about one part in 10^16.
// Limits above MaxLimit are treated as MaxLimit.
//
// From D follow the x-ratelimit-* numbers: Remaining = ⌊(limit×60e6 - D) /
// 60e6⌋, Reset = ⌈D / limit⌉ µs (until the bucket is full again) and, for a
// cost c that does not fit, RetryAfter = ⌈(D + c×60e6 - limit×60e6) / limit⌉
// µs. A request whose token estimate exceeds the whole TPM limit can never
// fit: it is denied with Decision.TooLarge set and a nominal RetryAfter of one
// minute, and Wait gives up on it at once.
//
// Concurrency is a count of leases held. In Redis it is a sorted set of lease
// IDs scored by their expiry (DefaultLeaseTTL, see WithLeaseTTL), so the
// slots of a replica that crashed come back once its leases expire.
//
// # Atomicity
//
// Admit checks every rule first and commits only if all of them have room:
// a denied request consumes nothing anywhere. Memory holds one mutex for the
// whole decision; Redis runs one Lua script (one round trip) that reads the
// server's clock with TIME, so replicas whose clocks disagree still agree on
// the limits. Settle and Charge are atomic scripts as well. Redis keys are
// Prefix:scope:id:kind, with scope and id percent-encoded, and expire once
// their bucket has drained. In Redis Cluster every key of a call must hash
// to one slot: put a hash tag in the prefix ("{limits}").
//
// # Leases
//
// An admitted request gets a Lease: the rules with a TPM or concurrency limit,
// the tokens reserved at Admit and, in Redis, the concurrency lease ID. Pass
// it to Settle exactly once, with the tokens actually used, when the request
// is done: Settle refunds or charges the difference on every TPM rule and
// releases the concurrency slots. Settling a lease (or a copy of it) again is
// a no-op.
package limits

import (
	"context"
	"errors"
	"math/bits"
	"strconv"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Errors.
var (
	// ErrNegative is returned for a negative number of tokens or requests.
	ErrNegative = errors.New("limits: negative amount")
	// ErrForeignLease is returned by Settle for a lease another limiter issued.
	ErrForeignLease = errors.New("limits: lease from another limiter")
)

// Kind is what a limit counts.
type Kind uint8

// Kinds of limits.
const (
	Requests    Kind = iota + 1 // RPM
	Tokens                      // TPM
	Concurrency                 // requests in flight
)

// String returns "requests", "tokens" or "concurrency".
func (k Kind) String() string {
	switch k {
	case Requests:
		return "requests"
	case Tokens:
		return "tokens"
	case Concurrency:
		return "concurrency"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Scopes of rules. Any string works as a scope; these are the ones the
// gateway uses.
const (
	ScopeGlobal   = "global"
	ScopeTenant   = "tenant"
	ScopeKey      = "key"
	ScopeModel    = "model"
	ScopeUpstream = "upstream"
	// ScopeService is the scope of the rules of a Gate.
	ScopeService = "service"
)

// Rule is the limits of one scope instance. A zero (or negative) limit is no
// limit of that kind, and a rule whose limits are all zero is ignored. A
// scope instance (Scope and ID) should appear at most once in the rules of a
// call: two rules for one instance are checked separately but share state.
type Rule struct {
	Scope string // "global", "tenant", "key", "model", "upstream"
	ID    string // tenant name, key ID, model name, provider name ("" for global)
	switchboard.Limits
}

// Status is one rule's state of one kind after a decision, as OpenAI's
// x-ratelimit-* headers report it.
type Status struct {
	Scope, ID string
	Kind      Kind
	Limit     int64
	// Remaining is how many requests or tokens could still be admitted now
	// (never negative). For Concurrency it is the free slots.
	Remaining int64
	// Reset is the time until the limit is back to full. It is zero for
	// Concurrency, which has no clock.
	Reset time.Duration
}

// Decision is the outcome of Admit.
type Decision struct {
	// Allowed reports whether the request was admitted.
	Allowed bool
	// Denied is the rule and kind that denied the request: the one that
	// frees up last. It is zero when Allowed.
	Denied Status
	// RetryAfter is, when denied, how long until this request could be
	// admitted (always > 0). For a concurrency denial it is a guess (see
	// WithConcurrencyRetry); for TooLarge it is a nominal minute.
	RetryAfter time.Duration
	// TooLarge reports a request whose tokens exceed the whole TPM limit of
	// Denied: it can never be admitted, whatever the wait.
	TooLarge bool
	// Requests and Tokens are the tightest rule of each kind (the lowest
	// Remaining/Limit), after the request when Allowed and before it when
	// denied. Limit is zero when no rule limits that kind.
	Requests, Tokens Status
	// Lease is what to pass to Settle when Allowed.
	Lease Lease
}

// Lease is an admitted request's claim: the scopes whose TPM reservation
// or concurrency slot Settle gives back, the tokens reserved at Admit and,
// in Redis, the concurrency lease ID. Copies share their state, so settling
// any copy settles them all. The zero Lease is one Settle has nothing to do
// for.
type Lease struct {
	m *memoryLease // from a Memory
	r *redisLease  // from a Redis
}

// Tokens returns the tokens reserved at Admit (zero for a zero Lease).
func (l *Lease) Tokens() int64 {
	switch {
	case l == nil:
		return 0
	case l.m != nil:
		return l.m.tokens
	case l.r != nil:
		return l.r.tokens
	}
	return 0
}

// Limiter admits requests against a set of rules.
type Limiter interface {
	// Admit checks every rule atomically: the request (1 request, tokens
	// tokens, 1 concurrency slot) is admitted only if every rule has room;
	// when denied nothing is consumed on any rule.
	Admit(ctx context.Context, rules []Rule, tokens int64) (Decision, error)
	// Settle replaces the tokens reserved at Admit with actualTokens
	// (refunding or charging the difference on every TPM rule; a charge may
	// push a rule past its limit, as it is accounting, not admission) and
	// releases the concurrency slots. Call it once per admitted lease; later
	// calls, and calls with a zero Lease, do nothing. If the backend fails
	// the lease still counts as settled: its slots come back when it expires.
	Settle(ctx context.Context, l *Lease, actualTokens int64) error
	// Charge consumes requests and tokens on every rule without checking
	// them, to count work that was served anyway.
	Charge(ctx context.Context, rules []Rule, requests, tokens int64) error
}

// Limits of the arithmetic.
const (
	// Window is the period of every rate limit: RPM and TPM are per minute.
	Window = time.Minute
	// MaxLimit is the largest effective limit; larger limits are clamped.
	MaxLimit = 10_000_000_000
	// DefaultLeaseTTL is how long a Redis concurrency lease lives when it is
	// not settled.
	DefaultLeaseTTL = 10 * time.Minute
	// DefaultConcurrencyRetry is the RetryAfter of a concurrency denial.
	DefaultConcurrencyRetry = time.Second
)

const (
	// window is Window in microseconds: the debt one unit of cost adds.
	window int64 = 60_000_000
	// maxDebt caps the debt, so that charges cannot overflow; it is about
	// 38,000 minutes' worth at MaxLimit.
	maxDebt int64 = 1 << 61
)

// Option configures a limiter. An option that does not apply to a backend
// is ignored by it.
type Option func(*options)

type options struct {
	now       func() time.Time
	leaseTTL  time.Duration
	concRetry time.Duration
}

func newOptions(opts []Option) options {
	o := options{now: time.Now, leaseTTL: DefaultLeaseTTL, concRetry: DefaultConcurrencyRetry}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock sets the clock of a Memory limiter (tests use a fake one). Redis
// always uses the server's clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithLeaseTTL sets how long a Redis concurrency lease holds its slot if it
// is never settled (DefaultLeaseTTL). Requests that run longer than this
// lose their slot early. Memory leases never expire.
func WithLeaseTTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.leaseTTL = d
		}
	}
}

// WithConcurrencyRetry sets the RetryAfter of a concurrency denial
// (DefaultConcurrencyRetry), which is also how often Wait polls for a slot.
func WithConcurrencyRetry(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.concRetry = d
		}
	}
}

// entry is one limit of one rule that a call touches.
type entry struct {
	rule  int // index in the rules
	kind  Kind
	limit int64
	cost  int64
}

// appendEntries appends the limits of rules to dst, each with its cost: 1
// request, tokens tokens, 1 concurrency slot.
func appendEntries(dst []entry, rules []Rule, tokens int64) []entry {
	for i := range rules {
		r := &rules[i]
		if r.RPM > 0 {
			dst = append(dst, entry{i, Requests, min(r.RPM, MaxLimit), 1})
		}
		if r.TPM > 0 {
			dst = append(dst, entry{i, Tokens, min(r.TPM, MaxLimit), tokens})
		}
		if r.Concurrency > 0 {
			dst = append(dst, entry{i, Concurrency, min(r.Concurrency, MaxLimit), 1})
		}
	}
	return dst
}

// drain returns debt d after elapsed µs at limit units a minute.
func drain(d, elapsed, limit int64) int64 {
	if d <= 0 {
		return 0
	}
	if elapsed <= 0 {
		return d
	}
	if elapsed > d/limit {
		return 0
	}
	return d - elapsed*limit
}

// fits reports whether cost c fits on debt d (which is drained to now).
func fits(d, c, limit int64) bool {
	return c <= limit && d+c*window <= limit*window
}

// add returns debt d plus n units (n may be negative), kept in [0, maxDebt].
func add(d, n int64) int64 {
	switch {
	case n > maxDebt/window: // n*window > maxDebt
		return maxDebt
	case n < -maxDebt/window:
		return 0
	}
	return min(max(d+n*window, 0), maxDebt)
}

// rateStatus returns the Remaining and Reset of debt d.
func rateStatus(d, limit int64) (remaining int64, reset time.Duration) {
	if free := limit*window - d; free > 0 {
		remaining = free / window
	}
	return remaining, micros((d + limit - 1) / limit)
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// decide builds the Decision from the values a backend read or wrote for
// each entry: the debt of a rate (after the commit when ok, before it when
// not) or the count of a concurrency limit.
func decide(rules []Rule, ents []entry, vals []int64, ok bool, concRetry time.Duration) Decision {
	d := Decision{Allowed: ok}
	for i, e := range ents {
		r := &rules[e.rule]
		s := Status{Scope: r.Scope, ID: r.ID, Kind: e.kind, Limit: e.limit}
		v := vals[i]
		if e.kind == Concurrency {
			s.Remaining = max(e.limit-v, 0)
			if !ok && v >= e.limit {
				d.deny(s, concRetry, false)
			}
			continue
		}
		s.Remaining, s.Reset = rateStatus(v, e.limit)
		if !ok && !fits(v, e.cost, e.limit) {
			if e.cost > e.limit {
				d.deny(s, Window, true)
			} else {
				d.deny(s, micros((v+e.cost*window-e.limit*window+e.limit-1)/e.limit), false)
			}
		}
		if e.kind == Requests {
			d.Requests = tighter(d.Requests, s)
		} else {
			d.Tokens = tighter(d.Tokens, s)
		}
	}
	if !ok && d.RetryAfter <= 0 {
		// The backend denied on a state that changed in between (it
		// cannot for these backends); never report "retry now".
		d.RetryAfter = concRetry
	}
	return d
}

// deny records s as the denying status if it frees up last so far; a
// request that is too large for a rule wins over everything.
func (d *Decision) deny(s Status, retry time.Duration, tooLarge bool) {
	switch {
	case d.TooLarge: // the first too-large rule stays
		return
	case tooLarge:
	case retry <= d.RetryAfter:
		return
	}
	d.Denied, d.RetryAfter, d.TooLarge = s, retry, tooLarge
}

// tighter returns whichever of a and b has the lower Remaining/Limit (the
// lower Remaining on a tie), a when it is the first.
func tighter(a, b Status) Status {
	if a.Limit == 0 {
		return b
	}
	// b.Remaining/b.Limit < a.Remaining/a.Limit, in 128 bits.
	bh, bl := bits.Mul64(uint64(b.Remaining), uint64(a.Limit))
	ah, al := bits.Mul64(uint64(a.Remaining), uint64(b.Limit))
	if bh < ah || bh == ah && (bl < al || bl == al && b.Remaining < a.Remaining) {
		return b
	}
	return a
}
