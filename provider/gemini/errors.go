package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// upstreamError maps a Gemini error answer to a *switchboard.Error:
//
//	400 INVALID_ARGUMENT   → invalid_request (the message kept; a prompt over the
//	                         context window gets VendorCode context_length_exceeded)
//	400 API_KEY_INVALID,   → upstream_error 502: the gateway's key is wrong
//	401, 403
//	400 FAILED_PRECONDITION → upstream_error 502: this upstream cannot serve
//	                         (billing, region), another may
//	404                    → not_found
//	429 RESOURCE_EXHAUSTED → rate_limited, retry delay from RetryInfo or retry-after
//	408, 504               → timeout
//	other 5xx              → unavailable
//
// The body is {"error": {"code", "message", "status", "details"}}, sometimes
// wrapped in an array.
func upstreamError(status int, h http.Header, body []byte) *switchboard.Error {
	env := parseError(body)
	msg := env.Error.Message
	if msg == "" {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = strings.ToValidUTF8(msg[:512], "")
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	e := &switchboard.Error{Status: status, Message: msg}
	var reason string
	var retry time.Duration
	for _, d := range env.Error.Details {
		switch {
		case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo"):
			reason = d.Reason
		case strings.HasSuffix(d.Type, "google.rpc.RetryInfo"):
			if v, err := time.ParseDuration(d.RetryDelay); err == nil && v > 0 {
				retry = v
			}
		}
	}
	if retry == 0 {
		retry = retryAfter(h)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || reason == "API_KEY_INVALID":
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
		e.Message = fmt.Sprintf("upstream rejected the gateway's credentials (%d): %s", status, msg)
		e.Type, e.VendorCode = "upstream_error", "upstream_auth_failed"
	case env.Error.Status == "FAILED_PRECONDITION":
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
		e.Message = "upstream cannot serve this request: " + msg
		e.Type, e.VendorCode = "upstream_error", "upstream_precondition_failed"
	case status == http.StatusTooManyRequests:
		e.Code, e.RetryAfter = switchboard.CodeRateLimited, retry
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		e.Code = switchboard.CodeTimeout
	case status == http.StatusNotFound:
		e.Code = switchboard.CodeNotFound
	case status == http.StatusRequestEntityTooLarge:
		e.Code = switchboard.CodeTooLarge
	case status >= 500:
		e.Code, e.RetryAfter = switchboard.CodeUnavailable, retry
	case status >= 400:
		e.Code = switchboard.CodeInvalidRequest
		e.Type = "invalid_request_error"
		if strings.Contains(msg, "exceeds the maximum number of tokens") {
			e.VendorCode = "context_length_exceeded"
		}
	default:
		e.Code, e.Status = switchboard.CodeUpstream, http.StatusBadGateway
	}
	return e
}

// parseError decodes Google's error envelope, alone or as the first
// element of an array; the zero value when body is neither.
func parseError(body []byte) errorBody {
	var env errorBody
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		var arr []errorBody
		if json.Unmarshal(b, &arr) == nil && len(arr) > 0 {
			env = arr[0]
		}
		return env
	}
	_ = json.Unmarshal(b, &env)
	return env
}

// retryAfter parses a retry-after header (seconds or an HTTP date); 0 when absent.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
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

// transportError maps a failed round trip to an error code.
