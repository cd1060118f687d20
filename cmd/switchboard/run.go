package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/budget"
	_ "github.com/switchboard-ai/switchboard/builtin"
	"github.com/switchboard-ai/switchboard/caching"
	"github.com/switchboard-ai/switchboard/config"
	"github.com/switchboard-ai/switchboard/embed"
	"github.com/switchboard-ai/switchboard/engine"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/httpapi"
	"github.com/switchboard-ai/switchboard/internal/logbuf"
	"github.com/switchboard-ai/switchboard/metrics"
	"github.com/switchboard-ai/switchboard/pricing"
	"github.com/switchboard-ai/switchboard/prompt"
	"github.com/switchboard-ai/switchboard/quota"
	"github.com/switchboard-ai/switchboard/recorder"
	"github.com/switchboard-ai/switchboard/semantic"
	"github.com/switchboard-ai/switchboard/tenancy"
	"github.com/switchboard-ai/switchboard/tracing"
)

// Main is the whole program: Load reads the configuration, Run builds every
// component and starts serving (it returns once the listener is open), and
// Close shuts down gracefully. Tests drive it the same way main does.
type Main struct {
	// Config is the loaded configuration; tests may set it instead of Load.
	Config *config.Config
	// Log is the program's logger.
	Log *slog.Logger
	// Addr is the address the server listens on, once Run returned.
	Addr string
	// Env looks up environment variables (os.LookupEnv by default).
	Env func(string) (string, bool)
	// OnBreakerChange, when set, observes circuit-breaker transitions.
	OnBreakerChange func(provider, model, from, to string)

	stderr      io.Writer
	store       switchboard.Store
	recorder    *recorder.Recorder
	engine      *engine.Engine
	cache       *caching.Cache
	tiers       []switchboard.Cache
	prices      *pricing.Table
	metrics     *metrics.Metrics
	traceEnd    func(context.Context) error
	srv         *http.Server
	serveErr    chan error
	inflight    sync.WaitGroup
	cancel      context.CancelFunc
	closed      bool
	cli         bool // a one-shot command (newCLIMain): logs unbuffered
	logbuf      *logbuf.Writer
	dir         *tenancy.Directory
	tenants     *tenancy.Service
	quota       *quota.Quota
	prompts     *prompt.Registry
	experiments *experiment.Service
	monitor     *experiment.Monitor
	ledger      *budget.Ledger
	redis       *goredis.Client
	unpriced    []string
}

// NewMain returns a Main that logs to stderr.
func NewMain(stderr io.Writer) *Main {
	return &Main{stderr: stderr, Env: os.LookupEnv, Log: newLogger(stderr, "info", "text")}
}

// newCLIMain returns a Main for a one-shot command (keys, prompt,
// experiment, usage, config): its log is written as it happens, not
// buffered like a server's access log.
func newCLIMain(stderr io.Writer) *Main {
	m := NewMain(stderr)
	m.cli = true
	return m
}

// Load reads configuration files, --set overrides and the environment.
func (m *Main) Load(files, sets []string) error {
	cfg, err := config.Load(files, sets, m.Env)
	if err != nil {
		return err
	}
	if err := cfg.Validate(switchboard.Providers.Names()); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	m.Config = cfg
	out := m.stderr
	if cfg.Log.FlushInterval > 0 && !m.cli {
		m.logbuf = logbuf.New(m.stderr, 64<<10, cfg.Log.FlushInterval)
		out = m.logbuf
	}
	m.Log = newLogger(out, cfg.Log.Level, cfg.Log.Format)
	return nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Build creates the store, the providers and the router, without serving.
func (m *Main) Build(ctx context.Context) error {
	cfg := m.Config
	if cfg == nil {
		cfg = config.Default()
		m.Config = cfg
	}
	store, err := switchboard.Stores.New(ctx, cfg.Storage.Driver, cfg.Storage.Decoder(), switchboard.Deps{Log: m.Log})
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	m.store = store
	tp, end, err := tracing.Setup(ctx, tracing.Options{Endpoint: cfg.Tracing.Endpoint, ServiceName: cfg.Tracing.ServiceName,
		SampleRatio: cfg.Tracing.SampleRatio, Headers: revealAll(cfg.Tracing.Headers), Version: version})
	if err != nil {
		return err
	}
	m.traceEnd = end
	tracer := tp.Tracer("github.com/switchboard-ai/switchboard")
	providers := make([]*engine.Provider, 0, len(cfg.Providers))
	byName := map[string]*engine.Provider{}
	for _, pc := range cfg.Providers {
		p, err := switchboard.Providers.New(ctx, pc.Type, pc.Decoder(), switchboard.Deps{Log: m.Log, Timeouts: pc.Timeouts, Name: pc.Name})
		if err != nil {
			return fmt.Errorf("providers.%s: %w", pc.Name, err)
		}
		ep := &engine.Provider{Name: pc.Name, Type: pc.Type, Provider: p, Timeouts: pc.Timeouts,
			Breaker: engine.BreakerConfig(pc.Breaker)}
		providers = append(providers, ep)
		byName[pc.Name] = ep
	}
	routes := make([]*engine.Route, 0, len(cfg.Models))
	for _, mc := range cfg.Models {
		r := &engine.Route{Name: mc.Name, Strategy: mc.Strategy, Sticky: mc.Sticky,
			Retry: engine.RetryPolicy(mc.Retry), Hedge: engine.HedgePolicy(mc.Hedge)}
		for _, f := range mc.Fallbacks {
			r.Fallbacks = append(r.Fallbacks, engine.Fallback(f))
		}
		for _, rc := range mc.Routes {
			model := rc.Model
			if model == "" {
				model = mc.Name
			}
			r.Deployments = append(r.Deployments, engine.Deployment{Provider: byName[rc.Provider], Model: model, Weight: rc.Weight})
		}
		routes = append(routes, r)
	}
	m.metrics = metrics.New(version, func() float64 {
		if m.recorder == nil {
			return 0
		}
		return float64(m.recorder.Stats().Queued)
	})
	m.engine, err = engine.New(ctx, providers, routes, engine.Options{Log: m.Log, Tracer: tracer, Metrics: m.metrics,
		OnBreakerChange: m.OnBreakerChange})
	if err != nil {
		return err
	}
	if m.prices, err = pricing.New(cfg.Pricing); err != nil {
		return err
	}
	for _, d := range m.engine.Deployments() {
		if _, ok := m.prices.Lookup(d.Provider + "/" + d.Model); !ok {
			if _, ok := m.prices.Lookup(d.Model); !ok && providerTypeOf(cfg, d.Provider) != "mock" {
				m.unpriced = append(m.unpriced, d.Provider+"/"+d.Model)
				m.Log.Warn("unpriced model: its cost is recorded as unknown (add it under pricing.models)", switchboard.LogKeyProvider, d.Provider, switchboard.LogKeyModel, d.Model)
			}
		}
	}
	if cfg.Cache.Enabled {
		if err := m.buildCache(ctx); err != nil {
			return err
		}
	}
	m.metrics.WatchDeployments(func() []metrics.DeploymentState {
		ds := m.engine.Deployments()
		out := make([]metrics.DeploymentState, len(ds))
		for i, d := range ds {
			out[i] = metrics.DeploymentState{Provider: d.Provider, Model: d.Model, State: d.State, InFlight: d.InFlight}
		}
		return out
	})
	return nil
}

// Run builds everything and starts serving. It returns once the listener
// is open; m.Addr then holds its address.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Build(ctx); err != nil {
		return err
	}
	cfg := m.Config
	m.recorder = recorder.New(m.store, recorder.Options{
		QueueSize: cfg.Recorder.QueueSize, BatchSize: cfg.Recorder.BatchSize, FlushInterval: cfg.Recorder.FlushInterval, Log: m.Log,
		OnFlush: func(n int, d time.Duration, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			} else {
				m.metrics.RecorderRecords.Add(float64(n))
			}
			m.metrics.RecorderFlushes.WithLabelValues(result).Observe(d.Seconds())
		},
	})
	base, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if err := m.buildTenancy(ctx, base); err != nil {
		return err
	}
	if err := m.buildPrompts(ctx, base); err != nil {
		return err
	}
	if err := m.buildExperiments(ctx, base); err != nil {
		return err
	}
	var front switchboard.Provider = m.engine
	var cacheAdmin httpapi.CacheAdmin
	if m.cache != nil {
		front, cacheAdmin = m.cache, m.cache
	}
	var overload *httpapi.Overload
	if cfg.Server.ShedLatency > 0 {
		overload = httpapi.NewOverload(cfg.Server.ShedLatency, 0.9, 100*time.Millisecond)
		go overload.Run(base)
	}
	api := httpapi.New(httpapi.Options{
		Provider: front, Store: m.store, Recorder: m.recorder, Metrics: m.metrics, Log: m.Log,
		Cache: cacheAdmin, Usage: m.store, Costs: m.price,
		Tracer: m.engine.Tracer(), MaxBodyBytes: int64(cfg.Server.MaxBodyBytes), MaxInFlight: cfg.Server.MaxInFlight,
		Overload:  overload,
		AccessLog: true, LogContent: cfg.Log.Content,
		Status: func() any { return map[string]any{"deployments": m.engine.Deployments()} },
		Auth:   m.dir, Tenants: m.tenants, Quota: m.quota,
		Prompts: m.prompts, Audit: m.store,
		Experiments: m.experiments.Resolver(), ExperimentService: m.experiments,
		CheckModel: func(model string) error { _, err := m.engine.Candidates(model); return err },
	})
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	m.Addr = ln.Addr().String()
	host, _, _ := net.SplitHostPort(m.Addr)
	if !m.dir.AuthRequired() && !isLoopback(host) && !cfg.Server.AllowUnauthenticated {
		_ = ln.Close()
		return fmt.Errorf("refusing to listen on %s without API keys: anyone who can reach it could spend on your providers. "+
			"Declare tenants with keys (tenants: in the config), create a key (switchboard keys create), listen on 127.0.0.1, "+
			"or set server.allow_unauthenticated: true", m.Addr)
	}
	m.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.inflight.Add(1)
			defer m.inflight.Done()
			api.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	m.serveErr = make(chan error, 1)
	go func() { m.serveErr <- m.srv.Serve(ln) }()
	m.Log.Info("switchboard listening", "addr", "http://"+m.Addr, "version", version,
		"storage", cfg.Storage.Driver, "providers", len(cfg.Providers), "models", len(m.engine.ModelsList()))
	switch {
	case m.dir.AuthRequired():
		m.Log.Info("API keys required", "tenants", len(m.dir.Tenants()), "keys", len(m.dir.Keys()))
	case isLoopback(host):
		m.Log.Warn("no API keys configured: running open to loopback clients only (declare tenants with keys to require them)")
	default:
		m.Log.Warn("server.allow_unauthenticated is set and no API key exists: anyone who can reach this address can use your providers", "addr", m.Addr)
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func revealAll(h map[string]config.Secret) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v.Reveal()
	}
	return out
}

// Close shuts down gracefully: stop accepting, let in-flight requests and
// streams finish within server.shutdown_grace, cancel what is left, flush
// every queued inference record, then close the providers and the store.
func (m *Main) Close(ctx context.Context) error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.srv != nil {
		grace := m.Config.Server.ShutdownGrace
		gctx, cancel := context.WithTimeout(ctx, grace)
		err := m.srv.Shutdown(gctx)
		cancel()
		if err != nil {
			m.Log.Warn("shutdown grace expired: cancelling open requests", "grace", grace.String())
			m.cancel()
			_ = m.srv.Close()
		}
		done := make(chan struct{})
		go func() { m.inflight.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			errs = append(errs, errors.New("requests still running 10s after cancellation"))
		}
		m.cancel()
		if err := <-m.serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if m.monitor != nil {
		_ = m.monitor.Close()
	}
	if m.recorder != nil {
		if err := m.recorder.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush inference records: %w", err))
		}
	}
	if m.ledger != nil {
		if err := m.ledger.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("budget alerts: %w", err))
		}
	}
	if m.redis != nil {
		errs = append(errs, m.redis.Close())
	}
	if m.engine != nil {
		errs = append(errs, m.engine.Close())
	}
	for i := len(m.tiers) - 1; i >= 0; i-- {
		if c, ok := m.tiers[i].(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	if m.traceEnd != nil {
		errs = append(errs, m.traceEnd(ctx))
	}
	if m.store != nil {
		errs = append(errs, m.store.Close())
	}
	err := errors.Join(errs...)
	if err == nil && m.srv != nil {
		m.Log.Info("stopped cleanly")
	}
	if m.logbuf != nil {
		_ = m.logbuf.Close()
	}
	return err
}

func providerTypeOf(cfg *config.Config, name string) string {
	for _, p := range cfg.Providers {
		if p.Name == name {
			return p.Type
		}
	}
	return ""
}

// price fills an inference record's cost from the price table: what the
// upstream call cost, or for a cache hit nothing, with the avoided call's
// cost as savings. An unpriced model leaves both unknown (nil).
func (m *Main) price(inf *switchboard.Inference, u switchboard.Usage) {
	usd, ok := m.prices.Cost(inf.Provider+"/"+inf.UpstreamModel, u)
	if !ok {
		if usd, ok = m.prices.Cost(inf.UpstreamModel, u); !ok {
			return
		}
	}
	if inf.Cache == caching.ResultHit || inf.Cache == caching.ResultSemanticHit {
		zero := 0.0
		inf.CostUSD, inf.SavedUSD = &zero, &usd
		return
	}
	inf.CostUSD = &usd
}

// buildCache builds the cache tiers (fastest first) and the response cache
// in front of the router.
func (m *Main) buildCache(ctx context.Context) error {
	cfg := m.Config.Cache
	var tiers []caching.Tier
	for _, t := range cfg.Tiers {
		c, err := switchboard.Caches.New(ctx, t.Type, t.Decoder(), switchboard.Deps{Log: m.Log})
		if err != nil {
			return fmt.Errorf("cache.%s: %w", t.Type, err)
		}
		m.tiers = append(m.tiers, c)
		tiers = append(tiers, caching.Tier{Name: t.Type, Cache: c})
	}
	store, err := caching.NewTiered(m.Log, tiers...)
	if err != nil {
		return err
	}
	models := map[string]caching.Policy{}
	for _, mc := range m.Config.Models {
		if mc.Cache != nil {
			models[mc.Name] = caching.Policy{Mode: mc.Cache.Mode, TTL: mc.Cache.TTL}
		}
	}
	tenants := map[string]caching.Policy{}
	for name, tp := range cfg.Tenants {
		tenants[name] = caching.Policy{Mode: tp.Mode, TTL: tp.TTL}
	}
	opts := caching.Options{
		Store: store, Resolver: resolver{m.engine}, Default: caching.Policy{Mode: cfg.Mode, TTL: cfg.TTL},
		Models: models, Tenants: tenants, MaxTTL: cfg.MaxTTL, Log: m.Log, Observer: m.metrics,
	}
	if sc := cfg.Semantic; sc.Enabled {
		var emb embed.Embedder = embed.NewLocal()
		if sc.Embedder != "local" {
			emb = embed.FromProvider(m.engine, sc.Embedder)
		}
		sem, err := semantic.New(emb, semantic.NewIndex(semantic.IndexConfig{}), semantic.Config{Threshold: float32(sc.Threshold)})
		if err != nil {
			return fmt.Errorf("cache.semantic: %w", err)
		}
		opts.Semantic, opts.SemanticShadow = sem, sc.Shadow
	}
	m.cache = caching.New(m.engine, opts)
	return nil
}

// resolver adapts the router's deployments to the cache's targets.
type resolver struct{ e *engine.Engine }

func (r resolver) Candidates(model string) ([]caching.Target, error) {
	ts, err := r.e.Candidates(model)
	if err != nil {
		return nil, err
	}
	out := make([]caching.Target, len(ts))
	for i, t := range ts {
		out[i] = caching.Target{Provider: t.Provider, Model: t.Model}
	}
	return out, nil
}

// configTenants returns the tenants of the configuration, keys revealed.
func configTenants(cfg *config.Config) []tenancy.ConfigTenant {
	out := make([]tenancy.ConfigTenant, 0, len(cfg.Tenants))
	for _, name := range cfg.TenantNames() {
		t := cfg.Tenants[name]
		ct := tenancy.ConfigTenant{Name: name, Scopes: t.Scopes, Models: t.Models, Limits: t.Limits, Budget: t.Budget}
		for _, k := range t.Keys {
			ct.Keys = append(ct.Keys, k.Reveal())
		}
		out = append(out, ct)
	}
	return out
}
