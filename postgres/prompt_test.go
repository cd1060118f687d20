package postgres

import (
	"testing"

	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestPromptStore(t *testing.T) {
	t.Parallel()
	testURL(t)
	sbtest.TestPromptStore(t, func(t *testing.T) sbtest.PromptAuditStore {
		return mustNew(t, testSchema(t))
	})
}
