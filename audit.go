package switchboard

import (
	"context"
	"encoding/json"
	"time"
)

// AuditEvent records one change of state made by a person or by the
// gateway itself: a label promoted or rolled back, an experiment started,
// stopped or auto-promoted, a canary reverted. Detail carries the numbers
// behind an automatic decision.
type AuditEvent struct {
	ID     string          `json:"id"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`  // "key:<id>", "cli", "system"
	Action string          `json:"action"` // e.g. "prompt.promote", "experiment.rollback"
	Target string          `json:"target"` // e.g. "prompt:rag_query/production"
	Detail json.RawMessage `json:"detail,omitempty"`
}

// AuditFilter selects audit events. Zero fields do not filter; Target
// matches by prefix.
type AuditFilter struct {
	Since  time.Time
	Target string
	Action string
	Limit  int
}

// AuditStore persists audit events. Events are never updated or deleted.
type AuditStore interface {
	// AppendAudit stores one event; an event whose ID exists is a no-op.
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns matching events, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}
