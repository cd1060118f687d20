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
		m.RecorderQueue, m.RecorderFlushes, m.RecorderRecords, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
