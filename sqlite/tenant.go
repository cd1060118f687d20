package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/switchboard-ai/switchboard"
)

const keyColumns = `id, tenant, name, hash, prefix, scopes, models, limits, budget,
    expires_at, revoked_at, source, created_at, updated_at`

// errUnchanged ends a writeTenants transaction that changed nothing.
var errUnchanged = errors.New("unchanged")

// CreateTenant inserts t; the error wraps switchboard.ErrExists if the name
// is taken. Times are stored as given.
func (s *Store) CreateTenant(ctx context.Context, t switchboard.Tenant) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: create tenant: %w", switchboard.ErrClosed)
	}
	limits, budget, err := encodeQuota(t.Limits, t.Budget)
	if err != nil {
		return fmt.Errorf("sqlite: create tenant %q: %w", t.Name, err)
	}
	err = s.writeTenants(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (name, limits, budget, source, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?)`, t.Name, limits, budget, t.Source, unixNano(t.CreatedAt), unixNano(t.UpdatedAt))
		return err
	})
	if code, ok := constraintError(err); ok && code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return fmt.Errorf("sqlite: create tenant %q: %w", t.Name, switchboard.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create tenant %q: %w", t.Name, err)
	}
	return nil
}

// UpdateTenant replaces the limits, budget and UpdatedAt of t.Name; the
// error wraps switchboard.ErrNotFound if there is no such tenant.
func (s *Store) UpdateTenant(ctx context.Context, t switchboard.Tenant) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: update tenant: %w", switchboard.ErrClosed)
	}
	limits, budget, err := encodeQuota(t.Limits, t.Budget)
	if err != nil {
		return fmt.Errorf("sqlite: update tenant %q: %w", t.Name, err)
	}
	err = s.writeTenants(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET limits = ?, budget = ?, updated_at = ? WHERE name = ?`,
			limits, budget, unixNano(t.UpdatedAt), t.Name)
		if err != nil {
			return err
		}
		return requireRow(res)
	})
	if err != nil {
		return fmt.Errorf("sqlite: update tenant %q: %w", t.Name, err)
	}
	return nil
}

// DeleteTenant removes the tenant name and revokes its keys that are not
// revoked yet, at the current time; the error wraps switchboard.ErrNotFound
// if there is no such tenant.
func (s *Store) DeleteTenant(ctx context.Context, name string) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: delete tenant: %w", switchboard.ErrClosed)
	}
	now := unixNano(time.Now())
	err := s.writeTenants(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if err := requireRow(res); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?, updated_at = ?
WHERE tenant = ? AND revoked_at IS NULL`, now, now, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete tenant %q: %w", name, err)
	}
	return nil
}

// ListTenants returns every tenant, by name (byte order).
func (s *Store) ListTenants(ctx context.Context) ([]switchboard.Tenant, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list tenants: %w", switchboard.ErrClosed)
	}
	out, err := s.listTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tenants: %w", err)
	}
	return out, nil
}

func (s *Store) listTenants(ctx context.Context) ([]switchboard.Tenant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, limits, budget, source, created_at, updated_at
FROM tenants ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.Tenant{}
	for rows.Next() {
		var (
			t               switchboard.Tenant
			limits, budget  string
			created, update int64
		)
		if err := rows.Scan(&t.Name, &limits, &budget, &t.Source, &created, &update); err != nil {
			return nil, err
		}
		if err := decodeQuota(limits, budget, &t.Limits, &t.Budget); err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.Name, err)
		}
		t.CreatedAt, t.UpdatedAt = fromUnixNano(created), fromUnixNano(update)
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateKey inserts k; the error wraps switchboard.ErrExists if its ID or
// its hash is taken. Times are stored as given.
func (s *Store) CreateKey(ctx context.Context, k switchboard.APIKey) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: create key: %w", switchboard.ErrClosed)
	}
	scopes, models, limits, budget, err := encodeKey(k)
	if err != nil {
		return fmt.Errorf("sqlite: create key %q: %w", k.ID, err)
	}
	err = s.writeTenants(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.TenantID, k.Name, k.Hash, k.Prefix, scopes, models, limits, budget,
			nullableTime(k.ExpiresAt), nullableTime(k.RevokedAt), k.Source, unixNano(k.CreatedAt), unixNano(k.UpdatedAt))
		return err
	})
	if code, ok := constraintError(err); ok {
		switch code {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: create key %q: id %w", k.ID, switchboard.ErrExists)
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("sqlite: create key %q: hash %w", k.ID, switchboard.ErrExists)
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: create key %q: %w", k.ID, err)
	}
	return nil
}

// RevokeKey sets the revocation time and UpdatedAt of key id to at; the
// error wraps switchboard.ErrNotFound if there is no such key. Revoking a
// revoked key changes nothing and returns nil.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: revoke key: %w", switchboard.ErrClosed)
	}
	err := s.writeTenants(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?, updated_at = ?
WHERE id = ? AND revoked_at IS NULL`, unixNano(at), unixNano(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return switchboard.ErrNotFound
		}
		return errUnchanged // revoked already
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke key %q: %w", id, err)
	}
	return nil
}

// ListKeys returns every key, revoked ones included, oldest first (ties by
// ID).
func (s *Store) ListKeys(ctx context.Context) ([]switchboard.APIKey, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list keys: %w", switchboard.ErrClosed)
	}
	out, err := s.listKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	return out, nil
}

func (s *Store) listKeys(ctx context.Context) ([]switchboard.APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.APIKey{}
	for rows.Next() {
		var (
			k                              switchboard.APIKey
			scopes, models, limits, budget string
			expires, revoked               *int64
			created, updated               int64
		)
		if err := rows.Scan(&k.ID, &k.TenantID, &k.Name, &k.Hash, &k.Prefix, &scopes, &models, &limits, &budget,
			&expires, &revoked, &k.Source, &created, &updated); err != nil {
			return nil, err
		}
		if err := decodeKey(&k, scopes, models, limits, budget); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		k.ExpiresAt, k.RevokedAt = timePtr(expires), timePtr(revoked)
		k.CreatedAt, k.UpdatedAt = fromUnixNano(created), fromUnixNano(updated)
		out = append(out, k)
	}
	return out, rows.Err()
}

// TenantsVersion returns a counter that every write to tenants or keys
// increments, in the write's transaction.
func (s *Store) TenantsVersion(ctx context.Context) (string, error) {
	if s.closed.Load() {
		return "", fmt.Errorf("sqlite: tenants version: %w", switchboard.ErrClosed)
	}
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM tenants_version WHERE id = 1`).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: tenants version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}

// writeTenants runs fn in a transaction on the writer and, unless fn
// fails, increments tenants_version in it and commits. fn returns
// errUnchanged to roll back without an error.
func (s *Store) writeTenants(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		if errors.Is(err, errUnchanged) {
			return nil
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tenants_version SET version = version + 1 WHERE id = 1`); err != nil {
		return err
	}
	return tx.Commit()
}

// constraintError returns the extended result code of a constraint
// violation in err.
func constraintError(err error) (int, bool) {
	var se *msqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		return 0, false
	}
	return se.Code(), true
}

// requireRow returns switchboard.ErrNotFound if res changed no row.
func requireRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return switchboard.ErrNotFound
	}
	return nil
}

func nullableTime(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ns := unixNano(*t)
	return &ns
}

func timePtr(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	t := fromUnixNano(*ns)
	return &t
}

// encodeQuota returns the JSON of l and b.
func encodeQuota(l switchboard.Limits, b switchboard.Budget) (limits, budget string, err error) {
	lj, err := json.Marshal(l)
	if err != nil {
		return "", "", fmt.Errorf("encode limits: %w", err)
	}
	bj, err := json.Marshal(b)
	if err != nil {
		return "", "", fmt.Errorf("encode budget: %w", err)
	}
	return string(lj), string(bj), nil
}

func decodeQuota(limits, budget string, l *switchboard.Limits, b *switchboard.Budget) error {
	if err := json.Unmarshal([]byte(limits), l); err != nil {
		return fmt.Errorf("decode limits: %w", err)
	}
	if err := json.Unmarshal([]byte(budget), b); err != nil {
		return fmt.Errorf("decode budget: %w", err)
	}
	return nil
}

// encodeKey returns the JSON columns of k. Nil scopes and models are stored
// as empty arrays.
func encodeKey(k switchboard.APIKey) (scopes, models, limits, budget string, err error) {
	sj, err := json.Marshal(nonNil(k.Scopes))
	if err != nil {
		return "", "", "", "", fmt.Errorf("encode scopes: %w", err)
	}
	mj, err := json.Marshal(nonNil(k.Models))
	if err != nil {
		return "", "", "", "", fmt.Errorf("encode models: %w", err)
	}
	limits, budget, err = encodeQuota(k.Limits, k.Budget)
	return string(sj), string(mj), limits, budget, err
}

// decodeKey sets the JSON fields of k. Scopes come back non-nil, Models nil
// when empty.
func decodeKey(k *switchboard.APIKey, scopes, models, limits, budget string) error {
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return fmt.Errorf("decode scopes: %w", err)
	}
	k.Scopes = nonNil(k.Scopes)
	if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
		return fmt.Errorf("decode models: %w", err)
	}
	if len(k.Models) == 0 {
		k.Models = nil
	}
	return decodeQuota(limits, budget, &k.Limits, &k.Budget)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
