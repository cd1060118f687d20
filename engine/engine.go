// Package engine turns the configured providers and model names into one
// switchboard.Provider: it resolves the model a client asked for to its
// deployments, calls them in order, falls back on retryable errors, and
// bounds each call with the provider's total timeout. It knows nothing of HTTP.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchboard-ai/switchboard"
)

// Provider is a configured provider instance.
type Provider struct {
	// Name is the provider's name in config.
	Name string
	// Type is its `type:`.
	Type string
	// Provider is the instance.
	Provider switchboard.Provider
	// Timeouts are its configured bounds; Total is applied here.
	Timeouts switchboard.Timeouts
}

// Deployment is one way to serve a model name: a provider and the model name
// that provider knows it by.
type Deployment struct {
	Provider *Provider
	Model    string
}

// Route maps a public model name to deployments tried in order.
type Route struct {
	Name        string
	Deployments []Deployment
}

// Options configure an Engine.
type Options struct {
	Log    *slog.Logger
	Tracer trace.Tracer
}

// Engine is the router. It implements switchboard.Provider, Embedder,
// ModelLister and Pinger.
type Engine struct {
	providers map[string]*Provider
	routes    map[string]*Route
	models    []switchboard.Model
	log       *slog.Logger
	tracer    trace.Tracer
}

var (
	_ switchboard.Provider    = (*Engine)(nil)
	_ switchboard.Embedder    = (*Engine)(nil)
	_ switchboard.ModelLister = (*Engine)(nil)
	_ switchboard.Pinger      = (*Engine)(nil)
)

// New returns an engine over providers and routes. When routes is empty, the
// models that providers list (ModelLister, asked with a short timeout) become
// routes to them.
func New(ctx context.Context, providers []*Provider, routes []*Route, opts Options) (*Engine, error) {
	e := &Engine{providers: map[string]*Provider{}, routes: map[string]*Route{}, log: opts.Log, tracer: opts.Tracer}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.tracer == nil {
		e.tracer = noop.NewTracerProvider().Tracer("")
	}
	for _, p := range providers {
		e.providers[p.Name] = p
	}
	for _, r := range routes {
		if len(r.Deployments) == 0 {
			return nil, fmt.Errorf("engine: model %q has no deployments", r.Name)
		}
		e.routes[r.Name] = r
	}
	if len(routes) == 0 {
		for _, p := range providers {
			lister, ok := p.Provider.(switchboard.ModelLister)
			if !ok {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			ms, err := lister.Models(lctx)
			cancel()
			if err != nil {
				e.log.Warn("list models failed", switchboard.LogKeyProvider, p.Name, switchboard.LogKeyErr, err)
				continue
			}
			for _, m := range ms {
				if _, dup := e.routes[m.ID]; !dup {
					e.routes[m.ID] = &Route{Name: m.ID, Deployments: []Deployment{{Provider: p, Model: m.ID}}}
				}
			}
		}
	}
	names := make([]string, 0, len(e.routes))
	for n := range e.routes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		owner := e.routes[n].Deployments[0].Provider.Name
		e.models = append(e.models, switchboard.Model{ID: n, Object: "model", Created: 1700000000, OwnedBy: owner})
	}
	return e, nil
}

// Resolve returns the deployments for a model name: a configured model, or
// "provider/model" to address a provider's model directly.
func (e *Engine) Resolve(model string) ([]Deployment, error) {
	if r, ok := e.routes[model]; ok {
		return r.Deployments, nil
	}
	if name, upstream, ok := strings.Cut(model, "/"); ok && upstream != "" {
		if p, ok := e.providers[name]; ok {
			return []Deployment{{Provider: p, Model: upstream}}, nil
		}
	}
	return nil, &switchboard.Error{
		Code:       switchboard.CodeNotFound,
		Param:      "model",
		VendorCode: "model_not_found",
		Message:    fmt.Sprintf("The model %q does not exist. GET /v1/models lists the models this gateway serves, or use \"provider/model\" with a configured provider (%s).", model, strings.Join(e.providerNames(), ", ")),
	}
}

// Routes returns the configured model names, sorted.
func (e *Engine) providerNames() []string {
	names := make([]string, 0, len(e.providers))
	for n := range e.providers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// call runs fn against each deployment in order until one succeeds or fails
// with an error that is not retryable.
func call[T any](ctx context.Context, e *Engine, op, model string, fn func(context.Context, Deployment) (T, context.CancelFunc, error)) (T, error) {
	var zero T
	deps, err := e.Resolve(model)
	if err != nil {
		return zero, err
	}
	out := switchboard.OutcomeFromContext(ctx)
	var last error
	for i, d := range deps {
		if ctx.Err() != nil {
			break
		}
		cctx, span := e.tracer.Start(ctx, op+" "+d.Model, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(
				attribute.String("gen_ai.operation.name", op),
				attribute.String("gen_ai.provider.name", d.Provider.Type),
				attribute.String("gen_ai.request.model", d.Model),
				attribute.String("switchboard.provider", d.Provider.Name),
				attribute.Int("switchboard.attempt", i+1),
			))
		start := time.Now()
		v, cancel, err := fn(cctx, d)
		if out != nil {
			out.Provider, out.ProviderType, out.UpstreamModel = d.Provider.Name, d.Provider.Type, d.Model
			out.Attempts = i + 1
			out.UpstreamLatency = time.Since(start)
		}
		if err == nil {
			span.End()
			return v, nil
		}
		if cancel != nil {
			cancel()
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, string(switchboard.ErrorCodeOf(err)))
		span.End()
		last = err
		if !switchboard.Retryable(err) || i == len(deps)-1 {
			break
		}
		e.log.Warn("upstream failed, falling back", switchboard.LogKeyProvider, d.Provider.Name,
			switchboard.LogKeyModel, d.Model, "attempt", i+1, switchboard.LogKeyErr, err)
	}
	if last == nil {
		last = ctx.Err()
	}
	return zero, last
}

func withTotal(ctx context.Context, d Deployment) (context.Context, context.CancelFunc) {
	if t := d.Provider.Timeouts.Total; t > 0 {
		return context.WithTimeout(ctx, t)
	}
	return context.WithCancel(ctx)
}

// Chat implements switchboard.Provider; model is the public model name.
func (e *Engine) Chat(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	return call(ctx, e, "chat", model, func(ctx context.Context, d Deployment) (*switchboard.ChatResponse, context.CancelFunc, error) {
		ctx, cancel := withTotal(ctx, d)
		defer cancel()
		resp, err := d.Provider.Provider.Chat(ctx, d.Model, req)
		if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream did not answer within the total timeout", Err: err}
		}
		if resp != nil && trace.SpanFromContext(ctx).IsRecording() {
			setUsage(trace.SpanFromContext(ctx), resp.Model, resp.Usage)
		}
		return resp, nil, err
	})
}

// ChatStream implements switchboard.Provider. The total timeout bounds the
// whole stream, until Close.
func (e *Engine) ChatStream(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	return call(ctx, e, "chat", model, func(ctx context.Context, d Deployment) (switchboard.ChatStream, context.CancelFunc, error) {
		ctx, cancel := withTotal(ctx, d)
		s, err := d.Provider.Provider.ChatStream(ctx, d.Model, req)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				err = &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream did not answer within the total timeout", Err: err}
			}
			return nil, cancel, err
		}
		return &cancelStream{ChatStream: s, cancel: cancel}, nil, nil
	})
}

type cancelStream struct {
	switchboard.ChatStream
	cancel context.CancelFunc
}

func (s *cancelStream) Close() error {
	err := s.ChatStream.Close()
	s.cancel()
	return err
}

// Embed implements switchboard.Embedder.
func (e *Engine) Embed(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	return call(ctx, e, "embeddings", model, func(ctx context.Context, d Deployment) (*switchboard.EmbeddingResponse, context.CancelFunc, error) {
		emb, ok := d.Provider.Provider.(switchboard.Embedder)
		if !ok {
			return nil, nil, &switchboard.Error{Code: switchboard.CodeInvalidRequest, Param: "model",
				Message: fmt.Sprintf("provider %q (type %s) does not serve embeddings", d.Provider.Name, d.Provider.Type)}
		}
		ctx, cancel := withTotal(ctx, d)
		defer cancel()
		return mapDeadline(emb.Embed(ctx, d.Model, req))
	})
}

func mapDeadline(r *switchboard.EmbeddingResponse, err error) (*switchboard.EmbeddingResponse, context.CancelFunc, error) {
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		err = &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream did not answer within the total timeout", Err: err}
	}
	return r, nil, err
}

// Models implements switchboard.ModelLister: the public model names.
func (e *Engine) Models(context.Context) ([]switchboard.Model, error) {
	return e.models, nil
}

// Ping implements switchboard.Pinger: nil when at least one provider is
// usable (providers without a Pinger count as usable).
func (e *Engine) Ping(ctx context.Context) error {
	var errs []error
	for _, name := range e.providerNames() {
		p := e.providers[name]
		pinger, ok := p.Provider.(switchboard.Pinger)
		if !ok {
			return nil
		}
		if err := pinger.Ping(ctx); err != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", name, err))
			continue
		}
		return nil
	}
	if len(errs) == 0 {
		return errors.New("no provider configured")
	}
	return errors.Join(errs...)
}

// Close closes every provider that holds resources.
func (e *Engine) Close() error {
	var errs []error
	for _, p := range e.providers {
		if c, ok := p.Provider.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

func setUsage(span trace.Span, model string, u *switchboard.Usage) {
	span.SetAttributes(attribute.String("gen_ai.response.model", model))
	if u != nil {
		span.SetAttributes(
			attribute.Int("gen_ai.usage.input_tokens", u.PromptTokens),
			attribute.Int("gen_ai.usage.output_tokens", u.CompletionTokens),
		)
	}
}

// ModelsList returns the public models without a context.
func (e *Engine) ModelsList() []switchboard.Model { return e.models }

// Tracer returns the tracer the engine starts spans with.
func (e *Engine) Tracer() trace.Tracer { return e.tracer }
