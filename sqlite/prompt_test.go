package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestPromptStore(t *testing.T) {
	t.Parallel()
	t.Run("File", func(t *testing.T) {
		t.Parallel()
		sbtest.TestPromptStore(t, func(t *testing.T) sbtest.PromptAuditStore {
			return mustNew(t, filepath.Join(t.TempDir(), "switchboard.db"))
		})
	})
	t.Run("Memory", func(t *testing.T) {
		t.Parallel()
		sbtest.TestPromptStore(t, func(t *testing.T) sbtest.PromptAuditStore {
			return mustNew(t, ":memory:")
		})
	})
}
