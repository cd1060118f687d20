package experiment

import (
	"context"
	"sync"
	"time"
)

// DefaultInterval is how often the monitor looks at running experiments.
const DefaultInterval = time.Minute

// minTickBudget is the least time a look may take.
const minTickBudget = 30 * time.Second

// Monitor evaluates the running experiments periodically (Service.Evaluate)
// and refreshes the service's resolver. Every replica may run one: the
// always-valid tests stay valid however often they look, and each decision
// is carried out once.
type Monitor struct {
	svc      *Service
	interval time.Duration

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewMonitor returns a monitor of svc that looks every interval
// (DefaultInterval when ≤ 0). Start starts it.
func NewMonitor(svc *Service, interval time.Duration) *Monitor {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Monitor{svc: svc, interval: interval}
}

// Start starts the monitor's goroutine, which looks once at once and then
// every interval until Close. A second Start does nothing.
func (m *Monitor) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return
	}
	m.started = true
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go m.run(ctx)
}

func (m *Monitor) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick looks once: it refreshes the resolver, then evaluates every running
// experiment, within one interval or minTickBudget, whichever is longer: a
// slow database delays the next look (ticks are dropped, not queued)
// rather than failing every look. Errors are logged.
func (m *Monitor) Tick(ctx context.Context) []Evaluation {
	ctx, cancel := context.WithTimeout(ctx, max(m.interval, minTickBudget))
	defer cancel()
	m.svc.refresh(ctx)
	evs, err := m.svc.Evaluate(ctx)
	if err != nil && ctx.Err() == nil {
		m.svc.o.Log.Error("experiment evaluation failed", "err", err)
	}
	return evs
}

// Close stops the monitor and waits for a look in progress to end.
func (m *Monitor) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.cancel == nil {
		return nil
	}
	m.cancel()
	<-m.done
	m.cancel = nil
	return nil
}
