package switchboard

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrorCode classifies an error for clients. httpapi maps each code to an HTTP
// status in one table.
type ErrorCode string

// The error codes a client can see.
const (
	CodeInvalidRequest   ErrorCode = "invalid_request"
	CodeUnauthorized     ErrorCode = "unauthorized"
	CodeForbidden        ErrorCode = "forbidden"
	CodeNotFound         ErrorCode = "not_found"
	CodeConflict         ErrorCode = "conflict"
	CodeTooLarge         ErrorCode = "request_too_large"
	CodeUnsupportedMedia ErrorCode = "unsupported_media_type"
	CodeRateLimited      ErrorCode = "rate_limited"
	CodeCanceled         ErrorCode = "canceled"
	CodeUpstream         ErrorCode = "upstream_error"
	CodeUnavailable      ErrorCode = "unavailable"
	CodeTimeout          ErrorCode = "timeout"
	CodeInternal         ErrorCode = "internal"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrUnknownPlugin is returned by Registry.New for a name nobody registered.
	ErrUnknownPlugin = errors.New("unknown plugin")
	// ErrNotFound is returned by stores for a missing record.
	ErrNotFound = errors.New("not found")
	// ErrClosed is returned by components used after Close.
	ErrClosed = errors.New("closed")
)

// Error is an error the client must learn about. Anything else reaches the
// client as CodeInternal with a generic message.
type Error struct {
	// Code classifies the error; it decides the HTTP status.
	Code ErrorCode
	// Message is safe to show to the client. It never contains secrets.
	Message string
	// Param names the request field at fault, when there is one.
	Param string
	// Type overrides the OpenAI error "type" (for example an upstream's own
	// "insufficient_quota"); empty means derived from Code.
	Type string
	// VendorCode overrides the OpenAI error "code" field; empty means Code.
	VendorCode string
	// Status, when non-zero, is the HTTP status to use instead of the one
	// derived from Code (an upstream's own 4xx/5xx, preserved).
	Status int
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Err is the wrapped cause; it is logged, never sent.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam returns a CodeInvalidRequest error naming the field at fault.
func InvalidParam(param, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of err: the code of the first *Error in its
// chain, CodeCanceled or CodeTimeout for context errors, or CodeInternal.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	}
	return CodeInternal
}

// Retryable reports whether a request that failed with err may be sent again,
// to the same or another deployment: rate limits, unavailability, timeouts and
// transport-level upstream errors are; invalid requests and cancellations are not.
func Retryable(err error) bool {
	switch ErrorCodeOf(err) {
	case CodeRateLimited, CodeUnavailable, CodeTimeout, CodeUpstream:
		return true
	}
	return false
}
