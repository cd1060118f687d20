// Package stats implements the statistics of STATS.md: fixed-horizon tests
// for proportions and means, relative lift and ratio metrics, sample ratio
// mismatch, always-valid (sequential) inference, beta-binomial Bayesian
// probabilities, Holm–Bonferroni, drift measures (PSI, Kolmogorov–Smirnov,
// Jensen–Shannon, Wasserstein) and the guardrail auto-rollback rule.
//
// Every canonical function of STATS.md §14 is an exported function of the same
// name in Go case (two_proportion_ztest_pooled → TwoProportionZTestPooled). It
// takes a plain input struct and returns a result struct whose JSON tags are the
// snake_case names of the specification, so a JSON test vector decodes straight
// into the input and the result encodes to the documented output names.
//
// The package is pure: no I/O, no global state, and no imports beyond the
// standard library and gonum. Functions never return NaN or ±Inf; inputs
// outside the domain stated in STATS.md yield an error wrapping
// ErrInvalidInput, and data on which a statistic is undefined (zero standard
// error with a non-zero difference, zero control mean for a relative lift) an
// error wrapping ErrDegenerate.
package stats
