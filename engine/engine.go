// Package engine turns the configured providers and model names into one
// switchboard.Provider, the router: it resolves the model a client asked for
// to its deployments, orders them by the model's strategy, skips those whose
// circuit breaker is open or that are cooling down after rate limits, retries
// with exponential backoff and full jitter (honouring Retry-After), falls back
// to other models by error class, optionally hedges slow requests, and bounds
// each call with the provider's total timeout. It knows nothing of HTTP.
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

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/metrics"
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
	// Breaker configures the circuit breaker of its deployments.
	Breaker BreakerConfig
}

// Options configure an Engine.
type Options struct {
	Log     *slog.Logger
	Tracer  trace.Tracer
	Metrics *metrics.Metrics
	// Now returns the current time (tests inject a clock).
	Now func() time.Time
	// Sleep waits for d or until ctx is done (tests inject a fake).
	Sleep func(ctx context.Context, d time.Duration) error
	// OnBreakerChange, when set, is called on every circuit-breaker
	// transition with the state names (closed, half_open, open).
	OnBreakerChange func(provider, model, from, to string)
}

// Gate admits each upstream attempt against the rate limits of the model
// that would serve it and of the upstream service. A refusal is a
// rate_limited error: the router tries the next route, then the fallbacks.
type Gate interface {
	// AdmitAttempt reserves room for one call to provider for model; done
	// reports whether the call succeeded (a failed call's tokens are given
	// back).
	AdmitAttempt(ctx context.Context, provider, model string) (done func(ok bool), err error)
}

// Engine is the router. It implements switchboard.Provider, Embedder,
// ModelLister and Pinger.
type Engine struct {
	providers   map[string]*Provider
	routes      map[string]*route
	deployments map[string]*deployment
	models      []switchboard.Model
	log         *slog.Logger
	tracer      trace.Tracer
	metrics     *metrics.Metrics
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error
	onBreaker   func(provider, model, from, to string)
	gate        Gate
}

// SetGate installs the gate every upstream attempt passes; call it before
// serving.
func (e *Engine) SetGate(g Gate) { e.gate = g }

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
	e := &Engine{providers: map[string]*Provider{}, routes: map[string]*route{}, deployments: map[string]*deployment{},
		log: opts.Log, tracer: opts.Tracer, metrics: opts.Metrics, now: opts.Now, sleep: opts.Sleep,
		onBreaker: opts.OnBreakerChange}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.tracer == nil {
		e.tracer = noop.NewTracerProvider().Tracer("")
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.sleep == nil {
		e.sleep = sleepCtx
	}
	for _, p := range providers {
		e.providers[p.Name] = p
	}
	for _, r := range routes {
		if err := e.addRoute(*r); err != nil {
			return nil, err
		}
	}
	for _, r := range routes {
		for _, f := range r.Fallbacks {
			for _, to := range f.To {
				if _, ok := e.routes[to]; !ok {
					return nil, fmt.Errorf("engine: model %q falls back to unknown model %q", r.Name, to)
				}
			}
		}
	}
	if len(routes) == 0 {
		e.discover(ctx, providers)
	}
	names := make([]string, 0, len(e.routes))
	for n := range e.routes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		owner := e.routes[n].Deployments[0].Provider.Name
		e.models = append(e.models, switchboard.Model{ID: n, Object: "model", Created: modelCreated, OwnedBy: owner})
	}
	return e, nil
}

func (e *Engine) addRoute(r Route) error {
	if len(r.Deployments) == 0 {
		return fmt.Errorf("engine: model %q has no deployments", r.Name)
	}
	rt := &route{Route: r}
	for _, d := range r.Deployments {
		if d.Provider == nil {
			return fmt.Errorf("engine: model %q has a deployment without a provider", r.Name)
		}
		rt.deps = append(rt.deps, e.deployment(d.Provider, d.Model))
		w := d.Weight
		if w == 0 {
			w = 1
		}
		rt.weights = append(rt.weights, w)
	}
	e.routes[r.Name] = rt
	return nil
}

// deployment returns the shared state of (p, model), creating it once.
func (e *Engine) deployment(p *Provider, model string) *deployment {
	key := p.Name + "/" + model
	if d, ok := e.deployments[key]; ok {
		return d
	}
	d := newDeployment(p, model, p.Breaker, func(d *deployment, from, to gobreaker.State) {
		e.log.Warn("circuit breaker state changed", switchboard.LogKeyProvider, d.provider.Name,
			switchboard.LogKeyModel, d.model, "from", stateName(from), "to", stateName(to))
		if e.onBreaker != nil {
			e.onBreaker(d.provider.Name, d.model, stateName(from), stateName(to))
		}
	})
	e.deployments[key] = d
	return d
}

// discover makes a route of every model the providers list.
func (e *Engine) discover(ctx context.Context, providers []*Provider) {
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
				_ = e.addRoute(Route{Name: m.ID, Deployments: []Deployment{{Provider: p, Model: m.ID}}})
			}
		}
	}
}

// resolve returns the route for a model name: a configured model, or
// "provider/model" to address a provider's model directly.
func (e *Engine) resolve(model string) (*route, error) {
	if r, ok := e.routes[model]; ok {
		return r, nil
	}
	if name, upstream, ok := strings.Cut(model, "/"); ok && upstream != "" {
		if p, ok := e.providers[name]; ok {
			return &route{Route: Route{Name: model}, deps: []*deployment{e.directDeployment(p, upstream)}, weights: []int{1}}, nil
		}
	}
	return nil, &switchboard.Error{
		Code:       switchboard.CodeNotFound,
		Param:      "model",
		VendorCode: "model_not_found",
		Message: fmt.Sprintf("The model %q does not exist. GET /v1/models lists the models this gateway serves, or use \"provider/model\" with a configured provider (%s).",
			model, strings.Join(e.providerNames(), ", ")),
	}
}

// directDeployment returns a deployment for provider/model addressing. Known
// pairs share their state; unknown ones get a fresh, unshared state so that
// clients cannot grow the engine's maps.
func (e *Engine) directDeployment(p *Provider, model string) *deployment {
	if d, ok := e.deployments[p.Name+"/"+model]; ok {
		return d
	}
	return newDeployment(p, model, BreakerConfig{Disabled: true}, nil)
}

func (e *Engine) providerNames() []string {
	names := make([]string, 0, len(e.providers))
	for n := range e.providers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Chat implements switchboard.Provider; model is the public model name.
func (e *Engine) Chat(ctx context.Context, model string, req *switchboard.ChatRequest) (*switchboard.ChatResponse, error) {
	return serve(ctx, e, "chat", model, func(ctx context.Context, d *deployment) (*switchboard.ChatResponse, error) {
		resp, err := d.provider.Provider.Chat(ctx, d.model, req)
		if err == nil {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				setUsage(span, resp.Model, resp.Usage)
			}
		}
		return resp, err
	}, nil)
}

// ChatStream implements switchboard.Provider. An attempt succeeds once the
// first chunk arrived, so a stream that fails before its first byte is
// retried or falls back like any other call; after that byte it never is.
// The total timeout bounds the whole stream, until Close.
func (e *Engine) ChatStream(ctx context.Context, model string, req *switchboard.ChatRequest) (switchboard.ChatStream, error) {
	return serve(ctx, e, "chat", model, func(ctx context.Context, d *deployment) (switchboard.ChatStream, error) {
		s, err := d.provider.Provider.ChatStream(ctx, d.model, req)
		if err != nil {
			return nil, err
		}
		first, err := s.Recv()
		if err != nil && err != io.EOF {
			_ = s.Close()
			return nil, err
		}
		return &peekedStream{ChatStream: s, first: first, firstErr: err}, nil
	}, func(s switchboard.ChatStream) { _ = s.Close() })
}

// Embed implements switchboard.Embedder.
func (e *Engine) Embed(ctx context.Context, model string, req *switchboard.EmbeddingRequest) (*switchboard.EmbeddingResponse, error) {
	return serve(ctx, e, "embeddings", model, func(ctx context.Context, d *deployment) (*switchboard.EmbeddingResponse, error) {
		emb, ok := d.provider.Provider.(switchboard.Embedder)
		if !ok {
			return nil, &switchboard.Error{Code: switchboard.CodeInvalidRequest, Param: "model",
				Message: fmt.Sprintf("provider %q (type %s) does not serve embeddings", d.provider.Name, d.provider.Type)}
		}
		return emb.Embed(ctx, d.model, req)
	}, nil)
}

// peekedStream returns the chunk read ahead by ChatStream first.
type peekedStream struct {
	switchboard.ChatStream
	first    *switchboard.Chunk
	firstErr error
	started  bool
}

func (s *peekedStream) Recv() (*switchboard.Chunk, error) {
	if !s.started {
		s.started = true
		if s.first != nil || s.firstErr != nil {
			return s.first, s.firstErr
		}
	}
	return s.ChatStream.Recv()
}

// Models implements switchboard.ModelLister: the public model names.
func (e *Engine) Models(context.Context) ([]switchboard.Model, error) { return e.models, nil }

// modelCreated is the "created" time of every model the engine describes:
// a fixed date, since a configured name has no release date of its own.
const modelCreated = 1700000000

// Model describes id: a listed model, or a "provider/model" name the engine
// can route; an unknown id is a CodeNotFound error naming "model".
func (e *Engine) Model(_ context.Context, id string) (switchboard.Model, error) {
	for _, m := range e.models {
		if m.ID == id {
			return m, nil
		}
	}
	r, err := e.resolve(id)
	if err != nil {
		return switchboard.Model{}, err
	}
	return switchboard.Model{ID: id, Object: "model", Created: modelCreated, OwnedBy: r.deps[0].provider.Name}, nil
}

// ModelsList returns the public models without a context.
func (e *Engine) ModelsList() []switchboard.Model { return e.models }

// Tracer returns the tracer the engine starts spans with.
func (e *Engine) Tracer() trace.Tracer { return e.tracer }

// Deployments returns a snapshot of every configured deployment, sorted.
func (e *Engine) Deployments() []DeploymentState {
	now := e.now()
	out := make([]DeploymentState, 0, len(e.deployments))
	for _, d := range e.deployments {
		out = append(out, DeploymentState{Provider: d.provider.Name, Model: d.model, State: d.state(),
			InFlight: d.inflight.Load(), EWMA: d.ewma(), Cooling: now.UnixNano() < d.cooldown.Load()})
	}
	slices.SortFunc(out, func(a, b DeploymentState) int {
		return strings.Compare(a.Provider+"/"+a.Model, b.Provider+"/"+b.Model)
	})
	return out
}

// Ping implements switchboard.Pinger: nil when at least one provider is
// usable — its own Ping (if any) succeeds and not every one of its
// deployments has an open breaker.
func (e *Engine) Ping(ctx context.Context) error {
	var errs []error
	for _, name := range e.providerNames() {
		p := e.providers[name]
		if e.allOpen(p) {
			errs = append(errs, fmt.Errorf("provider %s: every circuit breaker is open", name))
			continue
		}
		if pinger, ok := p.Provider.(switchboard.Pinger); ok {
			if err := pinger.Ping(ctx); err != nil {
				errs = append(errs, fmt.Errorf("provider %s: %w", name, err))
				continue
			}
		}
		return nil
	}
	if len(errs) == 0 {
		return errors.New("no provider configured")
	}
	return errors.Join(errs...)
}

func (e *Engine) allOpen(p *Provider) bool {
	n := 0
	for _, d := range e.deployments {
		if d.provider != p {
			continue
		}
		n++
		if d.state() != StateOpen {
			return false
		}
	}
	return n > 0
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

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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

// tokenCounter is a provider that counts a request's input tokens upstream.
type tokenCounter interface {
	CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error)
}

// CountTokens counts the input tokens of req with the first deployment of
// model whose provider can count them (Anthropic's count_tokens, for
// example). It returns an error wrapping errors.ErrUnsupported when none can,
// so callers fall back to an estimate.
func (e *Engine) CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error) {
	r, err := e.resolve(model)
	if err != nil {
		return 0, err
	}
	for _, d := range r.order(switchboard.UnitFromContext(ctx), e.now()) {
		tc, ok := d.provider.Provider.(tokenCounter)
		if !ok {
			continue
		}
		if out := switchboard.OutcomeFromContext(ctx); out != nil {
			out.Provider, out.ProviderType, out.UpstreamModel, out.Model = d.provider.Name, d.provider.Type, d.model, r.Name
			out.Attempts++
		}
		cctx, cancel := withTotal(ctx, d.provider)
		n, err := tc.CountTokens(cctx, d.model, req)
		cancel()
		return n, err
	}
	return 0, fmt.Errorf("engine: no deployment of model %q counts tokens: %w", model, errors.ErrUnsupported)
}

// Target is one deployment a model may be served by, as the response cache
// keys it.
type Target struct {
	// Provider is the provider's name in config.
	Provider string
	// Model is the upstream model name.
	Model string
}

// Candidates returns the deployments of model in configured order (the
// cache looks an answer up under each), or an error for an unknown model.
func (e *Engine) Candidates(model string) ([]Target, error) {
	r, err := e.resolve(model)
	if err != nil {
		return nil, err
	}
	out := make([]Target, len(r.deps))
	for i, d := range r.deps {
		out[i] = Target{Provider: d.provider.Name, Model: d.model}
	}
	return out, nil
}
