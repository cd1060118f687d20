// Package experiment runs prompt and model experiments, collects feedback
// and guards rollouts, on the statistics of package stats (STATS.md).
//
// The pieces, in the order a request meets them:
//
//   - Resolver finds the running experiment that splits a prompt label or
//     a model; Assign picks the variant, sticky per unit (the hash of the
//     experiment's salt and the request's unit); Assignment.Record writes
//     the exposure (experiment, variant, unit hash) into the inference
//     record.
//   - ParseFeedback decodes POST /v1/feedback; Service.RecordFeedback
//     stores it, idempotent per inference, tenant and metric.
//   - The store aggregates exposures into per-variant sufficient
//     statistics in SQL; Analyze turns them into a Report: per metric and
//     variant the sample, difference and relative lift with confidence
//     intervals, fixed-horizon and always-valid p-values, Holm across
//     treatments, the sample-ratio-mismatch check, the guardrail rule of
//     STATS.md §12 and a decision (keep running, ship, stop, rollback).
//     RenderReportHTML renders it.
//   - Monitor calls Service.Evaluate periodically: a canary that breaches a
//     guardrail is rolled back, one that reaches its planned sample with
//     every guard eligible and within its margin is promoted, and an A/B
//     test stops or ships its winner when allowed to, each once across
//     replicas, with an audit event and an alert.
//
// docs/experiments.md describes the concepts, the spec and the rules.
package experiment
