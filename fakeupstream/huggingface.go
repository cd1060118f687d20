package fakeupstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
	"github.com/switchboard-ai/switchboard/provider/mock"
)

// This file fakes the native Hugging Face inference servers: Text
// Generation Inference (POST /generate, POST /generate_stream, GET /info,
// https://huggingface.github.io/text-generation-inference/) and Text
// Embeddings Inference (POST /embed), with their {"error","error_type"}
// bodies and the Inference API's 503 {"error","estimated_time"} of a model
// still loading. The OpenAI-compatible Messages API TGI also serves is the
// OpenAI fake at /v1.
//
// The TGI fake serves one model, mock-echo: it echoes the last user turn of
// a ChatML prompt (the whole prompt when it has none). The mock options
// come from the body field "mock" or x-mock-* headers; "status" answers with
// the error an Inference Endpoint or the router would send.

// TGIModel is the model the TGI fake serves.
const TGIModel = mock.ModelEcho

// The token the TGI fake ends a generation with, as models do.
const tgiEOS = "</s>"

// huggingfaceRoutes registers the TGI and TEI routes on mux.
func (s *Server) huggingfaceRoutes(mux *http.ServeMux) {
	mux.Handle("POST /generate", s.route(s.tgiGenerate))
	mux.Handle("POST /generate_stream", s.route(s.tgiGenerateStream))
	mux.Handle("GET /info", s.route(s.tgiInfo))
	mux.Handle("POST /embed", s.route(s.teiEmbed))
}

type tgiRequest struct {
	Inputs     *string         `json:"inputs"`
	Parameters tgiParameters   `json:"parameters"`
	Mock       json.RawMessage `json:"mock"`
}

type tgiParameters struct {
	MaxNewTokens        *int        `json:"max_new_tokens"`
	Temperature         *float64    `json:"temperature"`
	TopP                *float64    `json:"top_p"`
	Seed                *uint64     `json:"seed"`
	Stop                []string    `json:"stop"`
	Details             bool        `json:"details"`
	DecoderInputDetails bool        `json:"decoder_input_details"`
	DoSample            bool        `json:"do_sample"`
	Grammar             *tgiGrammar `json:"grammar"`
}

type tgiGrammar struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// tgiToken is a generated token; PrefillToken has the same fields with a
// null logprob.
type tgiToken struct {
	ID      int      `json:"id"`
	Text    string   `json:"text"`
	Logprob *float64 `json:"logprob"`
	Special bool     `json:"special"`
}

type tgiPrefillToken struct {
	ID      int      `json:"id"`
	Text    string   `json:"text"`
	Logprob *float64 `json:"logprob"`
}

type tgiDetails struct {
	FinishReason    string            `json:"finish_reason"`
	GeneratedTokens int               `json:"generated_tokens"`
	Seed            *uint64           `json:"seed"`
	Prefill         []tgiPrefillToken `json:"prefill"`
	Tokens          []tgiToken        `json:"tokens"`
}

type tgiResponse struct {
	GeneratedText string      `json:"generated_text"`
	Details       *tgiDetails `json:"details,omitempty"`
}

type tgiStreamDetails struct {
	FinishReason    string  `json:"finish_reason"`
	GeneratedTokens int     `json:"generated_tokens"`
	Seed            *uint64 `json:"seed"`
	InputLength     int     `json:"input_length"`
}

type tgiStreamResponse struct {
	Index         int               `json:"index"`
	Token         tgiToken          `json:"token"`
	GeneratedText *string           `json:"generated_text"`
	Details       *tgiStreamDetails `json:"details"`
}

// hfError is the error body of TGI, TEI and the Inference API.
type hfError struct {
	Error         string   `json:"error"`
	ErrorType     string   `json:"error_type,omitempty"`
	EstimatedTime *float64 `json:"estimated_time,omitempty"`
}

var tgiLogprob = -0.25

// tgiGenerate serves POST /generate.
func (s *Server) tgiGenerate(w http.ResponseWriter, r *http.Request, c *call) error {
	req, opts, comp, err := s.tgiDecode(w, r, c, false)
	if req == nil {
		return err
	}
	o := &comp.Choices[0]
	tokens, finish := tgiTokens(o)
	out := tgiResponse{GeneratedText: o.Text()}
	if req.Parameters.Details {
		d := &tgiDetails{FinishReason: finish, GeneratedTokens: len(tokens), Seed: tgiSeed(req), Prefill: []tgiPrefillToken{}, Tokens: tokens}
		if req.Parameters.DecoderInputDetails {
			for i := range comp.PromptTokens {
				d.Prefill = append(d.Prefill, tgiPrefillToken{ID: 1 + i, Text: "▁"})
			}
		}
		out.Details = d
	}
	return writeJSON(w, marshal(out), opts.Malformed)
}

// tgiGenerateStream serves POST /generate_stream: one event per token, the
// last with generated_text and details. Like TGI, validation errors are
// sent inside a 200 stream.
func (s *Server) tgiGenerateStream(w http.ResponseWriter, r *http.Request, c *call) error {
	req, opts, comp, err := s.tgiDecode(w, r, c, true)
	if req == nil {
		return err
	}
	o := &comp.Choices[0]
	tokens, finish := tgiTokens(o)
	events := make([][]byte, len(tokens))
	for i, tok := range tokens {
		ev := tgiStreamResponse{Index: i + 1, Token: tok}
		if i == len(tokens)-1 {
			ev.GeneratedText = new(o.Text())
			ev.Details = &tgiStreamDetails{FinishReason: finish, GeneratedTokens: len(tokens), Seed: tgiSeed(req), InputLength: comp.PromptTokens}
		}
		events[i] = marshal(ev)
	}
	return s.writeLines(w, r.Context(), events, opts, hdrEventStream, tgiFrame)
}

// tgiFrame frames an event as TGI does: "data:" without a space.
func tgiFrame(data []byte) []byte {
	b := make([]byte, 0, len(data)+7)
	b = append(b, "data:"...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// tgiTokens returns the output's tokens and finish reason: the pieces, then
// the end-of-sequence token unless max_new_tokens cut the output.
func tgiTokens(o *mock.Output) ([]tgiToken, string) {
	tokens := make([]tgiToken, 0, len(o.Pieces)+1)
	for i, p := range o.Pieces {
		tokens = append(tokens, tgiToken{ID: 1000 + i, Text: p, Logprob: &tgiLogprob})
	}
	if o.FinishReason == mock.FinishLength {
		return tokens, "length"
	}
	return append(tokens, tgiToken{ID: 2, Text: tgiEOS, Logprob: &tgiLogprob, Special: true}), "eos_token"
}

// tgiSeed is the seed TGI reports: the request's when sampling, else none.
func tgiSeed(req *tgiRequest) *uint64 {
	if req.Parameters.DoSample {
		if req.Parameters.Seed != nil {
			return req.Parameters.Seed
		}
		return new(uint64(42))
	}
	return nil
}

// tgiDecode reads and validates a generate request as TGI does, runs the
// prelude and the mock. When it answered the request itself (an error, a
// stall) it returns a nil request, and the error that ended the answer.
func (s *Server) tgiDecode(w http.ResponseWriter, r *http.Request, c *call, stream bool) (*tgiRequest, mock.Options, *mock.Completion, error) {
	fail := func(status int, e hfError) (*tgiRequest, mock.Options, *mock.Completion, error) {
		writeHFError(w, status, e, 0)
		return nil, mock.Options{}, nil, nil
	}
	var req tgiRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		// axum's JSON rejection: plain text, 422.
		w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte("Failed to deserialize the JSON body into the target type: " + err.Error()))
		return nil, mock.Options{}, nil, nil
	}
	if req.Inputs == nil {
		w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte("Failed to deserialize the JSON body into the target type: missing field `inputs`"))
		return nil, mock.Options{}, nil, nil
	}
	if msg := tgiValidate(&req, stream); msg != "" {
		if stream {
			err := s.writeLines(w, r.Context(), [][]byte{marshal(hfError{Error: msg, ErrorType: "validation"})}, mock.Options{}, hdrEventStream, tgiFrame)
			return nil, mock.Options{}, nil, err
		}
		return fail(http.StatusUnprocessableEntity, hfError{Error: msg, ErrorType: "validation"})
	}
	opts, err := mock.ParseOptions(req.Mock, r.Header)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, hfError{Error: "Input validation error: " + errMessage(err), ErrorType: "validation"})
	}
	if done, err := s.nativePrelude(w, r, opts, stream, func(status int, retryAfter time.Duration) {
		writeHFError(w, status, hfStatusError(status, retryAfter), retryAfter)
	}); done {
		return nil, mock.Options{}, nil, err
	}
	chat := &switchboard.ChatRequest{
		Model:     TGIModel,
		Messages:  []switchboard.Message{{Role: "user", Content: switchboard.TextContent(lastUserTurn(*req.Inputs))}},
		MaxTokens: req.Parameters.MaxNewTokens,
	}
	if g := req.Parameters.Grammar; g != nil && g.Type == "json" {
		chat.ResponseFormat = json.RawMessage(`{"type":"json_schema","json_schema":{"name":"grammar","schema":` + string(g.Value) + `}}`)
	}
	comp, err := mock.Generate("", chat, opts)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, hfError{Error: "Input validation error: " + errMessage(err), ErrorType: "validation"})
	}
	return &req, opts, comp, nil
}

// tgiValidate returns TGI's message for a request it rejects, "" if none.
func tgiValidate(req *tgiRequest, stream bool) string {
	p := &req.Parameters
	switch {
	case *req.Inputs == "":
		return "Input validation error: `inputs` cannot be empty"
	case p.Temperature != nil && *p.Temperature <= 0:
		return "Input validation error: `temperature` must be strictly positive"
	case p.TopP != nil && (*p.TopP <= 0 || *p.TopP >= 1):
		return "Input validation error: `top_p` must be > 0.0 and < 1.0"
	case p.MaxNewTokens != nil && *p.MaxNewTokens <= 0:
		return "Input validation error: `max_new_tokens` must be strictly positive"
	case len(p.Stop) > 4:
		return fmt.Sprintf("Input validation error: `stop` supports up to 4 stop sequences. Given: %d", len(p.Stop))
	case stream && p.DecoderInputDetails:
		return "Input validation error: `decoder_input_details` == true is not supported when streaming tokens"
	case p.Grammar != nil && p.Grammar.Type != "json" && p.Grammar.Type != "regex":
		return "Input validation error: grammar type must be json or regex"
	}
	return ""
}

// lastUserTurn returns the text of the last user turn of a ChatML prompt,
// or the prompt itself when it has none.
func lastUserTurn(prompt string) string {
	const start, end = "<|im_start|>user\n", "<|im_end|>"
	i := strings.LastIndex(prompt, start)
	if i < 0 {
		return prompt
	}
	turn := prompt[i+len(start):]
	if j := strings.Index(turn, end); j >= 0 {
		turn = turn[:j]
	}
	return turn
}

// tgiInfo serves GET /info.
func (s *Server) tgiInfo(w http.ResponseWriter, r *http.Request, c *call) error {
	opts, err := mock.ParseOptions(nil, r.Header)
	if err != nil {
		writeHFError(w, http.StatusUnprocessableEntity, hfError{Error: errMessage(err), ErrorType: "validation"}, 0)
		return nil
	}
	if done, err := s.nativePrelude(w, r, opts, false, func(status int, retryAfter time.Duration) {
		writeHFError(w, status, hfStatusError(status, retryAfter), retryAfter)
	}); done {
		return err
	}
	info := map[string]any{
		"model_id": TGIModel, "model_sha": nil, "model_pipeline_tag": "text-generation",
		"max_concurrent_requests": 128, "max_best_of": 2, "max_stop_sequences": 4,
		"max_input_tokens": 4095, "max_total_tokens": 4096, "validation_workers": 2,
		"max_client_batch_size": 4, "router": "text-generation-router", "version": "2.4.1", "sha": nil, "docker_label": nil,
	}
	return writeJSON(w, marshal(info), opts.Malformed)
}

type teiRequest struct {
	Inputs     json.RawMessage `json:"inputs"`
	Truncate   *bool           `json:"truncate"`
	Normalize  *bool           `json:"normalize"`
	Dimensions *int            `json:"dimensions"`
	Mock       json.RawMessage `json:"mock"`
}

// teiEmbed serves TEI's POST /embed: an array of vectors, one per input
// (a string, strings, token ids or arrays of token ids).
func (s *Server) teiEmbed(w http.ResponseWriter, r *http.Request, c *call) error {
	var req teiRequest
	if err := json.Unmarshal(c.body, &req); err != nil || len(bytes.TrimSpace(req.Inputs)) == 0 {
		msg := "missing field `inputs`"
		if err != nil {
			msg = err.Error()
		}
		w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte("Failed to deserialize the JSON body into the target type: " + msg))
		return nil
	}
	emb := &switchboard.EmbeddingRequest{Model: TGIModel, Input: req.Inputs, Dimensions: req.Dimensions}
	if texts := emb.Texts(); len(texts) == 0 {
		writeHFError(w, http.StatusUnprocessableEntity, hfError{Error: "`inputs` cannot be empty", ErrorType: "Validation"}, 0)
		return nil
	}
	opts, err := mock.ParseOptions(req.Mock, r.Header)
	if err != nil {
		writeHFError(w, http.StatusUnprocessableEntity, hfError{Error: errMessage(err), ErrorType: "Validation"}, 0)
		return nil
	}
	if done, err := s.nativePrelude(w, r, opts, false, func(status int, retryAfter time.Duration) {
		writeHFError(w, status, hfStatusError(status, retryAfter), retryAfter)
	}); done {
		return err
	}
	resp, err := mock.Vectors("", emb)
	if err != nil {
		writeHFError(w, http.StatusUnprocessableEntity, hfError{Error: errMessage(err), ErrorType: "Validation"}, 0)
		return nil
	}
	vecs := make([][]float32, len(resp.Data))
	for i := range resp.Data {
		vecs[i] = resp.Data[i].Embedding
	}
	return writeJSON(w, marshal(vecs), opts.Malformed)
}

// writeHFError answers with a Hugging Face error body.
func writeHFError(w http.ResponseWriter, status int, e hfError, retryAfter time.Duration) {
	h := w.Header()
	setRetryAfter(h, status, retryAfter)
	body := marshal(e)
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// hfStatusError is the body Hugging Face sends with status. A 503 is a
// model loading, with estimated_time (the retry_after option, else 20s).
func hfStatusError(status int, retryAfter time.Duration) hfError {
	switch status {
	case http.StatusUnauthorized:
		return hfError{Error: "Invalid credentials in Authorization header"}
	case http.StatusForbidden:
		return hfError{Error: "You don't have access to this model"}
	case http.StatusNotFound:
		return hfError{Error: "Model " + TGIModel + " does not exist"}
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		return hfError{Error: fmt.Sprintf("Input validation error: the mock upstream was asked to reject this request (mock status %d)", status), ErrorType: "validation"}
	case http.StatusFailedDependency:
		return hfError{Error: "Request failed during generation: Server error: CUDA out of memory", ErrorType: "generation"}
	case http.StatusTooManyRequests:
		return hfError{Error: "Model is overloaded", ErrorType: "overloaded"}
	case http.StatusInternalServerError:
		return hfError{Error: "Incomplete generation", ErrorType: "incomplete_generation"}
	case http.StatusServiceUnavailable:
		est := 20.0
		if retryAfter > 0 {
			est = retryAfter.Seconds()
		}
		return hfError{Error: "Model " + TGIModel + " is currently loading", EstimatedTime: &est}
	}
	return hfError{Error: fmt.Sprintf("mock upstream answered %d %s", status, http.StatusText(status))}
}
