package ollama

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// This file holds Ollama's native wire types
// (https://github.com/ollama/ollama/blob/main/docs/api.md) and the
// translations between them and the gateway's OpenAI-shaped types.

// chatRequest is the body of POST /api/chat.
type chatRequest struct {
	Model     string          `json:"model"`
	Messages  []message       `json:"messages"`
	Tools     []tool          `json:"tools,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"`
	Options   map[string]any  `json:"options,omitempty"`
	Stream    bool            `json:"stream"`
	KeepAlive string          `json:"keep_alive,omitempty"`
}

// message is a chat message, in requests and responses.
type message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	Thinking  string     `json:"thinking,omitempty"`
	Images    []string   `json:"images,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
	ToolName  string     `json:"tool_name,omitempty"`
}

// toolCall is a call of a function. Ollama sends arguments as a JSON object,
// not as the string OpenAI uses; newer servers add an id.
type toolCall struct {
	ID       string           `json:"id,omitempty"`
	Function toolCallFunction `json:"function"`
}

type toolCallFunction struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// tool is a function the model may call; Ollama takes OpenAI's shape.
type tool struct {
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// chatResponse is a non-streamed answer of /api/chat, and each line of a
// streamed one (the last has done: true and the counts). A line with error
// set reports a failure after the stream began.
type chatResponse struct {
	Model           string  `json:"model"`
	CreatedAt       string  `json:"created_at"`
	Message         message `json:"message"`
	Done            bool    `json:"done"`
	DoneReason      string  `json:"done_reason"`
	PromptEvalCount int     `json:"prompt_eval_count"`
	EvalCount       int     `json:"eval_count"`
	Error           string  `json:"error"`
}

// embedRequest is the body of POST /api/embed.
type embedRequest struct {
	Model      string         `json:"model"`
	Input      []string       `json:"input"`
	Truncate   *bool          `json:"truncate,omitempty"`
	Dimensions *int           `json:"dimensions,omitempty"`
	Options    map[string]any `json:"options,omitempty"`
	KeepAlive  string         `json:"keep_alive,omitempty"`
}

// embedResponse is the answer of /api/embed.
type embedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

// tagsResponse is the answer of GET /api/tags.
type tagsResponse struct {
	Models []struct {
		Name       string `json:"name"`
		Model      string `json:"model"`
		ModifiedAt string `json:"modified_at"`
	} `json:"models"`
}

// errorBody is Ollama's error envelope.
type errorBody struct {
	Error string `json:"error"`
}

// toChatRequest translates an OpenAI chat request to Ollama's /api/chat
// body. Requests Ollama cannot honour are *switchboard.Error values with
// CodeInvalidRequest naming the field at fault.
func toChatRequest(model string, r *switchboard.ChatRequest, cfg *Config, stream bool) (*chatRequest, error) {
	out := &chatRequest{Model: model, Stream: stream, KeepAlive: cfg.KeepAlive}
	if r.N != nil && *r.N != 1 {
		return nil, switchboard.InvalidParam("n", "ollama returns one choice: 'n' must be 1, got %d", *r.N)
	}
	msgs, err := toMessages(r.Messages)
	if err != nil {
		return nil, err
	}
	out.Messages = msgs
	if out.Tools, err = toTools(r.Tools, r.ToolChoice); err != nil {
		return nil, err
	}
	if out.Format, err = toFormat(r.ResponseFormat); err != nil {
		return nil, err
	}
	opts := maps.Clone(cfg.Options)
	set := func(k string, v any) {
		if opts == nil {
			opts = map[string]any{}
		}
		opts[k] = v
	}
	if r.Temperature != nil {
		set("temperature", *r.Temperature)
	}
	if r.TopP != nil {
		set("top_p", *r.TopP)
	}
	if r.Seed != nil {
		set("seed", *r.Seed)
	}
	if n := r.MaxOutputTokens(); n > 0 {
		set("num_predict", n)
	}
	if len(r.Stop) > 0 {
		stop, err := stopList(r.Stop)
		if err != nil {
			return nil, err
		}
		set("stop", stop)
	}
	for _, k := range []string{"frequency_penalty", "presence_penalty"} {
		if v, ok := r.Extra[k]; ok {
			var f float64
			if json.Unmarshal(v, &f) != nil {
				return nil, switchboard.InvalidParam(k, "'%s' must be a number", k)
			}
			set(k, f)
		}
	}
	out.Options = opts
	return out, nil
}

// toMessages translates the messages: developer becomes system, tool (and
// the legacy function) results become role tool with tool_name, image parts
// become base64 images, and tool-call arguments become JSON objects.
func toMessages(in []switchboard.Message) ([]message, error) {
	out := make([]message, 0, len(in))
	names := map[string]string{} // tool call id → function name, for tool results
	for i := range in {
		m := &in[i]
		p := "messages[" + strconv.Itoa(i) + "]"
		om := message{Role: m.Role}
		switch m.Role {
		case "developer":
			om.Role = "system"
		case "tool", "function":
			om.Role = "tool"
			om.ToolName = m.Name
			if om.ToolName == "" {
				om.ToolName = names[m.ToolCallID]
			}
		}
		text, images, err := contentOf(p, m.Content)
		if err != nil {
			return nil, err
		}
		om.Content, om.Images = text, images
		for j, tc := range m.ToolCalls {
			args, err := argumentsObject(tc.Function.Arguments)
			if err != nil {
				return nil, switchboard.InvalidParam(p+".tool_calls["+strconv.Itoa(j)+"].function.arguments",
					"tool call arguments must be a JSON object: %v", err)
			}
			if tc.ID != "" {
				names[tc.ID] = tc.Function.Name
			}
			om.ToolCalls = append(om.ToolCalls, toolCall{Function: toolCallFunction{Name: tc.Function.Name, Arguments: args}})
		}
		out = append(out, om)
	}
	return out, nil
}

// contentPart is an OpenAI content part, as far as Ollama can take it.
type contentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ImageURL json.RawMessage `json:"image_url"`
}

// contentOf returns a message content's text and its images (base64, from
// data URLs). Ollama cannot fetch images, so http(s) URLs are rejected, as
// are parts other than text and images.
func contentOf(param string, c json.RawMessage) (string, []string, error) {
	c = bytes.TrimSpace(c)
	if len(c) == 0 || c[0] == 'n' {
		return "", nil, nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return "", nil, switchboard.InvalidParam(param+".content", "'%s.content' is not a valid string", param)
		}
		return s, nil, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(c, &parts); err != nil {
		return "", nil, switchboard.InvalidParam(param+".content", "'%s.content' must be a string or an array of content parts", param)
	}
	var text strings.Builder
	var images []string
	for j, part := range parts {
		pp := param + ".content[" + strconv.Itoa(j) + "]"
		switch part.Type {
		case "text":
			text.WriteString(part.Text)
		case "refusal": // an earlier refusal carries nothing for the model
		case "image_url":
			img, err := inlineImage(pp, part.ImageURL)
			if err != nil {
				return "", nil, err
			}
			images = append(images, img)
		default:
			return "", nil, switchboard.InvalidParam(pp+".type", "ollama does not support content parts of type %q", part.Type)
		}
	}
	return text.String(), images, nil
}

// inlineImage returns the base64 data of an image_url part, which must hold
// a base64 data URL ("data:image/png;base64,…").
func inlineImage(param string, raw json.RawMessage) (string, error) {
	var u struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(raw, &u) != nil {
		_ = json.Unmarshal(raw, &u.URL) // an older shape: the URL as a string
	}
	rest, ok := strings.CutPrefix(u.URL, "data:")
	if !ok {
		return "", switchboard.InvalidParam(param+".image_url.url",
			"ollama needs inline images: send the image as a base64 data URL (data:image/png;base64,…), not a link")
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") || data == "" {
		return "", switchboard.InvalidParam(param+".image_url.url", "image data URLs must be base64-encoded (data:image/png;base64,…)")
	}
	return data, nil
}

// argumentsObject turns OpenAI's JSON-string arguments into the object
// Ollama wants; empty arguments are {}.
func argumentsObject(s string) (json.RawMessage, error) {
	if strings.TrimSpace(s) == "" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("got null")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// toTools passes the tools on. tool_choice "none" drops them, a named
// function keeps only that one; Ollama has no way to force a call, so
// "required" sends the tools as "auto" does.
func toTools(tools []switchboard.ToolDef, choice json.RawMessage) ([]tool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	only := ""
	choice = bytes.TrimSpace(choice)
	if len(choice) > 0 {
		var s string
		var named struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		switch {
		case json.Unmarshal(choice, &s) == nil:
			if s == "none" {
				return nil, nil
			}
		case json.Unmarshal(choice, &named) == nil && named.Function.Name != "":
			only = named.Function.Name
		default:
			return nil, switchboard.InvalidParam("tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or name a function")
		}
	}
	out := make([]tool, 0, len(tools))
	for i, t := range tools {
		if t.Type != "" && t.Type != "function" {
			return nil, switchboard.InvalidParam("tools["+strconv.Itoa(i)+"].type", "ollama supports only tools of type function, got %q", t.Type)
		}
		if only != "" && t.Function.Name != only {
			continue
		}
		out = append(out, tool{Type: "function", Function: toolFunction{
			Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters,
		}})
	}
	if only != "" && len(out) == 0 {
		return nil, switchboard.InvalidParam("tool_choice", "function %q named by 'tool_choice' is not in 'tools'", only)
	}
	return out, nil
}

// toFormat maps response_format: json_object becomes "json", json_schema
// its schema; text means no format.
func toFormat(rf json.RawMessage) (json.RawMessage, error) {
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
		return json.RawMessage(`"json"`), nil
	case "json_schema":
		s := bytes.TrimSpace(f.JSONSchema.Schema)
		if len(s) == 0 || s[0] != '{' {
			return nil, switchboard.InvalidParam("response_format.json_schema.schema", "a json_schema response format needs a JSON schema object")
		}
		var b bytes.Buffer
		if err := json.Compact(&b, s); err != nil {
			return nil, switchboard.InvalidParam("response_format.json_schema.schema", "the JSON schema is not valid JSON")
		}
		return b.Bytes(), nil
	}
	return nil, switchboard.InvalidParam("response_format.type", "invalid value %q for 'response_format.type': expected one of text, json_object, json_schema", f.Type)
}

// stopList returns the stop sequences as a list.
func stopList(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, switchboard.InvalidParam("stop", "'stop' must be a string or an array of strings")
	}
	return many, nil
}

// toEmbedRequest translates an OpenAI embeddings request. Ollama embeds
// text only: token-id inputs are rejected. A boolean "truncate" extra field
// is passed on.
func toEmbedRequest(model string, r *switchboard.EmbeddingRequest, cfg *Config) (*embedRequest, error) {
	out := &embedRequest{Model: model, Dimensions: r.Dimensions, Options: cfg.Options, KeepAlive: cfg.KeepAlive}
	var one string
	if json.Unmarshal(r.Input, &one) == nil {
		out.Input = []string{one}
	} else if json.Unmarshal(r.Input, &out.Input) != nil {
		return nil, switchboard.InvalidParam("input", "ollama embeds text only: 'input' must be a string or an array of strings")
	}
	if v, ok := r.Extra["truncate"]; ok {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return nil, switchboard.InvalidParam("truncate", "'truncate' must be a boolean")
		}
		out.Truncate = &b
	}
	return out, nil
}

// fromEmbedResponse translates /api/embed's answer; n is the number of inputs.
func fromEmbedResponse(body []byte, model string, n int) (*switchboard.EmbeddingResponse, error) {
	var er embedResponse
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, err
	}
	if len(er.Embeddings) != n {
		return nil, fmt.Errorf("got %d embeddings for %d inputs", len(er.Embeddings), n)
	}
	out := &switchboard.EmbeddingResponse{
		Object: "list",
		Model:  cmp.Or(er.Model, model),
		Data:   make([]switchboard.Embedding, n),
		Usage:  &switchboard.Usage{PromptTokens: er.PromptEvalCount, TotalTokens: er.PromptEvalCount},
	}
	for i, e := range er.Embeddings {
		out.Data[i] = switchboard.Embedding{Object: "embedding", Index: i, Embedding: e}
	}
	return out, nil
}

// fromChatResponse translates a non-streamed /api/chat answer. newID makes
// the completion and tool call ids.
func fromChatResponse(body []byte, newID func(prefix string) string) (*switchboard.ChatResponse, error) {
	var cr chatResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, err
	}
	if cr.Error != "" {
		return nil, inBandError(cr.Error)
	}
	if !cr.Done {
		return nil, fmt.Errorf("response is not complete (done is false)")
	}
	msg := switchboard.Message{Role: "assistant"}
	calls, err := toolCallsOf(cr.Message.ToolCalls, newID, false)
	if err != nil {
		return nil, err
	}
	msg.ToolCalls = calls
	if cr.Message.Content != "" || len(calls) == 0 {
		msg.Content = switchboard.TextContent(cr.Message.Content)
	} else {
		msg.Content = json.RawMessage("null") // OpenAI's shape for a tool-call-only message
	}
	if cr.Message.Thinking != "" {
		msg.Extra = map[string]json.RawMessage{"reasoning_content": switchboard.TextContent(cr.Message.Thinking)}
	}
	return &switchboard.ChatResponse{
		ID:      newID("chatcmpl-"),
		Object:  "chat.completion",
		Created: createdAt(cr.CreatedAt),
		Model:   cr.Model,
		Choices: []switchboard.Choice{{Index: 0, Message: msg, FinishReason: finishReason(cr.DoneReason, len(calls) > 0)}},
		Usage:   usage(&cr),
	}, nil
}

// toolCallsOf translates tool calls: the argument object becomes a JSON
// string, and calls without an id get one. indexed sets the stream index.
func toolCallsOf(in []toolCall, newID func(string) string, indexed bool) ([]switchboard.ToolCall, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]switchboard.ToolCall, len(in))
	for i, tc := range in {
		args, err := argumentsString(tc.Function.Arguments)
		if err != nil {
			return nil, fmt.Errorf("tool call %d: %w", i, err)
		}
		id := tc.ID
		if id == "" {
			id = newID("call_")
		}
		out[i] = switchboard.ToolCall{ID: id, Type: "function", Function: switchboard.FunctionCall{Name: tc.Function.Name, Arguments: args}}
		if indexed {
			out[i].Index = new(i)
		}
	}
	return out, nil
}

// argumentsString renders Ollama's arguments as OpenAI's JSON string: an
// object compacted, a string (some models send one) as it is, none as {}.
func argumentsString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "{}", nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

// finishReason maps done_reason: tool calls win, length stays length,
// anything else (stop, load, unload) is stop.
func finishReason(doneReason string, toolCalls bool) string {
	switch {
	case toolCalls:
		return "tool_calls"
	case doneReason == "length":
		return "length"
	}
	return "stop"
}

// usage maps Ollama's counts to OpenAI's usage.
func usage(cr *chatResponse) *switchboard.Usage {
	return &switchboard.Usage{
		PromptTokens:     cr.PromptEvalCount,
		CompletionTokens: cr.EvalCount,
		TotalTokens:      cr.PromptEvalCount + cr.EvalCount,
	}
}

// createdAt parses Ollama's timestamp; now when it is missing or unreadable.
func createdAt(s string) int64 {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.Unix()
	}
	return time.Now().Unix()
}
