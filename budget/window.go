package budget

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Window names, as WindowStatus.Window, Denial.Window and Alert.Window
// spell them.
const (
	Daily   = "daily"
	Monthly = "monthly"
	Rolling = "rolling"
)

// Buckets is the number of time buckets a rolling window is summed from: a
// RollingWindow of 24h counts spend in 24-minute buckets.
const Buckets = 60

// nanosPerUSD is the unit money is held in: one nano-dollar.
const nanosPerUSD = 1e9

// maxUSD is the largest amount accepted anywhere (about 9.2 billion dollars,
// the int64 nano-dollar limit, with some headroom for sums).
const maxUSD = 1e9

// keepMargin is how long the state of a window is kept after the window
// ends, on top of the reservation TTL, so that late settles of requests
// reserved just before the end still find it.
const keepMargin = time.Hour

// threshold is one alert threshold of one window.
type threshold struct {
	label string  // the fraction as text, which names the threshold in the backends
	frac  float64 // the fraction of the cap
	at    int64   // frac × cap, in nano-dollars
}

// window is one cap of one scope at one instant: the unit every backend
// keeps spend, reservations and alert marks for.
type window struct {
	scope *Scope // points into the caller's slice: valid for one call
	name  string // Daily, Monthly or Rolling
	block bool   // Action is block
	cap   int64  // nano-dollars
	// key names the window instance, unique across scopes: the window kind
	// and instance come first and the scope ID last, so no ID can make two
	// keys collide ("d:20261125:tenant:acme", "r:86400000:key:k1").
	key string
	// start and end bound a calendar window instance. For a rolling window
	// start is now - length and end is now.
	start, end time.Time
	// length is the length of a rolling window; zero for calendar windows.
	length time.Duration
	// bucket is the length of a rolling bucket in ms, cur the index of the
	// current one (Unix ms / bucket); both zero for calendar windows.
	bucket, cur int64
	// keep is how long from now the state of the window must be kept.
	keep       time.Duration
	thresholds []threshold
	// seed is the spend to start the window with if no backend has state for
	// it yet; only meaningful when seeded.
	seed   int64
	seeded bool
}

// rolling reports whether w is a rolling window.
func (w *window) rolling() bool { return w.length > 0 }

// resetAt is when spend of w is next forgotten: the end of a calendar
// window, the next bucket boundary of a rolling one (the earliest time any
// of its spend can age out).
func (w *window) resetAt() time.Time {
	if w.rolling() {
		return time.UnixMilli((w.cur + 1) * w.bucket).In(w.end.Location())
	}
	return w.end
}

// windows returns the windows of scopes at now, each window key once (the
// first scope that names it wins). ttl is the reservation TTL, which the
// state of every window must outlive.
func windows(scopes []Scope, now time.Time, loc *time.Location, ttl time.Duration) ([]window, error) {
	ws := make([]window, 0, 3*len(scopes))
	for i := range scopes {
		s := &scopes[i]
		if err := s.validate(); err != nil {
			return nil, err
		}
		b := s.Budget
		block := b.Action != ActionAlert
		var buf [64]byte
		// add adds window w, whose key so far is in kb.
		add := func(name string, capUSD float64, kb []byte, w window) {
			w.scope, w.name, w.block = s, name, block
			w.cap = toNanos(capUSD)
			kb = append(append(append(append(kb, ':'), s.Kind...), ':'), s.ID...)
			w.key = string(kb)
			for i := range ws {
				if ws[i].key == w.key {
					return
				}
			}
			for _, f := range b.AlertAt {
				if at := int64(math.Round(f * float64(w.cap))); f > 0 && at > 0 {
					w.thresholds = append(w.thresholds, threshold{
						label: strconv.FormatFloat(f, 'g', -1, 64), frac: f, at: at,
					})
				}
			}
			ws = append(ws, w)
		}
		local := now.In(loc)
		y, m, d := local.Date()
		if b.DailyUSD > 0 {
			start := time.Date(y, m, d, 0, 0, 0, 0, loc)
			end := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
			add(Daily, b.DailyUSD, start.AppendFormat(append(buf[:0], "d:"...), "20060102"), window{
				start: start, end: end,
				keep: end.Sub(now) + ttl + keepMargin,
			})
		}
		if b.MonthlyUSD > 0 {
			start := time.Date(y, m, 1, 0, 0, 0, 0, loc)
			end := time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
			add(Monthly, b.MonthlyUSD, start.AppendFormat(append(buf[:0], "m:"...), "200601"), window{
				start: start, end: end,
				keep: end.Sub(now) + ttl + keepMargin,
			})
		}
		if b.RollingUSD > 0 {
			length := b.RollingWindow
			bucket := max(length.Milliseconds()/Buckets, 1)
			add(Rolling, b.RollingUSD, strconv.AppendInt(append(buf[:0], "r:"...), length.Milliseconds(), 10), window{
				start:  local.Add(-length),
				end:    local,
				length: length,
				bucket: bucket,
				cur:    floorDiv(now.UnixMilli(), bucket),
				keep:   length + ttl + keepMargin,
			})
		}
	}
	return ws, nil
}

// floorDiv is a / b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// validate reports whether s can be enforced.
func (s Scope) validate() error {
	switch s.Kind {
	case KindGlobal:
	case KindTenant, KindKey:
		if s.ID == "" {
			return fmt.Errorf("%w: %s scope without an ID", ErrInvalid, s.Kind)
		}
	default:
		return fmt.Errorf("%w: scope kind %q: want global, tenant or key", ErrInvalid, s.Kind)
	}
	b := s.Budget
	var errs []error
	for _, c := range []struct {
		name string
		v    float64
	}{{"daily_usd", b.DailyUSD}, {"monthly_usd", b.MonthlyUSD}, {"rolling_usd", b.RollingUSD}} {
		if !(c.v >= 0 && c.v <= maxUSD) { // also catches NaN
			errs = append(errs, fmt.Errorf("%s: %v is out of range [0, %g]", c.name, c.v, float64(maxUSD)))
		}
	}
	if b.RollingUSD > 0 && b.RollingWindow <= 0 {
		errs = append(errs, errors.New("rolling_window: required with rolling_usd"))
	}
	switch b.Action {
	case "", ActionBlock, ActionAlert:
	default:
		errs = append(errs, fmt.Errorf("action %q: want block or alert", b.Action))
	}
	for _, f := range b.AlertAt {
		if !(f >= 0 && f <= 1000) {
			errs = append(errs, fmt.Errorf("alert_at: %v is out of range", f))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %s %q: %w", ErrInvalid, s.Kind, s.ID, err)
	}
	return nil
}

// toNanos converts dollars to nano-dollars, rounding to the nearest. The
// caller has checked that usd is finite and within maxUSD.
func toNanos(usd float64) int64 { return int64(math.Round(usd * nanosPerUSD)) }

// toUSD converts nano-dollars to dollars.
func toUSD(n int64) float64 { return float64(n) / nanosPerUSD }

// amount checks a dollar amount given to Reserve, Settle or Charge and
// returns it in nano-dollars.
func amount(usd float64) (int64, error) {
	if !(usd >= 0 && usd <= maxUSD) {
		return 0, fmt.Errorf("%w: amount %v is out of range [0, %g]", ErrInvalid, usd, float64(maxUSD))
	}
	return toNanos(usd), nil
}
