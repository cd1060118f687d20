package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/sbtest"
)

func TestExperimentStore(t *testing.T) {
	t.Parallel()
	t.Run("File", func(t *testing.T) {
		t.Parallel()
		sbtest.TestExperimentStore(t, func(t *testing.T) switchboard.Store {
			return mustNew(t, filepath.Join(t.TempDir(), "switchboard.db"))
		})
	})
	t.Run("Memory", func(t *testing.T) {
		t.Parallel()
		sbtest.TestExperimentStore(t, func(t *testing.T) switchboard.Store {
			return mustNew(t, ":memory:")
		})
	})
}

// TestExperimentQueryPlans checks that the experiment and version queries
// read the partial indexes of 0005 instead of scanning inferences.
func TestExperimentQueryPlans(t *testing.T) {
	t.Parallel()
	s := mustNew(t, filepath.Join(t.TempDir(), "plan.db"))
	for _, tc := range []struct{ name, query, index string }{
		{"exposures", `SELECT count(*) FROM inferences i WHERE i.experiment = 'x' AND i.experiment <> ''`, "inferences_experiment_idx"},
		{"prompt", `SELECT count(*) FROM inferences i WHERE i.prompt_id = 'x' AND i.prompt_id <> ''`, "inferences_prompt_idx"},
		// Feedback is joined on its whole primary key (inference, tenant, metric).
		{"feedback", `SELECT count(*) FROM inferences i JOIN feedback f ON f.inference_id = i.id AND f.tenant_id = i.tenant_id AND f.metric = 'm'
WHERE i.experiment = 'x' AND i.experiment <> ''`, "sqlite_autoindex_feedback_1 (inference_id=? AND tenant_id=? AND metric=?)"},
	} {
		rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan += detail + "\n"
		}
		_ = rows.Close()
		if !strings.Contains(plan, tc.index) {
			t.Errorf("%s: plan does not use %s:\n%s", tc.name, tc.index, plan)
		}
	}
}
