package budget

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// seedReuse is how long the result of a Seed call is reused.
const seedReuse = time.Minute

// seedCall is one Seed call that concurrent callers share.
type seedCall struct {
	done chan struct{}
	at   time.Time // when it started
	n    int64
	err  error
}

// isDone reports whether the call has returned.
func (c *seedCall) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// presetSeeds marks every window seeded with zero when there is no Seed
// function, so that backends create missing state in the first call.
func (l *Ledger) presetSeeds(wins []window) {
	if l.seed != nil {
		return
	}
	for i := range wins {
		wins[i].seeded = true
	}
}

// seedWindows seeds the windows at indexes missing. attempt counts the
// rounds already made: a window cannot keep disappearing between seeding
// and use, so more than a few rounds is a bug.
func (l *Ledger) seedWindows(ctx context.Context, now time.Time, wins []window, missing []int, attempt int) error {
	if attempt >= 3 {
		return errors.New("window state keeps disappearing")
	}
	for _, i := range missing {
		w := &wins[i]
		if w.seeded {
			continue
		}
		n, err := l.seedWindow(ctx, now, w)
		if err != nil {
			return err
		}
		w.seed, w.seeded = n, true
	}
	return nil
}

// seedWindow calls Seed for w, sharing the call with concurrent callers that
// need the same window instance. A result is kept for seedReuse, so callers
// that found the window missing just before another one seeded it reuse
// that seed (which their backend call then ignores, the state being there)
// instead of calling Seed again.
func (l *Ledger) seedWindow(ctx context.Context, now time.Time, w *window) (int64, error) {
	if l.seed == nil {
		return 0, nil
	}
	l.seedMu.Lock()
	if now.Sub(l.seedSwept) > seedReuse || now.Before(l.seedSwept) {
		for k, c := range l.seeding {
			if c.isDone() && now.Sub(c.at) > seedReuse {
				delete(l.seeding, k)
			}
		}
		l.seedSwept = now
	}
	c, ok := l.seeding[w.key]
	if !ok {
		c = &seedCall{done: make(chan struct{}), at: now}
		l.seeding[w.key] = c
	}
	l.seedMu.Unlock()
	if ok {
		select {
		case <-c.done:
			return c.n, c.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	since := w.start
	if w.rolling() {
		since = now.Add(-w.length).In(l.loc)
	}
	usd, err := l.seed(ctx, *w.scope, since)
	if err == nil {
		c.n, err = amount(usd)
	}
	if err != nil {
		c.err = fmt.Errorf("seed %s %q %s: %w", w.scope.Kind, w.scope.ID, w.name, err)
		l.seedMu.Lock()
		delete(l.seeding, w.key) // do not keep failures
		l.seedMu.Unlock()
	}
	close(c.done)
	return c.n, c.err
}
