package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-ai/switchboard"
)

const promptVersionColumns = `prompt_id, seq, version, hash, content, description, tags, source, created_by, created_at`

// CreatePromptVersion stores v, numbering it after the prompt's other
// versions, unless the prompt has a version with v.Hash already: then that
// one is returned with created false. The error wraps switchboard.ErrExists
// if v.Version names another version of the prompt. Concurrent calls for
// one prompt are serialized by a lock on its prompts row.
func (s *Store) CreatePromptVersion(ctx context.Context, v switchboard.PromptVersion) (switchboard.PromptVersion, bool, error) {
	if s.closed.Load() {
		return v, false, fmt.Errorf("postgres: create prompt version: %w", switchboard.ErrClosed)
	}
	tags, err := encodeTags(v.Tags)
	if err != nil {
		return v, false, fmt.Errorf("postgres: create prompt version %s: %w", v.PromptID, err)
	}
	var (
		out     switchboard.PromptVersion
		created bool
	)
	err = s.writePrompts(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO prompts (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
			v.PromptID, v.CreatedAt); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT id FROM prompts WHERE id = $1 FOR UPDATE`, v.PromptID); err != nil {
			return err
		}
		existing, err := scanPromptVersions(tx.Query(ctx, `SELECT `+promptVersionColumns+`
FROM prompt_versions WHERE prompt_id = $1 AND hash = $2`, v.PromptID, v.Hash))
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			out = existing[0]
			return errUnchanged
		}
		taken := func(version string) (bool, error) {
			var t bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM prompt_versions WHERE prompt_id = $1 AND version = $2)`,
				v.PromptID, version).Scan(&t)
			return t, err
		}
		if v.Version != "" {
			if t, err := taken(v.Version); err != nil || t {
				if err == nil {
					err = fmt.Errorf("version %q %w", v.Version, switchboard.ErrExists)
				}
				return err
			}
		}
		var seq int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM prompt_versions WHERE prompt_id = $1`,
			v.PromptID).Scan(&seq); err != nil {
			return err
		}
		out = v
		out.Seq = seq
		if out.Version == "" {
			out.Version = strconv.Itoa(seq)
			if t, err := taken(out.Version); err != nil {
				return err
			} else if t {
				out.Version += "+" + v.Hash[:min(8, len(v.Hash))]
			}
		}
		out.Tags = nilIfEmpty(out.Tags)
		out.CreatedAt = v.CreatedAt.UTC().Truncate(time.Microsecond) // pgx sends microseconds
		_, err = tx.Exec(ctx, `INSERT INTO prompt_versions (`+promptVersionColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, out.PromptID, out.Seq, out.Version, out.Hash, string(out.Content),
			out.Description, tags, out.Source, out.CreatedBy, out.CreatedAt)
		if uniqueConstraint(err) != "" {
			return fmt.Errorf("version %q %w", out.Version, switchboard.ErrExists)
		}
		created = err == nil
		return err
	})
	if err != nil {
		return v, false, fmt.Errorf("postgres: create prompt version %s: %w", v.PromptID, err)
	}
	return out, created, nil
}

// ListPromptVersions returns the versions of promptID, or of every prompt
// when it is "", by prompt ID (byte order) then Seq.
func (s *Store) ListPromptVersions(ctx context.Context, promptID string) ([]switchboard.PromptVersion, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list prompt versions: %w", switchboard.ErrClosed)
	}
	out, err := scanPromptVersions(s.pool.Query(ctx, `SELECT `+promptVersionColumns+`
FROM prompt_versions WHERE $1 = '' OR prompt_id = $1 ORDER BY prompt_id COLLATE "C", seq`, promptID))
	if err != nil {
		return nil, fmt.Errorf("postgres: list prompt versions: %w", err)
	}
	return out, nil
}

func scanPromptVersions(rows pgx.Rows, err error) ([]switchboard.PromptVersion, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []switchboard.PromptVersion{}
	for rows.Next() {
		var (
			v             switchboard.PromptVersion
			content, tags string
		)
		if err := rows.Scan(&v.PromptID, &v.Seq, &v.Version, &v.Hash, &content, &v.Description, &tags,
			&v.Source, &v.CreatedBy, &v.CreatedAt); err != nil {
			return nil, err
		}
		v.Content = json.RawMessage(content)
		if err := json.Unmarshal([]byte(tags), &v.Tags); err != nil {
			return nil, fmt.Errorf("prompt %s version %s: decode tags: %w", v.PromptID, v.Version, err)
		}
		v.Tags = nilIfEmpty(v.Tags)
		v.CreatedAt = v.CreatedAt.UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

// MovePromptLabel points c.Label at c.Hash and records c in the label's
// history. The error wraps switchboard.ErrNotFound for an unknown version,
// switchboard.ErrLabelMoved if the label does not point at c.Previous, and
// switchboard.ErrExists if c.ID is taken. The label moves by a conditional
// write, so of two concurrent moves from the same place one fails.
func (s *Store) MovePromptLabel(ctx context.Context, c switchboard.LabelChange) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: move prompt label: %w", switchboard.ErrClosed)
	}
	err := s.writePrompts(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM prompt_versions WHERE prompt_id = $1 AND hash = $2)`,
			c.PromptID, c.Hash).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("version %s %w", c.Hash, switchboard.ErrNotFound)
		}
		var (
			n   int64
			err error
		)
		if c.Previous == "" {
			tag, e := tx.Exec(ctx, `INSERT INTO prompt_labels (prompt_id, label, hash, updated_by, updated_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (prompt_id, label) DO NOTHING`, c.PromptID, c.Label, c.Hash, c.Actor, c.Time)
			n, err = tag.RowsAffected(), e
		} else {
			tag, e := tx.Exec(ctx, `UPDATE prompt_labels SET hash = $1, updated_by = $2, updated_at = $3
WHERE prompt_id = $4 AND label = $5 AND hash = $6`, c.Hash, c.Actor, c.Time, c.PromptID, c.Label, c.Previous)
			n, err = tag.RowsAffected(), e
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return switchboard.ErrLabelMoved
		}
		_, err = tx.Exec(ctx, `INSERT INTO prompt_label_history (id, prompt_id, label, hash, previous, action, actor, reason, time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, c.ID, c.PromptID, c.Label, c.Hash, c.Previous, c.Action, c.Actor, c.Reason, c.Time)
		if uniqueConstraint(err) != "" {
			return fmt.Errorf("change id %q %w", c.ID, switchboard.ErrExists)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: move label %s/%s: %w", c.PromptID, c.Label, err)
	}
	return nil
}

// ListPromptLabels returns the labels of promptID, or of every prompt when
// it is "", by prompt ID then label (byte order).
func (s *Store) ListPromptLabels(ctx context.Context, promptID string) ([]switchboard.PromptLabel, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list prompt labels: %w", switchboard.ErrClosed)
	}
	rows, err := s.pool.Query(ctx, `SELECT prompt_id, label, hash, updated_by, updated_at
FROM prompt_labels WHERE $1 = '' OR prompt_id = $1 ORDER BY prompt_id COLLATE "C", label COLLATE "C"`, promptID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list prompt labels: %w", err)
	}
	defer rows.Close()
	out := []switchboard.PromptLabel{}
	for rows.Next() {
		var l switchboard.PromptLabel
		if err := rows.Scan(&l.PromptID, &l.Label, &l.Hash, &l.UpdatedBy, &l.UpdatedAt); err != nil {
			return nil, fmt.Errorf("postgres: list prompt labels: %w", err)
		}
		l.UpdatedAt = l.UpdatedAt.UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list prompt labels: %w", err)
	}
	return out, nil
}

// PromptLabelHistory returns the changes of one label, last applied first.
func (s *Store) PromptLabelHistory(ctx context.Context, promptID, label string) ([]switchboard.LabelChange, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: prompt label history: %w", switchboard.ErrClosed)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, prompt_id, label, hash, previous, action, actor, reason, time
FROM prompt_label_history WHERE prompt_id = $1 AND label = $2 ORDER BY n DESC`, promptID, label)
	if err != nil {
		return nil, fmt.Errorf("postgres: prompt label history: %w", err)
	}
	defer rows.Close()
	out := []switchboard.LabelChange{}
	for rows.Next() {
		var c switchboard.LabelChange
		if err := rows.Scan(&c.ID, &c.PromptID, &c.Label, &c.Hash, &c.Previous, &c.Action, &c.Actor, &c.Reason, &c.Time); err != nil {
			return nil, fmt.Errorf("postgres: prompt label history: %w", err)
		}
		c.Time = c.Time.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: prompt label history: %w", err)
	}
	return out, nil
}

// PromptsVersion returns a counter that every write to prompt versions or
// labels increments, in the write's transaction, so every replica sees the
// same value.
func (s *Store) PromptsVersion(ctx context.Context) (string, error) {
	if s.closed.Load() {
		return "", fmt.Errorf("postgres: prompts version: %w", switchboard.ErrClosed)
	}
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM prompts_version WHERE id = 1`).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres: prompts version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}

// writePrompts runs fn in a transaction and, unless fn fails, increments
// prompts_version in it and commits. fn returns errUnchanged to roll back
// without an error.
func (s *Store) writePrompts(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE prompts_version SET version = version + 1 WHERE id = 1`)
		return err
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// AppendAudit stores e; an event whose ID exists already is a no-op.
func (s *Store) AppendAudit(ctx context.Context, e switchboard.AuditEvent) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: append audit: %w", switchboard.ErrClosed)
	}
	var detail *string
	if len(e.Detail) > 0 {
		d := string(e.Detail)
		detail = &d
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_events (id, time, actor, action, target, detail)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`, e.ID, e.Time, e.Actor, e.Action, e.Target, detail); err != nil {
		return fmt.Errorf("postgres: append audit %s: %w", e.ID, err)
	}
	return nil
}

// ListAudit returns matching events, newest first (ties by ID, descending,
// in byte order). A zero Limit returns every match.
func (s *Store) ListAudit(ctx context.Context, f switchboard.AuditFilter) ([]switchboard.AuditEvent, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("postgres: list audit: %w", switchboard.ErrClosed)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+arg(f.Since))
	}
	if f.Target != "" {
		where = append(where, "starts_with(target, "+arg(f.Target)+")")
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(f.Action))
	}
	q := `SELECT id, time, actor, action, target, detail FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY time DESC, id COLLATE "C" DESC`
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	defer rows.Close()
	out := []switchboard.AuditEvent{}
	for rows.Next() {
		var (
			e      switchboard.AuditEvent
			detail *string
		)
		if err := rows.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.Target, &detail); err != nil {
			return nil, fmt.Errorf("postgres: list audit: %w", err)
		}
		e.Time = e.Time.UTC()
		if detail != nil {
			e.Detail = json.RawMessage(*detail)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return out, nil
}

func encodeTags(tags []string) (string, error) {
	b, err := json.Marshal(nonNil(tags))
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
