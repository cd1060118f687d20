package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// fakeStore is a switchboard.InferenceStore whose methods call its function
// fields.
type fakeStore struct {
	InsertFunc func(ctx context.Context, batch []switchboard.Inference) error
	ListFunc   func(ctx context.Context, f switchboard.InferenceFilter) ([]switchboard.Inference, error)
	CountFunc  func(ctx context.Context, f switchboard.InferenceFilter) (int, error)
}

func (f *fakeStore) InsertInferences(ctx context.Context, batch []switchboard.Inference) error {
	return f.InsertFunc(ctx, batch)
}

func (f *fakeStore) ListInferences(ctx context.Context, filter switchboard.InferenceFilter) ([]switchboard.Inference, error) {
	return f.ListFunc(ctx, filter)
}

func (f *fakeStore) CountInferences(ctx context.Context, filter switchboard.InferenceFilter) (int, error) {
	return f.CountFunc(ctx, filter)
}

// sink keeps every record inserted, duplicates included, so tests can tell
// a record written twice from one written once.
type sink struct {
	mu      sync.Mutex
	recs    []switchboard.Inference
	batches []int
}

func (s *sink) insert(_ context.Context, batch []switchboard.Inference) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, batch...)
	s.batches = append(s.batches, len(batch))
	return nil
}

func (s *sink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

func (s *sink) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.batches...)
}

// checkExactlyOnce fails unless the sink holds each ID of want exactly once
// and nothing else.
func (s *sink) checkExactlyOnce(t *testing.T, want map[string]bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]int{}
	for _, r := range s.recs {
		seen[r.ID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("record %s written %d times, want once", id, n)
		}
		if !want[id] {
			t.Errorf("record %s written, but it was never accepted", id)
		}
	}
	for id := range want {
		if seen[id] == 0 {
			t.Errorf("record %s accepted but never written", id)
		}
	}
}

func inference(i int) switchboard.Inference {
	return switchboard.Inference{ID: fmt.Sprintf("inf-%06d", i), Time: time.Now(), Model: "m", Status: 200}
}

func mustRecord(t *testing.T, r *Recorder, inf switchboard.Inference) {
	t.Helper()
	if err := r.Record(context.Background(), inf); err != nil {
		t.Fatalf("Record(%s): %v", inf.ID, err)
	}
}

func mustClose(t *testing.T, r *Recorder) {
	t.Helper()
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestCloseWritesEverything(t *testing.T) {
	t.Parallel()
	var s sink
	r := New(&fakeStore{InsertFunc: s.insert}, Options{QueueSize: 100, BatchSize: 64, FlushInterval: time.Hour})
	want := map[string]bool{}
	for i := range 1000 {
		inf := inference(i)
		mustRecord(t, r, inf)
		want[inf.ID] = true
	}
	mustClose(t, r)
	s.checkExactlyOnce(t, want)
	if got := r.Stats(); got != (Stats{Written: 1000}) {
		t.Errorf("Stats: got %+v, want %+v", got, Stats{Written: 1000})
	}
}

func TestRecordAfterClose(t *testing.T) {
	t.Parallel()
	var s sink
	r := New(&fakeStore{InsertFunc: s.insert}, Options{})
	mustClose(t, r)
	if err := r.Record(t.Context(), inference(1)); !errors.Is(err, switchboard.ErrClosed) {
		t.Errorf("Record after Close: got %v, want ErrClosed", err)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if s.len() != 0 {
		t.Errorf("store got %d records, want 0", s.len())
	}
}

func TestFlushInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var s sink
		r := New(&fakeStore{InsertFunc: s.insert}, Options{BatchSize: 100, FlushInterval: time.Second})
		defer mustClose(t, r)

		mustRecord(t, r, inference(1))
		time.Sleep(500 * time.Millisecond)
		mustRecord(t, r, inference(2))
		time.Sleep(499 * time.Millisecond)
		synctest.Wait()
		if n := s.len(); n != 0 {
			t.Fatalf("after 999ms: got %d records written, want 0", n)
		}
		// The interval runs from the first record of the batch.
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := s.batchSizes(); len(got) != 1 || got[0] != 2 {
			t.Fatalf("after 1s: got batches %v, want [2]", got)
		}

		// An idle recorder does not write empty batches.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := s.batchSizes(); len(got) != 1 {
			t.Errorf("idle: got batches %v, want [2]", got)
		}
	})
}

func TestBatchSize(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var s sink
		r := New(&fakeStore{InsertFunc: s.insert}, Options{BatchSize: 10, FlushInterval: time.Second})
		for i := range 25 {
			mustRecord(t, r, inference(i))
		}
		synctest.Wait()
		if got := fmt.Sprint(s.batchSizes()); got != "[10 10]" {
			t.Errorf("full batches: got %s, want [10 10]", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := fmt.Sprint(s.batchSizes()); got != "[10 10 5]" {
			t.Errorf("after FlushInterval: got %s, want [10 10 5]", got)
		}
		mustClose(t, r)
	})
}

func TestBackPressure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const queueSize, batchSize = 4, 2
		var s sink
		release := make(chan struct{})
		store := &fakeStore{InsertFunc: func(ctx context.Context, b []switchboard.Inference) error {
			<-release // a store that hangs, ignoring ctx
			return s.insert(ctx, b)
		}}
		r := New(store, Options{QueueSize: queueSize, BatchSize: batchSize, FlushInterval: time.Hour})
		want := map[string]bool{}

		// The writer holds one full batch in the hanging store; the queue
		// holds QueueSize more; the next Record blocks until its deadline.
		accepted := 0
		for i := 0; ; i++ {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			inf := inference(i)
			err := r.Record(ctx, inf)
			cancel()
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Record on a full queue: got %v, want DeadlineExceeded", err)
				}
				break
			}
			want[inf.ID] = true
			accepted++
		}
		if accepted != queueSize+batchSize {
			t.Errorf("accepted %d records before blocking, want %d", accepted, queueSize+batchSize)
		}
		if got := r.Stats().Queued; got != queueSize {
			t.Errorf("Stats.Queued: got %d, want %d", got, queueSize)
		}

		// A blocked Record returns when its context is cancelled…
		ctx, cancel := context.WithCancel(t.Context())
		var cancelledErr error
		go func() { cancelledErr = r.Record(ctx, inference(1000)) }()
		// …and another succeeds once the store moves again.
		var releasedErr error
		go func() { releasedErr = r.Record(context.Background(), inference(1001)) }()
		synctest.Wait() // both are blocked now
		cancel()
		synctest.Wait()
		if !errors.Is(cancelledErr, context.Canceled) {
			t.Errorf("Record cancelled while blocked: got %v, want context.Canceled", cancelledErr)
		}
		close(release)
		synctest.Wait()
		if releasedErr != nil {
			t.Errorf("Record blocked until the store recovered: got %v, want nil", releasedErr)
		}
		want[inference(1001).ID] = true
		mustClose(t, r)
		s.checkExactlyOnce(t, want)
	})
}

func TestRetryUntilSuccess(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var s sink
		var calls []time.Time
		var flushErrs []error
		store := &fakeStore{InsertFunc: func(ctx context.Context, b []switchboard.Inference) error {
			calls = append(calls, time.Now())
			if len(calls) <= 3 {
				return errors.New("database is down")
			}
			return s.insert(ctx, b)
		}}
		r := New(store, Options{
			BatchSize: 50, FlushInterval: time.Second,
			OnFlush: func(n int, _ time.Duration, err error) { flushErrs = append(flushErrs, err) },
		})
		want := map[string]bool{}
		for i := range 120 {
			inf := inference(i)
			mustRecord(t, r, inf)
			want[inf.ID] = true
		}
		mustClose(t, r)
		s.checkExactlyOnce(t, want)

		wantStats := Stats{Written: 120, Failed: 3, Retries: 3}
		if got := r.Stats(); got != wantStats {
			t.Errorf("Stats: got %+v, want %+v", got, wantStats)
		}
		if len(flushErrs) != 6 || flushErrs[0] == nil || flushErrs[3] != nil {
			t.Errorf("OnFlush errors: got %v, want 3 errors then 3 successes", flushErrs)
		}
		// Backoff doubles from 100ms, with jitter in [d/2, d].
		for i, d := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
			gap := calls[i+1].Sub(calls[i])
			if gap < d/2 || gap > d {
				t.Errorf("wait before retry %d: got %v, want between %v and %v", i+1, gap, d/2, d)
			}
		}
	})
}

func TestBackoffIsCapped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls []time.Time
		store := &fakeStore{InsertFunc: func(ctx context.Context, b []switchboard.Inference) error {
			calls = append(calls, time.Now())
			if len(calls) <= 12 {
				return errors.New("database is down")
			}
			return nil
		}}
		r := New(store, Options{})
		mustRecord(t, r, inference(1))
		mustClose(t, r)
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].Sub(calls[i-1]); gap > 5*time.Second {
				t.Errorf("wait before retry %d: got %v, want at most 5s", i, gap)
			}
		}
		if gap := calls[12].Sub(calls[11]); gap < 2500*time.Millisecond {
			t.Errorf("wait before retry 12: got %v, want at least 2.5s (5s with jitter)", gap)
		}
	})
}

func TestWriteContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var deadline time.Duration
		var ctxErr error
		store := &fakeStore{InsertFunc: func(ctx context.Context, b []switchboard.Inference) error {
			d, ok := ctx.Deadline()
			if ok {
				deadline = time.Until(d)
			}
			ctxErr = ctx.Err()
			return nil
		}}
		r := New(store, Options{BatchSize: 1})
		// The write must not inherit the caller's context: the request may
		// be over (or cancelled) long before the batch is written.
		ctx, cancel := context.WithCancel(t.Context())
		if err := r.Record(ctx, inference(1)); err != nil {
			t.Fatal(err)
		}
		cancel()
		mustClose(t, r)
		if ctxErr != nil {
			t.Errorf("write context: got error %v, want none", ctxErr)
		}
		if deadline != 30*time.Second {
			t.Errorf("write deadline: got %v from now, want 30s", deadline)
		}
	})
}

func TestCloseGivesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		store := &fakeStore{InsertFunc: func(ctx context.Context, b []switchboard.Inference) error {
			return errors.New("database is down")
		}}
		const queueSize, batchSize = 5, 3
		r := New(store, Options{
			QueueSize: queueSize, BatchSize: batchSize, FlushInterval: time.Hour,
			Log: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		for i := range queueSize + batchSize {
			mustRecord(t, r, inference(i))
		}
		// One more blocks: the queue is full and the writer is retrying.
		var blockedErr error
		go func() { blockedErr = r.Record(context.Background(), inference(99)) }()
		synctest.Wait()

		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := r.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: got %v, want DeadlineExceeded", err)
		}
		synctest.Wait()
		if !errors.Is(blockedErr, switchboard.ErrClosed) {
			t.Errorf("Record blocked when Close gave up: got %v, want ErrClosed", blockedErr)
		}
		st := r.Stats()
		if st.Dropped != queueSize+batchSize || st.Written != 0 || st.Failed == 0 {
			t.Errorf("Stats: got %+v, want Dropped %d, Written 0, some Failed", st, queueSize+batchSize)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), fmt.Sprintf("records=%d", queueSize+batchSize)) {
			t.Errorf("no Error log with the number of records dropped:\n%s", logs.String())
		}
		if err := r.Record(t.Context(), inference(100)); !errors.Is(err, switchboard.ErrClosed) {
			t.Errorf("Record after Close: got %v, want ErrClosed", err)
		}
	})
}

// TestCloseCancelsWrite: a write in flight when Close gives up is cancelled
// through its context.
func TestCloseCancelsWrite(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{InsertFunc: func(ctx context.Context, b []switchboard.Inference) error {
			<-ctx.Done()
			return ctx.Err()
		}}
		r := New(store, Options{BatchSize: 2})
		mustRecord(t, r, inference(1))
		mustRecord(t, r, inference(2))
		mustRecord(t, r, inference(3))
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: got %v, want DeadlineExceeded", err)
		}
		if got := r.Stats().Dropped; got != 3 {
			t.Errorf("Stats.Dropped: got %d, want 3", got)
		}
	})
}

// TestConcurrentRecordAndClose runs Record from 16 goroutines while Close
// happens (run it with -race): no panic; every Record that returned nil is
// written exactly once; every other returned ErrClosed.
func TestConcurrentRecordAndClose(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			t.Parallel()
			var s sink
			r := New(&fakeStore{InsertFunc: s.insert}, Options{QueueSize: 64, BatchSize: 16, FlushInterval: time.Millisecond})
			const goroutines = 16
			var (
				wg       sync.WaitGroup
				total    atomic.Int64
				started  = make(chan struct{})
				startOne sync.Once
				accepted = make([][]string, goroutines)
				errs     = make([]error, goroutines)
			)
			for g := range goroutines {
				wg.Go(func() {
					for i := 0; ; i++ {
						inf := switchboard.Inference{ID: fmt.Sprintf("g%02d-%06d", g, i), Time: time.Now()}
						if err := r.Record(context.Background(), inf); err != nil {
							errs[g] = err
							return
						}
						accepted[g] = append(accepted[g], inf.ID)
						if total.Add(1) == 500 {
							startOne.Do(func() { close(started) })
						}
					}
				})
			}
			<-started
			mustClose(t, r)
			wg.Wait()

			want := map[string]bool{}
			for g := range goroutines {
				if !errors.Is(errs[g], switchboard.ErrClosed) {
					t.Errorf("goroutine %d stopped with %v, want ErrClosed", g, errs[g])
				}
				for _, id := range accepted[g] {
					want[id] = true
				}
			}
			s.checkExactlyOnce(t, want)
			if got := r.Stats().Written; got != int64(len(want)) {
				t.Errorf("Stats.Written: got %d, want %d", got, len(want))
			}
		})
	}
}
