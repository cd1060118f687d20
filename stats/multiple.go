package stats

import (
	"math"
	"slices"
)

// HolmInput is the input of HolmBonferroni: m ≥ 1 p-values and the
// family-wise level α (zero means DefaultAlpha).
type HolmInput struct {
	PValues []float64 `json:"p_values"`
	Alpha   float64   `json:"alpha,omitempty"`
}

// HolmBonferroniResult is the output of HolmBonferroni, in input order.
type HolmBonferroniResult struct {
	AdjustedPValues []float64 `json:"adjusted_p_values"`
	Reject          []bool    `json:"reject"`
}

// HolmBonferroni applies Holm's step-down correction (STATS.md §8): with the
// p-values sorted ascending (stably, so ties keep their order),
// p_adj,(i) = min(1, max_{j≤i} (m − j + 1)·p_(j)), and H_i is rejected when
// p_adj,i ≤ α. It controls the family-wise error rate under any dependence,
// and stays valid for always-valid p-values read at any stopping time.
// Errors: no p-values, a p-value outside [0, 1], α ∉ (0, 1).
func HolmBonferroni(in HolmInput) (HolmBonferroniResult, error) {
	const fn = "holm_bonferroni"
	alpha, err := alphaOr(fn, in.Alpha)
	if err != nil {
		return HolmBonferroniResult{}, err
	}
	m := len(in.PValues)
	if m == 0 {
		return HolmBonferroniResult{}, invalid(fn, "no p-values")
	}
	order := make([]int, m)
	for i, p := range in.PValues {
		if !(p >= 0 && p <= 1) {
			return HolmBonferroniResult{}, invalid(fn, "p-value %d = %g, want 0 ≤ p ≤ 1", i, p)
		}
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(in.PValues[a], in.PValues[b]) })
	r := HolmBonferroniResult{AdjustedPValues: make([]float64, m), Reject: make([]bool, m)}
	running := 0.0
	for j, i := range order {
		running = math.Max(running, float64(m-j)*in.PValues[i])
		adj := math.Min(1, running)
		r.AdjustedPValues[i] = adj
		r.Reject[i] = adj <= alpha
	}
	return r, nil
}
