package fakeupstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// ShutdownGrace is how long Run waits for requests in flight to finish once
// its context is done, before it cuts the connections left. Stalled
// responses (stall_after) end at once.
const ShutdownGrace = 3 * time.Second

// Run listens on addr (":0" picks a free port) and serves a Server until
// ctx is done, then shuts down gracefully. It logs the address it listens
// on to opts.Log, or to standard error when opts.Log is nil.
func Run(ctx context.Context, addr string, opts Options) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("fakeupstream: listen: %w", err)
	}
	return Serve(ctx, ln, opts)
}

// Serve serves a Server on ln until ctx is done, like Run; it closes ln.
func Serve(ctx context.Context, ln net.Listener, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	fake := New(opts)
	srv := &http.Server{
		Handler:           fake,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug),
	}
	opts.Log.Info("mock upstream listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/v1")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("fakeupstream: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	fake.stop()
	if err := srv.Shutdown(sctx); err != nil {
		opts.Log.Warn("mock upstream shutdown cut connections", "err", err)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fakeupstream: serve: %w", err)
	}
	opts.Log.Info("mock upstream stopped")
	return nil
}
