package experiment_test

import (
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/prompt"
	"github.com/switchboard-ai/switchboard/sqlite"
)

// TestPromptIDsMatchRegistry: every prompt ID and label the registry
// accepts, an experiment accepts (spec.prompt, spec.label, VersionStats),
// and the other way round.
func TestPromptIDsMatchRegistry(t *testing.T) {
	t.Parallel()
	ids := []string{"p", "_p", "0", "a.b", "a-b", "a_b", "A9", ".p", "-p", "p/q", "p q", "", "é",
		strings.Repeat("x", 64), strings.Repeat("x", 65), strings.Repeat("x", 128), strings.Repeat("x", 129), "_" + strings.Repeat("x", 127)}
	store, err := sqlite.New(t.Context(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	svc := experiment.NewService(store, experiment.Options{})
	for _, id := range ids {
		e := experiment.Canary("x", id, "production", "1", "2", 10, 1000)
		err = experiment.Validate(e)
		if ok := err == nil; ok != prompt.ValidID(id) {
			t.Errorf("prompt %q: Validate %v, prompt.ValidID %v", id, err, prompt.ValidID(id))
		}
		e = experiment.Canary("x", "p", id, "1", "2", 10, 1000)
		err = experiment.Validate(e)
		if ok := err == nil; ok != prompt.ValidLabel(id) {
			t.Errorf("label %q: Validate %v, prompt.ValidLabel %v", id, err, prompt.ValidLabel(id))
		}
		_, err = svc.VersionStats(t.Context(), switchboard.VersionStatsFilter{Prompt: id})
		if ok := err == nil; ok != prompt.ValidID(id) {
			t.Errorf("VersionStats(%q): %v, prompt.ValidID %v", id, err, prompt.ValidID(id))
		}
		if err != nil && switchboard.ErrorCodeOf(err) != switchboard.CodeInvalidRequest {
			t.Errorf("VersionStats(%q): got %v, want invalid_request", id, err)
		}
	}
}
