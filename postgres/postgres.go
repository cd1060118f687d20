// Package postgres is the Store for scaled-out deployments: PostgreSQL
// through github.com/jackc/pgx/v5 and its pool. Several replicas share one
// database; schema migrations are embedded, run by New, and serialized with
// an advisory lock so replicas starting together migrate once.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-ai/switchboard"
)

var _ switchboard.Store = (*Store)(nil)

func init() { switchboard.Stores.Register("postgres", newStore) }

// Config is the config block of the postgres store.
type Config struct {
	// DSN is a pgx connection string: a URL
	// (postgres://user:pass@host:5432/db?sslmode=require&pool_max_conns=10)
	// or key=value pairs. Unknown URL parameters, such as search_path, are
	// sent to the server as run-time parameters.
	DSN string `yaml:"dsn" json:"dsn"`
}

// Validate reports whether the config is usable.
func (c *Config) Validate() error {
	if c.DSN == "" {
		return errors.New("dsn: required")
	}
	if _, err := pgxpool.ParseConfig(c.DSN); err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	return nil
}

// Store is a switchboard.Store backed by PostgreSQL. It is safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	closed atomic.Bool
}

func newStore(ctx context.Context, dec switchboard.Decoder, deps switchboard.Deps) (switchboard.Store, error) {
	var cfg Config
	if err := dec(&cfg); err != nil {
		return nil, fmt.Errorf("postgres: decode config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := New(ctx, cfg.DSN, deps.Log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// New connects to the database named by dsn (see Config.DSN) and applies
// pending migrations. log may be nil. Errors never include the password.
func New(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	applied, err := migrate(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	log.Info("database ready", "host", cfg.ConnConfig.Host, "database", cfg.ConnConfig.Database,
		"migrations_applied", applied)
	return &Store{pool: pool, log: log}, nil
}

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: ping: %w", switchboard.ErrClosed)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for queries in flight. Operations after
// Close return an error wrapping switchboard.ErrClosed; a second Close does
// nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	return nil
}
