// Package budget enforces spend budgets (switchboard.Budget) at several
// scopes at once (global, tenant, API key), on one node (NewMemory) or
// shared by every replica (NewRedis).
//
// # Windows
//
// Every non-zero cap of a Budget is a window. Daily and monthly windows are
// calendar windows in Options.Location (UTC by default): they reset at
// midnight and on the first of the month there. A rolling window is the last
// RollingWindow, summed from Buckets time buckets of RollingWindow/60 each
// (aligned on the Unix epoch, at least 1 ms): spend counts for between
// RollingWindow - RollingWindow/60 and RollingWindow, so the resolution of a
// 24h window is 24 minutes.
//
// # Reserve, Settle, Charge
//
// Reserve admits a request by reserving its worst-case cost on every window
// of every scope. A window whose Action is block admits it only if spent +
// reserved + cost <= cap; if any denies, nothing is reserved anywhere.
// Alert-only windows never deny but keep their spend and reservations all
// the same. Settle releases a reservation and adds the actual cost (which
// may exceed the reservation) to the windows current when it runs; it runs
// once per reservation, later calls do nothing. Charge adds spend with no
// reservation. As long as every request is settled with at most what it
// reserved, spend never exceeds a blocking cap, whatever the concurrency.
//
// Money is held as int64 nano-dollars everywhere; float64 dollars appear
// only at the API. Redis evaluates in Lua, whose numbers are doubles: it is
// exact while a window's sums stay below 2^53 nano-dollars (about 9 million
// dollars).
//
// # Reservations that are never settled
//
// A reservation expires after Options.ReservationTTL (15 minutes by default)
// and its amount is released, so a replica that dies mid-request does not
// hold budget forever. In Redis every window keeps a sorted set of the
// reservations on it scored by their expiry, and every script that touches
// the window first releases the expired ones. Memory does the same, lazily,
// under its lock. A reservation settled after it expired still adds its
// spend.
//
// # Restarts and seeding
//
// Redis keeps spend across restarts; its keys expire once their window has
// ended (plus the reservation TTL and an hour). When a window has no state
// yet (the first use in a Memory process, a new day, a missing Redis key)
// the ledger asks Options.Seed for the spend already recorded since the
// window's start (a rolling window: since now - RollingWindow), then sets
// it only if the state is still absent, so two replicas never seed twice.
// Seeded rolling spend goes into the current bucket: it ages out up to one
// RollingWindow later than the real spend would, which errs on the safe
// side. Calls in one process are coalesced, so Seed runs once per window.
//
// # Alerts
//
// When a Settle or Charge moves a window's spend from below
// threshold × cap to at or above it, for a threshold of Budget.AlertAt, an
// Alert is sent to every Options.Notifiers, once per scope, window instance
// (the day, the month) and threshold. The crossing is detected atomically
// (in the Lua script, under the Memory lock), and marked on the window, so
// replicas racing on the same window send it once, and a restarted ledger
// whose seed is already past a threshold does not send it again. A rolling
// window has no instances: an alert of it is not repeated for a
// RollingWindow after it was sent. Alerts are delivered from a bounded queue
// by one goroutine, never on the caller's path; when the queue is full
// they are dropped and counted (AlertStats). Close drains the queue.
//
// # Clocks and Redis
//
// Windows follow Options.Now on each replica, so replicas sharing Redis
// need synchronized clocks: a skew moves the window boundaries of the
// replica that is off by as much. Keys are Prefix + "w:" or "z:" + the
// window (for example "d:20261125:tenant:acme"), plus Prefix + "settled".
// In Redis Cluster every key of a call must hash to one slot: put a hash tag
// in the prefix ("{budget}:").
package budget

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Scope kinds.
const (
	KindGlobal = "global"
	KindTenant = "tenant"
	KindKey    = "key"
)

// Actions of a Budget.
const (
	ActionBlock = "block"
	ActionAlert = "alert"
)

// Defaults of Options.
const (
	DefaultReservationTTL = 15 * time.Minute
	DefaultQueueSize      = 1024
	DefaultNotifyTimeout  = 30 * time.Second
)

// Sentinel errors.
var (
	// ErrInvalid is returned for a scope, budget or amount that cannot be
	// enforced (an unknown kind or action, a negative or NaN amount, a
	// rolling cap without a window).
	ErrInvalid = errors.New("budget: invalid")
	// ErrForeign is returned by Settle for a reservation another ledger made.
	ErrForeign = errors.New("budget: reservation from another ledger")
)

// Scope is one budget to enforce: the global budget, a tenant's or an API
// key's.
type Scope struct {
	// Kind is KindGlobal, KindTenant or KindKey.
	Kind string
	// ID is the tenant name or key ID; empty for the global scope.
	ID     string
	Budget switchboard.Budget
}

// SeedFunc returns the spend of scope s recorded since since (the start of
// a calendar window, or now - RollingWindow), typically summed from the
// stored inference costs.
type SeedFunc func(ctx context.Context, s Scope, since time.Time) (usd float64, err error)

// Options configure a Ledger. Every field is optional.
type Options struct {
	// Location is the time zone of daily and monthly windows; nil means UTC.
	Location *time.Location
	// Seed supplies the spend already recorded when a window has no state
	// yet; nil means zero.
	Seed SeedFunc
	// Notifiers are told of every alert.
	Notifiers []Notifier
	// Log receives alert delivery failures and drops; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
	// ReservationTTL is how long an unsettled reservation holds budget;
	// zero means DefaultReservationTTL.
	ReservationTTL time.Duration
	// QueueSize is the capacity of the alert queue; zero means
	// DefaultQueueSize.
	QueueSize int
	// NotifyTimeout bounds one Notify call (retries included); zero means
	// DefaultNotifyTimeout.
	NotifyTimeout time.Duration
}

// Decision is the outcome of Reserve.
type Decision struct {
	// Allowed reports whether the request was admitted and its cost reserved.
	Allowed bool
	// Denied is the window that refused the request (the first in the order
	// of the scopes and then daily, monthly, rolling); nil when Allowed.
	Denied *Denial
	// RemainingUSD is the smallest cap - spent - reserved over every window
	// of every scope (alert-only ones included, so it may be negative),
	// after this reservation when Allowed and before it when denied;
	// +Inf when no scope has a cap.
	RemainingUSD float64
	// Reservation is what to pass to Settle when Allowed; nil when denied.
	Reservation *Reservation
}

// Denial describes the window that refused a request.
type Denial struct {
	Kind, ID string // the scope
	// Window is Daily, Monthly or Rolling.
	Window                        string
	CapUSD, SpentUSD, ReservedUSD float64
	// ResetAt is when the window forgets spend next: the end of a calendar
	// window, the next bucket boundary of a rolling one.
	ResetAt time.Time
}

// Error returns the denial as the error the client sees: rate_limited
// (429) with the OpenAI type and code "insufficient_quota" and a
// Retry-After of the time until ResetAt (at least a second). It names the
// scope kind and window, never amounts or other tenants' IDs.
func (d *Denial) Error(now time.Time) *switchboard.Error {
	return &switchboard.Error{
		Code:       switchboard.CodeRateLimited,
		Message:    fmt.Sprintf("%s %s spend budget exhausted", d.Kind, d.Window),
		Type:       "insufficient_quota",
		VendorCode: "insufficient_quota",
		RetryAfter: max(d.ResetAt.Sub(now), time.Second),
	}
}

// Reservation is the budget an admitted request holds. Pass it to Settle
// once the cost is known.
type Reservation struct {
	owner   *Ledger
	id      string
	amount  int64
	expires time.Time
	scopes  []Scope
	keys    []string // the windows it is held on
	// state is 0 while held, 1 while Settle runs, 2 once settled.
	state atomic.Int32
}

// ID returns the reservation's unique ID.
func (r *Reservation) ID() string { return r.id }

// AmountUSD returns the amount reserved.
func (r *Reservation) AmountUSD() float64 { return toUSD(r.amount) }

// ExpiresAt returns when the reservation is released if not settled.
func (r *Reservation) ExpiresAt() time.Time { return r.expires }

// WindowStatus is the state of one window of a scope.
type WindowStatus struct {
	// Window is Daily, Monthly or Rolling.
	Window string `json:"window"`
	// Action is the budget's action: block or alert.
	Action      string  `json:"action"`
	CapUSD      float64 `json:"cap_usd"`
	SpentUSD    float64 `json:"spent_usd"`
	ReservedUSD float64 `json:"reserved_usd"`
	// Start and End bound the window; End is when a calendar window resets.
	// For a rolling window they are now - RollingWindow and now.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Ledger enforces budgets over a backend. It is safe for concurrent use.
type Ledger struct {
	be   backend
	loc  *time.Location
	seed SeedFunc
	now  func() time.Time
	ttl  time.Duration
	log  *slog.Logger

	alerts *dispatcher
	closed atomic.Bool

	seedMu    sync.Mutex
	seeding   map[string]*seedCall // by window key
	seedSwept time.Time
}

// backend keeps the state of windows. Each call is atomic across all the
// windows it names. A call that finds a window with no state and no seed
// (window.seeded false) changes nothing and returns the indexes of such
// windows in missing; the ledger seeds them and calls again.
type backend interface {
	// reserve reserves amount on every window of op if every blocking one
	// has room.
	reserve(ctx context.Context, op *reserveOp) (res reserveResult, missing []int, err error)
	// spend releases op.release (if any) and adds op.amount to op.wins.
	spend(ctx context.Context, op *spendOp) (fired []firing, missing []int, err error)
	// status returns the spent and reserved amounts of wins.
	status(ctx context.Context, now time.Time, wins []window) (spent, reserved []int64, missing []int, err error)
}

// reserveOp is a reservation to make.
type reserveOp struct {
	now     time.Time
	id      string
	amount  int64
	expires time.Time
	wins    []window
	keys    []string // the keys of wins, which the backend may keep
}

// reserveResult is the state of the windows of a reserveOp after it: the
// denying window (-1 if allowed) and every window's spent and reserved.
type reserveResult struct {
	denied          int
	spent, reserved []int64
}

// spendOp is spend to add and, for Settle, a reservation to release.
type spendOp struct {
	now    time.Time
	amount int64
	wins   []window
	// settle is the reservation to release, nil for Charge.
	settle *Reservation
}

// firing is an alert threshold crossed by a spendOp.
type firing struct {
	win   int // index into spendOp.wins
	thr   int // index into its thresholds
	spent int64
}

// NewMemory returns a Ledger that keeps its state in this process.
func NewMemory(o Options) *Ledger { return newLedger(newMemory(), o) }

func newLedger(be backend, o Options) *Ledger {
	l := &Ledger{
		be:      be,
		loc:     o.Location,
		seed:    o.Seed,
		now:     o.Now,
		ttl:     o.ReservationTTL,
		log:     o.Log,
		seeding: make(map[string]*seedCall),
	}
	if l.loc == nil {
		l.loc = time.UTC
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.ttl <= 0 {
		l.ttl = DefaultReservationTTL
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.alerts = newDispatcher(o.Notifiers, o.QueueSize, o.NotifyTimeout, l.log)
	return l
}

// Reserve reserves usd, the worst-case cost of a request, on every window
// of every scope, if every blocking window has room for it. When denied
// (Decision.Allowed false, err nil) nothing is reserved. An error means the
// backend could not decide; nothing was reserved unless the backend failed
// after committing, in which case the reservation expires by itself.
func (l *Ledger) Reserve(ctx context.Context, scopes []Scope, usd float64) (Decision, error) {
	if l.closed.Load() {
		return Decision{}, fmt.Errorf("budget: reserve: %w", switchboard.ErrClosed)
	}
	n, err := amount(usd)
	if err != nil {
		return Decision{}, err
	}
	now := l.now()
	r := &Reservation{
		owner:   l,
		amount:  n,
		expires: now.Add(l.ttl),
		scopes:  append([]Scope(nil), scopes...),
	}
	wins, err := windows(r.scopes, now, l.loc, l.ttl)
	if err != nil {
		return Decision{}, err
	}
	r.id = rand.Text()
	r.keys = make([]string, len(wins))
	for i := range wins {
		r.keys[i] = wins[i].key
	}
	if len(wins) == 0 {
		return Decision{Allowed: true, RemainingUSD: math.Inf(1), Reservation: r}, nil
	}
	l.presetSeeds(wins)
	op := &reserveOp{now: now, id: r.id, amount: n, expires: r.expires, wins: wins, keys: r.keys}
	var res reserveResult
	for attempt := 0; ; attempt++ {
		var missing []int
		res, missing, err = l.be.reserve(ctx, op)
		if err != nil {
			return Decision{}, fmt.Errorf("budget: reserve: %w", err)
		}
		if len(missing) == 0 {
			break
		}
		if err := l.seedWindows(ctx, now, wins, missing, attempt); err != nil {
			return Decision{}, fmt.Errorf("budget: reserve: %w", err)
		}
	}
	rem := int64(math.MaxInt64)
	for i, w := range wins {
		rem = min(rem, w.cap-res.spent[i]-res.reserved[i])
	}
	d := Decision{RemainingUSD: toUSD(rem)}
	if res.denied >= 0 {
		w := &wins[res.denied]
		d.Denied = &Denial{
			Kind: w.scope.Kind, ID: w.scope.ID, Window: w.name,
			CapUSD: toUSD(w.cap), SpentUSD: toUSD(res.spent[res.denied]),
			ReservedUSD: toUSD(res.reserved[res.denied]), ResetAt: w.resetAt(),
		}
		return d, nil
	}
	d.Allowed, d.Reservation = true, r
	return d, nil
}

// Settle releases r and adds actualUSD (which may exceed what was
// reserved) to every window of r's scopes current now. It settles r once:
// later calls, and calls while one runs, return nil and do nothing. If the
// backend fails, r stays unsettled and Settle may be retried; Redis makes a
// retry within a minute safe even if the failed call had in fact committed.
func (l *Ledger) Settle(ctx context.Context, r *Reservation, actualUSD float64) error {
	if r == nil {
		return fmt.Errorf("%w: nil reservation", ErrInvalid)
	}
	if r.owner != l {
		return ErrForeign
	}
	if l.closed.Load() {
		return fmt.Errorf("budget: settle: %w", switchboard.ErrClosed)
	}
	n, err := amount(actualUSD)
	if err != nil {
		return err
	}
	if !r.state.CompareAndSwap(0, 1) {
		return nil
	}
	if err := l.spend(ctx, r.scopes, n, r); err != nil {
		r.state.Store(0)
		return fmt.Errorf("budget: settle: %w", err)
	}
	r.state.Store(2)
	return nil
}

// Charge adds usd to every window of every scope with no reservation, for
// cost known only after the fact. It never denies.
func (l *Ledger) Charge(ctx context.Context, scopes []Scope, usd float64) error {
	if l.closed.Load() {
		return fmt.Errorf("budget: charge: %w", switchboard.ErrClosed)
	}
	n, err := amount(usd)
	if err != nil {
		return err
	}
	if err := l.spend(ctx, scopes, n, nil); err != nil {
		return fmt.Errorf("budget: charge: %w", err)
	}
	return nil
}

// spend adds n to the windows of scopes current now, releasing r if not nil,
// and queues the alerts it fires.
func (l *Ledger) spend(ctx context.Context, scopes []Scope, n int64, r *Reservation) error {
	now := l.now()
	var wins []window
	if n > 0 {
		var err error
		if wins, err = windows(scopes, now, l.loc, l.ttl); err != nil {
			return err
		}
	}
	if len(wins) == 0 && (r == nil || len(r.keys) == 0) {
		return nil
	}
	l.presetSeeds(wins)
	op := &spendOp{now: now, amount: n, wins: wins, settle: r}
	var fired []firing
	for attempt := 0; ; attempt++ {
		var missing []int
		var err error
		fired, missing, err = l.be.spend(ctx, op)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			break
		}
		if err := l.seedWindows(ctx, now, wins, missing, attempt); err != nil {
			return err
		}
	}
	for _, f := range fired {
		w := &wins[f.win]
		action := ActionBlock
		if !w.block {
			action = ActionAlert
		}
		l.alerts.enqueue(Alert{
			ScopeKind:   w.scope.Kind,
			ScopeID:     w.scope.ID,
			Window:      w.name,
			WindowStart: w.start,
			Threshold:   w.thresholds[f.thr].frac,
			SpentUSD:    toUSD(f.spent),
			CapUSD:      toUSD(w.cap),
			Action:      action,
			Time:        now,
		})
	}
	return nil
}

// Status returns the state of every window of s: spent, reserved, bounds.
// A window with no state yet is seeded first.
func (l *Ledger) Status(ctx context.Context, s Scope) ([]WindowStatus, error) {
	if l.closed.Load() {
		return nil, fmt.Errorf("budget: status: %w", switchboard.ErrClosed)
	}
	now := l.now()
	wins, err := windows([]Scope{s}, now, l.loc, l.ttl)
	if err != nil || len(wins) == 0 {
		return nil, err
	}
	l.presetSeeds(wins)
	var spent, reserved []int64
	for attempt := 0; ; attempt++ {
		var missing []int
		spent, reserved, missing, err = l.be.status(ctx, now, wins)
		if err != nil {
			return nil, fmt.Errorf("budget: status: %w", err)
		}
		if len(missing) == 0 {
			break
		}
		if err := l.seedWindows(ctx, now, wins, missing, attempt); err != nil {
			return nil, fmt.Errorf("budget: status: %w", err)
		}
	}
	out := make([]WindowStatus, len(wins))
	for i, w := range wins {
		action := ActionBlock
		if !w.block {
			action = ActionAlert
		}
		out[i] = WindowStatus{
			Window: w.name, Action: action, CapUSD: toUSD(w.cap),
			SpentUSD: toUSD(spent[i]), ReservedUSD: toUSD(reserved[i]),
			Start: w.start, End: w.end,
		}
	}
	return out, nil
}

// AlertStats returns the alert delivery counters.
func (l *Ledger) AlertStats() AlertStats { return l.alerts.stats() }

// Close stops the ledger: later calls return switchboard.ErrClosed. It
// delivers the alerts still queued, or gives up on them when ctx ends
// (returning ctx.Err()). It does not close a Redis client it was given.
func (l *Ledger) Close(ctx context.Context) error {
	l.closed.Store(true)
	return l.alerts.close(ctx)
}
