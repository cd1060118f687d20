package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// StatusClientClosed is the de facto status (nginx's 499) recorded when the
// client went away before the answer was complete.
const StatusClientClosed = 499

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[switchboard.ErrorCode]int{
	switchboard.CodeInvalidRequest:   http.StatusBadRequest,
	switchboard.CodeUnauthorized:     http.StatusUnauthorized,
	switchboard.CodeForbidden:        http.StatusForbidden,
	switchboard.CodeNotFound:         http.StatusNotFound,
	switchboard.CodeConflict:         http.StatusConflict,
	switchboard.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	switchboard.CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	switchboard.CodeRateLimited:      http.StatusTooManyRequests,
	switchboard.CodeCanceled:         StatusClientClosed,
	switchboard.CodeUpstream:         http.StatusBadGateway,
	switchboard.CodeUnavailable:      http.StatusServiceUnavailable,
	switchboard.CodeTimeout:          http.StatusGatewayTimeout,
	switchboard.CodeInternal:         http.StatusInternalServerError,
}

// openAIType is the OpenAI error "type" for each code.
var openAIType = map[switchboard.ErrorCode]string{
	switchboard.CodeInvalidRequest:   "invalid_request_error",
	switchboard.CodeUnauthorized:     "authentication_error",
	switchboard.CodeForbidden:        "permission_error",
	switchboard.CodeNotFound:         "invalid_request_error",
	switchboard.CodeConflict:         "invalid_request_error",
	switchboard.CodeTooLarge:         "invalid_request_error",
	switchboard.CodeUnsupportedMedia: "invalid_request_error",
	switchboard.CodeRateLimited:      "rate_limit_error",
	switchboard.CodeCanceled:         "request_canceled",
	switchboard.CodeUpstream:         "upstream_error",
	switchboard.CodeUnavailable:      "server_error",
	switchboard.CodeTimeout:          "timeout_error",
	switchboard.CodeInternal:         "server_error",
}

// errorBody is OpenAI's error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// toError returns the client-facing form of err: its *switchboard.Error, or
// an internal error that reveals nothing.
func toError(err error) *switchboard.Error {
	var e *switchboard.Error
	if errors.As(err, &e) {
		return e
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &switchboard.Error{Code: switchboard.CodeTooLarge, Message: "request body is larger than the limit of " + strconv.FormatInt(mbe.Limit, 10) + " bytes (server.max_body_bytes)"}
	}
	switch switchboard.ErrorCodeOf(err) {
	case switchboard.CodeCanceled:
		return &switchboard.Error{Code: switchboard.CodeCanceled, Message: "the client closed the request", Err: err}
	case switchboard.CodeTimeout:
		return &switchboard.Error{Code: switchboard.CodeTimeout, Message: "the request timed out", Err: err}
	}
	return &switchboard.Error{Code: switchboard.CodeInternal, Message: "internal server error", Err: err}
}

// httpStatus returns the HTTP status for e.
func httpStatus(e *switchboard.Error) int {
	if e.Status >= 400 && e.Status <= 599 {
		return e.Status
	}
	if s, ok := statusOf[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func errorJSON(e *switchboard.Error) []byte {
	d := errorDetail{Message: e.Message, Type: e.Type}
	if d.Type == "" {
		d.Type = openAIType[e.Code]
	}
	if e.Param != "" {
		p := e.Param
		d.Param = &p
	}
	code := e.VendorCode
	if code == "" {
		code = string(e.Code)
	}
	d.Code = &code
	b, _ := json.Marshal(errorBody{Error: d})
	return b
}

// writeError writes e as OpenAI's error envelope with its status.
func writeError(w http.ResponseWriter, e *switchboard.Error) int {
	status := httpStatus(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(errorJSON(e), '\n'))
	return status
}
