package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// StatusOverloaded is the non-standard status Anthropic answers with when it
// is overloaded (error type overloaded_error).
const StatusOverloaded = 529

// VendorCodeContextLength is the VendorCode of a request too long for the
// model's context window, as OpenAI names it; the router falls back on it.
const VendorCodeContextLength = "context_length_exceeded"

// The Anthropic error types.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypeBilling        = "billing_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeTooLarge       = "request_too_large"
	TypeRateLimit      = "rate_limit_error"
	TypeAPI            = "api_error"
	TypeTimeout        = "timeout_error"
	TypeOverloaded     = "overloaded_error"
)

// IsErrorType reports whether typ is one of Anthropic's error types.
func IsErrorType(typ string) bool {
	switch typ {
	case TypeInvalidRequest, TypeAuthentication, TypeBilling, TypePermission, TypeNotFound,
		TypeTooLarge, TypeRateLimit, TypeAPI, TypeTimeout, TypeOverloaded:
		return true
	}
	return false
}

// UpstreamError maps an Anthropic non-2xx answer to a *switchboard.Error
// that keeps the upstream's message and error type:
//
//	400 invalid_request_error → invalid_request (status 400); "prompt is too
//	    long" and context-limit messages get VendorCode context_length_exceeded
//	401/403                   → upstream_error, status 502 (our key is wrong)
//	404                       → not_found
//	413                       → request_too_large
//	429 rate_limit_error      → rate_limited, with Retry-After
//	408/504                   → timeout
//	500 api_error, other 5xx  → unavailable (status kept)
//	529 overloaded_error      → unavailable with status 503: 529 is not a
//	    status HTTP clients and proxies know; Type stays overloaded_error, so
//	    the inbound Anthropic endpoint answers 529 again
//
// Other 4xx are invalid_request.
func UpstreamError(status int, h http.Header, body []byte) *switchboard.Error {
	var env ErrorBody
	e := &switchboard.Error{Status: status}
	msg := ""
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		msg, e.Type = env.Error.Message, env.Error.Type
	} else {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512]
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		if msg == "" {
			msg = "upstream answered " + strconv.Itoa(status)
		}
	}
	e.Message = msg
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
		e.Message = fmt.Sprintf("upstream rejected the gateway's credentials (%d): %s", status, msg)
		e.Type, e.VendorCode = "upstream_error", "upstream_auth_failed"
	case status == http.StatusTooManyRequests:
		e.Code = switchboard.CodeRateLimited
		e.RetryAfter = retryAfter(h)
	case status == StatusOverloaded:
		e.Code, e.Status = switchboard.CodeUnavailable, http.StatusServiceUnavailable
		e.VendorCode = "overloaded"
		if e.Type == "" {
			e.Type = TypeOverloaded
		}
		e.RetryAfter = retryAfter(h)
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		e.Code = switchboard.CodeTimeout
	case status == http.StatusNotFound:
		e.Code = switchboard.CodeNotFound
	case status == http.StatusRequestEntityTooLarge:
		e.Code = switchboard.CodeTooLarge
	case status >= 500:
		e.Code = switchboard.CodeUnavailable
		e.RetryAfter = retryAfter(h)
	case status >= 400:
		e.Code = switchboard.CodeInvalidRequest
		if isContextLength(msg) {
			e.VendorCode = VendorCodeContextLength
		}
	default:
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
	}
	return e
}

// isContextLength reports whether an invalid_request_error message says the
// prompt does not fit the model's context window. Anthropic has no error
// code for it; these are its messages ("prompt is too long: 210000 tokens >
// 200000 maximum", "input length and `max_tokens` exceed context limit: …").
func isContextLength(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "prompt is too long") || strings.Contains(m, "exceed context limit") ||
		strings.Contains(m, "context window")
}

// statusOfType is the HTTP status Anthropic sends with an error type.
func statusOfType(typ string) int {
	switch typ {
	case TypeInvalidRequest:
		return http.StatusBadRequest
	case TypeAuthentication:
		return http.StatusUnauthorized
	case TypeBilling, TypePermission:
		return http.StatusForbidden
	case TypeNotFound:
		return http.StatusNotFound
	case TypeTooLarge:
		return http.StatusRequestEntityTooLarge
	case TypeRateLimit:
		return http.StatusTooManyRequests
	case TypeTimeout:
		return http.StatusGatewayTimeout
	case TypeOverloaded:
		return StatusOverloaded
	}
	return http.StatusInternalServerError
}

// StreamError maps the data of an in-stream error event to the
// *switchboard.Error the same error would have been as a response status.
func StreamError(data []byte) *switchboard.Error {
	var env ErrorBody
	if json.Unmarshal(data, &env) != nil || env.Error.Message == "" {
		return &switchboard.Error{Code: switchboard.CodeUpstream, Message: "upstream stream failed with an unreadable error event"}
	}
	return UpstreamError(statusOfType(env.Error.Type), nil, data)
}

// ErrorJSON returns Anthropic's error envelope for typ and msg.
func ErrorJSON(typ, msg, requestID string) []byte {
	b, _ := marshal(ErrorBody{Type: "error", Error: ErrorDetail{Type: typ, Message: msg}, RequestID: requestID})
	return b
}

// retryAfter parses a retry-after header (seconds or an HTTP date); 0 when
// absent.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < 1e6 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
