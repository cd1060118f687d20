// Package metrics defines every Prometheus metric Switchboard exports, on its
// own registry. Labels come from bounded sets only: route patterns, configured
// model and provider names, error codes, never user input.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the gateway's metrics and the registry they live on.
type Metrics struct {
	// Registry is the dedicated registry served at /metrics.
	Registry *prometheus.Registry

	// Requests counts HTTP requests by route, model, provider and status code.
	Requests *prometheus.CounterVec
	// Duration observes request latency by route and model.
	Duration *prometheus.HistogramVec
	// UpstreamDuration observes upstream call latency by provider and model.
	UpstreamDuration *prometheus.HistogramVec
	// TTFT observes the time to the first streamed token by model.
	TTFT *prometheus.HistogramVec
	// Tokens counts tokens by model, provider and direction (input, output, cached).
	Tokens *prometheus.CounterVec
	// Errors counts failed requests by error class.
	Errors *prometheus.CounterVec
	// InFlight is the number of requests being served.
	InFlight prometheus.Gauge
	// Shed counts requests rejected because max_in_flight was reached.
	Shed prometheus.Counter
	// RecorderQueue is the depth of the inference-record queue.
	RecorderQueue prometheus.GaugeFunc
	// RecorderFlushes observes batch writes of inference records by result.
	RecorderFlushes *prometheus.HistogramVec
	// RecorderRecords counts inference records written.
	RecorderRecords prometheus.Counter
	// Attempts counts upstream calls by provider and result (ok or an error code).
	Attempts *prometheus.CounterVec
	// Retries counts rounds of retries after a backoff, by model.
	Retries *prometheus.CounterVec
	// Fallbacks counts requests handed to a fallback model, by model, fallback and error class.
	Fallbacks *prometheus.CounterVec
	// Hedges counts hedged requests sent, by model.
	Hedges *prometheus.CounterVec
	// CacheRequests counts response-cache lookups by model, result and tier.
	CacheRequests *prometheus.CounterVec
	// CacheSavedTokens counts tokens not sent upstream thanks to the cache,
	// by model and direction (input, output).
	CacheSavedTokens *prometheus.CounterVec
	// CacheSavedUSD counts the dollars the avoided calls would have cost, by model.
	CacheSavedUSD *prometheus.CounterVec
	// CostUSD counts upstream spend in dollars, by model and provider.
	CostUSD *prometheus.CounterVec
	// LimitRejections counts requests refused by a rate limit, by scope
	// (global, tenant, key, model, upstream) and kind (requests, tokens, concurrency).
	LimitRejections *prometheus.CounterVec
	// BudgetRejections counts requests refused by a spent budget, by scope.
	BudgetRejections *prometheus.CounterVec
	// BudgetAlerts counts budget alerts sent, by result (sent, failed, dropped).
	BudgetAlerts *prometheus.CounterVec
	// Unpriced counts inferences whose cost is unknown, by provider and upstream model.
	Unpriced *prometheus.CounterVec
	// SemanticShadowHits counts shadow-mode semantic hits by model and whether
	// the fresh answer matched the one the cache would have served.
	SemanticShadowHits *prometheus.CounterVec
}

var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// New creates the metrics on a fresh registry, with Go runtime and process
// collectors and a build_info gauge. queueDepth reports the recorder's queue.
func New(version string, queueDepth func() float64) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_requests_total", Help: "HTTP requests served, by route, model, provider and status code.",
		}, []string{"route", "model", "provider", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_request_duration_seconds", Help: "Request latency as the client saw it (to the last byte).", Buckets: latencyBuckets,
		}, []string{"route", "model"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_upstream_duration_seconds", Help: "Latency of upstream calls (to response headers for streams).", Buckets: latencyBuckets,
		}, []string{"provider", "model"}),
		TTFT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_time_to_first_token_seconds", Help: "Time from request to the first streamed chunk.", Buckets: latencyBuckets,
		}, []string{"model", "provider"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_tokens_total", Help: "Tokens processed, by direction: input, output, cached (input served from the upstream's prompt cache).",
		}, []string{"model", "provider", "direction"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_errors_total", Help: "Failed requests by error class (invalid_request, rate_limited, upstream_error, unavailable, timeout, canceled, internal, …).",
		}, []string{"class"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchboard_in_flight_requests", Help: "Requests being served right now.",
		}),
		Shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_shed_requests_total", Help: "Requests rejected with 503 because server.max_in_flight was reached.",
		}),
		RecorderFlushes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_recorder_flush_seconds", Help: "Duration of inference-record batch writes, by result.", Buckets: latencyBuckets,
		}, []string{"result"}),
		RecorderRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_recorder_records_total", Help: "Inference records written to the store.",
		}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_upstream_attempts_total", Help: "Upstream calls by provider and result (ok or an error code).",
		}, []string{"provider", "result"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_retries_total", Help: "Retry rounds after a backoff, by model.",
		}, []string{"model"}),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_fallbacks_total", Help: "Requests handed to a fallback model, by model, fallback and error class.",
		}, []string{"model", "fallback", "class"}),
		Hedges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_hedges_total", Help: "Hedged requests sent, by model.",
		}, []string{"model"}),
		CacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cache_requests_total", Help: "Response-cache lookups by model, result (hit, semantic-hit, miss, bypass, partial) and tier of a hit.",
		}, []string{"model", "result", "tier"}),
		CacheSavedTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cache_saved_tokens_total", Help: "Tokens served from the response cache instead of an upstream, by model and direction.",
		}, []string{"model", "direction"}),
		CacheSavedUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cache_saved_usd_total", Help: "Dollars the calls the cache avoided would have cost, by model.",
		}, []string{"model"}),
		SemanticShadowHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cache_semantic_shadow_total", Help: "Shadow-mode semantic hits (not served), by model and whether the fresh answer matched the cached one.",
		}, []string{"model", "matched"}),
		LimitRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_rate_limited_total", Help: "Requests refused by a rate limit, by scope (global, tenant, key, model, upstream) and kind (requests, tokens, concurrency).",
		}, []string{"scope", "kind"}),
		BudgetRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_budget_exceeded_total", Help: "Requests refused because a budget was spent, by scope (global, tenant, key).",
		}, []string{"scope"}),
		BudgetAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_budget_alerts_total", Help: "Budget alerts by result (sent, failed, dropped).",
		}, []string{"result"}),
		Unpriced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_unpriced_inferences_total", Help: "Inferences recorded with an unknown cost because the price table lacks their model, by provider and upstream model.",
		}, []string{"provider", "model"}),
		CostUSD: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_cost_usd_total", Help: "Upstream spend in dollars, by model and provider (priced models only).",
		}, []string{"model", "provider"}),
	}
	if queueDepth == nil {
		queueDepth = func() float64 { return 0 }
	}
	m.RecorderQueue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "switchboard_recorder_queue_depth", Help: "Inference records waiting to be written.",
	}, queueDepth)
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	reg.MustRegister(m.Requests, m.Duration, m.UpstreamDuration, m.TTFT, m.Tokens, m.Errors, m.InFlight, m.Shed,
		m.RecorderQueue, m.RecorderFlushes, m.RecorderRecords, m.Attempts, m.Retries, m.Fallbacks, m.Hedges,
		m.CacheRequests, m.CacheSavedTokens, m.CacheSavedUSD, m.CostUSD, m.SemanticShadowHits, build,
		m.LimitRejections, m.BudgetRejections, m.BudgetAlerts, m.Unpriced,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// DeploymentState is what the breaker collector reports for one deployment.
type DeploymentState struct {
	Provider, Model, State string
	InFlight               int64
}

// WatchDeployments exports the circuit-breaker state and in-flight count of
// every deployment, read from states at each scrape.
func (m *Metrics) WatchDeployments(states func() []DeploymentState) {
	m.Registry.MustRegister(&deploymentCollector{states: states})
}

var (
	breakerDesc = prometheus.NewDesc("switchboard_breaker_state",
		"Circuit breaker state per deployment: 1 for the current state (closed, half_open, open), 0 for the others.",
		[]string{"provider", "model", "state"}, nil)
	deploymentInFlightDesc = prometheus.NewDesc("switchboard_deployment_in_flight",
		"Upstream calls in flight per deployment.", []string{"provider", "model"}, nil)
)

type deploymentCollector struct {
	states func() []DeploymentState
}

func (c *deploymentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerDesc
	ch <- deploymentInFlightDesc
}

func (c *deploymentCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.states() {
		for _, st := range []string{"closed", "half_open", "open"} {
			v := 0.0
			if st == s.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, v, s.Provider, s.Model, st)
		}
		ch <- prometheus.MustNewConstMetric(deploymentInFlightDesc, prometheus.GaugeValue, float64(s.InFlight), s.Provider, s.Model)
	}
}

// CacheResult counts one response-cache lookup; it makes *Metrics a
// caching.Observer.
func (m *Metrics) CacheResult(model, result, tier string) {
	m.CacheRequests.WithLabelValues(model, result, tier).Inc()
}

// SemanticShadow counts a shadow-mode semantic hit; it makes *Metrics a
// caching.Observer.
func (m *Metrics) SemanticShadow(model string, matched bool) {
	v := "false"
	if matched {
		v = "true"
	}
	m.SemanticShadowHits.WithLabelValues(model, v).Inc()
}
