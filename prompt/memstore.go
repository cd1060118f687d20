package prompt

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/switchboard-ai/switchboard"
)

// MemoryStore is a switchboard.PromptStore and switchboard.AuditStore in
// memory: the store of a Registry without a database (the CLI testing a
// folder of prompts, tests). It is safe for concurrent use.
type MemoryStore struct {
	mu        sync.Mutex
	versions  map[string][]switchboard.PromptVersion // by prompt, by Seq
	labels    map[[2]string]switchboard.PromptLabel
	history   map[[2]string][]switchboard.LabelChange // oldest first
	changeIDs map[string]bool
	audit     []switchboard.AuditEvent
	auditIDs  map[string]bool
	version   int64
}

var (
	_ switchboard.PromptStore = (*MemoryStore)(nil)
	_ switchboard.AuditStore  = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{versions: map[string][]switchboard.PromptVersion{}, labels: map[[2]string]switchboard.PromptLabel{},
		history: map[[2]string][]switchboard.LabelChange{}, changeIDs: map[string]bool{}, auditIDs: map[string]bool{}}
}

// CreatePromptVersion implements switchboard.PromptStore.
func (m *MemoryStore) CreatePromptVersion(ctx context.Context, v switchboard.PromptVersion) (switchboard.PromptVersion, bool, error) {
	if err := ctx.Err(); err != nil {
		return v, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.versions[v.PromptID]
	taken := func(s string) bool {
		return slices.ContainsFunc(vs, func(o switchboard.PromptVersion) bool { return o.Version == s })
	}
	for _, o := range vs {
		if o.Hash == v.Hash {
			return clonePromptVersion(o), false, nil
		}
	}
	if v.Version != "" && taken(v.Version) {
		return v, false, fmt.Errorf("prompt: create prompt version %s: version %q %w", v.PromptID, v.Version, switchboard.ErrExists)
	}
	v = clonePromptVersion(v)
	v.Seq = len(vs) + 1
	if v.Version == "" {
		v.Version = strconv.Itoa(v.Seq)
		if taken(v.Version) {
			v.Version += "+" + v.Hash[:min(8, len(v.Hash))]
		}
	}
	m.versions[v.PromptID] = append(vs, v)
	m.version++
	return clonePromptVersion(v), true, nil
}

// ListPromptVersions implements switchboard.PromptStore.
func (m *MemoryStore) ListPromptVersions(ctx context.Context, promptID string) ([]switchboard.PromptVersion, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []switchboard.PromptVersion{}
	for _, id := range sortedKeys(m.versions) {
		if promptID == "" || id == promptID {
			for _, v := range m.versions[id] {
				out = append(out, clonePromptVersion(v))
			}
		}
	}
	return out, nil
}

// MovePromptLabel implements switchboard.PromptStore.
func (m *MemoryStore) MovePromptLabel(ctx context.Context, c switchboard.LabelChange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.ContainsFunc(m.versions[c.PromptID], func(v switchboard.PromptVersion) bool { return v.Hash == c.Hash }) {
		return fmt.Errorf("prompt: move label %s/%s: version %s %w", c.PromptID, c.Label, c.Hash, switchboard.ErrNotFound)
	}
	key := [2]string{c.PromptID, c.Label}
	if m.labels[key].Hash != c.Previous {
		return fmt.Errorf("prompt: move label %s/%s: %w", c.PromptID, c.Label, switchboard.ErrLabelMoved)
	}
	if m.changeIDs[c.ID] {
		return fmt.Errorf("prompt: move label %s/%s: change id %q %w", c.PromptID, c.Label, c.ID, switchboard.ErrExists)
	}
	m.changeIDs[c.ID] = true
	m.labels[key] = switchboard.PromptLabel{PromptID: c.PromptID, Label: c.Label, Hash: c.Hash, UpdatedBy: c.Actor, UpdatedAt: c.Time}
	m.history[key] = append(m.history[key], c)
	m.version++
	return nil
}

// ListPromptLabels implements switchboard.PromptStore.
func (m *MemoryStore) ListPromptLabels(ctx context.Context, promptID string) ([]switchboard.PromptLabel, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []switchboard.PromptLabel{}
	for _, l := range m.labels {
		if promptID == "" || l.PromptID == promptID {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b switchboard.PromptLabel) int {
		if c := strings.Compare(a.PromptID, b.PromptID); c != 0 {
			return c
		}
		return strings.Compare(a.Label, b.Label)
	})
	return out, nil
}

// PromptLabelHistory implements switchboard.PromptStore.
func (m *MemoryStore) PromptLabelHistory(ctx context.Context, promptID, label string) ([]switchboard.LabelChange, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.history[[2]string{promptID, label}]
	out := make([]switchboard.LabelChange, len(h))
	for i, c := range h {
		out[len(h)-1-i] = c
	}
	return out, nil
}

// PromptsVersion implements switchboard.PromptStore.
func (m *MemoryStore) PromptsVersion(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return strconv.FormatInt(m.version, 10), nil
}

// AppendAudit implements switchboard.AuditStore.
func (m *MemoryStore) AppendAudit(ctx context.Context, e switchboard.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.auditIDs[e.ID] {
		return nil
	}
	m.auditIDs[e.ID] = true
	e.Detail = slices.Clone(e.Detail)
	m.audit = append(m.audit, e)
	return nil
}

// ListAudit implements switchboard.AuditStore: newest first, ties by ID
// descending.
func (m *MemoryStore) ListAudit(ctx context.Context, f switchboard.AuditFilter) ([]switchboard.AuditEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []switchboard.AuditEvent{}
	for _, e := range m.audit {
		if (f.Since.IsZero() || !e.Time.Before(f.Since)) && strings.HasPrefix(e.Target, f.Target) &&
			(f.Action == "" || e.Action == f.Action) {
			e.Detail = slices.Clone(e.Detail)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b switchboard.AuditEvent) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func clonePromptVersion(v switchboard.PromptVersion) switchboard.PromptVersion {
	v.Content = slices.Clone(v.Content)
	v.Tags = slices.Clone(v.Tags)
	if len(v.Tags) == 0 {
		v.Tags = nil
	}
	return v
}
