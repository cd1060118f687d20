package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/tenancy"
)

// entry collects what a request did, for its access-log line, its metrics and
// its inference record.
type entry struct {
	start     time.Time
	id        string
	requestID string
	route     string
	status    int
	errCode   switchboard.ErrorCode
	errMsg    string

	endpoint string // "chat" or "embeddings" when the request is an inference
	model    string
	unit     string
	stream   bool
	ttft     time.Duration
	usage    switchboard.Usage
	hasUsage bool
	outcome  switchboard.Outcome

	prompt *promptUse      // the prompt version and experiment variant used
	caller *tenancy.Caller // nil when the server runs open
	ticket Ticket          // the request's admission, settled in finish
	cost   *float64        // what the inference cost, once known
	saved  *float64        // for a cache hit, what it saved
	priced bool            // cost and saved are computed
}

type entryKey struct{}

func entryFrom(ctx context.Context) *entry {
	e, _ := ctx.Value(entryKey{}).(*entry)
	if e == nil {
		return &entry{}
	}
	return e
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// validRequestID reports whether an incoming x-request-id can be kept.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// observe is the outermost middleware: it recovers panics, assigns the
// request and inference IDs, and after the handler writes the access log,
// the metrics and the inference record.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := &entry{start: time.Now(), id: switchboard.NewID()}
		e.requestID = r.Header.Get("X-Request-Id")
		if !validRequestID(e.requestID) {
			e.requestID = e.id
		}
		h := w.Header()
		h.Set("X-Request-Id", e.requestID)
		h.Set("X-Switchboard-Inference-Id", e.id)
		sw := &statusWriter{ResponseWriter: w}
		ctx := context.WithValue(r.Context(), entryKey{}, e)
		ctx = switchboard.NewContextWithRequestID(ctx, e.requestID)
		r = r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", switchboard.LogKeyRequestID, e.requestID, "panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					e.status = writeError(sw, &switchboard.Error{Code: switchboard.CodeInternal, Message: "internal server error"})
				}
				e.errCode = switchboard.CodeInternal
			}
			s.finish(r, sw, e)
		}()
		next.ServeHTTP(sw, r)
	})
}

// principal is who made the request: the authenticated caller (the
// handler's context carried it, not the one finish sees), else anonymous.
func (e *entry) principal() switchboard.Principal {
	if e.caller == nil {
		return switchboard.Principal{}
	}
	return e.caller.Principal()
}

// finish writes the access log, the metrics and the inference record.
func (s *Server) finish(r *http.Request, sw *statusWriter, e *entry) {
	if e.status == 0 {
		e.status = sw.status
	}
	if e.status == 0 {
		e.status = http.StatusOK
	}
	if e.route == "" {
		e.route = r.Pattern
	}
	lat := time.Since(e.start)
	m := s.metrics
	modelLabel := s.modelLabel(e)
	if m != nil && e.route != "" {
		m.Requests.WithLabelValues(e.route, modelLabel, e.outcome.Provider, statusText(e.status)).Inc()
		m.Duration.WithLabelValues(e.route, modelLabel).Observe(lat.Seconds())
		if e.errCode != "" {
			m.Errors.WithLabelValues(string(e.errCode)).Inc()
		}
		if e.endpoint != "" && e.outcome.Provider != "" {
			m.UpstreamDuration.WithLabelValues(e.outcome.Provider, e.outcome.UpstreamModel).Observe(e.outcome.UpstreamLatency.Seconds())
			if e.ttft > 0 {
				m.TTFT.WithLabelValues(modelLabel, e.outcome.Provider).Observe(e.ttft.Seconds())
			}
			if e.hasUsage && (e.outcome.Cache == "hit" || e.outcome.Cache == "semantic-hit") {
				m.CacheSavedTokens.WithLabelValues(modelLabel, "input").Add(float64(e.usage.PromptTokens))
				m.CacheSavedTokens.WithLabelValues(modelLabel, "output").Add(float64(e.usage.CompletionTokens))
			} else if e.hasUsage {
				m.Tokens.WithLabelValues(modelLabel, e.outcome.Provider, "input").Add(float64(e.usage.PromptTokens))
				m.Tokens.WithLabelValues(modelLabel, e.outcome.Provider, "output").Add(float64(e.usage.CompletionTokens))
				if c := e.usage.CachedTokens(); c > 0 {
					m.Tokens.WithLabelValues(modelLabel, e.outcome.Provider, "cached").Add(float64(c))
				}
			}
		}
	}
	if e.ticket != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		s.settle(sctx, e)
		cancel()
	}
	if e.endpoint != "" && s.recorder != nil {
		p := e.principal()
		inf := switchboard.Inference{
			ID: e.id, Time: e.start.UTC(), RequestID: e.requestID, TenantID: p.TenantID, KeyID: p.KeyID,
			Endpoint: e.endpoint, Model: e.model, Provider: e.outcome.Provider, UpstreamModel: e.outcome.UpstreamModel,
			Stream: e.stream, Status: e.status, ErrorCode: string(e.errCode), Latency: lat, TTFT: e.ttft,
			InputTokens: e.usage.PromptTokens, OutputTokens: e.usage.CompletionTokens, CachedTokens: e.usage.CachedTokens(),
			Attempts: e.outcome.Attempts, Cache: e.outcome.Cache, CacheTier: e.outcome.CacheTier,
		}
		e.prompt.record(&inf)
		if e.hasUsage {
			s.price(e)
			inf.CostUSD, inf.SavedUSD = e.cost, e.saved
			if m != nil && inf.CostUSD != nil && *inf.CostUSD > 0 {
				m.CostUSD.WithLabelValues(modelLabel, e.outcome.Provider).Add(*inf.CostUSD)
			}
			if m != nil && inf.CostUSD == nil && e.outcome.Provider != "" && e.outcome.Cache != "hit" && e.outcome.Cache != "semantic-hit" {
				m.Unpriced.WithLabelValues(e.outcome.Provider, modelLabel).Inc()
			}
			if m != nil && inf.SavedUSD != nil {
				m.CacheSavedUSD.WithLabelValues(modelLabel).Add(*inf.SavedUSD)
			}
		}
		// Recording outlives the request: a client that left must not lose its record.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		if err := s.recorder.Record(rctx, inf); err != nil {
			s.log.Error("inference record not queued", switchboard.LogKeyInferenceID, e.id, switchboard.LogKeyErr, err)
		}
		cancel()
	}
	if s.accessLog {
		level := slog.LevelInfo
		if e.status >= 500 && e.status != StatusClientClosed {
			level = slog.LevelWarn
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		p := e.principal()
		attrs := make([]slog.Attr, 0, 16)
		attrs = append(attrs,
			slog.String(switchboard.LogKeyRequestID, e.requestID),
			slog.String("method", r.Method),
			slog.String(switchboard.LogKeyRoute, e.route),
			slog.Int(switchboard.LogKeyStatus, e.status),
			slog.Float64("latency_ms", float64(lat.Microseconds())/1000),
		)
		if e.endpoint != "" {
			attrs = append(attrs,
				slog.String(switchboard.LogKeyInferenceID, e.id),
				slog.String(switchboard.LogKeyTenant, p.TenantID),
				slog.String(switchboard.LogKeyModel, e.model),
				slog.String(switchboard.LogKeyProvider, e.outcome.Provider),
				slog.String("upstream_model", e.outcome.UpstreamModel),
				slog.Bool("stream", e.stream),
				slog.Int("attempts", e.outcome.Attempts),
				slog.Int("input_tokens", e.usage.PromptTokens),
				slog.Int("output_tokens", e.usage.CompletionTokens),
			)
			if e.outcome.Cache != "" {
				attrs = append(attrs, slog.String("cache", e.outcome.Cache))
			}
			if e.ttft > 0 {
				attrs = append(attrs, slog.Float64("ttft_ms", float64(e.ttft.Microseconds())/1000))
			}
		}
		if e.errCode != "" {
			attrs = append(attrs, slog.String("error_code", string(e.errCode)), slog.String("error", e.errMsg))
		}
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	}
}

// modelLabel bounds the model label: configured names as they are, direct
// "provider/model" addressing folded to "provider/*", unknown names empty.
func (s *Server) modelLabel(e *entry) string {
	if e.outcome.Provider == "" || e.model == "" {
		return ""
	}
	for i := 0; i < len(e.model); i++ {
		if e.model[i] == '/' && e.model[:i] == e.outcome.Provider {
			return e.model[:i] + "/*"
		}
	}
	return e.model
}

var statusTexts = func() map[int]string {
	m := map[int]string{}
	for c := 100; c < 600; c++ {
		m[c] = itoa(c)
	}
	return m
}()

func itoa(c int) string {
	return string([]byte{byte('0' + c/100), byte('0' + c/10%10), byte('0' + c%10)})
}

func statusText(c int) string {
	if s, ok := statusTexts[c]; ok {
		return s
	}
	return "other"
}

// limitInFlight sheds requests beyond max_in_flight, or while the process
// is overloaded, with 503 rather than queueing them without bound.
func (s *Server) limitInFlight(next http.Handler) http.Handler {
	if s.sem == nil && s.overload == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.enter(); err != nil {
			e := entryFrom(r.Context())
			e.errCode = switchboard.CodeUnavailable
			e.errMsg = "overloaded"
			writeError(w, err)
			return
		}
		defer s.leave()
		next.ServeHTTP(w, r)
	})
}

// enter takes an in-flight slot for a request, or returns the error to
// answer it with when it must be shed: the process is overloaded (its
// goroutines wait too long for a CPU) or max_in_flight are running.
func (s *Server) enter() *switchboard.Error {
	if s.overload.Overloaded() {
		if s.metrics != nil {
			s.metrics.Shed.Inc()
		}
		return &switchboard.Error{Code: switchboard.CodeUnavailable, VendorCode: "overloaded", RetryAfter: time.Second,
			Message: "the gateway is overloaded (scheduling delay " + s.overload.Latency().Round(time.Millisecond).String() +
				" > server.shed_latency); retry shortly"}
	}
	if s.sem != nil {
		select {
		case s.sem <- struct{}{}:
		default:
			if s.metrics != nil {
				s.metrics.Shed.Inc()
			}
			return &switchboard.Error{Code: switchboard.CodeUnavailable, VendorCode: "overloaded", RetryAfter: time.Second,
				Message: "the gateway is at capacity (server.max_in_flight); retry shortly"}
		}
	}
	if s.metrics != nil {
		s.metrics.InFlight.Inc()
	}
	return nil
}

// leave gives back the slot enter took.
func (s *Server) leave() {
	if s.sem != nil {
		<-s.sem
	}
	if s.metrics != nil {
		s.metrics.InFlight.Dec()
	}
}
