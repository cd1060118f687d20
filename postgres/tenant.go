package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-ai/switchboard"
)

const keyColumns = `id, tenant, name, hash, prefix, scopes, models, limits, budget,
    expires_at, revoked_at, source, created_at, updated_at`

// uniqueViolation is the SQLSTATE of unique_violation.
const uniqueViolation = "23505"

// errUnchanged ends a writeTenants transaction that changed nothing.
var errUnchanged = errors.New("unchanged")

// CreateTenant inserts t; the error wraps switchboard.ErrExists if the name
// is taken. Times are kept to the microsecond.
func (s *Store) CreateTenant(ctx context.Context, t switchboard.Tenant) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: create tenant: %w", switchboard.ErrClosed)
	}
	limits, budget, err := encodeQuota(t.Limits, t.Budget)
	if err != nil {
		return fmt.Errorf("postgres: create tenant %q: %w", t.Name, err)
	}
	err = s.writeTenants(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tenants (name, limits, budget, source, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)`, t.Name, limits, budget, t.Source, t.CreatedAt, t.UpdatedAt)
		return err
	})
	if uniqueConstraint(err) != "" {
		return fmt.Errorf("postgres: create tenant %q: %w", t.Name, switchboard.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create tenant %q: %w", t.Name, err)
	}
	return nil
}

// UpdateTenant replaces the limits, budget and UpdatedAt of t.Name; the
// error wraps switchboard.ErrNotFound if there is no such tenant.
func (s *Store) UpdateTenant(ctx context.Context, t switchboard.Tenant) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: update tenant: %w", switchboard.ErrClosed)
	}
	limits, budget, err := encodeQuota(t.Limits, t.Budget)
	if err != nil {
		return fmt.Errorf("postgres: update tenant %q: %w", t.Name, err)
	}
	err = s.writeTenants(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenants SET limits = $1, budget = $2, updated_at = $3 WHERE name = $4`,
			limits, budget, t.UpdatedAt, t.Name)
		if err == nil && tag.RowsAffected() == 0 {
			return switchboard.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: update tenant %q: %w", t.Name, err)
	}
	return nil
}

// DeleteTenant removes the tenant name and revokes its keys that are not
// revoked yet, at the current time; the error wraps switchboard.ErrNotFound
// if there is no such tenant.
func (s *Store) DeleteTenant(ctx context.Context, name string) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: delete tenant: %w", switchboard.ErrClosed)
	}
	now := time.Now()
	err := s.writeTenants(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM tenants WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return switchboard.ErrNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1, updated_at = $1
WHERE tenant = $2 AND revoked_at IS NULL`, now, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete tenant %q: %w", name, err)
	}
	return nil
}

// ListTenants returns every tenant, by name (byte order).
func (s *Store) ListTenants(ctx context.Context) ([]switchboard.Tenant, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list tenants: %w", switchboard.ErrClosed)
	}
	out, err := s.listTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tenants: %w", err)
	}
	return out, nil
}

func (s *Store) listTenants(ctx context.Context) ([]switchboard.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, limits, budget, source, created_at, updated_at
FROM tenants ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []switchboard.Tenant{}
	for rows.Next() {
		var (
			t              switchboard.Tenant
			limits, budget string
		)
		if err := rows.Scan(&t.Name, &limits, &budget, &t.Source, &t.CreatedAt, &t.UpdatedAt); err != nil {
			return nil, err
		}
		if err := decodeQuota(limits, budget, &t.Limits, &t.Budget); err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.Name, err)
		}
		t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateKey inserts k; the error wraps switchboard.ErrExists if its ID or
// its hash is taken. Times are kept to the microsecond.
func (s *Store) CreateKey(ctx context.Context, k switchboard.APIKey) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: create key: %w", switchboard.ErrClosed)
	}
	scopes, models, limits, budget, err := encodeKey(k)
	if err != nil {
		return fmt.Errorf("postgres: create key %q: %w", k.ID, err)
	}
	err = s.writeTenants(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			k.ID, k.TenantID, k.Name, k.Hash, k.Prefix, scopes, models, limits, budget,
			k.ExpiresAt, k.RevokedAt, k.Source, k.CreatedAt, k.UpdatedAt)
		return err
	})
	switch uniqueConstraint(err) {
	case "":
	case "api_keys_hash_key":
		return fmt.Errorf("postgres: create key %q: hash %w", k.ID, switchboard.ErrExists)
	default:
		return fmt.Errorf("postgres: create key %q: id %w", k.ID, switchboard.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create key %q: %w", k.ID, err)
	}
	return nil
}

// RevokeKey sets the revocation time and UpdatedAt of key id to at; the
// error wraps switchboard.ErrNotFound if there is no such key. Revoking a
// revoked key changes nothing and returns nil.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: revoke key: %w", switchboard.ErrClosed)
	}
	err := s.writeTenants(ctx, func(tx pgx.Tx) error {
		// Of two concurrent revocations, the second waits for the first's
		// row lock, then finds revoked_at set and changes nothing.
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1, updated_at = $1
WHERE id = $2 AND revoked_at IS NULL`, at, id)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return switchboard.ErrNotFound
		}
		return errUnchanged // revoked already
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke key %q: %w", id, err)
	}
	return nil
}

// ListKeys returns every key, revoked ones included, oldest first (ties by
// ID, in byte order).
func (s *Store) ListKeys(ctx context.Context) ([]switchboard.APIKey, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list keys: %w", switchboard.ErrClosed)
	}
	out, err := s.listKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	return out, nil
}

func (s *Store) listKeys(ctx context.Context) ([]switchboard.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []switchboard.APIKey{}
	for rows.Next() {
		var (
			k                              switchboard.APIKey
			scopes, models, limits, budget string
		)
		if err := rows.Scan(&k.ID, &k.TenantID, &k.Name, &k.Hash, &k.Prefix, &scopes, &models, &limits, &budget,
			&k.ExpiresAt, &k.RevokedAt, &k.Source, &k.CreatedAt, &k.UpdatedAt); err != nil {
			return nil, err
		}
		if err := decodeKey(&k, scopes, models, limits, budget); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		k.ExpiresAt, k.RevokedAt = utcPtr(k.ExpiresAt), utcPtr(k.RevokedAt)
		k.CreatedAt, k.UpdatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// TenantsVersion returns a counter that every write to tenants or keys
// increments, in the write's transaction, so every replica sees the same
// value.
func (s *Store) TenantsVersion(ctx context.Context) (string, error) {
	if s.closed.Load() {
		return "", fmt.Errorf("postgres: tenants version: %w", switchboard.ErrClosed)
	}
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM tenants_version WHERE id = 1`).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres: tenants version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}

// writeTenants runs fn in a transaction and, unless fn fails, increments
// tenants_version in it and commits. fn returns errUnchanged to roll back
// without an error.
func (s *Store) writeTenants(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE tenants_version SET version = version + 1 WHERE id = 1`)
		return err
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// uniqueConstraint returns the name of the unique constraint err violates,
// or "" if it is no unique violation.
func uniqueConstraint(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != uniqueViolation {
		return ""
	}
	if pe.ConstraintName == "" {
		return "unknown"
	}
	return pe.ConstraintName
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
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
