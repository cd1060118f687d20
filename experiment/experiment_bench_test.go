package experiment

// Benchmarks of the request hot path (Assign, Resolver lookups, Record)
// and of building a report:
//
//	go test -run '^$' -bench . -benchmem ./experiment/
//
// Assign and the lookups must stay at 0 allocs/op; Record allocates the
// 16-digit unit hash. Analyze is per look, not per request.

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-ai/switchboard"
)

func BenchmarkAssign(b *testing.B) {
	e := abExp("b", "c")
	units := make([]string, 1024)
	for i := range units {
		units[i] = fmt.Sprintf("acme\x00user-%d@example.com", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = Assign(e, units[i&1023])
		i++
	}
}

func BenchmarkAssignRandom(b *testing.B) {
	e := abExp("b")
	b.ReportAllocs()
	for b.Loop() {
		_ = Assign(e, "")
	}
}

func BenchmarkResolveAssignRecord(b *testing.B) {
	store := newFakeStore()
	for i := range 50 {
		e := *abExp("b")
		e.Name, e.Label = fmt.Sprint("exp-", i), fmt.Sprint("label-", i)
		_ = store.CreateExperiment(b.Context(), e)
	}
	r := NewResolver(store)
	if err := r.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var in switchboard.Inference
	for b.Loop() {
		e := r.ForPrompt("rag", "label-7")
		Assign(e, "acme\x00alice").Record(&in)
	}
}

func BenchmarkAnalyze(b *testing.B) {
	e := abExp("b", "c")
	e.Metrics = append(e.Metrics, normalizeMetric(switchboard.MetricSpec{Name: "judge", Kind: switchboard.MetricNumeric}))
	periods := make([]switchboard.PeriodCount, 24*14) // two weeks of hourly periods
	for i := range periods {
		periods[i] = switchboard.PeriodCount{Start: time.Unix(int64(i)*3600, 0), Units: 100}
	}
	var st switchboard.ExperimentStats
	for i, name := range []string{"control", "b", "c"} {
		st.Variants = append(st.Variants, switchboard.VariantStats{
			Variant: name, Units: 33600, Requests: 80000, Periods: periods,
			Metrics: map[string]switchboard.MetricSums{
				"thumbs":  sumsOf([]float64{1, 0}, []float64{1}, []float64{0, 0, 1}),
				"error":   binarySums(33600, int64(300+i)),
				"latency": numericSums(33000, 800+float64(i), 40000),
				"judge":   numericSums(5000, 3.5, 1.2),
			},
		})
	}
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		if _, err := Analyze(e, st, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}
