package fakeupstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// This file fakes Ollama's native API
// (https://github.com/ollama/ollama/blob/main/docs/api.md): /api/chat with
// JSON or NDJSON streaming, /api/embed, /api/tags and /api/version, with
// Ollama's {"error":"…"} bodies. Model names may carry Ollama's ":latest"
// tag; "mock-tools:latest" acts as mock-tools.

// OllamaVersion is the version the fake's GET /api/version reports.
const OllamaVersion = "0.9.0"

// Header values of the Ollama fake.
var (
	hdrJSONUTF8 = []string{"application/json; charset=utf-8"}
	hdrNDJSON   = []string{"application/x-ndjson"}
)

// ollamaRoutes registers the Ollama routes on mux.
func (s *Server) ollamaRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/chat", s.route(s.ollamaChat))
	mux.Handle("POST /api/embed", s.route(s.ollamaEmbed))
	mux.Handle("GET /api/tags", s.route(s.ollamaTags))
	mux.Handle("GET /api/version", s.route(s.ollamaVersion))
}

type ollamaChatRequest struct {
	Model    string                     `json:"model"`
	Messages []ollamaMessage            `json:"messages"`
	Tools    []switchboard.ToolDef      `json:"tools"`
	Format   json.RawMessage            `json:"format"`
	Options  map[string]json.RawMessage `json:"options"`
	Stream   *bool                      `json:"stream"` // absent means true
	Mock     json.RawMessage            `json:"mock"`
}

type ollamaMessage struct {
	Role      string           `json:"role"`
	Content   string           `json:"content"`
	Images    [][]byte         `json:"images,omitempty"` // base64 in JSON, as Ollama decodes them
	ToolCalls []ollamaToolCall `json:"tool_calls,omitempty"`
	ToolName  string           `json:"tool_name,omitempty"`
}

type ollamaToolCall struct {
	Function ollamaFunction `json:"function"`
}

type ollamaFunction struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ollamaChatResponse is a non-streamed answer and each stream line, with
// Ollama's field order.
type ollamaChatResponse struct {
	Model              string           `json:"model"`
	CreatedAt          string           `json:"created_at"`
	Message            ollamaOutMessage `json:"message"`
	DoneReason         string           `json:"done_reason,omitempty"`
	Done               bool             `json:"done"`
	TotalDuration      int64            `json:"total_duration,omitempty"`
	LoadDuration       int64            `json:"load_duration,omitempty"`
	PromptEvalCount    int              `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64            `json:"prompt_eval_duration,omitempty"`
	EvalCount          int              `json:"eval_count,omitempty"`
	EvalDuration       int64            `json:"eval_duration,omitempty"`
}

type ollamaOutMessage struct {
	Role      string           `json:"role"`
	Content   string           `json:"content"`
	ToolCalls []ollamaToolCall `json:"tool_calls,omitempty"`
}

type ollamaEmbedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Truncate   *bool           `json:"truncate"`
	Dimensions *int            `json:"dimensions"`
	Mock       json.RawMessage `json:"mock"`
}

type ollamaEmbedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration"`
	LoadDuration    int64       `json:"load_duration"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

type ollamaTag struct {
	Name       string             `json:"name"`
	Model      string             `json:"model"`
	ModifiedAt string             `json:"modified_at"`
	Size       int64              `json:"size"`
	Digest     string             `json:"digest"`
	Details    ollamaModelDetails `json:"details"`
}

type ollamaModelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// ollamaChat serves POST /api/chat.
func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request, c *call) error {
	var req ollamaChatRequest
	if len(bytes.TrimSpace(c.body)) == 0 {
		writeOllamaError(w, http.StatusBadRequest, "missing request body", 0)
		return nil
	}
	if err := json.Unmarshal(c.body, &req); err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error(), 0)
		return nil
	}
	if req.Model == "" {
		writeOllamaError(w, http.StatusBadRequest, "model is required", 0)
		return nil
	}
	chat, err := req.chatRequest()
	if err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error(), 0)
		return nil
	}
	opts, err := mock.ParseOptions(req.Mock, r.Header)
	if err != nil {
		writeOllamaError(w, http.StatusBadRequest, errMessage(err), 0)
		return nil
	}
	stream := req.Stream == nil || *req.Stream
	if done, err := s.nativePrelude(w, r, opts, stream, func(status int, retryAfter time.Duration) {
		writeOllamaError(w, status, ollamaStatusMessage(status, req.Model), retryAfter)
	}); done {
		return err
	}
	if len(req.Messages) == 0 {
		// No messages only loads the model: one object, streaming or not.
		return writeJSON(w, marshal(ollamaChatResponse{Model: req.Model, CreatedAt: ollamaTime(time.Now().Unix()),
			Message: ollamaOutMessage{Role: "assistant"}, DoneReason: "load", Done: true}), opts.Malformed)
	}
	comp, err := mock.Generate("", chat, opts)
	if err != nil {
		writeOllamaError(w, http.StatusBadRequest, errMessage(err), 0)
		return nil
	}
	comp.Model = req.Model
	if stream {
		return s.streamOllama(w, r, comp, opts)
	}
	return writeJSON(w, marshal(ollamaFinal(comp, ollamaMessageOf(&comp.Choices[0]))), opts.Malformed)
}

// chatRequest translates the request to the mock's OpenAI-shaped input.
func (o *ollamaChatRequest) chatRequest() (*switchboard.ChatRequest, error) {
	req := &switchboard.ChatRequest{Model: strings.TrimSuffix(o.Model, ":latest"), Tools: o.Tools}
	for _, m := range o.Messages {
		msg := switchboard.Message{Role: m.Role, Content: switchboard.TextContent(m.Content), Name: m.ToolName}
		for _, tc := range m.ToolCalls {
			args := bytes.TrimSpace(tc.Function.Arguments)
			if len(args) > 0 && args[0] != '{' && !bytes.Equal(args, []byte("null")) {
				return nil, fmt.Errorf("json: cannot unmarshal %s into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments", jsonKindOf(args))
			}
			msg.ToolCalls = append(msg.ToolCalls, switchboard.ToolCall{
				ID: "call_" + tc.Function.Name, Type: "function",
				Function: switchboard.FunctionCall{Name: tc.Function.Name, Arguments: string(args)},
			})
		}
		req.Messages = append(req.Messages, msg)
	}
	if v, ok := o.Options["num_predict"]; ok {
		var n int
		if json.Unmarshal(v, &n) != nil {
			return nil, fmt.Errorf("option %q must be of type integer", "num_predict")
		}
		if n > 0 {
			req.MaxTokens = &n
		}
	}
	switch f := bytes.TrimSpace(o.Format); {
	case len(f) == 0 || bytes.Equal(f, []byte(`""`)) || bytes.Equal(f, []byte("null")):
	case bytes.Equal(f, []byte(`"json"`)):
		req.ResponseFormat = json.RawMessage(`{"type":"json_object"}`)
	case f[0] == '{':
		req.ResponseFormat = json.RawMessage(`{"type":"json_schema","json_schema":{"name":"format","schema":` + string(f) + `}}`)
	default:
		return nil, fmt.Errorf("invalid format: %s; expected \"json\" or a valid JSON Schema", f)
	}
	return req, nil
}

// jsonKindOf names the kind of a JSON value for error messages.
func jsonKindOf(v []byte) string {
	switch v[0] {
	case '"':
		return "string"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// ollamaMessageOf renders a choice as Ollama's assistant message: tool-call
// arguments are an object ({} when max_tokens cut them short).
func ollamaMessageOf(o *mock.Output) ollamaOutMessage {
	m := ollamaOutMessage{Role: "assistant"}
	if tc := o.ToolCall; tc != nil {
		args := json.RawMessage(tc.Arguments())
		if !json.Valid(args) {
			args = json.RawMessage("{}")
		}
		m.ToolCalls = []ollamaToolCall{{Function: ollamaFunction{Name: tc.Name, Arguments: args}}}
		return m
	}
	m.Content = o.Text()
	return m
}

// ollamaFinal is the last object of an answer: done, with the counts and
// durations (deterministic: 0.2ms a prompt token, 10ms a generated one).
func ollamaFinal(comp *mock.Completion, msg ollamaOutMessage) ollamaChatResponse {
	o := &comp.Choices[0]
	reason := "stop"
	if o.FinishReason == mock.FinishLength {
		reason = "length"
	}
	prompt, eval := int64(comp.PromptTokens)*200_000, int64(o.Tokens())*10_000_000
	return ollamaChatResponse{
		Model: comp.Model, CreatedAt: ollamaTime(comp.Created), Message: msg, DoneReason: reason, Done: true,
		TotalDuration: 1_000_000 + prompt + eval, LoadDuration: 1_000_000,
		PromptEvalCount: comp.PromptTokens, PromptEvalDuration: prompt,
		EvalCount: o.Tokens(), EvalDuration: eval,
	}
}

// ollamaTime formats a Unix time as Ollama's created_at.
func ollamaTime(unix int64) string {
	return time.Unix(unix, 0).UTC().Format(time.RFC3339Nano)
}

// streamOllama sends the completion as NDJSON: one line per piece of text
// (or one line with the whole tool call), then the done line with counts.
func (s *Server) streamOllama(w http.ResponseWriter, r *http.Request, comp *mock.Completion, opts mock.Options) error {
	o := &comp.Choices[0]
	created := ollamaTime(comp.Created)
	var lines [][]byte
	if o.ToolCall != nil {
		lines = append(lines, marshal(ollamaChatResponse{Model: comp.Model, CreatedAt: created, Message: ollamaMessageOf(o)}))
	} else {
		for _, p := range o.Pieces {
			lines = append(lines, marshal(ollamaChatResponse{Model: comp.Model, CreatedAt: created,
				Message: ollamaOutMessage{Role: "assistant", Content: p}}))
		}
	}
	lines = append(lines, marshal(ollamaFinal(comp, ollamaOutMessage{Role: "assistant"})))
	return s.writeLines(w, r.Context(), lines, opts, hdrNDJSON, func(b []byte) []byte { return append(b, '\n') })
}

// writeLines sends a 200 with the content type, then each line framed by
// frame and flushed, paced and broken as opts ask.
func (s *Server) writeLines(w http.ResponseWriter, ctx context.Context, lines [][]byte, opts mock.Options, contentType []string, frame func([]byte) []byte) error {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Cache-Control"] = hdrNoCache
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return err
	}
	n := len(lines)
	for i := 0; i <= n; i++ {
		if err := s.pace(ctx, i, n, opts); err != nil {
			return err
		}
		if i == n {
			return nil
		}
		line := lines[i]
		if opts.Malformed && i == mock.MalformedChunk {
			line = line[:len(line)/2]
		}
		if _, err := w.Write(frame(line)); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// ollamaEmbed serves POST /api/embed.
func (s *Server) ollamaEmbed(w http.ResponseWriter, r *http.Request, c *call) error {
	var req ollamaEmbedRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error(), 0)
		return nil
	}
	if req.Model == "" {
		writeOllamaError(w, http.StatusBadRequest, "model is required", 0)
		return nil
	}
	var texts []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		texts = []string{one}
	} else if json.Unmarshal(req.Input, &texts) != nil {
		writeOllamaError(w, http.StatusBadRequest, "invalid input type", 0)
		return nil
	}
	opts, err := mock.ParseOptions(req.Mock, r.Header)
	if err != nil {
		writeOllamaError(w, http.StatusBadRequest, errMessage(err), 0)
		return nil
	}
	if done, err := s.nativePrelude(w, r, opts, false, func(status int, retryAfter time.Duration) {
		writeOllamaError(w, status, ollamaStatusMessage(status, req.Model), retryAfter)
	}); done {
		return err
	}
	out := ollamaEmbedResponse{Model: req.Model, Embeddings: [][]float32{}, LoadDuration: 1_000_000, TotalDuration: 2_000_000}
	if len(texts) > 0 {
		in, _ := json.Marshal(texts)
		resp, err := mock.Vectors(req.Model, &switchboard.EmbeddingRequest{Model: req.Model, Input: in, Dimensions: req.Dimensions})
		if err != nil {
			writeOllamaError(w, http.StatusBadRequest, errMessage(err), 0)
			return nil
		}
		for _, e := range resp.Data {
			out.Embeddings = append(out.Embeddings, e.Embedding)
		}
		out.PromptEvalCount = resp.Usage.PromptTokens
	}
	return writeJSON(w, marshal(out), opts.Malformed)
}

// ollamaTags serves GET /api/tags: the mock models, tagged :latest.
func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request, c *call) error {
	opts, err := mock.ParseOptions(nil, r.Header)
	if err != nil {
		writeOllamaError(w, http.StatusBadRequest, errMessage(err), 0)
		return nil
	}
	if done, err := s.nativePrelude(w, r, opts, false, func(status int, retryAfter time.Duration) {
		writeOllamaError(w, status, ollamaStatusMessage(status, ""), retryAfter)
	}); done {
		return err
	}
	var list struct {
		Models []ollamaTag `json:"models"`
	}
	for _, m := range mock.ModelList(nil) {
		name := m.ID + ":latest"
		sum := sha256.Sum256([]byte(name))
		list.Models = append(list.Models, ollamaTag{
			Name: name, Model: name, ModifiedAt: ollamaTime(m.Created), Size: 1 << 20, Digest: hex.EncodeToString(sum[:]),
			Details: ollamaModelDetails{Format: "gguf", Family: "mock", Families: []string{"mock"}, ParameterSize: "0B", QuantizationLevel: "F16"},
		})
	}
	return writeJSON(w, marshal(list), opts.Malformed)
}

// ollamaVersion serves GET /api/version.
func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request, c *call) error {
	opts, err := mock.ParseOptions(nil, r.Header)
	if err != nil {
		writeOllamaError(w, http.StatusBadRequest, errMessage(err), 0)
		return nil
	}
	if done, err := s.nativePrelude(w, r, opts, false, func(status int, retryAfter time.Duration) {
		writeOllamaError(w, status, ollamaStatusMessage(status, ""), retryAfter)
	}); done {
		return err
	}
	return writeJSON(w, []byte(`{"version":"`+OllamaVersion+`"}`), opts.Malformed)
}

// nativePrelude is prelude for the vendors whose error bodies write.go does
// not know (Ollama, Hugging Face): the latency wait, the status option
// answered by fail, and, for a request not streamed, stall_after and
// fail_after. done reports that the request is over.
func (s *Server) nativePrelude(w http.ResponseWriter, r *http.Request, opts mock.Options, stream bool, fail func(status int, retryAfter time.Duration)) (done bool, err error) {
	ctx := r.Context()
	if err := sleep(ctx, opts.LatencyOr(s.opts.Latency)); err != nil {
		return true, err
	}
	if opts.Status >= 400 {
		fail(opts.Status, opts.RetryAfter)
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

// errMessage is the client-safe message of a decoder or mock error.
func errMessage(err error) string {
	var e *switchboard.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// writeOllamaError answers with Ollama's error body.
func writeOllamaError(w http.ResponseWriter, status int, msg string, retryAfter time.Duration) {
	h := w.Header()
	setRetryAfter(h, status, retryAfter)
	body := marshal(errorString{Error: msg})
	h["Content-Type"] = hdrJSONUTF8
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errorString is the {"error":"…"} body Ollama sends.
type errorString struct {
	Error string `json:"error"`
}

// ollamaStatusMessage is the message Ollama (or a proxy in front) sends with status.
func ollamaStatusMessage(status int, model string) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return fmt.Sprintf("model %q not found, try pulling it first", model)
	case http.StatusTooManyRequests:
		return "too many requests"
	case http.StatusInternalServerError:
		return "llama runner process has terminated: exit status 2"
	case http.StatusServiceUnavailable:
		return "server busy, please try again.  maximum pending requests exceeded"
	}
	return fmt.Sprintf("mock upstream answered %d %s", status, http.StatusText(status))
}
