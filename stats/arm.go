package stats

import (
	"errors"
	"fmt"
	"math"
)

var (
	// ErrInvalidInput reports an input outside the domain STATS.md allows:
	// n below the minimum, x > n, negative variance, non-positive weight,
	// empty sample, non-finite value, α outside (0, 1), unknown enum value.
	ErrInvalidInput = errors.New("invalid input")
	// ErrDegenerate reports data on which a statistic is undefined: zero
	// standard error where the specification makes that an error, zero
	// control mean for a relative lift, zero denominator mean for a ratio.
	ErrDegenerate = errors.New("degenerate data")
)

// Defaults of STATS.md, used when the corresponding input field is zero
// (or nil, for the integer gates of RollbackDecision).
const (
	// DefaultAlpha is the two-sided significance level α (§0.1).
	DefaultAlpha = 0.05
	// DefaultTuningS is the always-valid tuning parameter S: the expected
	// total sample size (both arms) at the decision (§6.4).
	DefaultTuningS = 1000
	// DefaultConcentration is the Dirichlet concentration of the sequential
	// SRM test (§5.2).
	DefaultConcentration = 10_000
	// SRMThreshold is the p-value below which a sample ratio mismatch is
	// flagged (§5.1, §5.2, §12.1).
	SRMThreshold = 0.001
	// DefaultBins is the number of reference-quantile bins of PSINumeric (§9.1).
	DefaultBins = 10
	// DefaultEpsilon replaces zero proportions in PSI (§9.1).
	DefaultEpsilon = 1e-4
	// DefaultNMin is the minimum number of units per arm before a guardrail
	// can trigger a rollback (§12.1).
	DefaultNMin = 100
	// DefaultMinEventsBinary is the minimum x_C + x_T before a binary
	// guardrail can trigger a rollback (§12.1).
	DefaultMinEventsBinary = 10
)

// MetricType says how an Arm is read: binary arms carry {n, x}, continuous
// arms {n, mean, var}.
type MetricType string

// Metric types of §6.3 and §12.1.
const (
	// MetricBinary reads an Arm as {n, x}: mean x/n, per-unit variance p(1−p).
	MetricBinary MetricType = "binary"
	// MetricContinuous reads an Arm as {n, mean, var}.
	MetricContinuous MetricType = "continuous"
)

// BinaryArm is one arm of a binary metric: N analysis units, X successes.
type BinaryArm struct {
	N int `json:"n"`
	X int `json:"x"`
}

// NumericArm is one arm of a numeric metric: N units with sample mean Mean and
// unbiased sample variance Var (§0.1). When Values is non-empty, N, Mean and
// Var are ignored and computed from the raw values (§3).
type NumericArm struct {
	N      int       `json:"n"`
	Mean   float64   `json:"mean"`
	Var    float64   `json:"var"`
	Values []float64 `json:"values,omitempty"`
}

// Arm is an arm whose reading depends on a MetricType: {N, X} for binary
// metrics (mean x/n, per-unit variance p(1−p)) and {N, Mean, Var} for
// continuous ones.
type Arm struct {
	N    int     `json:"n"`
	X    int     `json:"x,omitempty"`
	Mean float64 `json:"mean,omitempty"`
	Var  float64 `json:"var,omitempty"`
}

// moments holds what the tests need from one arm.
type moments struct {
	n    float64
	mean float64
	v    float64 // per-unit variance
}

func invalid(fn, format string, args ...any) error {
	return fmt.Errorf("stats: %s: %s: %w", fn, fmt.Sprintf(format, args...), ErrInvalidInput)
}

func degenerate(fn, format string, args ...any) error {
	return fmt.Errorf("stats: %s: %s: %w", fn, fmt.Sprintf(format, args...), ErrDegenerate)
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// check validates a binary arm with at least minN units.
func (a BinaryArm) check(fn, name string, minN int) error {
	switch {
	case a.N < minN:
		return invalid(fn, "%s: n = %d, want n ≥ %d", name, a.N, minN)
	case a.X < 0 || a.X > a.N:
		return invalid(fn, "%s: x = %d, want 0 ≤ x ≤ n = %d", name, a.X, a.N)
	}
	return nil
}

// rate returns p = x/n and 1 − p = (n − x)/n (the latter without cancellation).
func (a BinaryArm) rate() (p, q float64) {
	n := float64(a.N)
	return float64(a.X) / n, float64(a.N-a.X) / n
}

// moments returns n, p and the per-unit variance p(1−p) (§0.1).
func (a BinaryArm) moments() moments {
	p, q := a.rate()
	return moments{n: float64(a.N), mean: p, v: p * q}
}

// moments validates a numeric arm (at least minN units, var ≥ 0, finite) and
// returns its moments, computed from Values when present.
func (a NumericArm) moments(fn, name string, minN int) (moments, error) {
	if len(a.Values) > 0 {
		if len(a.Values) < minN {
			return moments{}, invalid(fn, "%s: %d values, want ≥ %d", name, len(a.Values), minN)
		}
		mean, v, err := meanVar(a.Values)
		if err != nil {
			return moments{}, invalid(fn, "%s: %v", name, err)
		}
		return moments{n: float64(len(a.Values)), mean: mean, v: v}, nil
	}
	switch {
	case a.N < minN:
		return moments{}, invalid(fn, "%s: n = %d, want n ≥ %d", name, a.N, minN)
	case !finite(a.Mean) || !finite(a.Var):
		return moments{}, invalid(fn, "%s: mean and var must be finite", name)
	case a.Var < 0:
		return moments{}, invalid(fn, "%s: var = %g < 0", name, a.Var)
	}
	return moments{n: float64(a.N), mean: a.Mean, v: a.Var}, nil
}

// moments validates an Arm of the given type and returns its moments.
func (a Arm) moments(fn, name string, t MetricType) (moments, error) {
	switch t {
	case MetricBinary:
		b := BinaryArm{N: a.N, X: a.X}
		if err := b.check(fn, name, 1); err != nil {
			return moments{}, err
		}
		return b.moments(), nil
	case MetricContinuous:
		return NumericArm{N: a.N, Mean: a.Mean, Var: a.Var}.moments(fn, name, 1)
	}
	return moments{}, invalid(fn, "metric type %q, want %q or %q", t, MetricBinary, MetricContinuous)
}

// meanVar returns the mean and the unbiased variance of xs (len ≥ 1; the
// variance of a single value is 0) by the corrected two-pass algorithm.
func meanVar(xs []float64) (mean, v float64, err error) {
	var s float64
	for _, x := range xs {
		if !finite(x) {
			return 0, 0, errors.New("values must be finite")
		}
		s += x
	}
	n := float64(len(xs))
	mean = s / n
	if len(xs) < 2 {
		return mean, 0, nil
	}
	var ss, comp float64
	for _, x := range xs {
		d := x - mean
		ss += d * d
		comp += d
	}
	v = (ss - comp*comp/n) / (n - 1)
	return mean, math.Max(v, 0), nil
}

// alphaOr returns α, or DefaultAlpha when α is zero; α must lie in (0, 1).
func alphaOr(fn string, alpha float64) (float64, error) {
	if alpha == 0 {
		return DefaultAlpha, nil
	}
	if !(alpha > 0 && alpha < 1) {
		return 0, invalid(fn, "alpha = %g, want 0 < alpha < 1", alpha)
	}
	return alpha, nil
}

// positiveOr returns v, or def when v is zero; v must be positive and finite.
func positiveOr(fn, field string, v, def float64) (float64, error) {
	if v == 0 {
		return def, nil
	}
	if !(v > 0) || math.IsInf(v, 1) {
		return 0, invalid(fn, "%s = %g, want > 0", field, v)
	}
	return v, nil
}
