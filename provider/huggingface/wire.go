package huggingface

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/switchboard-ai/switchboard"
)

// This file holds the native wire types of Text Generation Inference
// (https://huggingface.github.io/text-generation-inference/) and Text
// Embeddings Inference, and the translations between them and the gateway's
// OpenAI-shaped types. The messages API needs none: it is OpenAI's.

// generateRequest is the body of TGI's POST /generate and /generate_stream.
type generateRequest struct {
	Inputs     string             `json:"inputs"`
	Parameters generateParameters `json:"parameters"`
}

type generateParameters struct {
	MaxNewTokens   *int     `json:"max_new_tokens,omitempty"`
	Temperature    *float64 `json:"temperature,omitempty"`
	TopP           *float64 `json:"top_p,omitempty"`
	Seed           *int64   `json:"seed,omitempty"`
	Stop           []string `json:"stop,omitempty"`
	Grammar        *grammar `json:"grammar,omitempty"`
	Details        bool     `json:"details"`
	DoSample       bool     `json:"do_sample"`
	ReturnFullText bool     `json:"return_full_text"`
}

// grammar constrains the output: {"type":"json","value":<JSON schema>}.
type grammar struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// generateResponse is /generate's answer (some deployments wrap it in an array).
type generateResponse struct {
	GeneratedText *string          `json:"generated_text"`
	Details       *generateDetails `json:"details"`
}

// generateDetails are the details of a generation; a stream's last event
// carries them too, with input_length on TGI 2 and later.
type generateDetails struct {
	FinishReason    string            `json:"finish_reason"`
	GeneratedTokens int               `json:"generated_tokens"`
	Prefill         []json.RawMessage `json:"prefill"`
	InputLength     *int              `json:"input_length"`
}

// streamEvent is the data of one /generate_stream event, or an error
// reported after the stream began.
type streamEvent struct {
	Token *struct {
		Text    string `json:"text"`
		Special bool   `json:"special"`
	} `json:"token"`
	GeneratedText *string          `json:"generated_text"`
	Details       *generateDetails `json:"details"`
	Error         string           `json:"error"`
	ErrorType     string           `json:"error_type"`
}

// embedRequest is the body of TEI's POST /embed.
type embedRequest struct {
	Inputs     json.RawMessage `json:"inputs"`
	Truncate   *bool           `json:"truncate,omitempty"`
	Dimensions *int            `json:"dimensions,omitempty"`
}

// errorBody is the error body of TGI, TEI and the Inference API. error is
// a string, or (older Inference API) an array of strings.
type errorBody struct {
	Error         json.RawMessage `json:"error"`
	ErrorType     string          `json:"error_type"`
	EstimatedTime *float64        `json:"estimated_time"`
}

// DefaultChatTemplate is the chat_template used with api tgi when none is
// set: ChatML, which many instruction-tuned models on the Hub understand.
const DefaultChatTemplate = "{{range .Messages}}<|im_start|>{{.Role}}\n{{.Content}}<|im_end|>\n{{end}}<|im_start|>assistant\n"

// promptData is what a chat_template renders: .Messages, each with .Role
// (system, user or assistant) and .Content (the text).
type promptData struct {
	Messages []promptMessage
}

type promptMessage struct {
	Role    string
	Content string
}

// sampleConversation checks a template at construction, so a typo fails
// at start-up rather than on the first request.
var sampleConversation = promptData{Messages: []promptMessage{
	{Role: "system", Content: "You are helpful."}, {Role: "user", Content: "Hi"},
	{Role: "assistant", Content: "Hello!"}, {Role: "user", Content: "Bye"},
}}

// unsupported is the error for a feature TGI's native API lacks.
func unsupported(param, what string) error {
	return switchboard.InvalidParam(param, "huggingface api tgi does not support %s; use api: messages (TGI 1.4 or later, Inference Endpoints, the HF router)", what)
}

// toGenerate translates an OpenAI chat request to a TGI /generate body: the
// messages are rendered into one prompt with tmpl. Tools and images are
// invalid_request errors: the native API has no place for them.
func toGenerate(r *switchboard.ChatRequest, tmpl *template.Template) (*generateRequest, error) {
	if r.N != nil && *r.N != 1 {
		return nil, switchboard.InvalidParam("n", "huggingface api tgi returns one choice: 'n' must be 1, got %d", *r.N)
	}
	if len(r.Tools) > 0 {
		return nil, unsupported("tools", "tools")
	}
	data := promptData{Messages: make([]promptMessage, 0, len(r.Messages))}
	for i := range r.Messages {
		m := &r.Messages[i]
		p := "messages[" + strconv.Itoa(i) + "]"
		switch {
		case m.Role == "tool" || m.Role == "function":
			return nil, unsupported(p+".role", "tool results")
		case len(m.ToolCalls) > 0:
			return nil, unsupported(p+".tool_calls", "tool calls")
		}
		text, err := textOf(p, m.Content)
		if err != nil {
			return nil, err
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		data.Messages = append(data.Messages, promptMessage{Role: role, Content: text})
	}
	var prompt strings.Builder
	if err := tmpl.Execute(&prompt, data); err != nil {
		return nil, fmt.Errorf("huggingface: render chat_template: %w", err)
	}
	out := &generateRequest{Inputs: prompt.String(), Parameters: generateParameters{Details: true, DoSample: true}}
	p := &out.Parameters
	if n := r.MaxOutputTokens(); n > 0 {
		p.MaxNewTokens = &n
	}
	// TGI wants temperature > 0 and 0 < top_p < 1: temperature 0 means
	// greedy decoding, top_p 1 means no nucleus sampling.
	if t := r.Temperature; t != nil {
		if *t <= 0 {
			p.DoSample = false
		} else {
			p.Temperature = t
		}
	}
	if tp := r.TopP; tp != nil && *tp > 0 && *tp < 1 {
		p.TopP = tp
	}
	p.Seed = r.Seed
	if len(r.Stop) > 0 {
		var one string
		if json.Unmarshal(r.Stop, &one) == nil {
			p.Stop = []string{one}
		} else if json.Unmarshal(r.Stop, &p.Stop) != nil {
			return nil, switchboard.InvalidParam("stop", "'stop' must be a string or an array of strings")
		}
	}
	g, err := toGrammar(r.ResponseFormat)
	if err != nil {
		return nil, err
	}
	p.Grammar = g
	return out, nil
}

// textOf returns a message content's text; non-text parts are rejected.
func textOf(param string, c json.RawMessage) (string, error) {
	c = bytes.TrimSpace(c)
	if len(c) == 0 || c[0] == 'n' {
		return "", nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return "", switchboard.InvalidParam(param+".content", "'%s.content' is not a valid string", param)
		}
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(c, &parts); err != nil {
		return "", switchboard.InvalidParam(param+".content", "'%s.content' must be a string or an array of content parts", param)
	}
	var b strings.Builder
	for j, part := range parts {
		switch part.Type {
		case "text":
			b.WriteString(part.Text)
		case "refusal": // an earlier refusal carries nothing for the model
		case "image_url":
			return "", unsupported(param+".content["+strconv.Itoa(j)+"]", "images")
		default:
			return "", unsupported(param+".content["+strconv.Itoa(j)+"]", "content parts of type "+strconv.Quote(part.Type))
		}
	}
	return b.String(), nil
}

// toGrammar maps response_format to TGI's JSON grammar.
func toGrammar(rf json.RawMessage) (*grammar, error) {
	if len(rf) == 0 {
		return nil, nil
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(rf, &f); err != nil {
		return nil, switchboard.InvalidParam("response_format", "'response_format' is not a valid response format object")
	}
	switch f.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return &grammar{Type: "json", Value: json.RawMessage(`{"type":"object"}`)}, nil
	case "json_schema":
		s := bytes.TrimSpace(f.JSONSchema.Schema)
		var b bytes.Buffer
		if len(s) == 0 || s[0] != '{' || json.Compact(&b, s) != nil {
			return nil, switchboard.InvalidParam("response_format.json_schema.schema", "a json_schema response format needs a JSON schema object")
		}
		return &grammar{Type: "json", Value: b.Bytes()}, nil
	}
	return nil, switchboard.InvalidParam("response_format.type", "invalid value %q for 'response_format.type': expected one of text, json_object, json_schema", f.Type)
}

// fromGenerate translates /generate's answer. promptTokens is the
// estimate used when the answer does not count the prompt.
func fromGenerate(body []byte, model string, created int64, promptTokens int, newID func(string) string) (*switchboard.ChatResponse, error) {
	var gr generateResponse
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var all []generateResponse
		if err := json.Unmarshal(body, &all); err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, errors.New("empty array of generations")
		}
		gr = all[0]
	} else if err := json.Unmarshal(body, &gr); err != nil {
		return nil, err
	}
	if gr.GeneratedText == nil {
		return nil, errors.New("no generated_text")
	}
	text := *gr.GeneratedText
	return &switchboard.ChatResponse{
		ID:      newID("chatcmpl-"),
		Object:  "chat.completion",
		Created: created,
		Model:   model,
		Choices: []switchboard.Choice{{
			Message:      switchboard.Message{Role: "assistant", Content: switchboard.TextContent(text)},
			FinishReason: finishReason(gr.Details),
		}},
		Usage: usageOf(gr.Details, promptTokens, estimateTokens(len(text))),
	}, nil
}

// finishReason maps TGI's finish_reason: length stays length, eos_token and
// stop_sequence are stop.
func finishReason(d *generateDetails) string {
	if d != nil && d.FinishReason == "length" {
		return "length"
	}
	return "stop"
}

// usageOf counts tokens from the details: generated_tokens, and the prompt
// from input_length or the prefill; the estimates fill what is missing.
func usageOf(d *generateDetails, promptEstimate, completionEstimate int) *switchboard.Usage {
	u := &switchboard.Usage{PromptTokens: promptEstimate, CompletionTokens: completionEstimate}
	if d != nil {
		u.CompletionTokens = d.GeneratedTokens
		switch {
		case d.InputLength != nil:
			u.PromptTokens = *d.InputLength
		case len(d.Prefill) > 0:
			u.PromptTokens = len(d.Prefill)
		}
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// estimateTokens is the token estimate for size bytes of text: ceil(size/4).
func estimateTokens(size int) int { return (size + 3) / 4 }

// streamState turns /generate_stream events into OpenAI chunks. It is pure,
// so the golden tests drive it directly.
type streamState struct {
	newID        func(prefix string) string
	model        string
	created      int64
	promptTokens int // the estimate, when the last event does not count the prompt
	id           string
	started      bool
	tokens       int // tokens seen, the completion estimate without details
	done         bool
}

// translate returns the chunks for one event's data. The event with
// generated_text or details is the last: it adds the finish and usage chunks.
func (st *streamState) translate(data []byte) ([]*switchboard.Chunk, error) {
	if st.done {
		return nil, nil
	}
	if len(data) == 0 || data[0] != '{' {
		return nil, errNotObject
	}
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, err
	}
	if ev.Error != "" {
		return nil, streamError(ev.Error, ev.ErrorType)
	}
	out := make([]*switchboard.Chunk, 0, 2)
	if !st.started {
		st.started = true
		st.id = st.newID("chatcmpl-")
		out = append(out, st.chunk(switchboard.Message{Role: "assistant", Content: json.RawMessage(`""`)}, nil))
	}
	if ev.Token != nil {
		st.tokens++
		if !ev.Token.Special && ev.Token.Text != "" {
			out = append(out, st.chunk(switchboard.Message{Content: switchboard.TextContent(ev.Token.Text)}, nil))
		}
	}
	if ev.GeneratedText != nil || ev.Details != nil {
		st.done = true
		out = append(out, st.chunk(switchboard.Message{}, new(finishReason(ev.Details))))
		u := st.chunk(switchboard.Message{}, nil)
		u.Choices, u.Usage = []switchboard.ChunkChoice{}, usageOf(ev.Details, st.promptTokens, st.tokens)
		out = append(out, u)
	}
	return out, nil
}

func (st *streamState) chunk(delta switchboard.Message, finish *string) *switchboard.Chunk {
	return &switchboard.Chunk{
		ID:      st.id,
		Object:  "chat.completion.chunk",
		Created: st.created,
		Model:   st.model,
		Choices: []switchboard.ChunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	}
}

// toEmbed translates an OpenAI embeddings request to TEI's /embed body;
// the input (text or token ids) passes as it is. A boolean "truncate" extra
// field is passed on.
func toEmbed(r *switchboard.EmbeddingRequest) (*embedRequest, error) {
	out := &embedRequest{Inputs: r.Input, Dimensions: r.Dimensions}
	if v, ok := r.Extra["truncate"]; ok {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return nil, switchboard.InvalidParam("truncate", "'truncate' must be a boolean")
		}
		out.Truncate = &b
	}
	return out, nil
}

// fromEmbed translates TEI's answer, an array of vectors, one per input.
// TEI counts no tokens: usage is the estimate ceil(bytes/4) per input.
func fromEmbed(body []byte, model string, texts []string) (*switchboard.EmbeddingResponse, error) {
	var vecs [][]float32
	if err := json.Unmarshal(body, &vecs); err != nil {
		return nil, err
	}
	if len(vecs) != len(texts) {
		return nil, fmt.Errorf("got %d embeddings for %d inputs", len(vecs), len(texts))
	}
	out := &switchboard.EmbeddingResponse{Object: "list", Model: model, Data: make([]switchboard.Embedding, len(vecs))}
	tokens := 0
	for i, v := range vecs {
		out.Data[i] = switchboard.Embedding{Object: "embedding", Index: i, Embedding: v}
		tokens += estimateTokens(len(texts[i]))
	}
	out.Usage = &switchboard.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return out, nil
}
