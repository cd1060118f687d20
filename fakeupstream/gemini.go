package fakeupstream

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/provider/mock"
)

// The Gemini API (generativelanguage.googleapis.com): generateContent,
// streamGenerateContent (SSE with alt=sse, else a streamed JSON array),
// countTokens, embedContent, batchEmbedContents and the model list. A call
// needs a key (x-goog-api-key or ?key=): none is a 403 PERMISSION_DENIED; a
// wrong one, when the server requires a key, a 400 API_KEY_INVALID.

var hdrGeminiJSON = []string{"application/json; charset=UTF-8"}

// geminiRoutes registers the Gemini API routes on mux: model calls under
// /v1beta and /v1, the model list under /v1beta.
func (s *Server) geminiRoutes(mux *http.ServeMux) {
	mux.Handle("POST /v1beta/models/{call}", s.route(s.geminiCall))
	mux.Handle("POST /v1/models/{call}", s.route(s.geminiCall))
	mux.Handle("GET /v1beta/models", s.route(s.geminiModels))
	mux.Handle("GET /v1beta/models/{model}", s.route(s.geminiModel))
}

// geminiCall serves POST /{version}/models/{model}:{method}.
func (s *Server) geminiCall(w http.ResponseWriter, r *http.Request, c *call) error {
	call := r.PathValue("call")
	i := strings.LastIndexByte(call, ':')
	if i <= 0 {
		writeGeminiError(w, http.StatusNotFound, "Requested entity was not found.", nil)
		return nil
	}
	model, method := call[:i], call[i+1:]
	if !s.geminiAuthorized(w, r) {
		return nil
	}
	switch method {
	case "generateContent":
		return s.geminiGenerate(w, r, c, model, false)
	case "streamGenerateContent":
		return s.geminiGenerate(w, r, c, model, true)
	case "countTokens":
		return s.geminiCountTokens(w, r, c, model)
	case "embedContent":
		return s.geminiEmbed(w, r, c, model, false)
	case "batchEmbedContents":
		return s.geminiEmbed(w, r, c, model, true)
	}
	writeGeminiError(w, http.StatusNotFound, "Method not found.", nil)
	return nil
}

// geminiAuthorized checks the API key as Gemini does, answering when it fails.
func (s *Server) geminiAuthorized(w http.ResponseWriter, r *http.Request) bool {
	key := r.Header.Get("X-Goog-Api-Key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch {
	case key == "":
		writeGeminiError(w, http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", nil)
		return false
	case s.opts.RequireKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.RequireKey)) != 1:
		writeGeminiError(w, http.StatusBadRequest, "API key not valid. Please pass a valid API key.", []map[string]any{{
			"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": map[string]string{"service": "generativelanguage.googleapis.com"},
		}})
		return false
	}
	return true
}

// decodeGemini strictly decodes a request body, returning the message of
// Gemini's 400 when it fails.
func decodeGemini(body []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return "Invalid JSON payload received. Unknown name " + name + ": Cannot find field."
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Sprintf("Invalid JSON payload received. Invalid value at '%s': expected %s, got %s.", te.Field, te.Type, te.Value)
		}
		return "Invalid JSON payload received. Unexpected token."
	}
	if dec.More() {
		return "Invalid JSON payload received. Unexpected token."
	}
	return ""
}

// geminiPrelude is prelude with Gemini's error bodies.
func (s *Server) geminiPrelude(w http.ResponseWriter, r *http.Request, c *call, opts mock.Options, stream bool) (bool, error) {
	if err := sleep(r.Context(), opts.LatencyOr(s.opts.Latency)); err != nil {
		return true, err
	}
	if opts.Status >= 400 {
		writeGeminiStatus(w, opts.Status, opts.RetryAfter)
		return true, nil
	}
	rest := opts
	rest.Latency, rest.Status = new(time.Duration(0)), 0
	return s.prelude(w, r, c, openAI, rest, stream)
}

// geminiGenerate serves :generateContent and :streamGenerateContent.
func (s *Server) geminiGenerate(w http.ResponseWriter, r *http.Request, c *call, model string, stream bool) error {
	var req geminiRequest
	msg := decodeGemini(c.body, &req)
	if msg == "" {
		msg = req.check()
	}
	if msg != "" {
		writeGeminiError(w, http.StatusBadRequest, msg, nil)
		return nil
	}
	opts, err := mock.ParseOptions(req.Mock, r.Header)
	if err != nil {
		writeGeminiInvalid(w, err)
		return nil
	}
	if done, err := s.geminiPrelude(w, r, c, opts, stream); done {
		return err
	}
	comp, err := mock.Generate("", req.chatRequest(model), opts)
	if err != nil {
		writeGeminiInvalid(w, err)
		return nil
	}
	if stream {
		return s.streamGemini(w, r, comp, opts, r.URL.Query().Get("alt") == "sse")
	}
	return writeJSON(w, marshal(geminiResponseOf(comp)), opts.Malformed)
}

// geminiResponseOf renders the completion as a GenerateContentResponse.
func geminiResponseOf(comp *mock.Completion) geminiResponse {
	resp := geminiResponse{
		ModelVersion:  comp.Model,
		ResponseID:    strings.TrimPrefix(comp.ID, "chatcmpl-"),
		UsageMetadata: geminiUsageOf(comp, comp.CompletionTokens()),
	}
	for i := range comp.Choices {
		o := &comp.Choices[i]
		var parts []geminiPart
		if o.ToolCall != nil {
			parts = []geminiPart{geminiCallPart(o.ToolCall)}
		} else {
			parts = []geminiPart{{Text: new(o.Text())}}
		}
		resp.Candidates = append(resp.Candidates, geminiCandidate{
			Content:      geminiContent{Role: "model", Parts: parts},
			FinishReason: geminiFinish(o.FinishReason),
			Index:        i,
		})
	}
	return resp
}

// geminiCallPart is a function call part with its thought signature, as
// Gemini 3 models send them. Arguments cut short by max_tokens become {}.
func geminiCallPart(tc *mock.ToolCallOutput) geminiPart {
	args := json.RawMessage(tc.Arguments())
	if !json.Valid(args) {
		args = json.RawMessage("{}")
	}
	sig := base64.StdEncoding.EncodeToString([]byte("mock-thought-signature:" + tc.ID))
	return geminiPart{FunctionCall: &geminiFunctionCall{Name: tc.Name, Args: args}, ThoughtSignature: sig}
}

// geminiUsageOf is the usage after done completion tokens.
func geminiUsageOf(comp *mock.Completion, done int) geminiUsage {
	return geminiUsage{
		PromptTokenCount:     comp.PromptTokens,
		CandidatesTokenCount: done,
		TotalTokenCount:      comp.PromptTokens + done,
		PromptTokensDetails:  []geminiModalityCount{{Modality: "TEXT", TokenCount: comp.PromptTokens}},
	}
}

// geminiEvents renders the completion as stream events: one per piece
// (a function call is one event), the last of each candidate with its
// finishReason, each with the usage so far.
func geminiEvents(comp *mock.Completion) [][]byte {
	steps := func(o *mock.Output) int {
		if o.ToolCall != nil || len(o.Pieces) == 0 {
			return 1
		}
		return len(o.Pieces)
	}
	longest := 1
	for i := range comp.Choices {
		longest = max(longest, steps(&comp.Choices[i]))
	}
	id := strings.TrimPrefix(comp.ID, "chatcmpl-")
	events := make([][]byte, 0, longest)
	for k := range longest {
		ev := geminiResponse{ModelVersion: comp.Model, ResponseID: id}
		done := 0
		for i := range comp.Choices {
			o := &comp.Choices[i]
			n := steps(o)
			if o.ToolCall != nil {
				done += o.Tokens()
			} else {
				done += min(k+1, len(o.Pieces))
			}
			if k >= n {
				continue
			}
			var p geminiPart
			switch {
			case o.ToolCall != nil:
				p = geminiCallPart(o.ToolCall)
			case len(o.Pieces) > 0:
				p = geminiPart{Text: &o.Pieces[k]}
			default:
				p = geminiPart{Text: new("")}
			}
			cand := geminiCandidate{Content: geminiContent{Role: "model", Parts: []geminiPart{p}}, Index: i}
			if k == n-1 {
				cand.FinishReason = geminiFinish(o.FinishReason)
			}
			ev.Candidates = append(ev.Candidates, cand)
		}
		ev.UsageMetadata = geminiUsageOf(comp, done)
		events = append(events, marshal(ev))
	}
	return events
}

// streamGemini sends the events as SSE ("data:" lines, no terminator), or,
// without alt=sse, as a JSON array written element by element.
func (s *Server) streamGemini(w http.ResponseWriter, r *http.Request, comp *mock.Completion, opts mock.Options, asSSE bool) error {
	events := geminiEvents(comp)
	ctx := r.Context()
	var sw *sseWriter
	var err error
	if asSSE {
		sw, err = startSSE(w)
	} else {
		w.Header()["Content-Type"] = hdrGeminiJSON
		w.WriteHeader(http.StatusOK)
		sw = &sseWriter{w: w, rc: http.NewResponseController(w)}
		err = sw.write([]byte("["))
	}
	if err != nil {
		return err
	}
	n := len(events)
	for i := 0; i <= n; i++ {
		if err := s.pace(ctx, i, n, opts); err != nil {
			return err
		}
		if i == n {
			if asSSE {
				return nil
			}
			return sw.write([]byte("]"))
		}
		data := events[i]
		if opts.Malformed && i == mock.MalformedChunk {
			data = data[:len(data)/2]
		}
		if asSSE {
			err = sw.send("", data)
		} else {
			if i > 0 {
				data = append([]byte(",\r\n"), data...)
			}
			err = sw.write(data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// geminiCountTokens serves :countTokens.
func (s *Server) geminiCountTokens(w http.ResponseWriter, r *http.Request, c *call, model string) error {
	var body struct {
		Contents               []geminiContent `json:"contents"`
		GenerateContentRequest *geminiRequest  `json:"generateContentRequest"`
		Mock                   json.RawMessage `json:"mock"`
	}
	if msg := decodeGemini(c.body, &body); msg != "" {
		writeGeminiError(w, http.StatusBadRequest, msg, nil)
		return nil
	}
	req := body.GenerateContentRequest
	if req == nil {
		req = &geminiRequest{Contents: body.Contents}
	}
	if msg := req.check(); msg != "" {
		writeGeminiError(w, http.StatusBadRequest, msg, nil)
		return nil
	}
	opts, err := mock.ParseOptions(body.Mock, r.Header)
	if err != nil {
		writeGeminiInvalid(w, err)
		return nil
	}
	if done, err := s.geminiPrelude(w, r, c, opts, false); done {
		return err
	}
	n := mock.EstimatePromptTokens(req.chatRequest(model).Messages)
	return writeJSON(w, marshal(map[string]any{"totalTokens": n, "promptTokensDetails": []geminiModalityCount{{Modality: "TEXT", TokenCount: n}}}), opts.Malformed)
}

// geminiEmbed serves :embedContent and :batchEmbedContents with the mock's vectors.
func (s *Server) geminiEmbed(w http.ResponseWriter, r *http.Request, c *call, model string, batch bool) error {
	fail := func(msg string) error {
		writeGeminiError(w, http.StatusBadRequest, msg, nil)
		return nil
	}
	var reqs []geminiEmbedRequest
	var mockRaw json.RawMessage
	if batch {
		var b geminiEmbedBatch
		if msg := decodeGemini(c.body, &b); msg != "" {
			return fail(msg)
		}
		switch {
		case len(b.Requests) == 0:
			return fail("* BatchEmbedContentsRequest.requests: requests must not be empty.\n")
		case len(b.Requests) > 100:
			return fail("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n")
		}
		reqs, mockRaw = b.Requests, b.Mock
	} else {
		var one geminiEmbedRequest
		if msg := decodeGemini(c.body, &one); msg != "" {
			return fail(msg)
		}
		if one.Model == "" {
			one.Model = "models/" + model
		}
		reqs, mockRaw = []geminiEmbedRequest{one}, one.Mock
	}
	vectors := make([]geminiValues, len(reqs))
	for i, er := range reqs {
		at := "* BatchEmbedContentsRequest.requests[" + strconv.Itoa(i) + "]"
		if !batch {
			at = "* EmbedContentRequest"
		}
		text, has := "", false
		if er.Content != nil {
			text, has = geminiText(er.Content.Parts)
		}
		dims := mock.DefaultDimensions
		switch {
		case er.Model != "models/"+model:
			return fail(at + ".model: the model of each request must be the model of the URL (models/" + model + ")\n")
		case !has:
			return fail(at + ".content: contents must have a text part\n")
		case er.OutputDimensionality != nil && (*er.OutputDimensionality < 1 || *er.OutputDimensionality > mock.MaxDimensions):
			return fail(at + ".output_dimensionality: must be between 1 and " + strconv.Itoa(mock.MaxDimensions) + "\n")
		case er.OutputDimensionality != nil:
			dims = *er.OutputDimensionality
		}
		vectors[i] = geminiValues{Values: mock.Vector(text, dims)}
	}
	opts, err := mock.ParseOptions(mockRaw, r.Header)
	if err != nil {
		writeGeminiInvalid(w, err)
		return nil
	}
	if done, err := s.geminiPrelude(w, r, c, opts, false); done {
		return err
	}
	if batch {
		return writeJSON(w, marshal(map[string]any{"embeddings": vectors}), opts.Malformed)
	}
	return writeJSON(w, marshal(map[string]any{"embedding": vectors[0]}), opts.Malformed)
}

// geminiModelOf describes a mock model as Gemini lists it.
func geminiModelOf(m switchboard.Model) geminiModel {
	return geminiModel{
		Name: "models/" + m.ID, Version: "001", DisplayName: m.ID,
		Description:      "Deterministic mock model of the Switchboard fake upstream.",
		InputTokenLimit:  1048576,
		OutputTokenLimit: 65536,
		SupportedGenerationMethods: []string{
			"generateContent", "countTokens", "embedContent", "batchEmbedContents",
		},
	}
}

// geminiModels serves GET /v1beta/models (one page: every model).
func (s *Server) geminiModels(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.geminiAuthorized(w, r) {
		return nil
	}
	opts, err := mock.ParseOptions(nil, r.Header)
	if err != nil {
		writeGeminiInvalid(w, err)
		return nil
	}
	if done, err := s.geminiPrelude(w, r, c, opts, false); done {
		return err
	}
	var list struct {
		Models []geminiModel `json:"models"`
	}
	for _, m := range mock.ModelList(nil) {
		list.Models = append(list.Models, geminiModelOf(m))
	}
	return writeJSON(w, marshal(list), opts.Malformed)
}

// geminiModel serves GET /v1beta/models/{model}.
func (s *Server) geminiModel(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.geminiAuthorized(w, r) {
		return nil
	}
	opts, err := mock.ParseOptions(nil, r.Header)
	if err != nil {
		writeGeminiInvalid(w, err)
		return nil
	}
	if done, err := s.geminiPrelude(w, r, c, opts, false); done {
		return err
	}
	id := r.PathValue("model")
	for _, m := range mock.ModelList(nil) {
		if m.ID == id {
			return writeJSON(w, marshal(geminiModelOf(m)), opts.Malformed)
		}
	}
	writeGeminiError(w, http.StatusNotFound, "models/"+id+" is not found for API version v1beta, or is not supported for this method. Call ListModels to see the list of available models and their supported methods.", nil)
	return nil
}

// writeGeminiError answers with Google's error envelope, indented as Google sends it.
func writeGeminiError(w http.ResponseWriter, status int, msg string, details []map[string]any) {
	body, err := json.MarshalIndent(geminiErrorBody{Error: geminiError{Code: status, Message: msg, Status: geminiStatus(status), Details: details}}, "", "  ")
	if err != nil {
		body = []byte(`{"error":{"code":500,"message":"internal","status":"INTERNAL"}}`)
	}
	h := w.Header()
	h["Content-Type"] = hdrGeminiJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeGeminiInvalid answers a request the mock rejected with a 400.
func writeGeminiInvalid(w http.ResponseWriter, err error) {
	msg := "invalid request"
	var e *switchboard.Error
	if errors.As(err, &e) {
		msg = e.Message
		if e.Param != "" {
			msg = "* GenerateContentRequest." + e.Param + ": " + e.Message + "\n"
		}
	}
	writeGeminiError(w, http.StatusBadRequest, msg, nil)
}

// writeGeminiStatus answers with the error the status option asks for; a
// 429 carries RetryInfo when retry_after is set.
func writeGeminiStatus(w http.ResponseWriter, status int, retryAfter time.Duration) {
	var details []map[string]any
	msg := fmt.Sprintf("The mock upstream answered %d %s.", status, http.StatusText(status))
	switch status {
	case http.StatusBadRequest:
		msg = "The mock upstream was asked to reject this request (mock status 400)."
	case http.StatusUnauthorized:
		msg = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
	case http.StatusForbidden:
		msg = "The caller does not have permission"
	case http.StatusNotFound:
		msg = "Requested entity was not found."
	case http.StatusTooManyRequests:
		msg = "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
		details = []map[string]any{
			{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []map[string]string{{
				"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
				"quotaId":     "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
			}}},
			{"@type": "type.googleapis.com/google.rpc.Help", "links": []map[string]string{{
				"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
			}}},
		}
		if retryAfter > 0 {
			details = append(details, map[string]any{
				"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": strconv.FormatInt(int64(retryAfter/time.Second), 10) + "s",
			})
		}
	case http.StatusInternalServerError:
		msg = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	case http.StatusServiceUnavailable:
		msg = "The model is overloaded. Please try again later."
	case http.StatusGatewayTimeout:
		msg = "Deadline expired before operation could complete."
	}
	writeGeminiError(w, status, msg, details)
}
