package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles are the schema migrations, named NNNN_description.sql and
// applied in the order of NNNN. A released migration is never edited; a
// change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the key of the transaction-level advisory lock that
// serializes migrations across replicas ("sbmigr" in ASCII).
const migrationLock int64 = 0x73626d696772

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the migrations in fsys's migrations directory,
// sorted by version.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the embedded migrations that schema_migrations does not
// list, each in its own transaction holding the advisory lock, and returns
// how many it applied. Tables go to the first schema of the search_path.
func migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, m := range ms {
		done, err := applyMigration(ctx, pool, m)
		if err != nil {
			return applied, fmt.Errorf("%s: %w", m.name, err)
		}
		if done {
			applied++
		}
	}
	return applied, nil
}

// applyMigration applies m unless it was applied already, and reports
// whether it did.
func applyMigration(ctx context.Context, pool *pgxpool.Pool, m migration) (bool, error) {
	var done bool
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Everything below, the CREATE IF NOT EXISTS included, runs under the
		// lock: concurrent CREATE TABLE IF NOT EXISTS can fail in PostgreSQL.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT      PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`,
			m.version).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		// Without arguments, pgx sends the file with the simple protocol,
		// which runs several statements.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}
