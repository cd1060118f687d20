package fakeupstream

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard/provider/mock"
)

// The rate limits the fake reports in Anthropic's anthropic-ratelimit-* headers.
const anthropicRateLimitRequests = 4000

var (
	hdrAnthropicLimit     = []string{strconv.Itoa(anthropicRateLimitRequests)}
	hdrAnthropicRemaining = []string{strconv.Itoa(anthropicRateLimitRequests - 1)}
)

// anthropicHeaders sets the headers Anthropic sends with every response.
func anthropicHeaders(h http.Header, status int, retryAfter time.Duration) {
	h["Request-Id"] = []string{requestID()}
	h["Anthropic-Ratelimit-Requests-Limit"] = hdrAnthropicLimit
	reset := time.Now().UTC().Add(max(retryAfter, time.Second)).Truncate(time.Second).Format(time.RFC3339)
	h["Anthropic-Ratelimit-Requests-Reset"] = []string{reset}
	if status == http.StatusTooManyRequests {
		h["Anthropic-Ratelimit-Requests-Remaining"] = hdrZero
	} else {
		h["Anthropic-Ratelimit-Requests-Remaining"] = hdrAnthropicRemaining
	}
}

// decodeAnthropic reads and validates a Messages request as Anthropic does:
// the anthropic-version header, then model, messages and, unless counting
// tokens, max_tokens, then the fields and content blocks (checkAnthropic).
// It writes the 400 itself and reports false.
func (s *Server) decodeAnthropic(w http.ResponseWriter, r *http.Request, c *call, counting bool) (*anthropicRequest, mock.Options, bool) {
	fail := func(msg string) (*anthropicRequest, mock.Options, bool) {
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", msg, 0)
		return nil, mock.Options{}, false
	}
	if r.Header.Get("Anthropic-Version") == "" {
		return fail("anthropic-version: header is required")
	}
	var req anthropicRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		return fail("There was an error parsing the body of your request: it is not a valid JSON object with the fields of the Messages API")
	}
	switch {
	case req.Model == "":
		return fail("model: Field required")
	case req.Messages == nil:
		return fail("messages: Field required")
	case len(req.Messages) == 0:
		return fail("messages: at least one message is required")
	case !counting && req.MaxTokens == nil:
		return fail("max_tokens: Field required")
	case !counting && *req.MaxTokens < 1:
		return fail("max_tokens: Input should be greater than or equal to 1")
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fail("messages." + strconv.Itoa(i) + ".role: Input should be 'user' or 'assistant'")
		}
		if len(m.Content) == 0 {
			return fail("messages." + strconv.Itoa(i) + ".content: Field required")
		}
	}
	if msg := checkAnthropic(c.body, &req, counting); msg != "" {
		return fail(msg)
	}
	opts, err := mock.ParseOptions(req.Mock, r.Header)
	if err != nil {
		_ = s.writeVendorInvalid(w, c, anthropic, err)
		return nil, mock.Options{}, false
	}
	return &req, opts, true
}

// messages serves POST /v1/messages.
func (s *Server) messages(w http.ResponseWriter, r *http.Request, c *call) error {
	req, opts, ok := s.decodeAnthropic(w, r, c, false)
	if !ok {
		return nil
	}
	if done, err := s.prelude(w, r, c, anthropic, opts, req.Stream); done {
		return err
	}
	comp, err := mock.Generate("", req.chatRequest(), opts)
	if err != nil {
		return s.writeVendorInvalid(w, c, anthropic, err)
	}
	anthropicHeaders(w.Header(), http.StatusOK, 0)
	if req.Stream {
		return s.streamAnthropic(w, r, comp, opts)
	}
	return writeJSON(w, marshal(anthropicMessageOf(comp)), opts.Malformed)
}

// countTokens serves POST /v1/messages/count_tokens.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	req, opts, ok := s.decodeAnthropic(w, r, c, true)
	if !ok {
		return nil
	}
	if done, err := s.prelude(w, r, c, anthropic, opts, false); done {
		return err
	}
	anthropicHeaders(w.Header(), http.StatusOK, 0)
	n := mock.EstimatePromptTokens(req.chatRequest().Messages)
	return writeJSON(w, []byte(`{"input_tokens":`+strconv.Itoa(n)+`}`), opts.Malformed)
}

// anthropicMessageOf renders the completion's first choice as a message.
func anthropicMessageOf(comp *mock.Completion) anthropicResponse {
	o := &comp.Choices[0]
	m := anthropicResponse{
		ID:    messageID(comp),
		Type:  "message",
		Role:  "assistant",
		Model: comp.Model,
		Usage: anthropicUsage{InputTokens: comp.PromptTokens, OutputTokens: o.Tokens(), ServiceTier: "standard"},
	}
	stop := anthropicStopOf(o)
	m.StopReason, m.StopSequence = &stop.StopReason, stop.StopSequence
	if tc := o.ToolCall; tc != nil {
		input := json.RawMessage(tc.Arguments())
		if !json.Valid(input) { // cut short by max_tokens
			input = json.RawMessage("{}")
		}
		m.Content = []anthropicContent{{Type: "tool_use", ID: toolUseID(tc), Name: tc.Name, Input: input}}
	} else {
		m.Content = []anthropicContent{{Type: "text", Text: new(o.Text())}}
	}
	return m
}

// streamAnthropic sends the completion as Anthropic's event sequence:
// message_start, content_block_start, ping, content_block_delta…,
// content_block_stop, message_delta, message_stop.
func (s *Server) streamAnthropic(w http.ResponseWriter, r *http.Request, comp *mock.Completion, opts mock.Options) error {
	type event struct {
		name string
		data []byte
	}
	o := &comp.Choices[0]
	start := anthropicResponse{
		ID: messageID(comp), Type: "message", Role: "assistant", Model: comp.Model,
		Content: []anthropicContent{},
		Usage:   anthropicUsage{InputTokens: comp.PromptTokens, OutputTokens: 1, ServiceTier: "standard"},
	}
	events := make([]event, 0, o.Tokens()+6)
	events = append(events, event{"message_start", marshal(anthropicMessageStart{Type: "message_start", Message: start})})
	if tc := o.ToolCall; tc != nil {
		block := anthropicContent{Type: "tool_use", ID: toolUseID(tc), Name: tc.Name, Input: json.RawMessage("{}")}
		events = append(events,
			event{"content_block_start", marshal(anthropicBlockStart{Type: "content_block_start", ContentBlock: block})},
			event{"ping", anthropicPing})
		for _, p := range tc.Pieces {
			d := anthropicDelta{Type: "input_json_delta", PartialJSON: &p}
			events = append(events, event{"content_block_delta", marshal(anthropicBlockDelta{Type: "content_block_delta", Delta: d})})
		}
	} else {
		block := anthropicContent{Type: "text", Text: new("")}
		events = append(events,
			event{"content_block_start", marshal(anthropicBlockStart{Type: "content_block_start", ContentBlock: block})},
			event{"ping", anthropicPing})
		for _, p := range o.Pieces {
			d := anthropicDelta{Type: "text_delta", Text: &p}
			events = append(events, event{"content_block_delta", marshal(anthropicBlockDelta{Type: "content_block_delta", Delta: d})})
		}
	}
	events = append(events,
		event{"content_block_stop", marshal(anthropicBlockStop{Type: "content_block_stop"})},
		event{"message_delta", marshal(anthropicMessageDelta{
			Type:  "message_delta",
			Delta: anthropicStopOf(o),
			Usage: anthropicMessageDeltaUse{OutputTokens: o.Tokens()},
		})},
		event{"message_stop", marshal(anthropicType{Type: "message_stop"})})

	sw, err := startSSE(w)
	if err != nil {
		return err
	}
	ctx := r.Context()
	n := len(events)
	for i := 0; i <= n; i++ {
		if err := s.pace(ctx, i, n, opts); err != nil {
			return err
		}
		if i == n {
			return nil
		}
		data := events[i].data
		if opts.Malformed && i == mock.MalformedChunk {
			data = data[:len(data)/2]
		}
		if err := sw.send(events[i].name, data); err != nil {
			return err
		}
	}
	return nil
}

// messageID derives Anthropic's "msg_…" id from the completion id.
func messageID(comp *mock.Completion) string {
	return "msg_" + strings.TrimPrefix(comp.ID, "chatcmpl-")
}

// toolUseID derives Anthropic's "toolu_…" id from the tool call id.
func toolUseID(tc *mock.ToolCallOutput) string {
	return "toolu_" + strings.TrimPrefix(tc.ID, "call_")
}

// writeAnthropicError answers with Anthropic's error envelope.
func writeAnthropicError(w http.ResponseWriter, status int, typ, msg string, retryAfter time.Duration) {
	h := w.Header()
	anthropicHeaders(h, status, retryAfter)
	setRetryAfter(h, status, retryAfter)
	body := marshal(anthropicErrorBody{Type: "error", Error: anthropicError{Type: typ, Message: msg}, RequestID: h.Get("Request-Id")})
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// anthropicErrorType returns the error type Anthropic sends with status.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// anthropicStatusMessage is the message Anthropic sends with status.
func anthropicStatusMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "invalid x-api-key"
	case http.StatusForbidden:
		return "Your API key does not have permission to use the specified resource."
	case http.StatusNotFound:
		return "The requested resource could not be found."
	case http.StatusTooManyRequests:
		return "This request would exceed the rate limit for your organization of " + strconv.Itoa(anthropicRateLimitRequests) + " requests per minute."
	case 529:
		return "Overloaded"
	}
	if status >= 500 {
		return "Internal server error"
	}
	return "The mock upstream was asked to reject this request (mock status " + strconv.Itoa(status) + ")."
}
