package fakeupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard/internal/sse"
	"github.com/switchboard-ai/switchboard/provider/mock"
)

// vendor is the API a request speaks, which decides the shape of errors.
type vendor uint8

const (
	openAI vendor = iota
	anthropic
)

// vendorOf tells the API from the path (and, for the models list both share,
// the anthropic-version header).
func vendorOf(r *http.Request) vendor {
	p := r.URL.Path
	if strings.HasPrefix(p, "/v1/messages") || strings.HasPrefix(p, "/v1/models") && r.Header.Get("Anthropic-Version") != "" {
		return anthropic
	}
	return openAI
}

// Header values that never change, shared to spare allocations. The server
// only reads header values, never modifies them.
var (
	hdrJSON        = []string{"application/json"}
	hdrEventStream = []string{"text/event-stream; charset=utf-8"}
	hdrNoCache     = []string{"no-cache"}
)

// writeError answers with an error in the request's vendor shape, with the
// type that goes with the status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, c *call, status int, msg string) {
	if vendorOf(r) == anthropic {
		writeAnthropicError(w, status, anthropicErrorType(status), msg, 0)
		return
	}
	typ, code := openAIErrorType(status)
	s.writeOpenAIError(w, c, status, typ, code, "", msg, 0)
}

// writeUnauthorized answers a request without the required key.
func (s *Server) writeUnauthorized(w http.ResponseWriter, r *http.Request, c *call) {
	if vendorOf(r) == anthropic {
		msg := "invalid x-api-key"
		if r.Header.Get("X-Api-Key") == "" && r.Header.Get("Authorization") == "" {
			msg = "x-api-key header is required"
		}
		writeAnthropicError(w, http.StatusUnauthorized, "authentication_error", msg, 0)
		return
	}
	if r.Header.Get("Authorization") == "" {
		s.writeOpenAIError(w, c, http.StatusUnauthorized, "invalid_request_error", "", "",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 0)
		return
	}
	s.writeOpenAIError(w, c, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "",
		"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", 0)
}

// writeStatus answers with the error the status option asks for.
func (s *Server) writeStatus(w http.ResponseWriter, c *call, v vendor, opts mock.Options) {
	st := opts.Status
	if v == anthropic {
		writeAnthropicError(w, st, anthropicErrorType(st), anthropicStatusMessage(st), opts.RetryAfter)
		return
	}
	typ, code := openAIErrorType(st)
	s.writeOpenAIError(w, c, st, typ, code, "", openAIStatusMessage(st, opts.RetryAfter), opts.RetryAfter)
}

// setRetryAfter sets retry-after (whole seconds, rounded up) on the statuses
// that carry it.
func setRetryAfter(h http.Header, status int, d time.Duration) {
	if d <= 0 || (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable && status != 529) {
		return
	}
	h["Retry-After"] = []string{strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)}
}

// prelude runs what every handler does before answering: the latency wait,
// the status option and, for a request not streamed, stall_after (no answer
// until the client goes away) and fail_after (the connection is cut). done
// reports that the request is over.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request, c *call, v vendor, opts mock.Options, stream bool) (done bool, err error) {
	ctx := r.Context()
	if err := sleep(ctx, opts.LatencyOr(s.opts.Latency)); err != nil {
		return true, err
	}
	if opts.Status >= 400 {
		s.writeStatus(w, c, v, opts)
		return true, nil
	}
	if !stream {
		if opts.StallAfter != nil {
			return true, s.stall(ctx)
		}
		if opts.FailAfter != nil {
			panic(http.ErrAbortHandler)
		}
	}
	return false, nil
}

// pace runs before stream event i of n (i == n: after the last): the
// chunk delay, then stall_after (wait for the client to go away) and
// fail_after (abort the connection).
func (s *Server) pace(ctx context.Context, i, n int, opts mock.Options) error {
	if i > 0 && i < n {
		if err := sleep(ctx, opts.ChunkDelay); err != nil {
			return err
		}
	}
	if opts.StallAfter != nil && i == *opts.StallAfter {
		return s.stall(ctx)
	}
	if opts.FailAfter != nil && i == *opts.FailAfter {
		panic(http.ErrAbortHandler)
	}
	return nil
}

// errStopped ends a stall when the server shuts down.
var errStopped = errors.New("fakeupstream: server shutting down")

// stall waits until the client goes away (ctx is done) or the server shuts
// down: a stalled response would never finish, so it need not be waited for.
func (s *Server) stall(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopped:
		return errStopped
	}
}

// stop releases every stall, now and later.
func (s *Server) stop() { s.stopOnce.Do(func() { close(s.stopped) }) }

// sleep waits for d or until ctx is done, returning ctx.Err() then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sseWriter writes Server-Sent Events, flushing after each.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
}

// startSSE sends the 200 and the event-stream headers (already set others
// stay), flushed so the client sees them before the first event.
func startSSE(w http.ResponseWriter) (*sseWriter, error) {
	h := w.Header()
	h["Content-Type"] = hdrEventStream
	h["Cache-Control"] = hdrNoCache
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 1024)}
	return sw, sw.rc.Flush()
}

// send writes one event; event "" has no event: line.
func (sw *sseWriter) send(event string, data []byte) error {
	sw.buf = sse.AppendEvent(sw.buf[:0], event, data)
	return sw.write(sw.buf)
}

// write writes framed bytes and flushes.
func (sw *sseWriter) write(b []byte) error {
	if _, err := sw.w.Write(b); err != nil {
		return err
	}
	return sw.rc.Flush()
}

// writeJSON sends a 200 JSON body, cut in half when malformed.
func writeJSON(w http.ResponseWriter, body []byte, malformed bool) error {
	if malformed {
		body = body[:len(body)/2]
	}
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// marshal encodes v as JSON without HTML escaping, as the vendors do.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only wire structs of this package are encoded; they always encode.
		return []byte("{}")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// requestID returns a vendor-style request id: "req_" and 24 hex digits.
func requestID() string {
	const hex = "0123456789abcdef"
	var b [28]byte
	copy(b[:], "req_")
	x, y := rand.Uint64(), rand.Uint64()
	for i := 4; i < 28; i++ {
		if i == 20 {
			x = y
		}
		b[i] = hex[x&0xf]
		x >>= 4
	}
	return string(b[:])
}
