package fakeupstream

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/internal/sse"
	"github.com/switchboard-ai/switchboard/provider/mock"
)

// The rate limits the fake reports in OpenAI's x-ratelimit-* headers.
const (
	rateLimitRequests = 10_000
	rateLimitTokens   = 30_000_000
)

var (
	hdrOpenAIVersion     = []string{"2020-10-01"}
	hdrLimitRequests     = []string{strconv.Itoa(rateLimitRequests)}
	hdrLimitTokens       = []string{strconv.Itoa(rateLimitTokens)}
	hdrRemainingRequests = []string{strconv.Itoa(rateLimitRequests - 1)}
	hdrZero              = []string{"0"}
	hdrResetRequests     = []string{"6ms"}
	hdrResetTokens       = []string{"0s"}
)

// openAIHeaders sets the headers OpenAI sends with every response: request
// id, processing time and the x-ratelimit-* family (exhausted on a 429).
func openAIHeaders(h http.Header, c *call, status int, retryAfter time.Duration, tokens int) {
	vals := make([]string, 3) // the per-response values, in one allocation
	vals[0], vals[1] = requestID(), strconv.FormatInt(time.Since(c.start).Milliseconds(), 10)
	h["X-Request-Id"] = vals[0:1:1]
	h["Openai-Version"] = hdrOpenAIVersion
	h["Openai-Processing-Ms"] = vals[1:2:2]
	h["X-Ratelimit-Limit-Requests"] = hdrLimitRequests
	h["X-Ratelimit-Limit-Tokens"] = hdrLimitTokens
	if status == http.StatusTooManyRequests {
		reset := []string{max(retryAfter, time.Second).String()}
		h["X-Ratelimit-Remaining-Requests"] = hdrZero
		h["X-Ratelimit-Remaining-Tokens"] = hdrZero
		h["X-Ratelimit-Reset-Requests"] = reset
		h["X-Ratelimit-Reset-Tokens"] = reset
		return
	}
	h["X-Ratelimit-Remaining-Requests"] = hdrRemainingRequests
	vals[2] = strconv.Itoa(rateLimitTokens - tokens)
	h["X-Ratelimit-Remaining-Tokens"] = vals[2:3:3]
	h["X-Ratelimit-Reset-Requests"] = hdrResetRequests
	h["X-Ratelimit-Reset-Tokens"] = hdrResetTokens
}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(w http.ResponseWriter, r *http.Request, c *call) error {
	req, err := switchboard.DecodeChatRequest(c.body)
	if err != nil {
		return s.writeInvalid(w, c, err)
	}
	opts, err := mock.ParseOptions(req.Extra["mock"], r.Header)
	if err != nil {
		return s.writeInvalid(w, c, err)
	}
	if done, err := s.prelude(w, r, c, openAI, opts, req.Stream); done {
		return err
	}
	comp, err := mock.Generate("", req, opts)
	if err != nil {
		return s.writeInvalid(w, c, err)
	}
	openAIHeaders(w.Header(), c, http.StatusOK, 0, comp.PromptTokens)
	if req.Stream {
		return s.streamOpenAI(w, r, comp.Chunks(req.WantsUsage()), opts)
	}
	size := 600
	for i := range comp.Choices {
		size += 200 + len(comp.Choices[i].Text())
	}
	return writeJSON(w, comp.AppendJSON(make([]byte, 0, size)), opts.Malformed)
}

// streamOpenAI sends the chunks as OpenAI does: one "data:" event per chunk,
// then "data: [DONE]".
func (s *Server) streamOpenAI(w http.ResponseWriter, r *http.Request, plan *mock.Chunks, opts mock.Options) error {
	sw, err := startSSE(w)
	if err != nil {
		return err
	}
	ctx := r.Context()
	data := make([]byte, 0, 512)
	n := plan.Len()
	for i := 0; i <= n; i++ {
		if err := s.pace(ctx, i, n, opts); err != nil {
			return err
		}
		if i == n {
			return sw.write(sse.Done)
		}
		data = plan.Append(data[:0], i)
		if opts.Malformed && i == mock.MalformedChunk {
			data = data[:len(data)/2]
		}
		if err := sw.send("", data); err != nil {
			return err
		}
	}
	return nil
}

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, c *call) error {
	req, err := switchboard.DecodeEmbeddingRequest(c.body)
	if err != nil {
		return s.writeInvalid(w, c, err)
	}
	opts, err := mock.ParseOptions(req.Extra["mock"], r.Header)
	if err != nil {
		return s.writeInvalid(w, c, err)
	}
	if done, err := s.prelude(w, r, c, openAI, opts, false); done {
		return err
	}
	resp, err := mock.Vectors("", req)
	if err != nil {
		return s.writeInvalid(w, c, err)
	}
	openAIHeaders(w.Header(), c, http.StatusOK, 0, resp.Usage.PromptTokens)
	b64 := req.EncodingFormat == "base64"
	body := mock.AppendEmbeddingJSON(make([]byte, 0, mock.EmbeddingJSONSize(resp, b64)), resp, b64)
	return writeJSON(w, body, opts.Malformed)
}

type openAIModelList struct {
	Object string              `json:"object"`
	Data   []switchboard.Model `json:"data"`
}

// models serves GET /v1/models, in Anthropic's shape when the request
// carries anthropic-version.
func (s *Server) models(w http.ResponseWriter, r *http.Request, c *call) error {
	v := vendorOf(r)
	opts, err := mock.ParseOptions(nil, r.Header)
	if err != nil {
		return s.writeVendorInvalid(w, c, v, err)
	}
	if done, err := s.prelude(w, r, c, v, opts, false); done {
		return err
	}
	models := mock.ModelList(nil)
	if v == anthropic {
		anthropicHeaders(w.Header(), http.StatusOK, 0)
		return writeJSON(w, marshal(anthropicModelList(models)), opts.Malformed)
	}
	openAIHeaders(w.Header(), c, http.StatusOK, 0, 0)
	return writeJSON(w, marshal(openAIModelList{Object: "list", Data: models}), opts.Malformed)
}

// model serves GET /v1/models/{model}.
func (s *Server) model(w http.ResponseWriter, r *http.Request, c *call) error {
	v := vendorOf(r)
	opts, err := mock.ParseOptions(nil, r.Header)
	if err != nil {
		return s.writeVendorInvalid(w, c, v, err)
	}
	if done, err := s.prelude(w, r, c, v, opts, false); done {
		return err
	}
	id := r.PathValue("model")
	for _, m := range mock.ModelList(nil) {
		if m.ID != id {
			continue
		}
		if v == anthropic {
			anthropicHeaders(w.Header(), http.StatusOK, 0)
			return writeJSON(w, marshal(anthropicModelList([]switchboard.Model{m}).Data[0]), opts.Malformed)
		}
		openAIHeaders(w.Header(), c, http.StatusOK, 0, 0)
		return writeJSON(w, marshal(m), opts.Malformed)
	}
	if v == anthropic {
		writeAnthropicError(w, http.StatusNotFound, "not_found_error", "model: "+id, 0)
		return nil
	}
	s.writeOpenAIError(w, c, http.StatusNotFound, "invalid_request_error", "model_not_found", "model",
		fmt.Sprintf("The model '%s' does not exist or you do not have access to it.", id), 0)
	return nil
}

// notFound answers any other route as the vendor does.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, c *call) error {
	if vendorOf(r) == anthropic {
		writeAnthropicError(w, http.StatusNotFound, "not_found_error", "Not Found", 0)
		return nil
	}
	s.writeOpenAIError(w, c, http.StatusNotFound, "invalid_request_error", "", "",
		fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), 0)
	return nil
}

// openAIErrorBody is OpenAI's error envelope.
type openAIErrorBody struct {
	Error openAIError `json:"error"`
}

type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeOpenAIError answers with OpenAI's error envelope and headers.
func (s *Server) writeOpenAIError(w http.ResponseWriter, c *call, status int, typ, code, param, msg string, retryAfter time.Duration) {
	h := w.Header()
	openAIHeaders(h, c, status, retryAfter, 0)
	setRetryAfter(h, status, retryAfter)
	body := marshal(openAIErrorBody{Error: openAIError{Message: msg, Type: typ, Param: nullable(param), Code: nullable(code)}})
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeInvalid answers a request the decoders or the mock rejected: a
// *switchboard.Error becomes a 400 naming its param.
func (s *Server) writeInvalid(w http.ResponseWriter, c *call, err error) error {
	return s.writeVendorInvalid(w, c, openAI, err)
}

func (s *Server) writeVendorInvalid(w http.ResponseWriter, c *call, v vendor, err error) error {
	msg, param := "invalid request", ""
	var e *switchboard.Error
	if errors.As(err, &e) {
		msg, param = e.Message, e.Param
	}
	if v == anthropic {
		if param != "" {
			msg = param + ": " + msg
		}
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", msg, 0)
		return nil
	}
	s.writeOpenAIError(w, c, http.StatusBadRequest, "invalid_request_error", "", param, msg, 0)
	return nil
}

// openAIErrorType returns the error type and code OpenAI sends with status.
func openAIErrorType(status int) (typ, code string) {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case status == http.StatusTooManyRequests:
		// OpenAI names the exhausted limit ("requests" or "tokens") as the type.
		return "requests", "rate_limit_exceeded"
	case status >= 500:
		return "server_error", ""
	}
	return "invalid_request_error", ""
}

// openAIStatusMessage is the message OpenAI sends with status.
func openAIStatusMessage(status int, retryAfter time.Duration) string {
	switch status {
	case http.StatusBadRequest:
		return "The mock upstream was asked to reject this request (mock status 400)."
	case http.StatusUnauthorized:
		return "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
	case http.StatusForbidden:
		return "You are not allowed to sample from this model."
	case http.StatusNotFound:
		return "The model does not exist or you do not have access to it."
	case http.StatusTooManyRequests:
		return fmt.Sprintf("Rate limit reached for mock models on requests per min (RPM): Limit %d, Used %d, Requested 1. Please try again in %s.",
			rateLimitRequests, rateLimitRequests, max(retryAfter, time.Second))
	case http.StatusInternalServerError:
		return "The server had an error while processing your request. Sorry about that!"
	case http.StatusServiceUnavailable:
		return "The server is overloaded or not ready yet."
	case http.StatusGatewayTimeout:
		return "Request timed out."
	}
	return fmt.Sprintf("The mock upstream answered %d %s.", status, http.StatusText(status))
}
