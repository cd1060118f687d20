package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-ai/switchboard"
)

// Error classes that fallbacks name.
const (
	ClassRateLimited   = "rate_limited"
	ClassServerError   = "server_error"
	ClassTimeout       = "timeout"
	ClassContextLength = "context_length_exceeded"
	ClassContentFilter = "content_filter"
)

var defaultFallbackOn = []string{ClassRateLimited, ClassServerError, ClassTimeout}

const maxFallbackDepth = 3

// ErrorClass returns the fallback class of err, or "" when no fallback
// applies (invalid requests, cancellations).
func ErrorClass(err error) string {
	var e *switchboard.Error
	if errors.As(err, &e) {
		switch e.VendorCode {
		case ClassContextLength:
			return ClassContextLength
		case ClassContentFilter:
			return ClassContentFilter
		}
	}
	switch switchboard.ErrorCodeOf(err) {
	case switchboard.CodeRateLimited:
		return ClassRateLimited
	case switchboard.CodeUnavailable, switchboard.CodeUpstream:
		return ClassServerError
	case switchboard.CodeTimeout:
		return ClassTimeout
	}
	return ""
}

// call makes one upstream call on a deployment.
type call[T any] func(ctx context.Context, d *deployment) (T, error)

// keep ties an attempt's context to a result that outlives the call (a
// stream); nil results are discarded with discard.
type handling[T any] struct {
	// keep wraps a successful result so that cancel runs when it is done
	// with; nil means cancel as soon as the call returns.
	keep func(v T, cancel context.CancelFunc) T
	// discard releases a result that lost a hedge race.
	discard func(v T)
}

// serve runs one request on a model: attempts over its deployments, then
// the model's fallbacks for the error class of the last failure.
func serve[T any](ctx context.Context, e *Engine, op, model string, fn call[T], discard func(T)) (T, error) {
	var zero T
	r, err := e.resolve(model)
	if err != nil {
		return zero, err
	}
	h := handling[T]{discard: discard}
	if discard != nil {
		h.keep = func(v T, cancel context.CancelFunc) T {
			if s, ok := any(v).(switchboard.ChatStream); ok {
				return any(&cancelStream{ChatStream: s, cancel: cancel}).(T)
			}
			cancel()
			return v
		}
	}
	return serveRoute(ctx, e, r, op, fn, h, map[string]bool{}, 0)
}

func serveRoute[T any](ctx context.Context, e *Engine, r *route, op string, fn call[T], h handling[T], visited map[string]bool, depth int) (T, error) {
	var zero T
	visited[r.Name] = true
	v, err := attempts(ctx, e, r, op, fn, h)
	if err == nil || ctx.Err() != nil {
		return v, err
	}
	class := ErrorClass(err)
	if class == "" {
		return zero, err
	}
	for _, f := range r.Fallbacks {
		on := f.On
		if len(on) == 0 {
			on = defaultFallbackOn
		}
		if !slices.Contains(on, class) {
			continue
		}
		for _, to := range f.To {
			next, ok := e.routes[to]
			if !ok || visited[to] || depth >= maxFallbackDepth {
				continue
			}
			e.log.Warn("falling back to another model", switchboard.LogKeyModel, r.Name, "fallback", to, "class", class, switchboard.LogKeyErr, err)
			if e.metrics != nil {
				e.metrics.Fallbacks.WithLabelValues(r.Name, to, class).Inc()
			}
			v, ferr := serveRoute(ctx, e, next, op, fn, h, visited, depth+1)
			if ferr == nil || ctx.Err() != nil {
				return v, ferr
			}
			err = ferr
		}
		break
	}
	return zero, err
}

// attempts tries the route's deployments in strategy order, going round
// again after a backoff until the attempt budget is spent.
func attempts[T any](ctx context.Context, e *Engine, r *route, op string, fn call[T], h handling[T]) (T, error) {
	var zero T
	order := r.order(switchboard.UnitFromContext(ctx), e.now())
	budget := r.Retry.Attempts
	if budget <= 0 {
		budget = max(len(order), 2)
	}
	base, ceiling := r.Retry.Backoff, r.Retry.MaxBackoff
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 5 * time.Second
	}
	var last error
	n := 0
	for round := 0; n < budget; round++ {
		if round > 0 {
			wait := fullJitter(base, round, ceiling)
			if ra := retryAfterOf(last); ra > 0 {
				if ra > ceiling {
					break // the upstream asks for longer than we may wait
				}
				wait = max(wait, ra)
			}
			if dl, ok := ctx.Deadline(); ok && e.now().Add(wait).After(dl) {
				break
			}
			if e.sleep(ctx, wait) != nil {
				break
			}
			if e.metrics != nil {
				e.metrics.Retries.WithLabelValues(r.Name).Inc()
			}
		}
		tried := false
		for i := 0; i < len(order) && n < budget; i++ {
			d := order[i]
			admitted, err := e.admit(ctx, r, d)
			if err != nil {
				last = err
				if ctx.Err() != nil {
					return zero, err
				}
				continue
			}
			done, err := d.acquire()
			if err != nil {
				admitted(false)
				if last == nil {
					last = &switchboard.Error{Code: switchboard.CodeUnavailable, RetryAfter: time.Second,
						Message: fmt.Sprintf("every deployment of model %q is unavailable (circuit breaker open)", r.Name), Err: err}
				}
				continue
			}
			tried = true
			n++
			var alt *deployment
			if r.Hedge.Enabled && round == 0 && i+1 < len(order) && n < budget {
				alt = order[i+1]
			}
			var v T
			var hedged bool
			if alt != nil {
				// hedge releases both attempts' admissions itself.
				v, err, hedged = hedge(ctx, e, r, op, d, alt, n, fn, h, done, admitted)
				if hedged {
					n++
					i++ // the alternative was tried too
				}
			} else {
				v, err = attempt(ctx, e, r, op, d, n, fn, h, done)
				admitted(err == nil)
			}
			if err == nil {
				return v, nil
			}
			last = err
			if !switchboard.Retryable(err) || ctx.Err() != nil {
				return zero, err
			}
		}
		if !tried {
			break
		}
	}
	if last == nil {
		last = ctx.Err()
	}
	return zero, last
}

// admit passes one attempt on d through the gate, if any. The release it
// returns is never nil and must be called exactly once, with whether the
// attempt's answer is the one the client gets.
func (e *Engine) admit(ctx context.Context, r *route, d *deployment) (release func(ok bool), err error) {
	if e.gate == nil {
		return func(bool) {}, nil
	}
	rel, err := e.gate.AdmitAttempt(ctx, d.provider.Name, r.Name)
	if err != nil {
		return nil, err
	}
	if rel == nil {
		return func(bool) {}, nil
	}
	return rel, nil
}

// attempt makes one call on d under its breaker, total timeout and span.
func attempt[T any](ctx context.Context, e *Engine, r *route, op string, d *deployment, n int, fn call[T], h handling[T], done func(error)) (T, error) {
	var zero T
	cctx, cancel := withTotal(ctx, d.provider)
	cctx, span := e.tracer.Start(cctx, op+" "+d.model, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", op),
			attribute.String("gen_ai.provider.name", d.provider.Type),
			attribute.String("gen_ai.request.model", d.model),
			attribute.String("switchboard.provider", d.provider.Name),
			attribute.String("switchboard.model", r.Name),
			attribute.Int("switchboard.attempt", n),
		))
	d.inflight.Add(1)
	start := e.now()
	v, err := fn(cctx, d)
	took := e.now().Sub(start)
	d.inflight.Add(-1)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && cctx.Err() != nil && ctx.Err() == nil {
		err = &switchboard.Error{Code: switchboard.CodeTimeout, Message: "upstream did not answer within the total timeout", Err: err}
	}
	done(err)
	d.observe(err, took, retryAfterOf(err), e.now())
	if out := switchboard.OutcomeFromContext(ctx); out != nil {
		out.Provider, out.ProviderType, out.UpstreamModel, out.Model = d.provider.Name, d.provider.Type, d.model, r.Name
		out.Attempts++
		out.UpstreamLatency = took
	}
	if e.metrics != nil {
		e.metrics.Attempts.WithLabelValues(d.provider.Name, attemptResult(err)).Inc()
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, string(switchboard.ErrorCodeOf(err)))
		span.End()
		cancel()
		if switchboard.Retryable(err) {
			e.log.Warn("upstream attempt failed", switchboard.LogKeyProvider, d.provider.Name, switchboard.LogKeyModel, d.model,
				"attempt", n, switchboard.LogKeyErr, err)
		}
		return zero, err
	}
	span.End()
	if h.keep != nil {
		return h.keep(v, cancel), nil
	}
	cancel()
	return v, nil
}

func attemptResult(err error) string {
	if err == nil {
		return "ok"
	}
	return string(switchboard.ErrorCodeOf(err))
}

// hedge calls d and, if d has not answered by its recent first-byte
// quantile, also alt; the first success wins and the other is cancelled.
// The alternative passes the gate like any attempt. hedge releases both
// admissions: admitted (d's) and alt's, each once, with ok only for the
// attempt whose answer it returns; a loser's tokens are not the client's.
func hedge[T any](ctx context.Context, e *Engine, r *route, op string, d, alt *deployment, n int, fn call[T], h handling[T], done func(error), admitted func(ok bool)) (T, error, bool) {
	threshold, ok := d.quantile(cmpOr(r.Hedge.Quantile, 0.95))
	if !ok {
		v, err := attempt(ctx, e, r, op, d, n, fn, h, done)
		admitted(err == nil)
		return v, err, false
	}
	threshold = max(threshold, cmpOr(r.Hedge.MinDelay, 10*time.Millisecond))
	// Two attempts may run at once, and a loser may end after the answer
	// went out: each reports into an Outcome of its own, and the one whose
	// answer hedge returns is copied into the request's.
	out := switchboard.OutcomeFromContext(ctx)
	type result struct {
		v   T
		err error
		out *switchboard.Outcome
	}
	start := func(ctx context.Context, d *deployment, n int, done func(error)) chan result {
		o := &switchboard.Outcome{}
		if out != nil {
			ctx = switchboard.NewContextWithOutcome(ctx, o)
		}
		c := make(chan result, 1)
		go func() {
			v, err := attempt(ctx, e, r, op, d, n, fn, h, done)
			c <- result{v, err, o}
		}()
		return c
	}
	report := func(res result, attempts int) {
		if out != nil {
			o := res.out
			out.Provider, out.ProviderType, out.UpstreamModel, out.Model = o.Provider, o.ProviderType, o.UpstreamModel, o.Model
			out.UpstreamLatency = o.UpstreamLatency
			out.Attempts += attempts
		}
	}
	ctx1, cancel1 := context.WithCancel(ctx)
	defer cancel1()
	first := start(ctx1, d, n, done)
	timer := time.NewTimer(threshold)
	defer timer.Stop()
	select {
	case res := <-first:
		admitted(res.err == nil)
		report(res, 1)
		return res.v, res.err, false
	case <-timer.C:
	}
	ctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	altAdmitted, ok := admitHedge(ctx2, cancel2, e, r, alt, first)
	if !ok {
		res := <-first
		admitted(res.err == nil)
		report(res, 1)
		return res.v, res.err, false
	}
	altDone, err := alt.acquire()
	if err != nil {
		altAdmitted(false)
		res := <-first
		admitted(res.err == nil)
		report(res, 1)
		return res.v, res.err, false
	}
	if out != nil {
		out.Hedged = true
	}
	if e.metrics != nil {
		e.metrics.Hedges.WithLabelValues(r.Name).Inc()
	}
	second := start(ctx2, alt, n+1, altDone)
	var res result
	var loser chan result
	var cancelLoser context.CancelFunc
	var releaseWinner, releaseLoser func(ok bool)
	select {
	case res = <-first:
		loser, cancelLoser, releaseWinner, releaseLoser = second, cancel2, admitted, altAdmitted
	case res = <-second:
		loser, cancelLoser, releaseWinner, releaseLoser = first, cancel1, altAdmitted, admitted
	}
	if res.err != nil {
		// The winner failed: wait for the other one.
		releaseWinner(false)
		res = <-loser
		releaseLoser(res.err == nil)
		report(res, 2)
		return res.v, res.err, true
	}
	releaseWinner(true)
	report(res, 2)
	cancelLoser()
	go func() {
		lr := <-loser
		releaseLoser(false)
		if lr.err == nil && h.discard != nil {
			h.discard(lr.v)
		}
	}()
	return res.v, nil, true
}

// admitHedge passes the alternative of a hedge through the gate. A gate
// that queues must not hold up the first attempt's answer: if that answer
// comes first, the admission is abandoned (cancel ends it) and given back,
// and the answer stays in first for the caller. ok is false when alt may
// not be called.
func admitHedge[T any](ctx context.Context, cancel context.CancelFunc, e *Engine, r *route, alt *deployment, first chan T) (release func(ok bool), ok bool) {
	if e.gate == nil {
		return func(bool) {}, true
	}
	type admission struct {
		release func(ok bool)
		err     error
	}
	adm := make(chan admission, 1)
	go func() {
		rel, err := e.admit(ctx, r, alt)
		adm <- admission{rel, err}
	}()
	select {
	case a := <-adm:
		return a.release, a.err == nil
	case res := <-first:
		first <- res // first has room for it again: the caller reads it
		cancel()
		if a := <-adm; a.err == nil {
			a.release(false)
		}
		return nil, false
	}
}

func cmpOr[V comparable](v, def V) V {
	var zero V
	if v == zero {
		return def
	}
	return v
}

// fullJitter returns a random wait in [0, min(ceiling, base·2^round)).
func fullJitter(base time.Duration, round int, ceiling time.Duration) time.Duration {
	d := base << min(round, 20)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

func retryAfterOf(err error) time.Duration {
	var e *switchboard.Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

func withTotal(ctx context.Context, p *Provider) (context.Context, context.CancelFunc) {
	if t := p.Timeouts.Total; t > 0 {
		return context.WithTimeout(ctx, t)
	}
	return context.WithCancel(ctx)
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
