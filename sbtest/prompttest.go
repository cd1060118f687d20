package sbtest

// This file holds TestPromptStore, the conformance suite for
// switchboard.PromptStore and switchboard.AuditStore.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-ai/switchboard"
)

// PromptAuditStore is what TestPromptStore exercises: every
// switchboard.Store is one.
type PromptAuditStore interface {
	switchboard.PromptStore
	switchboard.AuditStore
}

// TestPromptStore runs the conformance suite for switchboard.PromptStore
// and switchboard.AuditStore. newStore returns a new, empty, migrated store
// for each subtest and releases it with t.Cleanup. Subtests run in
// parallel. Times are whole microseconds, in a zone other than UTC.
func TestPromptStore(t *testing.T, newStore func(t *testing.T) PromptAuditStore) {
	t.Helper()
	base := time.Date(2025, 9, 1, 8, 0, 0, 654321000, time.FixedZone("UTC-3", -3*3600))

	t.Run("Versions", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		if got := mustListPromptVersions(t, s, ""); len(got) != 0 {
			t.Fatalf("ListPromptVersions of a new store: got %v, want none", got)
		}
		a := promptVersion("rag", "1.0", `{"template":"Hi {{ name }}","variables":{"name":{"type":"string"}}}`, base)
		a.Description, a.Tags, a.Source, a.CreatedBy = "first ✓", []string{"rag", "support"}, "file:prompts/rag.yaml", "file:prompts/rag.yaml"
		got, created := mustCreatePromptVersion(t, s, a)
		a.Seq = 1
		if !created {
			t.Errorf("CreatePromptVersion of a new version: created false, want true")
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("CreatePromptVersion returned (-want +got):\n%s", diff)
		}

		// The same content again, with other metadata, is the same version.
		again := a
		again.Version, again.Description, again.Seq, again.CreatedAt = "9.9", "other", 0, base.Add(time.Hour)
		got, created = mustCreatePromptVersion(t, s, again)
		if created {
			t.Errorf("CreatePromptVersion of known content: created true, want false")
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("CreatePromptVersion of known content returned (-want +got):\n%s", diff)
		}

		// No author version: the sequence number. Empty tags come back nil.
		b := promptVersion("rag", "", `{"template":"Hello {{ name }}"}`, base.Add(time.Minute))
		b.Tags = []string{}
		got, _ = mustCreatePromptVersion(t, s, b)
		b.Seq, b.Version, b.Tags = 2, "2", nil
		if diff := cmp.Diff(b, got); diff != "" {
			t.Errorf("CreatePromptVersion without a version returned (-want +got):\n%s", diff)
		}

		// An author took "4"; the fourth automatic version gets a suffix.
		c := promptVersion("rag", "4", `{"template":"v3"}`, base.Add(2*time.Minute))
		got, _ = mustCreatePromptVersion(t, s, c)
		c.Seq = 3
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("CreatePromptVersion(4) returned (-want +got):\n%s", diff)
		}
		d := promptVersion("rag", "", `{"template":"v4"}`, base.Add(3*time.Minute))
		got, _ = mustCreatePromptVersion(t, s, d)
		d.Seq, d.Version = 4, "4+"+d.Hash[:8]
		if diff := cmp.Diff(d, got); diff != "" {
			t.Errorf("CreatePromptVersion colliding with an author's version returned (-want +got):\n%s", diff)
		}

		// A taken version string with other content is refused.
		dup := promptVersion("rag", "1.0", `{"template":"changed"}`, base)
		if _, _, err := s.CreatePromptVersion(ctx, dup); !errors.Is(err, switchboard.ErrExists) {
			t.Errorf("CreatePromptVersion with a taken version: got %v, want an error wrapping ErrExists", err)
		}

		other := promptVersion("Alpha", "", `{"template":"x"}`, base)
		mustCreatePromptVersion(t, s, other)
		other.Seq, other.Version = 1, "1"
		// By prompt ID in byte order ("A" before "r"), then Seq.
		want := []switchboard.PromptVersion{other, a, b, c, d}
		if diff := cmp.Diff(want, mustListPromptVersions(t, s, "")); diff != "" {
			t.Errorf("ListPromptVersions(\"\") (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want[1:], mustListPromptVersions(t, s, "rag")); diff != "" {
			t.Errorf("ListPromptVersions(rag) (-want +got):\n%s", diff)
		}
		if got := mustListPromptVersions(t, s, "nope"); len(got) != 0 {
			t.Errorf("ListPromptVersions(nope): got %v, want none", got)
		}
	})

	t.Run("Labels", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		v1, _ := mustCreatePromptVersion(t, s, promptVersion("rag", "", `{"template":"1"}`, base))
		v2, _ := mustCreatePromptVersion(t, s, promptVersion("rag", "", `{"template":"2"}`, base))
		x, _ := mustCreatePromptVersion(t, s, promptVersion("other", "", `{"template":"x"}`, base))
		if got := mustListPromptLabels(t, s, ""); len(got) != 0 {
			t.Fatalf("ListPromptLabels with no label: got %v, want none", got)
		}

		c1 := labelChange("c1", "rag", "production", v1.Hash, "", base)
		c1.Actor, c1.Reason = "key:k1", "first release ✓"
		mustMoveLabel(t, s, c1)
		c2 := labelChange("c2", "rag", "production", v2.Hash, v1.Hash, base.Add(time.Minute))
		mustMoveLabel(t, s, c2)
		c3 := labelChange("c3", "rag", "production", v1.Hash, v2.Hash, base.Add(2*time.Minute))
		c3.Action = switchboard.LabelRollback
		mustMoveLabel(t, s, c3)
		cs := labelChange("cs", "rag", "staging", v2.Hash, "", base.Add(3*time.Minute))
		mustMoveLabel(t, s, cs)
		cx := labelChange("cx", "other", "production", x.Hash, "", base.Add(4*time.Minute))
		mustMoveLabel(t, s, cx)

		for name, c := range map[string]switchboard.LabelChange{
			"from a stale version":  labelChange("bad1", "rag", "production", v2.Hash, v2.Hash, base),
			"as new when it exists": labelChange("bad2", "rag", "production", v2.Hash, "", base),
			"from unset as if set":  labelChange("bad3", "rag", "canary", v2.Hash, v1.Hash, base),
		} {
			if err := s.MovePromptLabel(ctx, c); !errors.Is(err, switchboard.ErrLabelMoved) {
				t.Errorf("MovePromptLabel %s: got %v, want an error wrapping ErrLabelMoved", name, err)
			}
		}
		for name, c := range map[string]switchboard.LabelChange{
			"to an unknown hash":               labelChange("bad4", "rag", "production", "0000", v1.Hash, base),
			"to another prompt's version":      labelChange("bad5", "rag", "production", x.Hash, v1.Hash, base),
			"of an unknown prompt":             labelChange("bad6", "nope", "production", v1.Hash, "", base),
			"of an unknown prompt, as if set":  labelChange("bad7", "nope", "production", v1.Hash, v2.Hash, base),
			"to an empty hash (not a version)": labelChange("bad8", "rag", "dev", "", "", base),
		} {
			if err := s.MovePromptLabel(ctx, c); !errors.Is(err, switchboard.ErrNotFound) {
				t.Errorf("MovePromptLabel %s: got %v, want an error wrapping ErrNotFound", name, err)
			}
		}
		if err := s.MovePromptLabel(ctx, labelChange("c1", "rag", "production", v2.Hash, v1.Hash, base)); !errors.Is(err, switchboard.ErrExists) {
			t.Errorf("MovePromptLabel with a taken change ID: got %v, want an error wrapping ErrExists", err)
		}

		wantLabels := []switchboard.PromptLabel{
			{PromptID: "other", Label: "production", Hash: x.Hash, UpdatedBy: cx.Actor, UpdatedAt: cx.Time},
			{PromptID: "rag", Label: "production", Hash: v1.Hash, UpdatedBy: c3.Actor, UpdatedAt: c3.Time},
			{PromptID: "rag", Label: "staging", Hash: v2.Hash, UpdatedBy: cs.Actor, UpdatedAt: cs.Time},
		}
		if diff := cmp.Diff(wantLabels, mustListPromptLabels(t, s, "")); diff != "" {
			t.Errorf("ListPromptLabels(\"\") (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantLabels[1:], mustListPromptLabels(t, s, "rag")); diff != "" {
			t.Errorf("ListPromptLabels(rag) (-want +got):\n%s", diff)
		}
		// Newest first, in the order applied, whatever the times say.
		if diff := cmp.Diff([]switchboard.LabelChange{c3, c2, c1}, mustLabelHistory(t, s, "rag", "production")); diff != "" {
			t.Errorf("PromptLabelHistory (-want +got):\n%s", diff)
		}
		late := labelChange("c4", "rag", "staging", v1.Hash, v2.Hash, base.Add(-time.Hour))
		mustMoveLabel(t, s, late)
		if diff := cmp.Diff([]switchboard.LabelChange{late, cs}, mustLabelHistory(t, s, "rag", "staging")); diff != "" {
			t.Errorf("PromptLabelHistory of a label moved with an earlier time (-want +got):\n%s", diff)
		}
		if got := mustLabelHistory(t, s, "rag", "nope"); len(got) != 0 {
			t.Errorf("PromptLabelHistory of an unknown label: got %v, want none", got)
		}
	})

	t.Run("PromptsVersion", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		cur := mustPromptsVersion(t, s)
		changed := func(op string) {
			t.Helper()
			v := mustPromptsVersion(t, s)
			if v == cur {
				t.Errorf("after %s: PromptsVersion still %q, want a new value", op, v)
			}
			cur = v
		}
		same := func(op string) {
			t.Helper()
			if v := mustPromptsVersion(t, s); v != cur {
				t.Errorf("%s changed PromptsVersion from %q to %q", op, cur, v)
			}
		}
		v1, _ := mustCreatePromptVersion(t, s, promptVersion("p", "", `{"template":"1"}`, base))
		changed("CreatePromptVersion")
		mustCreatePromptVersion(t, s, promptVersion("p", "", `{"template":"1"}`, base))
		same("CreatePromptVersion of known content")
		_, _, _ = s.CreatePromptVersion(ctx, promptVersion("p", "1", `{"template":"other"}`, base))
		same("a failed CreatePromptVersion")
		mustMoveLabel(t, s, labelChange("c1", "p", "production", v1.Hash, "", base))
		changed("MovePromptLabel")
		_ = s.MovePromptLabel(ctx, labelChange("c2", "p", "production", v1.Hash, "", base))
		same("a failed MovePromptLabel")
		_ = s.AppendAudit(ctx, switchboard.AuditEvent{ID: "e", Time: base, Action: "x", Target: "y"})
		same("AppendAudit")
	})

	t.Run("ConcurrentCreates", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		created := make(chan bool, n)
		for i := range n {
			wg.Go(func() {
				_, _, err := s.CreatePromptVersion(context.Background(), promptVersion("p", "", fmt.Sprintf(`{"template":"%d"}`, i), base))
				errs <- err
			})
			wg.Go(func() {
				_, c, err := s.CreatePromptVersion(context.Background(), promptVersion("same", "", `{"template":"same"}`, base))
				errs <- err
				created <- c
			})
		}
		wg.Wait()
		close(errs)
		close(created)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent CreatePromptVersion: %v", err)
			}
		}
		nCreated := 0
		for c := range created {
			if c {
				nCreated++
			}
		}
		if nCreated != 1 {
			t.Errorf("%d concurrent creations of the same content: %d reported created, want 1", n, nCreated)
		}
		var seqs []int
		for _, v := range mustListPromptVersions(t, s, "p") {
			seqs = append(seqs, v.Seq)
		}
		if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(seqs, want) {
			t.Errorf("sequence numbers after %d concurrent creations: got %v, want %v", n, seqs, want)
		}
	})

	t.Run("ConcurrentMoves", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		v1, _ := mustCreatePromptVersion(t, s, promptVersion("p", "", `{"template":"1"}`, base))
		v2, _ := mustCreatePromptVersion(t, s, promptVersion("p", "", `{"template":"2"}`, base))
		mustMoveLabel(t, s, labelChange("first", "p", "production", v1.Hash, "", base))
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				errs <- s.MovePromptLabel(context.Background(), labelChange(fmt.Sprint("c", i), "p", "production", v2.Hash, v1.Hash, base))
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, switchboard.ErrLabelMoved):
				t.Errorf("concurrent MovePromptLabel: got %v, want nil or an error wrapping ErrLabelMoved", err)
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent moves from the same version: %d won, want 1", n, won)
		}
		if h := mustLabelHistory(t, s, "p", "production"); len(h) != 2 {
			t.Errorf("history after concurrent moves: got %d entries, want 2", len(h))
		}
	})

	t.Run("Audit", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		if got := mustListAudit(t, s, switchboard.AuditFilter{}); len(got) != 0 {
			t.Fatalf("ListAudit of a new store: got %v, want none", got)
		}
		events := []switchboard.AuditEvent{
			{ID: "e1", Time: base, Actor: "key:k1", Action: "prompt.promote", Target: "prompt:rag/production",
				Detail: json.RawMessage(`{"from":"1","to":"2","note":"ünï ✓"}`)},
			{ID: "e2", Time: base.Add(time.Minute), Actor: "cli", Action: "prompt.rollback", Target: "prompt:rag/production"},
			{ID: "e3", Time: base.Add(2 * time.Minute), Actor: "system", Action: "experiment.rollback", Target: "experiment:x"},
			{ID: "e4", Time: base.Add(2 * time.Minute), Actor: "file:p.yaml", Action: "prompt.create", Target: "prompt:ragged"},
		}
		for _, e := range events {
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatalf("AppendAudit(%s): %v", e.ID, err)
			}
		}
		// An event whose ID exists is a no-op.
		dup := events[0]
		dup.Action = "changed"
		if err := s.AppendAudit(ctx, dup); err != nil {
			t.Errorf("AppendAudit of a known ID: %v", err)
		}
		e1, e2, e3, e4 := events[0], events[1], events[2], events[3]
		for _, tc := range []struct {
			name string
			f    switchboard.AuditFilter
			want []switchboard.AuditEvent
		}{
			{"all, newest first, ties by ID descending", switchboard.AuditFilter{}, []switchboard.AuditEvent{e4, e3, e2, e1}},
			{"since", switchboard.AuditFilter{Since: base.Add(time.Minute)}, []switchboard.AuditEvent{e4, e3, e2}},
			{"target prefix", switchboard.AuditFilter{Target: "prompt:rag"}, []switchboard.AuditEvent{e4, e2, e1}},
			{"target exact", switchboard.AuditFilter{Target: "prompt:rag/production"}, []switchboard.AuditEvent{e2, e1}},
			{"target with LIKE wildcards", switchboard.AuditFilter{Target: "prompt:%"}, nil},
			{"action", switchboard.AuditFilter{Action: "prompt.rollback"}, []switchboard.AuditEvent{e2}},
			{"limit", switchboard.AuditFilter{Limit: 2}, []switchboard.AuditEvent{e4, e3}},
			{"all filters", switchboard.AuditFilter{Since: base, Target: "prompt:", Action: "prompt.promote", Limit: 5}, []switchboard.AuditEvent{e1}},
		} {
			got := mustListAudit(t, s, tc.f)
			if len(got) == 0 && len(tc.want) == 0 {
				continue
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ListAudit %s (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

func promptVersion(id, version, content string, at time.Time) switchboard.PromptVersion {
	sum := sha256.Sum256([]byte(content))
	return switchboard.PromptVersion{PromptID: id, Version: version, Hash: hex.EncodeToString(sum[:]),
		Content: json.RawMessage(content), Source: "api", CreatedAt: at}
}

func labelChange(id, prompt, label, hash, previous string, at time.Time) switchboard.LabelChange {
	return switchboard.LabelChange{ID: id, PromptID: prompt, Label: label, Hash: hash, Previous: previous,
		Action: switchboard.LabelPromote, Actor: "cli", Time: at}
}

func mustCreatePromptVersion(tb testing.TB, s switchboard.PromptStore, v switchboard.PromptVersion) (switchboard.PromptVersion, bool) {
	tb.Helper()
	got, created, err := s.CreatePromptVersion(context.Background(), v)
	if err != nil {
		tb.Fatalf("CreatePromptVersion(%s %q): %v", v.PromptID, v.Version, err)
	}
	return got, created
}

func mustListPromptVersions(tb testing.TB, s switchboard.PromptStore, id string) []switchboard.PromptVersion {
	tb.Helper()
	vs, err := s.ListPromptVersions(context.Background(), id)
	if err != nil {
		tb.Fatalf("ListPromptVersions(%q): %v", id, err)
	}
	return vs
}

func mustMoveLabel(tb testing.TB, s switchboard.PromptStore, c switchboard.LabelChange) {
	tb.Helper()
	if err := s.MovePromptLabel(context.Background(), c); err != nil {
		tb.Fatalf("MovePromptLabel(%s): %v", c.ID, err)
	}
}

func mustListPromptLabels(tb testing.TB, s switchboard.PromptStore, id string) []switchboard.PromptLabel {
	tb.Helper()
	ls, err := s.ListPromptLabels(context.Background(), id)
	if err != nil {
		tb.Fatalf("ListPromptLabels(%q): %v", id, err)
	}
	return ls
}

func mustLabelHistory(tb testing.TB, s switchboard.PromptStore, id, label string) []switchboard.LabelChange {
	tb.Helper()
	h, err := s.PromptLabelHistory(context.Background(), id, label)
	if err != nil {
		tb.Fatalf("PromptLabelHistory(%s, %s): %v", id, label, err)
	}
	return h
}

func mustPromptsVersion(tb testing.TB, s switchboard.PromptStore) string {
	tb.Helper()
	v, err := s.PromptsVersion(context.Background())
	if err != nil {
		tb.Fatalf("PromptsVersion: %v", err)
	}
	return v
}

func mustListAudit(tb testing.TB, s switchboard.AuditStore, f switchboard.AuditFilter) []switchboard.AuditEvent {
	tb.Helper()
	es, err := s.ListAudit(context.Background(), f)
	if err != nil {
		tb.Fatalf("ListAudit(%+v): %v", f, err)
	}
	return es
}
