package stats

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// floatsFrom decodes b as little-endian float64s (trailing bytes dropped).
func floatsFrom(b []byte) []float64 {
	xs := make([]float64, 0, len(b)/8)
	for len(b) >= 8 {
		xs = append(xs, math.Float64frombits(binary.LittleEndian.Uint64(b)))
		b = b[8:]
	}
	return xs
}

func floatBytes(xs ...float64) []byte {
	b := make([]byte, 0, 8*len(xs))
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// FuzzPSINumeric feeds arbitrary samples (NaN, ±Inf, ±MaxFloat64, denormals,
// ties, empty) to the slice-taking drift functions: they must never panic and
// must either fail with an error or return finite, self-consistent results.
// Seeds live in testdata/fuzz/FuzzPSINumeric; run with
//
//	go test -run '^$' -fuzz FuzzPSINumeric ./stats/
func FuzzPSINumeric(f *testing.F) {
	f.Add(floatBytes(1, 2, 3, 4, 5), floatBytes(2, 3, 4), 10, 1e-4)
	f.Add(floatBytes(0, 0, 0), floatBytes(0), 3, 0.0)
	f.Add(floatBytes(-math.MaxFloat64, math.MaxFloat64), floatBytes(1), 10, 1e-4)
	f.Add(floatBytes(math.NaN()), floatBytes(1), 10, 1e-4)
	f.Add([]byte{}, floatBytes(1), 0, 0.0)
	f.Fuzz(func(t *testing.T, ref, cur []byte, bins int, eps float64) {
		a, b := floatsFrom(ref), floatsFrom(cur)
		bins %= 64 // keep the edge loop small

		if r, err := PSINumeric(PSINumericInput{Reference: a, Current: b, Bins: bins, Epsilon: eps}); err == nil {
			mustEncode(t, r)
			if r.PSI < 0 || len(r.ReferenceCounts) != len(r.Edges)+1 || len(r.CurrentCounts) != len(r.Edges)+1 {
				t.Fatalf("inconsistent PSI result %+v", r)
			}
			if sum(r.ReferenceCounts) != len(a) || sum(r.CurrentCounts) != len(b) {
				t.Fatalf("counts %v, %v do not add up to %d, %d", r.ReferenceCounts, r.CurrentCounts, len(a), len(b))
			}
		}
		if r, err := KS2SampAsymp(KSInput{A: a, B: b}); err == nil {
			mustEncode(t, r)
			if r.D < 0 || r.D > 1 || r.PValue < 0 || r.PValue > 1 {
				t.Fatalf("KS out of range %+v", r)
			}
		}
		if r, err := WassersteinNorm(WassersteinInput{Reference: a, Current: b}); err == nil {
			mustEncode(t, r)
			if r.Wasserstein < 0 {
				t.Fatalf("negative distance %+v", r)
			}
		}
	})
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// mustEncode fails if v holds NaN or ±Inf (encoding/json rejects them).
func mustEncode(t *testing.T, v any) {
	t.Helper()
	if _, err := json.Marshal(v); err != nil {
		t.Fatalf("result %+v is not finite: %v", v, err)
	}
}
