package switchboard

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrLabelMoved is returned by PromptStore.MovePromptLabel when the label
// no longer points where the caller last saw it: another change won.
var ErrLabelMoved = errors.New("label moved concurrently")

// PromptVersion is one immutable version of a prompt. Content is the
// canonical JSON of what the version sends to a model (template or chat
// messages, model, parameters, variable schema, the partials it includes);
// Hash is the hex SHA-256 that package prompt computes over it and is the
// version's identity. Version is what people call it: the author's version
// string, else the sequence number.
type PromptVersion struct {
	PromptID string `json:"prompt_id"`
	// Version is the display version: the author's string ("1.0"), or the
	// decimal Seq when the author gave none.
	Version string `json:"version"`
	// Seq numbers the versions of one prompt 1, 2, 3… in the order they
	// were stored. The store assigns it.
	Seq int `json:"seq"`
	// Hash is the hex SHA-256 of the canonical content.
	Hash    string          `json:"hash"`
	Content json.RawMessage `json:"content"`
	// Description and Tags describe the version; they are not part of
	// the content, so changing only them does not make a new version.
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// Source is where the version came from: "file:<path>" or "api".
	Source    string    `json:"source"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// PromptLabel points a named label of a prompt ("production", "staging",
// any name) at one of its versions.
type PromptLabel struct {
	PromptID  string    `json:"prompt_id"`
	Label     string    `json:"label"`
	Hash      string    `json:"hash"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Label change actions.
const (
	LabelPromote  = "promote"
	LabelRollback = "rollback"
)

// LabelChange is one move of a label: an entry of the label's history.
type LabelChange struct {
	ID       string `json:"id"`
	PromptID string `json:"prompt_id"`
	Label    string `json:"label"`
	// Hash is the version the label points at after the change.
	Hash string `json:"hash"`
	// Previous is the version it pointed at before, "" for a new label.
	Previous string `json:"previous,omitempty"`
	// Action is LabelPromote or LabelRollback.
	Action string `json:"action"`
	// Actor is who made the change: "key:<id>", "cli", "file:<path>",
	// "system".
	Actor  string    `json:"actor,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
}

// PromptStore persists prompt versions, labels and the history of every
// label. Versions are never changed or deleted; labels only move forward,
// each move recorded. Every replica reads the same store, so a promotion
// made on one is served by all.
type PromptStore interface {
	// CreatePromptVersion stores v and returns it as stored. The store
	// assigns Seq (one more than the prompt's highest) and, when v.Version
	// is empty, sets Version to the decimal Seq (with "+" and the first 8
	// hex digits of the hash appended if an author took that string). If
	// the prompt has a version with v.Hash already, nothing is stored and
	// that version is returned with created false. The error wraps
	// ErrExists if v.Version names another version of the prompt.
	CreatePromptVersion(ctx context.Context, v PromptVersion) (stored PromptVersion, created bool, err error)
	// ListPromptVersions returns the versions of the prompt promptID, or of
	// every prompt when promptID is "", by prompt ID (byte order) then Seq.
	ListPromptVersions(ctx context.Context, promptID string) ([]PromptVersion, error)
	// MovePromptLabel points label c.Label of prompt c.PromptID at c.Hash
	// and appends c to the label's history, in one transaction. The error
	// wraps ErrNotFound if the prompt has no version c.Hash, ErrLabelMoved
	// if the label does not point at c.Previous now ("" meaning unset), and
	// ErrExists if c.ID is taken.
	MovePromptLabel(ctx context.Context, c LabelChange) error
	// ListPromptLabels returns the labels of the prompt promptID, or of
	// every prompt when promptID is "", by prompt ID then label (byte order).
	ListPromptLabels(ctx context.Context, promptID string) ([]PromptLabel, error)
	// PromptLabelHistory returns the changes of one label, newest (last
	// applied) first; none for an unknown label.
	PromptLabelHistory(ctx context.Context, promptID, label string) ([]LabelChange, error)
	// PromptsVersion changes whenever a version is created or a label
	// moves; replicas poll it to know when to reload.
	PromptsVersion(ctx context.Context) (string, error)
}
