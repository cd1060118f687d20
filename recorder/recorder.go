// Package recorder writes inference records asynchronously, in batches,
// without losing any: the request path hands a record to Record, which only
// enqueues it, and one writer goroutine stores batches through a
// switchboard.InferenceStore, retrying failed batches until they succeed.
//
// A full queue blocks Record (back-pressure) instead of dropping. Close stops
// accepting records and writes everything queued. Stores skip records whose
// ID exists, so a retried batch never counts twice.
package recorder

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Defaults of Options.
const (
	// DefaultQueueSize is the default Options.QueueSize.
	DefaultQueueSize = 10000
	// DefaultBatchSize is the default Options.BatchSize.
	DefaultBatchSize = 500
	// DefaultFlushInterval is the default Options.FlushInterval.
	DefaultFlushInterval = time.Second
)

const (
	// writeTimeout bounds one InsertInferences call.
	writeTimeout = 30 * time.Second
	// minBackoff and maxBackoff bound the wait before retrying a batch.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// errClosed is returned by Record after Close; it wraps switchboard.ErrClosed
// and is allocated once.
var errClosed = fmt.Errorf("recorder: %w", switchboard.ErrClosed)

// Options configure a Recorder. Zero fields take the defaults.
type Options struct {
	// QueueSize is how many records wait for the writer before Record blocks.
	QueueSize int
	// BatchSize is the most records written in one InsertInferences call.
	BatchSize int
	// FlushInterval is the longest a record waits for its batch to fill:
	// the batch is written when it is full or when its first record is
	// FlushInterval old.
	FlushInterval time.Duration
	// Log receives write failures and shutdown messages; nil discards them.
	Log *slog.Logger
	// OnFlush, if set, is called by the writer after every InsertInferences
	// call with the batch size, the call's duration and its error. It must
	// be quick (update a metric).
	OnFlush func(n int, d time.Duration, err error)
}

// Stats are counters of a Recorder.
type Stats struct {
	// Queued is the number of records in the queue right now, not counting
	// the batch being written.
	Queued int
	// Written is the number of records in batches the store accepted.
	Written int64
	// Failed is the number of InsertInferences calls that returned an error.
	Failed int64
	// Retries is the number of batches written again after a failure.
	Retries int64
	// Dropped is the number of records given up on because Close's context
	// ended before they could be written. It is 0 unless a shutdown timed out.
	Dropped int64
}

// Inserter is the part of switchboard.InferenceStore the recorder uses.
type Inserter interface {
	InsertInferences(ctx context.Context, batch []switchboard.Inference) error
}

// Recorder is an asynchronous, batched writer of inference records. It is
// safe for concurrent use.
type Recorder struct {
	store Inserter
	opts  Options
	log   *slog.Logger
	queue chan switchboard.Inference

	// mu guards closed. Record holds it for reading while it checks closed
	// and joins senders; Close holds it for writing to set closed. So once
	// Close has set closed, senders only shrinks, and when it reaches zero
	// nobody can send on queue any more and Close closes it.
	mu      sync.RWMutex
	closed  bool
	senders sync.WaitGroup

	// abandon is closed when a Close gives up (its context ended): the writer
	// stops retrying, and blocked Records return.
	abandon     chan struct{}
	abandonOnce sync.Once
	// writeCtx is the parent of every write; cancelled on abandon.
	writeCtx    context.Context
	cancelWrite context.CancelFunc
	// done is closed when the writer has returned.
	done chan struct{}

	written, failed, retries, dropped atomic.Int64
}

// New starts a Recorder writing to store. Call Close to stop it. The
// recorder reuses its batch buffer, so store must not keep the slice it is
// given after InsertInferences returns.
func New(store Inserter, opts Options) *Recorder {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		store:   store,
		opts:    opts,
		log:     log,
		queue:   make(chan switchboard.Inference, opts.QueueSize),
		abandon: make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.writeCtx, r.cancelWrite = context.WithCancel(context.Background())
	go r.run()
	return r
}

// Record queues inf to be written. When the queue is full it blocks until
// there is room or ctx is done, and then returns ctx's error; it never
// drops a record. After Close it returns an error wrapping
// switchboard.ErrClosed. A nil error means inf will be written, unless a
// Close gives up on shutdown (see Close).
func (r *Recorder) Record(ctx context.Context, inf switchboard.Inference) error {
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return errClosed
	}
	r.senders.Add(1)
	r.mu.RUnlock()
	defer r.senders.Done()

	select {
	case r.queue <- inf:
		return nil
	default:
	}
	select {
	case r.queue <- inf:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("recorder: queue full: %w", ctx.Err())
	case <-r.abandon:
		return errClosed
	}
}

// Close stops accepting records, writes every record queued (retrying
// failed batches) and waits for the writer. If ctx ends first, Close gives
// up: the writer stops, the records not yet written are logged as an error
// and counted in Stats.Dropped, and Close returns ctx's error. Calling Close
// again waits the same way.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	first := !r.closed
	r.closed = true
	r.mu.Unlock()
	if first {
		go func() {
			// Records that passed the closed check finish sending (the writer
			// keeps draining) or give up; then the writer can see the end.
			r.senders.Wait()
			close(r.queue)
		}()
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	r.abandonOnce.Do(func() {
		close(r.abandon)
		r.cancelWrite()
	})
	<-r.done
	return fmt.Errorf("recorder: close: %w", ctx.Err())
}

// Stats returns the current counters.
func (r *Recorder) Stats() Stats {
	return Stats{
		Queued:  len(r.queue),
		Written: r.written.Load(),
		Failed:  r.failed.Load(),
		Retries: r.retries.Load(),
		Dropped: r.dropped.Load(),
	}
}

// run is the writer: it gathers batches from the queue and writes them,
// until the queue is closed and drained, or Close gives up.
func (r *Recorder) run() {
	defer close(r.done)
	defer r.cancelWrite()
	batch := make([]switchboard.Inference, 0, r.opts.BatchSize)
	timer := time.NewTimer(r.opts.FlushInterval)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case inf, ok := <-r.queue:
			if !ok {
				if len(batch) > 0 {
					r.write(batch)
				}
				return
			}
			batch = append(batch, inf)
			if len(batch) == 1 {
				timer.Reset(r.opts.FlushInterval)
			}
			if len(batch) < r.opts.BatchSize {
				continue
			}
			timer.Stop()
		case <-timer.C:
		case <-r.abandon:
			r.giveUp(len(batch))
			return
		}
		if !r.write(batch) {
			return
		}
		clear(batch) // let the strings go
		batch = batch[:0]
	}
}

// write stores batch, retrying with exponential backoff until it succeeds.
// It returns false if Close gave up first.
func (r *Recorder) write(batch []switchboard.Inference) bool {
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r.retries.Add(1)
		}
		ctx, cancel := context.WithTimeout(r.writeCtx, writeTimeout)
		start := time.Now()
		err := r.store.InsertInferences(ctx, batch)
		cancel()
		if r.opts.OnFlush != nil {
			r.opts.OnFlush(len(batch), time.Since(start), err)
		}
		if err == nil {
			r.written.Add(int64(len(batch)))
			return true
		}
		r.failed.Add(1)
		r.log.Warn("inference write failed", "records", len(batch), "attempt", attempt+1,
			"retry_in", backoff, switchboard.LogKeyErr, err)

		// Sleep between backoff/2 and backoff, so replicas that failed
		// together do not retry together.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.abandon:
			t.Stop()
			r.giveUp(len(batch))
			return false
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// giveUp accounts for the records lost when Close gives up: pending (the
// batch in hand) plus those still queued. Records blocked in Record return
// errClosed, so once they are gone the queue holds the exact remainder.
func (r *Recorder) giveUp(pending int) {
	r.senders.Wait()
	lost := pending + len(r.queue)
	r.dropped.Add(int64(lost))
	if lost > 0 {
		r.log.Error("inference records dropped on shutdown", "records", lost)
	}
}
