package stats

import (
	"math/rand/v2"
	"testing"
)

// Benchmarks of the functions on the monitoring hot path. Run with
//
//	go test -run '^$' -bench . -benchmem ./stats/
//
// AlwaysValidTest and RollbackDecision run at every look of every experiment
// and should stay allocation-light (RollbackDecision allocates its result and
// the SRM series); PSINumeric on 10k points is dominated by sorting the
// reference. The Student-t ones show the cost of the accurate large-ν route.

func BenchmarkAlwaysValidTest(b *testing.B) {
	in := AlwaysValidInput{
		Control:   NumericArm{N: 5000, Mean: 0.12, Var: 0.12 * 0.88},
		Treatment: NumericArm{N: 5000, Mean: 0.13, Var: 0.13 * 0.87},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AlwaysValidTest(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRollbackDecision(b *testing.B) {
	periods := make([][]int, 30) // 30 daily SRM periods
	for i := range periods {
		periods[i] = []int{1000 + i, 1000 - i}
	}
	in := RollbackInput{
		SRM: &SRMConfig{PeriodCounts: periods, Weights: []float64{1, 1}},
		Guardrails: []Guardrail{
			{Name: "error_rate", Type: MetricBinary, HigherIsWorse: true, Margin: 0.005, MarginType: MarginAbsolute,
				Control: Arm{N: 30000, X: 600}, Treatment: Arm{N: 30000, X: 640}},
			{Name: "latency_ms", Type: MetricContinuous, HigherIsWorse: true, Margin: 0.1, MarginType: MarginRelative,
				Control: Arm{N: 30000, Mean: 800, Var: 62500}, Treatment: Arm{N: 30000, Mean: 810, Var: 64000}},
			{Name: "thumbs_up", Type: MetricBinary, Margin: 0.02, MarginType: MarginAbsolute,
				Control: Arm{N: 3000, X: 2100}, Treatment: Arm{N: 3000, X: 2080}},
		},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RollbackDecision(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPSINumeric(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	in := PSINumericInput{Reference: make([]float64, 10_000), Current: make([]float64, 10_000)}
	for i := range in.Reference {
		in.Reference[i] = rng.NormFloat64()
		in.Current[i] = rng.NormFloat64()*1.1 + 0.1
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PSINumeric(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWelchTTestLargeDF(b *testing.B) {
	in := MeansInput{
		Control:   NumericArm{N: 100_000, Mean: 0.2, Var: 0.16},
		Treatment: NumericArm{N: 100_000, Mean: 0.203, Var: 0.1605},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := WelchTTest(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMeanDiffCISmallDF(b *testing.B) {
	in := MeansInput{Control: NumericArm{N: 30, Mean: 10, Var: 4}, Treatment: NumericArm{N: 300, Mean: 11, Var: 25}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MeanDiffCI(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBetaBinomialProbBest(b *testing.B) {
	in := ProbBestInput{Arms: []BinaryArm{{N: 500, X: 50}, {N: 480, X: 60}, {N: 510, X: 45}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BetaBinomialProbBest(in); err != nil {
			b.Fatal(err)
		}
	}
}
