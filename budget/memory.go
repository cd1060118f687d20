package budget

import (
	"context"
	"sync"
	"time"
)

// gcEvery is how often memory drops the state of windows past their keep
// time.
const gcEvery = time.Minute

// memory is the backend of NewMemory. One mutex guards every call, so a
// call is atomic across its windows; the state of a window is dropped once
// it is past its keep time (the end of a calendar window plus the
// reservation TTL and an hour; a rolling window idle for as long), so memory
// is bounded by the windows in use.
type memory struct {
	mu   sync.Mutex
	wins map[string]*memWindow // by window key
	res  map[string]*memRes    // live reservations by ID
	// resMin is a lower bound of the expiry of every live reservation (zero
	// when there is none): no sweep is needed before it.
	resMin time.Time
	gcAt   time.Time // next sweep of wins
}

// memWindow is the state of one window instance.
type memWindow struct {
	spent    int64 // calendar windows
	buckets  [Buckets]int64
	idx      [Buckets]int64 // the bucket index each slot of buckets holds
	reserved int64
	fired    map[string]int64 // threshold label → Unix ms it fired at
	keep     time.Time        // when the state may be dropped
}

// memRes is a live reservation.
type memRes struct {
	amount  int64
	keys    []string
	expires time.Time
}

func newMemory() *memory {
	return &memory{wins: make(map[string]*memWindow), res: make(map[string]*memRes)}
}

// spentAt returns the spend of w held in s.
func (s *memWindow) spentAt(w *window) int64 {
	if !w.rolling() {
		return s.spent
	}
	var sum int64
	for i, idx := range s.idx {
		if idx > w.cur-Buckets {
			sum += s.buckets[i]
		}
	}
	return sum
}

// add adds n to the spend of w held in s: to the current bucket of a
// rolling window.
func (s *memWindow) add(w *window, n int64) {
	if !w.rolling() {
		s.spent += n
		return
	}
	slot := w.cur % Buckets
	if slot < 0 {
		slot += Buckets
	}
	if s.idx[slot] != w.cur {
		s.idx[slot], s.buckets[slot] = w.cur, 0
	}
	s.buckets[slot] += n
}

// touch extends the keep time of s to cover w.
func (s *memWindow) touch(now time.Time, w *window) {
	if k := now.Add(w.keep); k.After(s.keep) {
		s.keep = k
	}
}

// states returns the state of every window of wins, creating those that
// are seeded; if any is missing and not seeded it returns their indexes
// instead (having created the seeded ones, which is harmless).
func (m *memory) states(now time.Time, wins []window) ([]*memWindow, []int) {
	sts := make([]*memWindow, len(wins))
	var missing []int
	for i := range wins {
		w := &wins[i]
		s := m.wins[w.key]
		if s == nil {
			if !w.seeded {
				missing = append(missing, i)
				continue
			}
			s = &memWindow{}
			s.add(w, w.seed)
			s.touch(now, w)
			m.wins[w.key] = s
		}
		sts[i] = s
	}
	if missing != nil {
		return nil, missing
	}
	return sts, nil
}

// sweep releases the reservations that expired by now and, every gcEvery,
// drops the windows past their keep time.
func (m *memory) sweep(now time.Time) {
	if !m.resMin.IsZero() && !now.Before(m.resMin) {
		m.resMin = time.Time{}
		for id, r := range m.res {
			if !now.Before(r.expires) {
				m.release(id)
			} else if m.resMin.IsZero() || r.expires.Before(m.resMin) {
				m.resMin = r.expires
			}
		}
	}
	if !now.Before(m.gcAt) {
		for k, s := range m.wins {
			if !now.Before(s.keep) {
				delete(m.wins, k)
			}
		}
		m.gcAt = now.Add(gcEvery)
	}
}

// release gives back the amount of reservation id, if still live.
func (m *memory) release(id string) {
	r := m.res[id]
	if r == nil {
		return
	}
	for _, k := range r.keys {
		if s := m.wins[k]; s != nil {
			s.reserved -= r.amount
		}
	}
	delete(m.res, id)
}

func (m *memory) reserve(_ context.Context, op *reserveOp) (reserveResult, []int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(op.now)
	sts, missing := m.states(op.now, op.wins)
	if missing != nil {
		return reserveResult{}, missing, nil
	}
	res := reserveResult{
		denied:   -1,
		spent:    make([]int64, len(op.wins)),
		reserved: make([]int64, len(op.wins)),
	}
	for i := range op.wins {
		w, s := &op.wins[i], sts[i]
		res.spent[i], res.reserved[i] = s.spentAt(w), s.reserved
		if res.denied < 0 && w.block && res.spent[i]+res.reserved[i]+op.amount > w.cap {
			res.denied = i
		}
	}
	if res.denied >= 0 {
		return res, nil, nil
	}
	for i := range op.wins {
		sts[i].reserved += op.amount
		sts[i].touch(op.now, &op.wins[i])
		res.reserved[i] += op.amount
	}
	m.res[op.id] = &memRes{amount: op.amount, keys: op.keys, expires: op.expires}
	if m.resMin.IsZero() || op.expires.Before(m.resMin) {
		m.resMin = op.expires
	}
	return res, nil, nil
}

func (m *memory) spend(_ context.Context, op *spendOp) ([]firing, []int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(op.now)
	sts, missing := m.states(op.now, op.wins)
	if missing != nil {
		return nil, missing, nil
	}
	if op.settle != nil {
		m.release(op.settle.id)
	}
	var fired []firing
	ms := op.now.UnixMilli()
	for i := range op.wins {
		w, s := &op.wins[i], sts[i]
		before := s.spentAt(w)
		s.add(w, op.amount)
		s.touch(op.now, w)
		after := before + op.amount
		for j, t := range w.thresholds {
			if before >= t.at || after < t.at {
				continue
			}
			if last, ok := s.fired[t.label]; ok && (!w.rolling() || ms-last < w.length.Milliseconds()) {
				continue
			}
			if s.fired == nil {
				s.fired = make(map[string]int64)
			}
			s.fired[t.label] = ms
			fired = append(fired, firing{win: i, thr: j, spent: after})
		}
	}
	return fired, nil, nil
}

func (m *memory) status(_ context.Context, now time.Time, wins []window) ([]int64, []int64, []int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	sts, missing := m.states(now, wins)
	if missing != nil {
		return nil, nil, missing, nil
	}
	spent, reserved := make([]int64, len(wins)), make([]int64, len(wins))
	for i := range wins {
		spent[i], reserved[i] = sts[i].spentAt(&wins[i]), sts[i].reserved
	}
	return spent, reserved, nil, nil
}
