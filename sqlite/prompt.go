package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/switchboard-ai/switchboard"
)

const promptVersionColumns = `prompt_id, seq, version, hash, content, description, tags, source, created_by, created_at`

// CreatePromptVersion stores v, numbering it after the prompt's other
// versions, unless the prompt has a version with v.Hash already: then that
// one is returned with created false. The error wraps switchboard.ErrExists
// if v.Version names another version of the prompt.
func (s *Store) CreatePromptVersion(ctx context.Context, v switchboard.PromptVersion) (switchboard.PromptVersion, bool, error) {
	if s.closed.Load() {
		return v, false, fmt.Errorf("sqlite: create prompt version: %w", switchboard.ErrClosed)
	}
	tags, err := encodeTags(v.Tags)
	if err != nil {
		return v, false, fmt.Errorf("sqlite: create prompt version %s: %w", v.PromptID, err)
	}
	var (
		out     switchboard.PromptVersion
		created bool
	)
	err = s.writePrompts(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO prompts (id, created_at) VALUES (?, ?)`,
			v.PromptID, unixNano(v.CreatedAt)); err != nil {
			return err
		}
		existing, err := scanPromptVersions(tx.QueryContext(ctx, `SELECT `+promptVersionColumns+`
FROM prompt_versions WHERE prompt_id = ? AND hash = ?`, v.PromptID, v.Hash))
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			out = existing[0]
			return errUnchanged
		}
		taken := func(version string) (bool, error) {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT count(*) FROM prompt_versions WHERE prompt_id = ? AND version = ?`,
				v.PromptID, version).Scan(&n)
			return n > 0, err
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
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM prompt_versions WHERE prompt_id = ?`,
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
		out.CreatedAt = fromUnixNano(unixNano(v.CreatedAt))
		_, err = tx.ExecContext(ctx, `INSERT INTO prompt_versions (`+promptVersionColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, out.PromptID, out.Seq, out.Version, out.Hash, string(out.Content),
			out.Description, tags, out.Source, out.CreatedBy, unixNano(out.CreatedAt))
		if code, ok := constraintError(err); ok && code == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
			return fmt.Errorf("version %q %w", out.Version, switchboard.ErrExists)
		}
		created = err == nil
		return err
	})
	if err != nil {
		return v, false, fmt.Errorf("sqlite: create prompt version %s: %w", v.PromptID, err)
	}
	return out, created, nil
}

// ListPromptVersions returns the versions of promptID, or of every prompt
// when it is "", by prompt ID (byte order) then Seq.
func (s *Store) ListPromptVersions(ctx context.Context, promptID string) ([]switchboard.PromptVersion, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list prompt versions: %w", switchboard.ErrClosed)
	}
	out, err := scanPromptVersions(s.r.QueryContext(ctx, `SELECT `+promptVersionColumns+`
FROM prompt_versions WHERE ? = '' OR prompt_id = ? ORDER BY prompt_id, seq`, promptID, promptID))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list prompt versions: %w", err)
	}
	return out, nil
}

func scanPromptVersions(rows *sql.Rows, err error) ([]switchboard.PromptVersion, error) {
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.PromptVersion{}
	for rows.Next() {
		var (
			v             switchboard.PromptVersion
			content, tags string
			created       int64
		)
		if err := rows.Scan(&v.PromptID, &v.Seq, &v.Version, &v.Hash, &content, &v.Description, &tags,
			&v.Source, &v.CreatedBy, &created); err != nil {
			return nil, err
		}
		v.Content = json.RawMessage(content)
		if err := json.Unmarshal([]byte(tags), &v.Tags); err != nil {
			return nil, fmt.Errorf("prompt %s version %s: decode tags: %w", v.PromptID, v.Version, err)
		}
		v.Tags = nilIfEmpty(v.Tags)
		v.CreatedAt = fromUnixNano(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// MovePromptLabel points c.Label at c.Hash and records c in the label's
// history. The error wraps switchboard.ErrNotFound for an unknown version,
// switchboard.ErrLabelMoved if the label does not point at c.Previous, and
// switchboard.ErrExists if c.ID is taken.
func (s *Store) MovePromptLabel(ctx context.Context, c switchboard.LabelChange) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: move prompt label: %w", switchboard.ErrClosed)
	}
	err := s.writePrompts(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM prompt_versions WHERE prompt_id = ? AND hash = ?`,
			c.PromptID, c.Hash).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("version %s %w", c.Hash, switchboard.ErrNotFound)
		}
		var res sql.Result
		var err error
		if c.Previous == "" {
			res, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO prompt_labels (prompt_id, label, hash, updated_by, updated_at)
VALUES (?, ?, ?, ?, ?)`, c.PromptID, c.Label, c.Hash, c.Actor, unixNano(c.Time))
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE prompt_labels SET hash = ?, updated_by = ?, updated_at = ?
WHERE prompt_id = ? AND label = ? AND hash = ?`, c.Hash, c.Actor, unixNano(c.Time), c.PromptID, c.Label, c.Previous)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = switchboard.ErrLabelMoved
			}
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO prompt_label_history (id, prompt_id, label, hash, previous, action, actor, reason, time)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.PromptID, c.Label, c.Hash, c.Previous, c.Action, c.Actor, c.Reason, unixNano(c.Time))
		if _, ok := constraintError(err); ok {
			return fmt.Errorf("change id %q %w", c.ID, switchboard.ErrExists)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: move label %s/%s: %w", c.PromptID, c.Label, err)
	}
	return nil
}

// ListPromptLabels returns the labels of promptID, or of every prompt when
// it is "", by prompt ID then label.
func (s *Store) ListPromptLabels(ctx context.Context, promptID string) ([]switchboard.PromptLabel, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list prompt labels: %w", switchboard.ErrClosed)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT prompt_id, label, hash, updated_by, updated_at
FROM prompt_labels WHERE ? = '' OR prompt_id = ? ORDER BY prompt_id, label`, promptID, promptID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list prompt labels: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.PromptLabel{}
	for rows.Next() {
		var (
			l  switchboard.PromptLabel
			at int64
		)
		if err := rows.Scan(&l.PromptID, &l.Label, &l.Hash, &l.UpdatedBy, &at); err != nil {
			return nil, fmt.Errorf("sqlite: list prompt labels: %w", err)
		}
		l.UpdatedAt = fromUnixNano(at)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list prompt labels: %w", err)
	}
	return out, nil
}

// PromptLabelHistory returns the changes of one label, last applied first.
func (s *Store) PromptLabelHistory(ctx context.Context, promptID, label string) ([]switchboard.LabelChange, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: prompt label history: %w", switchboard.ErrClosed)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, prompt_id, label, hash, previous, action, actor, reason, time
FROM prompt_label_history WHERE prompt_id = ? AND label = ? ORDER BY n DESC`, promptID, label)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prompt label history: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.LabelChange{}
	for rows.Next() {
		var (
			c  switchboard.LabelChange
			at int64
		)
		if err := rows.Scan(&c.ID, &c.PromptID, &c.Label, &c.Hash, &c.Previous, &c.Action, &c.Actor, &c.Reason, &at); err != nil {
			return nil, fmt.Errorf("sqlite: prompt label history: %w", err)
		}
		c.Time = fromUnixNano(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: prompt label history: %w", err)
	}
	return out, nil
}

// PromptsVersion returns a counter that every write to prompt versions or
// labels increments, in the write's transaction.
func (s *Store) PromptsVersion(ctx context.Context) (string, error) {
	if s.closed.Load() {
		return "", fmt.Errorf("sqlite: prompts version: %w", switchboard.ErrClosed)
	}
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM prompts_version WHERE id = 1`).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: prompts version: %w", err)
	}
	return strconv.FormatInt(v, 10), nil
}

// writePrompts runs fn in a transaction on the writer and, unless fn fails,
// increments prompts_version in it and commits. fn returns errUnchanged to
// roll back without an error.
func (s *Store) writePrompts(ctx context.Context, fn func(tx *sql.Tx) error) error {
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
	if _, err := tx.ExecContext(ctx, `UPDATE prompts_version SET version = version + 1 WHERE id = 1`); err != nil {
		return err
	}
	return tx.Commit()
}

// AppendAudit stores e; an event whose ID exists already is a no-op.
func (s *Store) AppendAudit(ctx context.Context, e switchboard.AuditEvent) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: append audit: %w", switchboard.ErrClosed)
	}
	var detail *string
	if len(e.Detail) > 0 {
		d := string(e.Detail)
		detail = &d
	}
	if _, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO audit_events (id, time, actor, action, target, detail)
VALUES (?, ?, ?, ?, ?, ?)`, e.ID, unixNano(e.Time), e.Actor, e.Action, e.Target, detail); err != nil {
		return fmt.Errorf("sqlite: append audit %s: %w", e.ID, err)
	}
	return nil
}

// ListAudit returns matching events, newest first (ties by ID, descending).
// A zero Limit returns every match.
func (s *Store) ListAudit(ctx context.Context, f switchboard.AuditFilter) ([]switchboard.AuditEvent, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("sqlite: list audit: %w", switchboard.ErrClosed)
	}
	var (
		where []string
		args  []any
	)
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, unixNano(f.Since))
	}
	if f.Target != "" {
		where, args = append(where, "substr(target, 1, length(?)) = ?"), append(args, f.Target, f.Target)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	q := `SELECT id, time, actor, action, target, detail FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time DESC, id DESC"
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []switchboard.AuditEvent{}
	for rows.Next() {
		var (
			e      switchboard.AuditEvent
			at     int64
			detail *string
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &detail); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		e.Time = fromUnixNano(at)
		if detail != nil {
			e.Detail = json.RawMessage(*detail)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
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
