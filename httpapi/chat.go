package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/sse"
)

var errEOF = io.EOF

var propagator = propagation.TraceContext{}

// startInference prepares the context of an inference request: the outcome
// the router fills in and a server span continuing the caller's trace.
func (s *Server) startInference(r *http.Request, e *entry, op string) (context.Context, trace.Span) {
	ctx := switchboard.NewContextWithOutcome(r.Context(), &e.outcome)
	if h := r.Header.Get("Cache-Control"); h != "" {
		ctx = switchboard.NewContextWithCacheControl(ctx, parseCacheControl(h))
	}
	if u := r.Header.Get("X-Switchboard-Unit"); u != "" {
		ctx = switchboard.NewContextWithUnit(ctx, u)
	} else if e.unit != "" {
		ctx = switchboard.NewContextWithUnit(ctx, e.unit)
	}
	if r.Header.Get("Traceparent") != "" {
		ctx = propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	ctx, span := s.tracer.Start(ctx, op+" "+e.model, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("gen_ai.operation.name", op),
			attribute.String("gen_ai.request.model", e.model),
			attribute.String("switchboard.inference_id", e.id),
			attribute.String("http.route", r.Pattern),
		)
	}
	return ctx, span
}

func (s *Server) endSpan(span trace.Span, e *entry, err error) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(
		attribute.String("gen_ai.provider.name", e.outcome.ProviderType),
		attribute.String("gen_ai.response.model", e.outcome.UpstreamModel),
		attribute.String("switchboard.provider", e.outcome.Provider),
		attribute.Int("switchboard.attempts", e.outcome.Attempts),
	)
	if e.hasUsage {
		span.SetAttributes(
			attribute.Int("gen_ai.usage.input_tokens", e.usage.PromptTokens),
			attribute.Int("gen_ai.usage.output_tokens", e.usage.CompletionTokens),
		)
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, string(switchboard.ErrorCodeOf(err)))
	}
	span.End()
}

func (s *Server) setServedHeaders(w http.ResponseWriter, e *entry) {
	h := w.Header()
	if c := e.outcome.Cache; c != "" {
		h.Set("X-Switchboard-Cache", c)
		if e.outcome.CacheTier != "" {
			h.Set("X-Switchboard-Cache-Tier", e.outcome.CacheTier)
		}
		if e.outcome.CacheKey != "" {
			h.Set("X-Switchboard-Cache-Key", e.outcome.CacheKey)
		}
		if e.outcome.Similarity > 0 {
			h.Set("X-Switchboard-Cache-Similarity", strconv.FormatFloat(e.outcome.Similarity, 'f', 4, 64))
		}
	}
	if e.ticket != nil {
		e.ticket.SetHeaders(h)
	}
	if e.hasUsage {
		s.price(e)
		setCostHeader(h, e)
	}
	e.setAttemptHeaders(h)
	if e.outcome.Provider != "" {
		if e.outcome.Model != "" && e.outcome.Model != e.model {
			h.Set("X-Switchboard-Fallback-Model", e.outcome.Model)
		}
		if e.outcome.Hedged {
			h.Set("X-Switchboard-Hedged", "true")
		}
	}
}

// setAttemptHeaders names the deployment that answered (or, on an error, was
// tried last) and how many attempts the router made.
func (e *entry) setAttemptHeaders(h http.Header) {
	if e.outcome.Attempts > 0 {
		h.Set("X-Switchboard-Attempts", strconv.Itoa(e.outcome.Attempts))
	}
	if e.outcome.Provider != "" {
		h.Set("X-Switchboard-Provider", e.outcome.Provider)
		h.Set("X-Switchboard-Upstream-Model", e.outcome.UpstreamModel)
		h.Set("X-Switchboard-Deployment", e.outcome.Provider+"/"+e.outcome.UpstreamModel)
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) (err error) {
	e := entryFrom(r.Context())
	body, err := s.readJSON(w, r)
	if err != nil {
		return err
	}
	req, err := switchboard.DecodeChatRequest(body)
	if err != nil {
		return err
	}
	e.endpoint, e.model, e.stream, e.unit = "chat", req.Model, req.Stream, req.User
	if req, err = s.applyPrompt(w, e, r, body, req); err != nil {
		return err
	}
	e.model, e.stream, e.unit = req.Model, req.Stream, req.User
	ctx, span := s.startInference(r, e, "chat")
	defer func() { s.endSpan(span, e, err) }()
	if ctx, err = s.admit(ctx, w, e, Admission{Endpoint: "chat", Model: req.Model, Chat: req}); err != nil {
		return err
	}
	if s.content {
		s.logContent(ctx, e, req)
	}
	if req.Stream {
		return s.chatStream(ctx, w, req, e)
	}
	resp, err := s.p.Chat(ctx, req.Model, req)
	if err != nil {
		return err
	}
	if resp.Usage != nil {
		e.usage, e.hasUsage = *resp.Usage, true
	}
	body = resp.Raw
	if body == nil {
		if body, err = json.Marshal(resp); err != nil {
			return err
		}
	}
	s.setServedHeaders(w, e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, err = w.Write(body)
	if err == nil {
		// Send the answer now: recording, metrics and the access log run
		// after the handler, and the client need not wait for them.
		err = http.NewResponseController(w).Flush()
	}
	if err != nil {
		return &switchboard.Error{Code: switchboard.CodeCanceled, Message: "client went away", Err: err}
	}
	return nil
}

func (s *Server) logContent(ctx context.Context, e *entry, req *switchboard.ChatRequest) {
	msgs, _ := json.Marshal(req.Messages)
	s.log.DebugContext(ctx, "request content", switchboard.LogKeyInferenceID, e.id, "messages", string(msgs))
}

// chatStream relays a streamed completion as OpenAI's SSE: one event per
// chunk, flushed as it arrives, then "data: [DONE]". The status line waits
// for the first chunk, so an upstream that fails before producing anything
// is reported as an ordinary JSON error.
func (s *Server) chatStream(ctx context.Context, w http.ResponseWriter, req *switchboard.ChatRequest, e *entry) error {
	st, err := s.p.ChatStream(ctx, req.Model, req)
	if err != nil {
		return err
	}
	defer st.Close()
	chunk, err := st.Recv()
	if err != nil && err != io.EOF {
		return err
	}
	e.ttft = time.Since(e.start)
	s.setServedHeaders(w, e)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	// The cost is known only at the end: it follows as a trailer.
	h.Set("Trailer", "X-Switchboard-Cost-Usd")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	wantUsage := req.WantsUsage()
	buf := make([]byte, 0, 1024)
	var outChars int
	// gone is the write that failed because the client left. The loop stops
	// there but the usage below is still estimated: the client is charged
	// for what the upstream produced, however its leaving was noticed.
	var gone error
	for err == nil {
		if chunk.Usage != nil {
			e.usage, e.hasUsage = *chunk.Usage, true
		}
		outChars += outputChars(chunk)
		// The usage-only chunk exists because the gateway asked for it; a
		// client that did not ask must not see it.
		if wantUsage || chunk.Usage == nil || len(chunk.Choices) > 0 {
			if wantUsage && chunk.Usage != nil && chunk.Usage.Cost == nil {
				// The client asked for usage: tell it the cost there too.
				s.price(e)
				if e.cost != nil {
					chunk = withCost(chunk, *e.cost)
				}
			}
			data := chunk.Raw
			if data == nil {
				if data, err = json.Marshal(chunk); err != nil {
					break
				}
			}
			buf = sse.AppendEvent(buf[:0], "", data)
			if _, gone = w.Write(buf); gone != nil {
				break
			}
			if gone = rc.Flush(); gone != nil {
				break
			}
		}
		chunk, err = st.Recv()
	}
	if !e.hasUsage {
		// An upstream that reports no usage (or a stream cut before its
		// usage chunk): estimate, ~4 bytes a token.
		e.usage.CompletionTokens = (outChars + 3) / 4
		e.usage.PromptTokens = estimatePromptTokens(req)
		e.usage.TotalTokens = e.usage.PromptTokens + e.usage.CompletionTokens
		e.hasUsage = true
	}
	s.price(e)
	setCostHeader(h, e) // the declared trailer
	if gone != nil {
		return &switchboard.Error{Code: switchboard.CodeCanceled, Message: "client went away", Err: gone}
	}
	if err == io.EOF {
		_, _ = w.Write(sse.Done)
		_ = rc.Flush()
		return nil
	}
	if ctx.Err() != nil {
		e.status, e.errCode, e.errMsg = StatusClientClosed, switchboard.CodeCanceled, "client went away mid-stream"
		return nil
	}
	// Headers are gone: report the failure in-band, as OpenAI does, and
	// record the status the error would have had.
	ce := toError(err)
	e.status, e.errCode, e.errMsg = httpStatus(ce), ce.Code, ce.Message
	if ce.Code == switchboard.CodeInternal {
		s.log.Error("stream failed", switchboard.LogKeyRequestID, e.requestID, switchboard.LogKeyErr, err)
	}
	_, _ = w.Write(sse.AppendEvent(buf[:0], "", errorJSON(ce)))
	_ = rc.Flush()
	return nil
}

// withCost returns chunk with usage.cost set to usd, in its raw bytes too.
func withCost(chunk *switchboard.Chunk, usd float64) *switchboard.Chunk {
	c := *chunk
	u := *chunk.Usage
	u.Cost = &usd
	c.Usage = &u
	if raw := chunk.Raw; raw != nil {
		c.Raw = nil
		if i := bytes.LastIndex(raw, []byte(`"usage"`)); i >= 0 {
			if j := bytes.IndexByte(raw[i+7:], '{'); j >= 0 && len(bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(raw[i+7:i+7+j]), []byte(":")))) == 0 {
				at := i + 7 + j + 1
				out := make([]byte, 0, len(raw)+32)
				out = append(out, raw[:at]...)
				out = append(out, `"cost":`...)
				out = strconv.AppendFloat(out, usd, 'f', -1, 64)
				if rest := bytes.TrimSpace(raw[at:]); len(rest) > 0 && rest[0] != '}' {
					out = append(out, ',')
				}
				c.Raw = append(out, raw[at:]...)
			}
		}
	}
	return &c
}

// outputChars returns the bytes of output text in a chunk's deltas, from
// which completion tokens are estimated when the upstream reports no usage:
// the content's text (a JSON string, counted without its quotes; escapes
// count as written, a slight over-estimate), a refusal and tool-call
// arguments. It does not allocate: it runs for every chunk relayed.
func outputChars(c *switchboard.Chunk) int {
	n := 0
	for i := range c.Choices {
		d := &c.Choices[i].Delta
		if ct := bytes.TrimSpace(d.Content); len(ct) >= 2 && ct[0] == '"' {
			n += len(ct) - 2
		}
		if d.Refusal != nil {
			n += len(*d.Refusal)
		}
		for j := range d.ToolCalls {
			n += len(d.ToolCalls[j].Function.Arguments)
		}
	}
	return n
}

func estimatePromptTokens(req *switchboard.ChatRequest) int {
	n := 3
	for i := range req.Messages {
		n += 4 + (len(req.Messages[i].Content)+3)/4
	}
	return n
}

// writeJSONStatus writes v as JSON with status: the headers are set
// before the status line goes out.
func writeJSONStatus(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
