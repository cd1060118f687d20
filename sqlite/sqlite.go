// Package sqlite is the default Store: a single SQLite file through the
// pure-Go driver modernc.org/sqlite, so the binary stays static without cgo.
//
// The database runs in WAL mode with synchronous=NORMAL, foreign keys on and
// a 5s busy timeout. SQLite allows one writer at a time, so every write goes
// through a pool of one connection (its transactions BEGIN IMMEDIATE), while
// reads use a separate pool of query-only connections. An in-memory database
// uses a single connection for both. Schema migrations are embedded and run
// by New.
//
// Times are stored as integer Unix nanoseconds and read back in UTC;
// durations as integer nanoseconds.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	"github.com/switchboard-ai/switchboard"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var _ switchboard.Store = (*Store)(nil)

func init() { switchboard.Stores.Register("sqlite", newStore) }

// Config is the config block of the sqlite store.
type Config struct {
	// DSN names the database: a path (./data/switchboard.db), the same behind
	// sqlite://, a file: URI, or :memory:. The parent directory is created.
	DSN string `yaml:"dsn" json:"dsn"`
}

// Validate reports whether the config is usable.
func (c *Config) Validate() error {
	if c.DSN == "" {
		return errors.New("dsn: required")
	}
	if _, err := parseDSN(c.DSN); err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	return nil
}

// Store is a switchboard.Store backed by SQLite. It is safe for concurrent
// use.
type Store struct {
	w      *sql.DB // writes and migrations: one connection
	r      *sql.DB // reads; the same as w for an in-memory database
	log    *slog.Logger
	closed atomic.Bool
}

func newStore(ctx context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Store, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, fmt.Errorf("sqlite: decode config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s, err := New(ctx, cfg.DSN, deps.Log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// New opens the database named by dsn (see Config.DSN), creating its
// directory and file if needed, and applies pending migrations. log may be
// nil.
func New(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if !d.memory {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create database directory: %w", err)
		}
	}

	s := &Store{log: log}
	s.w, err = sql.Open("sqlite", d.connString("immediate",
		pragmaBusyTimeout, pragmaForeignKeys, pragmaJournalWAL, pragmaSyncNormal))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// One connection: SQLite has one writer at a time, and an in-memory
	// database lives and dies with its connection, so it is never recycled.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if d.memory {
		s.r = s.w
	} else {
		s.r, err = sql.Open("sqlite", d.connString("", pragmaBusyTimeout, pragmaQueryOnly))
		if err != nil {
			_ = s.w.Close()
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		n := min(max(runtime.GOMAXPROCS(0), 2), 8)
		s.r.SetMaxOpenConns(n)
		s.r.SetMaxIdleConns(n)
	}

	if err := s.w.PingContext(ctx); err != nil {
		_ = s.close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	applied, err := migrate(ctx, s.w)
	if err != nil {
		_ = s.close()
		return nil, fmt.Errorf("sqlite: migrate: %w", err)
	}
	path := d.path
	if d.memory {
		path = ":memory:"
	}
	log.Info("database ready", "path", path, "migrations_applied", applied)
	return s, nil
}

// Ping reports whether the database is usable.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: ping: %w", switchboard.ErrClosed)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database. Operations after Close return an error
// wrapping switchboard.ErrClosed; a second Close does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.close()
}

func (s *Store) close() error {
	var errR error
	if s.r != nil && s.r != s.w {
		errR = s.r.Close()
	}
	if err := errors.Join(errR, s.w.Close()); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}
