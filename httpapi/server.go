// Package httpapi is Switchboard's only HTTP server code: the OpenAI-compatible
// routes, health and metrics endpoints, error mapping, SSE writing and the
// access log. It parses requests into switchboard types and hands them to a
// switchboard.Provider (the router); nothing below it knows HTTP.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/experiment"
	"github.com/switchboard-ai/switchboard/metrics"
	"github.com/switchboard-ai/switchboard/prompt"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// Recorder queues inference records for the store.
type Recorder interface {
	Record(ctx context.Context, inf switchboard.Inference) error
}

// Pinger is anything /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// Provider serves inferences: the router in production, a mock in tests.
	// It may also implement switchboard.Embedder, ModelLister and Pinger.
	Provider switchboard.Provider
	// Store is pinged by /readyz; nil skips the check.
	Store Pinger
	// Recorder receives one record per inference; nil records nothing.
	Recorder Recorder
	// Metrics, when set, are updated per request and served at /metrics.
	Metrics *metrics.Metrics
	// Log receives the access log and errors.
	Log *slog.Logger
	// Tracer starts server spans; nil traces nothing.
	Tracer trace.Tracer
	// MaxBodyBytes bounds request bodies (413 beyond). Default 8 MiB.
	MaxBodyBytes int64
	// MaxInFlight bounds concurrent API requests (503 beyond). 0 = unbounded.
	MaxInFlight int
	// Overload, when set, sheds new API requests (503) while the process is
	// overloaded.
	Overload *Overload
	// AccessLog writes one log line per request at Info.
	AccessLog bool
	// LogContent adds prompts and completions to the access log (debugging only).
	LogContent bool
	// Status, when set, adds detail to /readyz (the router's deployments).
	Status func() any
	// Costs, when set, prices an inference: it fills CostUSD (and SavedUSD
	// for a cache hit) from the usage.
	Costs func(inf *switchboard.Inference, u switchboard.Usage)
	// Cache, when set, serves the cache admin routes.
	Cache CacheAdmin
	// Usage, when set, aggregates inference records for the admin routes.
	Usage Usage
	// Auth, when set, authenticates API keys; nil serves everyone.
	Auth Authenticator
	// Tenants, when set, serves the tenant and key admin routes.
	Tenants *tenancy.Service
	// Quota, when set, admits each inference against rate limits and
	// budgets and settles it afterwards.
	Quota Quota
	// Prompts, when set, renders the prompt object of chat requests and
	// serves the prompt routes.
	Prompts *prompt.Registry
	// Experiments, when set, assigns requests to the variants of running
	// experiments.
	Experiments *experiment.Resolver
	// Audit, when set, serves the audit log at /admin/v1/audit.
	Audit switchboard.AuditStore
	// CheckModel, when set, says whether a model name can be served; the
	// models of experiment variants are checked with it.
	CheckModel func(model string) error
	// ExperimentService, when set, serves feedback, the experiment admin
	// routes, canaries and per-version analytics.
	ExperimentService *experiment.Service
}

// Server serves the gateway's HTTP API.
type Server struct {
	p           switchboard.Provider
	store       Pinger
	recorder    Recorder
	metrics     *metrics.Metrics
	log         *slog.Logger
	tracer      trace.Tracer
	maxBody     int64
	sem         chan struct{}
	overload    *Overload
	accessLog   bool
	content     bool
	status      func() any
	costs       func(inf *switchboard.Inference, u switchboard.Usage)
	cache       CacheAdmin
	usage       Usage
	auth        Authenticator
	tenants     *tenancy.Service
	quota       Quota
	prompts     *prompt.Registry
	experiments *experiment.Resolver
	audit       switchboard.AuditStore
	expSvc      *experiment.Service
	checkModel  func(model string) error
	handler     http.Handler
}

// New returns a Server.
func New(o Options) *Server {
	s := &Server{p: o.Provider, store: o.Store, recorder: o.Recorder, metrics: o.Metrics, log: o.Log,
		tracer: o.Tracer, maxBody: o.MaxBodyBytes, accessLog: o.AccessLog, content: o.LogContent, status: o.Status, costs: o.Costs,
		cache: o.Cache, usage: o.Usage, auth: o.Auth, tenants: o.Tenants, quota: o.Quota,
		overload: o.Overload, prompts: o.Prompts, experiments: o.Experiments, audit: o.Audit, expSvc: o.ExperimentService, checkModel: o.CheckModel}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("")
	}
	if s.maxBody <= 0 {
		s.maxBody = 8 << 20
	}
	if o.MaxInFlight > 0 {
		s.sem = make(chan struct{}, o.MaxInFlight)
	}
	s.handler = s.observe(s.routes())
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(h func(http.ResponseWriter, *http.Request) error) http.Handler {
		return s.limitInFlight(s.wrap(h))
	}
	inference, admin, read := switchboard.ScopeInference, switchboard.ScopeAdmin, switchboard.ScopeReadOnly
	mux.Handle("POST /v1/chat/completions", api(s.authed(inference, s.chat)))
	mux.Handle("POST /v1/embeddings", api(s.authed(inference, s.embeddings)))
	mux.Handle("POST /v1/messages", s.anthropicAPI(s.authed(inference, s.messages)))
	mux.Handle("POST /v1/messages/count_tokens", s.anthropicAPI(s.authed(inference, s.countTokens)))
	mux.Handle("POST /v1/prompts/{id}/render", api(s.authed(inference, s.renderPrompt)))
	mux.Handle("GET /v1/models", byDialect(s.wrap(s.authed(inference, s.listModels)),
		s.wrapAnthropic(s.authed(inference, s.listModelsAnthropic))))
	mux.Handle("GET /v1/models/{model...}", byDialect(s.wrap(s.authed(inference, s.getModel)),
		s.wrapAnthropic(s.authed(inference, s.getModelAnthropic))))
	mux.Handle("GET /admin/v1/cache/stats", s.wrap(s.authed(read, s.cacheStats)))
	mux.Handle("POST /admin/v1/cache/purge", s.wrap(s.authed(admin, s.cachePurge)))
	s.adminRoutes(mux)
	s.promptRoutes(mux)
	s.experimentRoutes(mux)
	mux.Handle("GET /healthz", s.wrap(s.healthz))
	mux.Handle("GET /readyz", s.wrap(s.readyz))
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	mux.Handle("/", s.wrap(s.notFound))
	return mux
}

// authed authenticates a request for scope before h runs.
func (s *Server) authed(scope string, h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		r, err := s.authenticate(r, scope)
		if err != nil {
			return err
		}
		return h(w, r)
	}
}

// wrap adapts a handler that returns an error; it is the only place that
// writes error responses.
func (s *Server) wrap(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		e := toError(err)
		ent := entryFrom(r.Context())
		ent.errCode, ent.errMsg = e.Code, e.Message
		if e.Code == switchboard.CodeInternal {
			s.log.Error("internal error", switchboard.LogKeyRequestID, ent.requestID, switchboard.LogKeyErr, err)
		}
		if e.Code == switchboard.CodeCanceled {
			// The client is gone; there is nobody to write to.
			ent.status = StatusClientClosed
			return
		}
		if ent.ticket != nil {
			// A limit that refused inside the router (a model's or an
			// upstream's) is reported as one refused at admission is.
			ent.ticket.SetHeaders(w.Header())
		}
		ent.setAttemptHeaders(w.Header())
		ent.status = writeError(w, e)
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	// The mux answers 405 for a known path with another method through this
	// catch-all too; tell the two apart.
	for _, p := range []string{"/v1/chat/completions", "/v1/embeddings", "/v1/messages", "/v1/messages/count_tokens"} {
		if r.URL.Path == p {
			w.Header().Set("Allow", "POST")
			return &switchboard.Error{Code: switchboard.CodeInvalidRequest, Status: http.StatusMethodNotAllowed,
				Message: "method " + r.Method + " is not allowed on " + p + "; use POST"}
		}
	}
	return &switchboard.Error{Code: switchboard.CodeNotFound, VendorCode: "unknown_url",
		Message: "Unrecognized request URL (" + r.Method + ": " + r.URL.Path + ")."}
}

// readJSON checks the content type and reads the body within the size limit.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &switchboard.Error{Code: switchboard.CodeUnsupportedMedia,
				Message: "unsupported Content-Type " + quote(ct) + ": send application/json"}
		}
	}
	if r.ContentLength > s.maxBody {
		return nil, &http.MaxBytesError{Limit: s.maxBody}
	}
	n := r.ContentLength
	if n < 0 || n > 1<<20 {
		n = 4096
	}
	buf := make([]byte, 0, n+1)
	body := http.MaxBytesReader(w, r.Body, s.maxBody)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, errEOF) {
				break
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, &switchboard.Error{Code: switchboard.CodeCanceled, Message: "reading the request body failed", Err: err}
		}
	}
	if len(buf) == 0 {
		return nil, &switchboard.Error{Code: switchboard.CodeInvalidRequest, Message: "request body is empty; send a JSON object"}
	}
	return buf, nil
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return "\"" + s + "\""
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write([]byte(`{"status":"ok"}` + "\n"))
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	var problems []string
	if s.store != nil {
		if err := s.store.Ping(r.Context()); err != nil {
			problems = append(problems, "store: "+err.Error())
		}
	}
	if p, ok := s.p.(switchboard.Pinger); ok {
		if err := p.Ping(r.Context()); err != nil {
			problems = append(problems, "providers: "+err.Error())
		}
	}
	w.Header().Set("Content-Type", "application/json")
	body := map[string]any{"status": "ready"}
	if s.status != nil {
		body["detail"] = s.status()
	}
	if len(problems) > 0 {
		body["status"], body["problems"] = "unavailable", problems
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	return writeJSON(w, body)
}
