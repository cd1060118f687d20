package stats

import (
	"math"
	"slices"
	"sort"
)

// Band is the PSI alert band of STATS.md §9.1.
type Band string

// PSI bands. They are alert bands only, never a rollback trigger (§1.9).
const (
	// BandNone is PSI < 0.1: no significant change.
	BandNone Band = "none"
	// BandModerate is 0.1 ≤ PSI < 0.25: moderate change.
	BandModerate Band = "moderate"
	// BandSignificant is PSI ≥ 0.25: significant shift.
	BandSignificant Band = "significant"
)

// PSINumericInput is the input of PSINumeric: reference and current samples,
// the number of reference-quantile bins B and the zero-proportion floor ε
// (zero means DefaultBins and DefaultEpsilon).
type PSINumericInput struct {
	Reference []float64 `json:"reference"`
	Current   []float64 `json:"current"`
	Bins      int       `json:"bins,omitempty"`
	Epsilon   float64   `json:"epsilon,omitempty"`
}

// PSINumericResult is the output of PSINumeric: the PSI, the deduplicated
// inner bin edges, the per-bin counts (len(Edges) + 1 bins) and the band.
type PSINumericResult struct {
	PSI             float64   `json:"psi"`
	Edges           []float64 `json:"edges"`
	ReferenceCounts []int     `json:"reference_counts"`
	CurrentCounts   []int     `json:"current_counts"`
	Band            Band      `json:"band"`
}

// CategoricalInput is the input of PSICategorical and JSDistance: category
// counts of the reference and current windows, and the PSI zero-proportion
// floor ε (zero means DefaultEpsilon; JSDistance ignores it).
type CategoricalInput struct {
	Reference map[string]float64 `json:"reference"`
	Current   map[string]float64 `json:"current"`
	Epsilon   float64            `json:"epsilon,omitempty"`
}

// PSICategoricalResult is the output of PSICategorical.
type PSICategoricalResult struct {
	PSI  float64 `json:"psi"`
	Band Band    `json:"band"`
}

// psiBand maps a PSI value to its band.
func psiBand(psi float64) Band {
	switch {
	case psi >= 0.25:
		return BandSignificant
	case psi >= 0.1:
		return BandModerate
	}
	return BandNone
}

// psi returns Σ (c_i − r_i)·ln(c_i/r_i) over proportions count/total with
// zero proportions replaced by eps (no renormalisation).
func psi(ref, cur []float64, nRef, nCur, eps float64) float64 {
	var s float64
	for i := range ref {
		r, c := ref[i]/nRef, cur[i]/nCur
		if r == 0 {
			r = eps
		}
		if c == 0 {
			c = eps
		}
		s += (c - r) * math.Log(c/r)
	}
	return s
}

// sortedFinite returns a sorted copy of xs, or false if xs holds NaN or ±Inf.
func sortedFinite(xs []float64) ([]float64, bool) {
	s := slices.Clone(xs)
	for _, x := range s {
		if !finite(x) {
			return nil, false
		}
	}
	slices.Sort(s)
	return s, true
}

// PSINumeric is the Population Stability Index of a numeric feature (STATS.md
// §9.1). Bins come from the reference: the type-7 quantiles at k/B,
// k = 1..B−1, with the index computed in exact integer arithmetic
// (lo = (n−1)k div B, t = ((n−1)k mod B)/B, e_k = s_lo + t·(s_hi − s_lo)),
// deduplicated by exact equality; a value v falls in bin #{edges ≤ v}, so
// current values outside the reference range land in the end bins. Zero
// proportions become ε. Identical samples give exactly 0. Errors: an empty
// sample, a non-finite value, bins < 0, ε < 0.
func PSINumeric(in PSINumericInput) (PSINumericResult, error) {
	const fn = "psi_numeric"
	if len(in.Reference) == 0 || len(in.Current) == 0 {
		return PSINumericResult{}, invalid(fn, "empty sample (reference %d, current %d values)", len(in.Reference), len(in.Current))
	}
	bins := in.Bins
	switch {
	case bins == 0:
		bins = DefaultBins
	case bins < 0:
		return PSINumericResult{}, invalid(fn, "bins = %d, want ≥ 1", bins)
	}
	eps, err := positiveOr(fn, "epsilon", in.Epsilon, DefaultEpsilon)
	if err != nil {
		return PSINumericResult{}, err
	}
	ref, ok := sortedFinite(in.Reference)
	if !ok {
		return PSINumericResult{}, invalid(fn, "reference values must be finite")
	}
	n := len(ref)
	edges := make([]float64, 0, bins-1)
	for k := 1; k < bins; k++ {
		num := (n - 1) * k
		lo := num / bins
		t := float64(num%bins) / float64(bins)
		hi := min(lo+1, n-1)
		e := ref[lo] + t*(ref[hi]-ref[lo])
		if !finite(e) { // s_hi − s_lo overflowed: use the equivalent convex combination
			e = ref[lo]
			if t > 0 {
				e = (1-t)*ref[lo] + t*ref[hi]
			}
		}
		edges = append(edges, e)
	}
	slices.Sort(edges)
	edges = slices.Compact(edges)

	bin := func(v float64) int {
		return sort.Search(len(edges), func(i int) bool { return edges[i] > v })
	}
	r := PSINumericResult{
		Edges:           edges,
		ReferenceCounts: make([]int, len(edges)+1),
		CurrentCounts:   make([]int, len(edges)+1),
	}
	for _, v := range ref {
		r.ReferenceCounts[bin(v)]++
	}
	for _, v := range in.Current {
		if !finite(v) {
			return PSINumericResult{}, invalid(fn, "current values must be finite")
		}
		r.CurrentCounts[bin(v)]++
	}
	rc := make([]float64, len(edges)+1)
	cc := make([]float64, len(edges)+1)
	for i := range rc {
		rc[i], cc[i] = float64(r.ReferenceCounts[i]), float64(r.CurrentCounts[i])
	}
	r.PSI = psi(rc, cc, float64(n), float64(len(in.Current)), eps)
	r.Band = psiBand(r.PSI)
	return r, nil
}

// categories validates two count maps and returns the sorted union of their
// categories with the aligned counts and totals.
func categories(fn string, ref, cur map[string]float64) (rc, cc []float64, nr, nc float64, err error) {
	keys := make([]string, 0, len(ref)+len(cur))
	for k := range ref {
		keys = append(keys, k)
	}
	for k := range cur {
		if _, ok := ref[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	rc, cc = make([]float64, len(keys)), make([]float64, len(keys))
	for i, k := range keys {
		rc[i], cc[i] = ref[k], cur[k]
		if !(rc[i] >= 0) || !(cc[i] >= 0) || math.IsInf(rc[i], 1) || math.IsInf(cc[i], 1) {
			return nil, nil, 0, 0, invalid(fn, "category %q: counts must be finite and ≥ 0", k)
		}
		nr += rc[i]
		nc += cc[i]
	}
	if !(nr > 0) || !(nc > 0) {
		return nil, nil, 0, 0, invalid(fn, "empty window (reference total %g, current total %g)", nr, nc)
	}
	return rc, cc, nr, nc, nil
}

// PSICategorical is the Population Stability Index of a categorical feature
// (STATS.md §9.2) over the union of categories seen in either window, with
// zero proportions replaced by ε. Errors: a negative or non-finite count, a
// window with total 0, ε < 0.
func PSICategorical(in CategoricalInput) (PSICategoricalResult, error) {
	const fn = "psi_categorical"
	eps, err := positiveOr(fn, "epsilon", in.Epsilon, DefaultEpsilon)
	if err != nil {
		return PSICategoricalResult{}, err
	}
	rc, cc, nr, nc, err := categories(fn, in.Reference, in.Current)
	if err != nil {
		return PSICategoricalResult{}, err
	}
	v := psi(rc, cc, nr, nc, eps)
	return PSICategoricalResult{PSI: v, Band: psiBand(v)}, nil
}
