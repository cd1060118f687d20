// Package upstream holds what every provider's HTTP client shares: a
// transport tuned for a gateway, Retry-After parsing, and the mapping of
// transport failures and unreadable answers to switchboard error codes.
// Providers import it instead of each other.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// NewTransport returns an HTTP transport tuned for a gateway: many kept-alive
// connections per upstream, and the connect and first-byte timeouts applied.
func NewTransport(t switchboard.Timeouts, maxConns int) *http.Transport {
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	idle := maxConns
	if idle == 0 {
		idle = 1024
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
		MaxConnsPerHost:       maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.FirstByte,
		ExpectContinueTimeout: time.Second,
	}
}

// RetryAfter parses a retry-after (seconds or HTTP date) or OpenAI's
// retry-after-ms header; 0 when absent.
func RetryAfter(h http.Header) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		var ms float64
		if _, err := fmt.Sscanf(v, "%g", &ms); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("retry-after")
	if v == "" {
		return 0
	}
	var s float64
	if _, err := fmt.Sscanf(v, "%g", &s); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// TransportError maps a failed round trip to an error code: the caller's
// deadline or a network timeout → timeout, the caller leaving → its context
// error, anything else → unavailable (retryable on another deployment).
// who names the upstream in the message ("upstream", "ollama").
func TransportError(ctx context.Context, err error, who string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return &switchboard.Error{Code: switchboard.CodeTimeout, Message: who + " did not answer in time", Err: err}
		}
		return ctxErr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: who + " did not answer in time", Err: err}
	}
	return &switchboard.Error{Code: switchboard.CodeUnavailable, Message: who + " is not reachable", Err: err}
}

// Malformed is the error for an answer that cannot be decoded: a 502 to the
// client, retryable on another deployment.
func Malformed(who string, err error) error {
	return &switchboard.Error{Code: switchboard.CodeUpstream, Message: who + " returned a malformed response", Err: err}
}
