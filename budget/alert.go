package budget

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Alert tells that a window's spend reached a threshold of its cap.
type Alert struct {
	ScopeKind string `json:"scope_kind"`
	ScopeID   string `json:"scope_id"`
	// Window is Daily, Monthly or Rolling.
	Window string `json:"window"`
	// WindowStart is the start of the window instance (for a rolling window,
	// now - RollingWindow).
	WindowStart time.Time `json:"window_start"`
	// Threshold is the fraction of the cap that was reached (0.8 = 80%).
	Threshold float64 `json:"threshold"`
	SpentUSD  float64 `json:"spent_usd"`
	CapUSD    float64 `json:"cap_usd"`
	// Action is the budget's action: block or alert.
	Action string    `json:"action"`
	Time   time.Time `json:"time"`
}

// Notifier delivers alerts somewhere people see them.
type Notifier interface {
	// Notify delivers a, or returns why it could not. The ledger gives it a
	// context bounded by Options.NotifyTimeout.
	Notify(ctx context.Context, a Alert) error
}

// AlertStats counts alert deliveries since the ledger was made.
type AlertStats struct {
	// Sent and Failed count Notify calls that succeeded and failed (one
	// alert counts once per notifier).
	Sent, Failed uint64
	// Dropped counts alerts dropped because the queue was full or the
	// ledger closed before they could be delivered.
	Dropped uint64
}

// dispatcher delivers alerts to the notifiers from a bounded queue, on one
// goroutine it owns.
type dispatcher struct {
	notifiers []Notifier
	timeout   time.Duration
	log       *slog.Logger

	mu     sync.Mutex // guards closed and sends on q
	closed bool
	q      chan Alert
	done   chan struct{} // closed when run returns
	// abort cancels the context of run when Close gives up, to abort the
	// Notify call in flight and drop the rest.
	abort context.CancelFunc

	sent, failed, dropped atomic.Uint64
}

func newDispatcher(ns []Notifier, size int, timeout time.Duration, log *slog.Logger) *dispatcher {
	if size <= 0 {
		size = DefaultQueueSize
	}
	if timeout <= 0 {
		timeout = DefaultNotifyTimeout
	}
	d := &dispatcher{
		notifiers: ns,
		timeout:   timeout,
		log:       log,
		q:         make(chan Alert, size),
		done:      make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.abort = cancel
	go d.run(ctx)
	return d
}

// enqueue queues a for delivery without blocking; it drops it (and counts
// and logs the drop) when the queue is full or closed.
func (d *dispatcher) enqueue(a Alert) {
	if len(d.notifiers) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		select {
		case d.q <- a:
			return
		default:
		}
	}
	n := d.dropped.Add(1)
	d.log.Warn("budget alert dropped", "scope", a.ScopeKind, "id", a.ScopeID,
		"window", a.Window, "threshold", a.Threshold, "dropped", n)
}

func (d *dispatcher) run(base context.Context) {
	defer close(d.done)
	for a := range d.q {
		if base.Err() != nil {
			d.dropped.Add(1)
			continue
		}
		for _, n := range d.notifiers {
			ctx, cancel := context.WithTimeout(base, d.timeout)
			err := n.Notify(ctx, a)
			cancel()
			if err != nil {
				d.failed.Add(1)
				d.log.Error("budget alert not delivered", "scope", a.ScopeKind, "id", a.ScopeID,
					"window", a.Window, "threshold", a.Threshold, switchboard.LogKeyErr, err)
				continue
			}
			d.sent.Add(1)
		}
	}
}

// close stops accepting alerts and waits until the queued ones are
// delivered or ctx ends; then it aborts the rest.
func (d *dispatcher) close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.q)
	}
	d.mu.Unlock()
	select {
	case <-d.done:
		d.abort()
		return nil
	case <-ctx.Done():
		d.abort()
		return ctx.Err()
	}
}

func (d *dispatcher) stats() AlertStats {
	return AlertStats{Sent: d.sent.Load(), Failed: d.failed.Load(), Dropped: d.dropped.Load()}
}
