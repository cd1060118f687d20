package experiment

import (
	"strings"
	"testing"

	"github.com/switchboard-ai/switchboard"
)

// TestCanaryShipRule: at or after its planned sample a canary ships only
// when every guard comparison has n_min units per arm, is not breached,
// and its point harm is within the margin (a rate with fewer than 10
// events, or none, is judged on its point harm); otherwise it keeps
// running and says why.
func TestCanaryShipRule(t *testing.T) {
	t.Parallel()
	lat := func(n int64, mean, sd float64) switchboard.MetricSums { return numericSums(n, mean, sd*sd) }
	def := Canary("rag-canary", "rag", "production", "3", "4", 10, 1000) // the defaults of the canary route
	thumbs := Canary("rag-thumbs", "rag", "production", "3", "4", 10, 1000,
		switchboard.MetricSpec{Name: switchboard.MetricError}, switchboard.MetricSpec{Name: "thumbs", Kind: switchboard.MetricBinary})
	for _, tc := range []struct {
		name   string
		e      *switchboard.Experiment
		st     []switchboard.VariantStats
		action string
		reason []string
	}{
		{"healthy at the planned sample", &def, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 18), "latency": lat(900, 800, 200)}),
			variantStats("canary", 110, map[string]switchboard.MetricSums{"error": binarySums(110, 2), "latency": lat(110, 805, 200)}),
		}, switchboard.DecisionShip, []string{"not worse than stable"}},
		// The review's repro: planned sample reached with 96 canary units,
		// the latency guard never eligible, harm 30 ms.
		{"canary arm below min_samples", &def, []switchboard.VariantStats{
			variantStats("stable", 944, map[string]switchboard.MetricSums{"error": binarySums(944, 19), "latency": lat(944, 800, 200)}),
			variantStats("canary", 96, map[string]switchboard.MetricSums{"error": binarySums(96, 2), "latency": lat(96, 830, 200)}),
		}, switchboard.DecisionKeepRunning, []string{"planned sample of 1000 units reached (1040)", "canary has 96 units", "min_samples (100)"}},
		{"point harm above the margin, not breached", &def, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 18), "latency": lat(900, 800, 300)}),
			variantStats("canary", 150, map[string]switchboard.MetricSums{"error": binarySums(150, 3), "latency": lat(150, 900, 300)}),
		}, switchboard.DecisionKeepRunning, []string{"latency", "harm 100", "above its margin 80"}},
		{"no error events (zero variance)", &def, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 0), "latency": lat(900, 800, 200)}),
			variantStats("canary", 150, map[string]switchboard.MetricSums{"error": binarySums(150, 0), "latency": lat(150, 800, 200)}),
		}, switchboard.DecisionShip, []string{"not worse than stable", "error: harm 0, margin 0.005"}},
		{"too few error events, harm within the margin", &def, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 5), "latency": lat(900, 800, 200)}),
			variantStats("canary", 150, map[string]switchboard.MetricSums{"error": binarySums(150, 1), "latency": lat(150, 800, 200)}),
		}, switchboard.DecisionShip, []string{"not worse than stable"}},
		{"too few error events, harm above the margin", &def, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 0), "latency": lat(900, 800, 200)}),
			variantStats("canary", 150, map[string]switchboard.MetricSums{"error": binarySums(150, 3), "latency": lat(150, 800, 200)}),
		}, switchboard.DecisionKeepRunning, []string{"error: harm 0.02 above its margin 0.005"}},
		{"guard without data", &thumbs, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 18)}),
			variantStats("canary", 150, map[string]switchboard.MetricSums{"error": binarySums(150, 3)}),
		}, switchboard.DecisionKeepRunning, []string{"thumbs", "no observations"}},
		{"guard metric below min_samples", &thumbs, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 18), "thumbs": binarySums(400, 300)}),
			variantStats("canary", 150, map[string]switchboard.MetricSums{"error": binarySums(150, 3), "thumbs": binarySums(40, 30)}),
		}, switchboard.DecisionKeepRunning, []string{"thumbs", "400 and 40 units"}},
		{"far worse, not eligible", &def, []switchboard.VariantStats{
			variantStats("stable", 900, map[string]switchboard.MetricSums{"error": binarySums(900, 18), "latency": lat(900, 800, 200)}),
			variantStats("canary", 150, map[string]switchboard.MetricSums{"error": binarySums(150, 3), "latency": lat(40, 1800, 900)}),
		}, switchboard.DecisionKeepRunning, []string{"latency: not eligible (900 and 40 units", "latency: harm 1000 above its margin 80"}},
		// The review's second repro, now with a valid plan (5 % needs 2000
		// planned units): 14 canary units, all failing, never ship.
		{"14 failing canary units", func() *switchboard.Experiment {
			e := Canary("rag-canary", "rag", "production", "3", "4", 5, 2000)
			return &e
		}(), []switchboard.VariantStats{
			variantStats("stable", 1990, map[string]switchboard.MetricSums{"error": binarySums(1990, 0), "latency": lat(1990, 800, 200)}),
			variantStats("canary", 14, map[string]switchboard.MetricSums{"error": binarySums(14, 14)}),
		}, switchboard.DecisionKeepRunning, []string{"canary has 14 units"}},
		{"before the planned sample", &def, []switchboard.VariantStats{
			variantStats("stable", 800, map[string]switchboard.MetricSums{"error": binarySums(800, 16), "latency": lat(800, 800, 200)}),
			variantStats("canary", 90, map[string]switchboard.MetricSums{"error": binarySums(90, 2), "latency": lat(90, 800, 200)}),
		}, switchboard.DecisionKeepRunning, []string{"890 of 1000 planned units"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := mustAnalyze(t, tc.e, switchboard.ExperimentStats{Variants: tc.st}, nil)
			d := r.Decision
			if d.Action != tc.action {
				t.Fatalf("decision %s (%s), want %s", d.Action, d.Reason, tc.action)
			}
			for _, want := range tc.reason {
				if !strings.Contains(d.Reason, want) {
					t.Errorf("reason %q lacks %q", d.Reason, want)
				}
			}
		})
	}
}

// TestABWinnerHarmBlocksShip: a treatment that wins on the primary metric
// but whose point harm on a guard is far above the margin, without yet
// being eligible, is not shipped.
func TestABWinnerHarmBlocksShip(t *testing.T) {
	t.Parallel()
	e := abExp("b")
	st := switchboard.ExperimentStats{Variants: []switchboard.VariantStats{
		variantStats("control", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 600), "error": binarySums(3000, 30),
			"latency": numericSums(3000, 800, 40000)}),
		variantStats("b", 3000, map[string]switchboard.MetricSums{"thumbs": binarySums(3000, 750), "error": binarySums(3000, 31),
			"latency": numericSums(60, 2000, 40000)}), // 60 successful calls, 1.2 s slower
	}}
	r := mustAnalyze(t, e, st, nil)
	if r.Metrics[0].Comparisons[0].Outcome != OutcomeBetter {
		t.Fatalf("b is not better on thumbs: %+v", r.Metrics[0].Comparisons[0])
	}
	if d := r.Decision; d.Action != switchboard.DecisionKeepRunning || !strings.Contains(d.Reason, "latency") || !strings.Contains(d.Reason, "margin") {
		t.Errorf("decision %+v, want keep_running naming the latency harm", d)
	}
}
