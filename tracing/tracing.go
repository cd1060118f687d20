// Package tracing sets up OpenTelemetry tracing over OTLP/HTTP. With no
// endpoint configured it returns a no-op tracer, so tracing costs nothing.
package tracing

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configure tracing.
type Options struct {
	// Endpoint is the OTLP/HTTP base URL (e.g. http://127.0.0.1:4318); empty disables tracing.
	Endpoint string
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// SampleRatio is the fraction of new traces sampled (parent-based).
	SampleRatio float64
	// Headers are sent with every export (e.g. an API key of the collector).
	Headers map[string]string
	// Version is the service.version resource attribute.
	Version string
}

// Setup returns a tracer provider and its shutdown function, which flushes
// buffered spans.
func Setup(ctx context.Context, o Options) (trace.TracerProvider, func(context.Context) error, error) {
	if o.Endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("tracing: endpoint must be an absolute http(s) URL, got %q", o.Endpoint)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpointURL(u)), otlptracehttp.WithHeaders(o.Headers)}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	name := o.ServiceName
	if name == "" {
		name = "switchboard"
	}
	res := resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.version", o.Version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))),
	)
	return tp, tp.Shutdown, nil
}

// endpointURL appends the OTLP traces path when the endpoint is a bare base URL.
func endpointURL(u *url.URL) string {
	if u.Path == "" || u.Path == "/" {
		c := *u
		c.Path = "/v1/traces"
		return c.String()
	}
	return u.String()
}
