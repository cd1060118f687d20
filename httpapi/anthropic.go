package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/anthropic"
)

// This file serves Anthropic's Messages API (POST /v1/messages, streaming
// too, and POST /v1/messages/count_tokens), so Anthropic's SDKs and Claude
// Code work against the gateway, routed to any provider: requests are
// translated to the OpenAI-shaped ChatRequest the router takes, answers back
// to Anthropic's shapes (package internal/anthropic). Errors use Anthropic's
// envelope {"type":"error","error":{"type","message"}}. The x-api-key and
// anthropic-version headers are accepted and ignored.

// tokenCounter is a Provider that counts a request's input tokens (the
// anthropic provider does, through Anthropic's count_tokens).
type tokenCounter interface {
	CountTokens(ctx context.Context, model string, req *switchboard.ChatRequest) (int, error)
}

// anthropicErrorType is the Anthropic error type for each code.
var anthropicErrorType = map[switchboard.ErrorCode]string{
	switchboard.CodeInvalidRequest:   anthropic.TypeInvalidRequest,
	switchboard.CodeUnauthorized:     anthropic.TypeAuthentication,
	switchboard.CodeForbidden:        anthropic.TypePermission,
	switchboard.CodeNotFound:         anthropic.TypeNotFound,
	switchboard.CodeConflict:         anthropic.TypeInvalidRequest,
	switchboard.CodeTooLarge:         anthropic.TypeTooLarge,
	switchboard.CodeUnsupportedMedia: anthropic.TypeInvalidRequest,
	switchboard.CodeRateLimited:      anthropic.TypeRateLimit,
	switchboard.CodeUpstream:         anthropic.TypeAPI,
	switchboard.CodeUnavailable:      anthropic.TypeAPI,
	switchboard.CodeTimeout:          anthropic.TypeTimeout,
	switchboard.CodeInternal:         anthropic.TypeAPI,
}

// anthropicError returns e's status and Anthropic error type: an upstream's
// own Anthropic type is kept; an overload (an upstream 529, or the gateway
// shedding load) is overloaded_error with status 529, as Anthropic sends it.
func anthropicError(e *switchboard.Error) (status int, typ string) {
	status = httpStatus(e)
	switch {
	case anthropic.IsErrorType(e.Type):
		typ = e.Type
	case status == anthropic.StatusOverloaded || e.VendorCode == "overloaded":
		typ = anthropic.TypeOverloaded
	default:
		typ = anthropicErrorType[e.Code]
		if typ == "" {
			typ = anthropic.TypeAPI
		}
	}
	if typ == anthropic.TypeOverloaded {
		status = anthropic.StatusOverloaded
	}
	return status, typ
}

// anthropicMessage is e's message, prefixed with the field at fault as
// Anthropic writes it ("messages.0.content: …").
func anthropicMessage(e *switchboard.Error) string {
	if e.Param != "" && !strings.HasPrefix(e.Message, e.Param+":") {
		return e.Param + ": " + e.Message
	}
	return e.Message
}

// writeAnthropicError writes e in Anthropic's error envelope and returns the status.
func writeAnthropicError(w http.ResponseWriter, e *switchboard.Error, requestID string) int {
	status, typ := anthropicError(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(anthropic.ErrorJSON(typ, anthropicMessage(e), requestID), '\n'))
	return status
}

// anthropicAPI is api() for the Anthropic routes: the in-flight limit and
// error writing, both in Anthropic's shape.
func (s *Server) anthropicAPI(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	next := s.wrapAnthropic(h)
	if s.sem == nil && s.overload == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.enter(); err != nil {
			e := entryFrom(r.Context())
			e.errCode, e.errMsg = switchboard.CodeUnavailable, "overloaded"
			e.status = writeAnthropicError(w, err, e.requestID)
			return
		}
		defer s.leave()
		next.ServeHTTP(w, r)
	})
}

// wrapAnthropic is wrap for the Anthropic routes: the only code writing
// their error responses.
func (s *Server) wrapAnthropic(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ent := entryFrom(r.Context())
		// Anthropic's SDKs quote request-id in their errors.
		w.Header().Set("Request-Id", ent.requestID)
		err := h(w, r)
		if err == nil {
			return
		}
		e := toError(err)
		ent.errCode, ent.errMsg = e.Code, e.Message
		if e.Code == switchboard.CodeInternal {
			s.log.Error("internal error", switchboard.LogKeyRequestID, ent.requestID, switchboard.LogKeyErr, err)
		}
		if e.Code == switchboard.CodeCanceled {
			ent.status = StatusClientClosed
			return
		}
		if ent.ticket != nil {
			// A limit that refused inside the router (a model's or an
			// upstream's) is reported as one refused at admission is.
			ent.ticket.SetHeaders(w.Header())
		}
		ent.setAttemptHeaders(w.Header())
		ent.status = writeAnthropicError(w, e, ent.requestID)
	})
}

// decodeMessages reads and translates a Messages request body; count says
// it is a count_tokens request (no max_tokens).
func (s *Server) decodeMessages(w http.ResponseWriter, r *http.Request, count bool) (*switchboard.ChatRequest, error) {
	body, err := s.readJSON(w, r)
	if err != nil {
		return nil, err
	}
	decode := anthropic.DecodeRequest
	if count {
		decode = anthropic.DecodeCountTokensRequest
	}
	areq, err := decode(body)
	if err != nil {
		return nil, err
	}
	return anthropic.ToChat(areq)
}

// messages serves POST /v1/messages.
func (s *Server) messages(w http.ResponseWriter, r *http.Request) (err error) {
	e := entryFrom(r.Context())
	req, err := s.decodeMessages(w, r, false)
	if err != nil {
		return err
	}
	e.endpoint, e.model, e.stream, e.unit = "messages", req.Model, req.Stream, req.User
	ctx, span := s.startInference(r, e, "chat")
	defer func() { s.endSpan(span, e, err) }()
	if ctx, err = s.admit(ctx, w, e, Admission{Endpoint: "chat", Model: req.Model, Chat: req}); err != nil {
		return err
	}
	if s.content {
		s.logContent(ctx, e, req)
	}
	if req.Stream {
		return s.messagesStream(ctx, w, req, e)
	}
	resp, err := s.p.Chat(ctx, req.Model, req)
	if err != nil {
		return err
	}
	if resp.Usage != nil {
		e.usage, e.hasUsage = *resp.Usage, true
	}
	body, err := anthropic.EncodeResponse(anthropic.FromChatResponse(resp, e.id))
	if err != nil {
		return err
	}
	s.setServedHeaders(w, e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, err = w.Write(body)
	if err == nil {
		// Send the answer now, as chat does: recording runs after the handler.
		err = http.NewResponseController(w).Flush()
	}
	if err != nil {
		return &switchboard.Error{Code: switchboard.CodeCanceled, Message: "client went away", Err: err}
	}
	return nil
}

// messagesStream relays a streamed completion as Anthropic's event
// sequence, flushed per event. As for chat, the status line waits for the
// first chunk, so a failure before any output is an ordinary JSON error; a
// failure after it is an error event.
func (s *Server) messagesStream(ctx context.Context, w http.ResponseWriter, req *switchboard.ChatRequest, e *entry) error {
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
	send := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		if _, werr := w.Write(b); werr != nil {
			return &switchboard.Error{Code: switchboard.CodeCanceled, Message: "client went away", Err: werr}
		}
		if ferr := rc.Flush(); ferr != nil {
			return &switchboard.Error{Code: switchboard.CodeCanceled, Message: "client went away", Err: ferr}
		}
		return nil
	}
	estimate := anthropic.EstimateInputTokens(req)
	enc := anthropic.NewEventEncoder(e.id, req.Model, estimate)
	buf := make([]byte, 0, 1024)
	var outChars int
	// gone is the send that failed because the client left: as in chat, the
	// usage is still estimated, so the client is charged for what the
	// upstream produced.
	var gone error
	for err == nil {
		if chunk.Usage != nil {
			e.usage, e.hasUsage = *chunk.Usage, true
		}
		outChars += outputChars(chunk)
		buf = enc.Append(buf[:0], chunk)
		if gone = send(buf); gone != nil {
			break
		}
		chunk, err = st.Recv()
	}
	if !e.hasUsage {
		// An upstream that reports no usage (or a stream cut before its
		// usage chunk): estimate, ~4 bytes a token.
		e.usage.PromptTokens = estimate
		e.usage.CompletionTokens = (outChars + 3) / 4
		e.usage.TotalTokens = e.usage.PromptTokens + e.usage.CompletionTokens
		e.hasUsage = true
	}
	s.price(e)
	setCostHeader(h, e) // the declared trailer
	if gone != nil {
		return gone
	}
	if err == io.EOF {
		_ = send(enc.Finish(buf[:0], &e.usage))
		return nil
	}
	if ctx.Err() != nil {
		e.status, e.errCode, e.errMsg = StatusClientClosed, switchboard.CodeCanceled, "client went away mid-stream"
		return nil
	}
	// Headers are gone: report the failure as Anthropic does, with an error
	// event, and record the status the error would have had.
	ce := toError(err)
	status, typ := anthropicError(ce)
	e.status, e.errCode, e.errMsg = status, ce.Code, ce.Message
	if ce.Code == switchboard.CodeInternal {
		s.log.Error("stream failed", switchboard.LogKeyRequestID, e.requestID, switchboard.LogKeyErr, err)
	}
	_ = send(anthropic.AppendError(buf[:0], typ, anthropicMessage(ce)))
	return nil
}

// countTokens serves POST /v1/messages/count_tokens. A provider that can
// count (tokenCounter) answers; otherwise, or when it says it cannot
// (errors.ErrUnsupported), the answer is anthropic.EstimateInputTokens and
// the response carries X-Switchboard-Token-Count: estimate.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) error {
	e := entryFrom(r.Context())
	req, err := s.decodeMessages(w, r, true)
	if err != nil {
		return err
	}
	source := "estimate"
	n := 0
	if tc, ok := s.p.(tokenCounter); ok {
		ctx := switchboard.NewContextWithOutcome(r.Context(), &e.outcome)
		n, err = tc.CountTokens(ctx, req.Model, req)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
		case err != nil:
			return err
		default:
			source = "provider"
		}
	}
	if source == "estimate" {
		n = anthropic.EstimateInputTokens(req)
	}
	w.Header().Set("X-Switchboard-Token-Count", source)
	w.Header().Set("Content-Type", "application/json")
	return writeJSON(w, anthropic.TokenCount{InputTokens: n})
}
