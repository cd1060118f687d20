package postgres

import (
	"testing"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestExperimentStore(t *testing.T) {
	t.Parallel()
	testURL(t)
	sbtest.TestExperimentStore(t, func(t *testing.T) switchboard.Store {
		return mustNew(t, testSchema(t))
	})
}
