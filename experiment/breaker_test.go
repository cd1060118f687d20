package experiment

import (
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

func TestHardBreaker(t *testing.T) {
	t.Parallel()
	report := func(ctrlMean float64, ctrlN int64, trtMean float64, trtN int64) *Report {
		return &Report{Control: "stable", Metrics: []MetricReport{{Name: switchboard.MetricError, Arms: []ArmReport{
			{Variant: "stable", Observations: ctrlN, Mean: ctrlMean},
			{Variant: "canary", Observations: trtN, Mean: trtMean},
		}}}}
	}
	tests := []struct {
		name string
		r    *Report
		fire bool
	}{
		{"every call fails", report(0, 500, 1, 500), true},
		{"60 percent", report(0.02, 100, 0.6, 60), true},
		{"too few requests", report(0, 500, 1, 49), false},
		{"half is not above half", report(0, 500, 0.5, 500), false},
		{"control fails too (an outage)", report(0.4, 500, 0.7, 500), false},
		{"no error metric", &Report{Control: "stable"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := hardBreaker(tc.r, 0, switchboard.DecisionRollback, "canary")
			if ok != tc.fire {
				t.Fatalf("fired %v, want %v (%+v)", ok, tc.fire, d)
			}
			if ok && (d.Action != switchboard.DecisionRollback || d.Variant != "canary" || !strings.Contains(d.Reason, "hard circuit breaker")) {
				t.Errorf("decision %+v", d)
			}
		})
	}
}
