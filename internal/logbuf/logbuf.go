// Package logbuf is a buffered writer for the access log: lines are
// collected in memory and written in one syscall every interval (or when
// the buffer fills), instead of one write per request. Close flushes.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer buffers writes to an underlying writer and flushes them
// periodically. It is safe for concurrent use; each Write is kept whole.
type Writer struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// New returns a Writer over w that flushes every interval and whenever size
// bytes are pending.
func New(w io.Writer, size int, interval time.Duration) *Writer {
	b := &Writer{bw: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(interval)
	return b
}

func (b *Writer) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Write buffers p. A write larger than the free space flushes first, so a
// line is never split across two syscalls unless it exceeds the buffer.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.ErrClosedPipe
	}
	if len(p) > b.bw.Available() && b.bw.Buffered() > 0 {
		if err := b.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return b.bw.Write(p)
}

// Flush writes what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bw.Flush()
}

// Close stops the periodic flush and flushes what is left. Later writes fail.
func (b *Writer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bw.Flush()
}
