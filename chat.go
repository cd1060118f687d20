package switchboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
)

// ChatRequest is an OpenAI chat completion request. Fields the gateway acts on
// are typed; every other field is kept verbatim in Extra, so nothing a client
// sends is dropped on the way to a compatible upstream.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int            `json:"n,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	Tools               []ToolDef       `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ResponseFormat      json.RawMessage `json:"response_format,omitempty"`
	User                string          `json:"user,omitempty"`

	// Prompt is Switchboard's prompt object ({"id", "label" | "version",
	// "variables"}), verbatim. The gateway renders it into Messages before
	// routing and never forwards it upstream. With a prompt, model and
	// messages may be omitted (the prompt's version supplies them).
	Prompt json.RawMessage `json:"-"`

	// Extra holds the fields not named above, verbatim.
	Extra map[string]json.RawMessage `json:"-"`
	// Raw is the body exactly as the client sent it. Anything that changes
	// the request after decoding must set Raw to nil, so providers re-encode.
	Raw []byte `json:"-"`

	modelSpan, streamOptsSpan [2]int
}

// StreamOptions are OpenAI's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
	// Extra holds the options Switchboard does not interpret
	// (include_obfuscation, …), passed on as they came.
	Extra map[string]json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes the options, keeping unknown ones in Extra.
func (o *StreamOptions) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*o = StreamOptions{}
	for k, v := range m {
		if k != "include_usage" {
			if o.Extra == nil {
				o.Extra = make(map[string]json.RawMessage, len(m))
			}
			o.Extra[k] = v
			continue
		}
		if isNull(v) {
			continue
		}
		if err := json.Unmarshal(v, &o.IncludeUsage); err != nil {
			return &json.UnmarshalTypeError{Value: jsonKind(v), Type: reflect.TypeFor[bool](), Field: "include_usage"}
		}
	}
	return nil
}

// MarshalJSON encodes the options with their Extra fields.
func (o StreamOptions) MarshalJSON() ([]byte, error) {
	b := []byte(`{"include_usage":false}`)
	if o.IncludeUsage {
		b = []byte(`{"include_usage":true}`)
	}
	return appendExtra(b, o.Extra)
}

// ToolDef is a tool the model may call.
type ToolDef struct {
	Type     string      `json:"type"`
	Function FunctionDef `json:"function"`
}

// FunctionDef describes a callable function.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a call of a tool by the model.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names a function and carries its JSON-encoded arguments.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Message is one chat message. Content is the raw JSON value: a string, an
// array of content parts (text, image_url, input_audio, …) or null.
type Message struct {
	Role       string          `json:"role,omitempty"`
	Content    json.RawMessage `json:"content,omitempty"`
	Name       string          `json:"name,omitempty"`
	ToolCalls  []ToolCall      `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
	Refusal    *string         `json:"refusal,omitempty"`

	// Extra holds the fields not named above, verbatim.
	Extra map[string]json.RawMessage `json:"-"`
}

// ContentPart is one element of an array-valued message content.
type ContentPart struct {
	Type     string          `json:"type"`
	Text     string          `json:"text,omitempty"`
	ImageURL json.RawMessage `json:"image_url,omitempty"`
}

// TextContent returns a message content holding the string s.
func TextContent(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// Text returns the message's text: the string content, or the text parts of
// an array content joined together.
func (m *Message) Text() string {
	c := m.Content
	switch jsonKind(c) {
	case "string":
		s, _ := unquote(bytes.TrimSpace(c))
		return s
	case "array":
		var parts []ContentPart
		if json.Unmarshal(c, &parts) != nil {
			return ""
		}
		var b []byte
		for _, p := range parts {
			if p.Type == "text" {
				b = append(b, p.Text...)
			}
		}
		return string(b)
	}
	return ""
}

// Usage counts the tokens of one inference.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
	// Cost is the cost in USD the upstream reported (OpenRouter and other
	// aggregators send usage.cost); it wins over the price table.
	Cost *float64 `json:"cost,omitempty"`
}

// PromptTokensDetails breaks down prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks down completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
	AudioTokens     int `json:"audio_tokens,omitempty"`
}

// CachedTokens returns the prompt tokens served from the upstream's cache.
func (u *Usage) CachedTokens() int {
	if u == nil || u.PromptTokensDetails == nil {
		return 0
	}
	return u.PromptTokensDetails.CachedTokens
}

// ChatResponse is an OpenAI chat completion.
type ChatResponse struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	Choices           []Choice        `json:"choices"`
	Usage             *Usage          `json:"usage,omitempty"`
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	ServiceTier       json.RawMessage `json:"service_tier,omitempty"`

	// Raw is the upstream body as received, when the response was not changed;
	// httpapi writes it as is instead of re-encoding.
	Raw []byte `json:"-"`
}

// Choice is one completion choice.
type Choice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Chunk is one event of a streamed chat completion.
type Chunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	Choices           []ChunkChoice   `json:"choices"`
	Usage             *Usage          `json:"usage,omitempty"`
	ServiceTier       json.RawMessage `json:"service_tier,omitempty"`

	// Raw is the event's data exactly as the upstream sent it, when the
	// chunk was not changed; the SSE writer relays it as is.
	Raw []byte `json:"-"`
}

// ChunkChoice is the delta of one choice in a chunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Message         `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// MaxOutputTokens returns the output cap the client asked for, 0 if none.
func (r *ChatRequest) MaxOutputTokens() int {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}

// WantsUsage reports whether a streaming client asked for the usage chunk.
func (r *ChatRequest) WantsUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// DecodeChatRequest decodes and validates a chat completion request body.
// The returned request keeps body as Raw (it does not copy it). Errors are
// *Error values with CodeInvalidRequest naming the field at fault.
func DecodeChatRequest(body []byte) (*ChatRequest, error) {
	if !json.Valid(body) {
		return nil, Errorf(CodeInvalidRequest, "request body is not valid JSON")
	}
	if jsonKind(body) != "object" {
		return nil, Errorf(CodeInvalidRequest, "request body must be a JSON object, got %s", jsonKind(body))
	}
	r := &ChatRequest{Raw: body}
	var haveModel, haveMessages bool
	err := eachField(body, func(k []byte, start, end int) error {
		v := body[start:end]
		if isNull(v) && string(k) != "messages" && string(k) != "model" {
			if string(k) == "stream_options" {
				// Absent for the options, but the bytes are there: forcing
				// usage on replaces them rather than adding a second key.
				r.streamOptsSpan = [2]int{start, end}
			}
			return nil
		}
		switch string(k) {
		case "model":
			haveModel = true
			r.modelSpan = [2]int{start, end}
			return decodeString("model", v, &r.Model)
		case "messages":
			haveMessages = true
			if jsonKind(v) != "array" {
				return InvalidParam("messages", "'messages' must be an array, got %s", jsonKind(v))
			}
			n := 0
			_ = eachElem(v, func(int, []byte) error { n++; return nil })
			r.Messages = make([]Message, 0, n)
			return eachElem(v, func(i int, elem []byte) error {
				var m Message
				if err := m.decode("messages["+strconv.Itoa(i)+"]", elem); err != nil {
					return err
				}
				r.Messages = append(r.Messages, m)
				return nil
			})
		case "prompt":
			if jsonKind(v) != "object" {
				return InvalidParam("prompt", "'prompt' must be an object like {\"id\": \"name\", \"variables\": {}}, got %s", jsonKind(v))
			}
			r.Prompt = json.RawMessage(v)
			return nil
		case "stream":
			return decodeInto("stream", v, &r.Stream, "a boolean")
		case "stream_options":
			r.streamOptsSpan = [2]int{start, end}
			r.StreamOptions = new(StreamOptions)
			return decodeInto("stream_options", v, r.StreamOptions, "an object")
		case "max_tokens":
			return decodeInto("max_tokens", v, &r.MaxTokens, "an integer")
		case "max_completion_tokens":
			return decodeInto("max_completion_tokens", v, &r.MaxCompletionTokens, "an integer")
		case "temperature":
			return decodeInto("temperature", v, &r.Temperature, "a number")
		case "top_p":
			return decodeInto("top_p", v, &r.TopP, "a number")
		case "n":
			return decodeInto("n", v, &r.N, "an integer")
		case "seed":
			return decodeInto("seed", v, &r.Seed, "an integer")
		case "stop":
			if k := jsonKind(v); k != "string" && k != "array" {
				return InvalidParam("stop", "'stop' must be a string or an array of strings, got %s", k)
			}
			r.Stop = json.RawMessage(v)
		case "tools":
			return decodeInto("tools", v, &r.Tools, "an array of tool objects")
		case "tool_choice":
			if k := jsonKind(v); k != "string" && k != "object" {
				return InvalidParam("tool_choice", "'tool_choice' must be a string or an object, got %s", k)
			}
			r.ToolChoice = json.RawMessage(v)
		case "response_format":
			if jsonKind(v) != "object" {
				return InvalidParam("response_format", "'response_format' must be an object, got %s", jsonKind(v))
			}
			r.ResponseFormat = json.RawMessage(v)
		case "user":
			return decodeString("user", v, &r.User)
		default:
			if r.Extra == nil {
				r.Extra = make(map[string]json.RawMessage, 4)
			}
			r.Extra[string(k)] = json.RawMessage(v)
		}
		return nil
	})
	if err != nil {
		if _, ok := err.(*Error); ok {
			return nil, err
		}
		return nil, Errorf(CodeInvalidRequest, "request body is not valid JSON")
	}
	switch {
	case r.Prompt != nil:
		// The prompt supplies the model and messages; they are checked
		// once it is rendered.
		if haveModel && r.Model == "" {
			return nil, InvalidParam("model", "'model' must be a non-empty string or left out")
		}
	case !haveModel || r.Model == "":
		return nil, InvalidParam("model", "you must provide a model parameter")
	case !haveMessages:
		return nil, InvalidParam("messages", "missing required parameter: 'messages'")
	case len(r.Messages) == 0:
		return nil, InvalidParam("messages", "'messages' must contain at least one message")
	}
	if r.N != nil && (*r.N < 1 || *r.N > 128) {
		return nil, InvalidParam("n", "'n' must be between 1 and 128, got %d", *r.N)
	}
	if r.MaxTokens != nil && *r.MaxTokens < 1 {
		return nil, InvalidParam("max_tokens", "'max_tokens' must be at least 1, got %d", *r.MaxTokens)
	}
	if r.MaxCompletionTokens != nil && *r.MaxCompletionTokens < 1 {
		return nil, InvalidParam("max_completion_tokens", "'max_completion_tokens' must be at least 1, got %d", *r.MaxCompletionTokens)
	}
	if r.StreamOptions != nil && !r.Stream {
		return nil, InvalidParam("stream_options", "'stream_options' is only allowed when 'stream' is true")
	}
	for i, t := range r.Tools {
		if t.Function.Name == "" {
			return nil, InvalidParam("tools["+strconv.Itoa(i)+"].function.name", "tool function name is required")
		}
	}
	return r, nil
}

var validRoles = []string{"system", "developer", "user", "assistant", "tool", "function"}

func (m *Message) decode(param string, data []byte) error {
	if jsonKind(data) != "object" {
		return InvalidParam(param, "'%s' must be an object, got %s", param, jsonKind(data))
	}
	hasContent := false
	err := eachField(data, func(k []byte, start, end int) error {
		v := data[start:end]
		p := param + "." + string(k)
		switch string(k) {
		case "role":
			if err := decodeString(p, v, &m.Role); err != nil {
				return err
			}
		case "content":
			switch k := jsonKind(v); k {
			case "string", "array", "null":
				hasContent = k != "null"
				m.Content = json.RawMessage(v)
				if k == "array" {
					return eachElem(v, func(i int, part []byte) error {
						if jsonKind(part) != "object" {
							return InvalidParam(p+"["+strconv.Itoa(i)+"]", "content parts must be objects, got %s", jsonKind(part))
						}
						return nil
					})
				}
			default:
				return InvalidParam(p, "'%s' must be a string or an array of content parts, got %s", p, k)
			}
		case "name":
			return decodeString(p, v, &m.Name)
		case "tool_calls":
			if isNull(v) {
				return nil
			}
			return decodeInto(p, v, &m.ToolCalls, "an array of tool calls")
		case "tool_call_id":
			return decodeString(p, v, &m.ToolCallID)
		case "refusal":
			return decodeInto(p, v, &m.Refusal, "a string")
		default:
			if m.Extra == nil {
				m.Extra = make(map[string]json.RawMessage, 2)
			}
			m.Extra[string(k)] = json.RawMessage(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if m.Role == "" {
		return InvalidParam(param+".role", "missing required parameter: '%s.role'", param)
	}
	if !slices.Contains(validRoles, m.Role) {
		return InvalidParam(param+".role", "invalid value %q for '%s.role': expected one of system, developer, user, assistant, tool", m.Role, param)
	}
	if !hasContent && m.Role != "assistant" {
		return InvalidParam(param+".content", "missing required parameter: '%s.content'", param)
	}
	return nil
}

func decodeString(param string, v []byte, dst *string) error {
	if jsonKind(v) == "null" {
		return nil
	}
	if jsonKind(v) != "string" {
		return InvalidParam(param, "'%s' must be a string, got %s", param, jsonKind(v))
	}
	s, err := unquote(bytes.TrimSpace(v))
	if err != nil {
		return InvalidParam(param, "'%s' is not a valid string", param)
	}
	*dst = s
	return nil
}

func decodeInto(param string, v []byte, dst any, want string) error {
	if err := json.Unmarshal(v, dst); err != nil {
		var te *json.UnmarshalTypeError
		if ok := asTypeError(err, &te); ok && te.Field != "" {
			return InvalidParam(param+"."+te.Field, "'%s.%s' has the wrong type: expected %s, got %s", param, te.Field, te.Type.String(), te.Value)
		}
		return InvalidParam(param, "'%s' must be %s, got %s", param, want, jsonKind(v))
	}
	return nil
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*te = t
	}
	return ok
}

// MarshalJSON encodes the request with its Extra fields.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	type plain ChatRequest
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, r.Extra)
}

// UnmarshalJSON decodes like DecodeChatRequest, on a copy of data.
func (r *ChatRequest) UnmarshalJSON(data []byte) error {
	d, err := DecodeChatRequest(bytes.Clone(data))
	if err != nil {
		return err
	}
	*r = *d
	return nil
}

// MarshalJSON encodes the message with its Extra fields. A message without
// content encodes "content": null for assistants (OpenAI's own shape).
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	b, err := json.Marshal(plain(m))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, m.Extra)
}

// UnmarshalJSON decodes a message, keeping unknown fields in Extra.
func (m *Message) UnmarshalJSON(data []byte) error {
	*m = Message{}
	if err := m.decodeLenient(bytes.Clone(data)); err != nil {
		if err == errSyntax {
			return &json.UnmarshalTypeError{Value: jsonKind(data), Type: reflect.TypeFor[Message]()}
		}
		return err
	}
	return nil
}

// appendExtra splices extra fields, sorted by key, into the encoded object b.
func appendExtra(b []byte, extra map[string]json.RawMessage) ([]byte, error) {
	if len(extra) == 0 {
		return b, nil
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = b[:len(b)-1]
	for _, k := range keys {
		if len(b) > 1 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		b = append(b, kb...)
		b = append(b, ':')
		b = append(b, extra[k]...)
	}
	return append(b, '}'), nil
}

// UpstreamBody returns the body to send to an OpenAI-compatible upstream:
// the client's own bytes when the request is unchanged, with only the model
// replaced and, for streams, stream_options.include_usage forced on so usage
// can be accounted. It re-encodes only when Raw is nil.
func (r *ChatRequest) UpstreamBody(model string) ([]byte, error) {
	forceUsage := r.Stream && !r.WantsUsage()
	if r.Raw == nil || r.modelSpan[1] == 0 {
		c := *r
		c.Model = model
		if forceUsage {
			c.StreamOptions = r.usageOn()
		}
		return json.Marshal(c)
	}
	type edit struct {
		start, end int
		repl       []byte
	}
	mb, _ := json.Marshal(model)
	edits := []edit{{r.modelSpan[0], r.modelSpan[1], mb}}
	if forceUsage {
		usage, err := r.usageOn().MarshalJSON()
		if err != nil {
			return nil, err
		}
		if r.streamOptsSpan[1] != 0 {
			edits = append(edits, edit{r.streamOptsSpan[0], r.streamOptsSpan[1], usage})
		} else {
			// Insert a new field right after the opening brace.
			open := skipSpace(r.Raw, 0) + 1
			edits = append(edits, edit{open, open, []byte(`"stream_options":{"include_usage":true},`)})
		}
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	out := make([]byte, 0, len(r.Raw)+len(mb)+48)
	prev := 0
	for _, e := range edits {
		out = append(out, r.Raw[prev:e.start]...)
		out = append(out, e.repl...)
		prev = e.end
	}
	return append(out, r.Raw[prev:]...), nil
}

// usageOn returns the client's stream options with include_usage on.
func (r *ChatRequest) usageOn() *StreamOptions {
	o := &StreamOptions{IncludeUsage: true}
	if r.StreamOptions != nil {
		o.Extra = r.StreamOptions.Extra
	}
	return o
}

// DecodeChatResponse decodes an OpenAI chat completion body, keeping body as
// Raw. It walks the fields itself rather than through reflection: it runs
// once per non-streaming request.
func DecodeChatResponse(body []byte) (*ChatResponse, error) {
	if jsonKind(body) != "object" {
		return nil, errSyntax
	}
	r := &ChatResponse{Raw: body}
	hdr := header{&r.ID, &r.Object, &r.Model, &r.SystemFingerprint, &r.Created, &r.ServiceTier, &r.Usage}
	err := eachField(body, func(k []byte, start, end int) error {
		v := body[start:end]
		if ok, err := hdr.decode(k, v); ok {
			return err
		}
		switch string(k) {
		case "choices":
			if isNull(v) {
				return nil
			}
			return eachElem(v, func(_ int, elem []byte) error {
				var c Choice
				if err := eachField(elem, func(k []byte, start, end int) error {
					cv := elem[start:end]
					switch string(k) {
					case "index":
						var n int64
						err := lenientInt(cv, &n)
						c.Index = int(n)
						return err
					case "message":
						return c.Message.decodeLenient(cv)
					case "finish_reason":
						return lenientString(cv, &c.FinishReason)
					case "logprobs":
						c.Logprobs = json.RawMessage(cv)
					}
					return nil
				}); err != nil {
					return err
				}
				r.Choices = append(r.Choices, c)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeChunk decodes one OpenAI stream event's data, keeping data as Raw.
func DecodeChunk(data []byte) (*Chunk, error) {
	if jsonKind(data) != "object" {
		return nil, errSyntax
	}
	c := &Chunk{Raw: data}
	hdr := header{&c.ID, &c.Object, &c.Model, &c.SystemFingerprint, &c.Created, &c.ServiceTier, &c.Usage}
	err := eachField(data, func(k []byte, start, end int) error {
		v := data[start:end]
		if ok, err := hdr.decode(k, v); ok {
			return err
		}
		switch string(k) {
		case "choices":
			if isNull(v) {
				return nil
			}
			c.Choices = make([]ChunkChoice, 0, 1)
			return eachElem(v, func(_ int, elem []byte) error {
				var cc ChunkChoice
				if err := eachField(elem, func(k []byte, start, end int) error {
					cv := elem[start:end]
					switch string(k) {
					case "index":
						var n int64
						err := lenientInt(cv, &n)
						cc.Index = int(n)
						return err
					case "delta":
						return cc.Delta.decodeLenient(cv)
					case "finish_reason":
						if !isNull(cv) {
							var s string
							if err := lenientString(cv, &s); err != nil {
								return err
							}
							cc.FinishReason = &s
						}
					case "logprobs":
						cc.Logprobs = json.RawMessage(cv)
					}
					return nil
				}); err != nil {
					return err
				}
				c.Choices = append(c.Choices, cc)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// header points at the fields a chat completion and a chunk share, so one
// function decodes them for both.
type header struct {
	id, object, model, fingerprint *string
	created                        *int64
	tier                           *json.RawMessage
	usage                          **Usage
}

// decode decodes field k if it is a header field; ok reports whether it was.
func (h header) decode(k, v []byte) (ok bool, err error) {
	switch string(k) {
	case "id":
		return true, lenientString(v, h.id)
	case "object":
		return true, lenientString(v, h.object)
	case "model":
		return true, lenientString(v, h.model)
	case "system_fingerprint":
		return true, lenientString(v, h.fingerprint)
	case "created":
		return true, lenientInt(v, h.created)
	case "service_tier":
		*h.tier = json.RawMessage(v)
		return true, nil
	case "usage":
		if !isNull(v) {
			*h.usage = new(Usage)
			return true, (*h.usage).decode(v)
		}
		return true, nil
	}
	return false, nil
}

// decodeLenient decodes a message an upstream sent: no validation, unknown
// fields kept in Extra, values aliasing data.
func (m *Message) decodeLenient(data []byte) error {
	if isNull(data) {
		return nil
	}
	return eachField(data, func(k []byte, start, end int) error {
		v := data[start:end]
		switch string(k) {
		case "role":
			return lenientString(v, &m.Role)
		case "content":
			if !isNull(v) {
				m.Content = json.RawMessage(v)
			}
		case "name":
			return lenientString(v, &m.Name)
		case "tool_calls":
			if !isNull(v) {
				return json.Unmarshal(v, &m.ToolCalls)
			}
		case "tool_call_id":
			return lenientString(v, &m.ToolCallID)
		case "refusal":
			if !isNull(v) {
				var s string
				if err := lenientString(v, &s); err != nil {
					return err
				}
				m.Refusal = &s
			}
		default:
			if m.Extra == nil {
				m.Extra = make(map[string]json.RawMessage, 2)
			}
			m.Extra[string(k)] = json.RawMessage(v)
		}
		return nil
	})
}

// decode reads OpenAI's usage object, the fields Usage names.
func (u *Usage) decode(data []byte) error {
	return eachField(data, func(k []byte, start, end int) error {
		v := data[start:end]
		var n int64
		switch string(k) {
		case "prompt_tokens", "completion_tokens", "total_tokens":
			if err := lenientInt(v, &n); err != nil {
				return err
			}
			switch string(k) {
			case "prompt_tokens":
				u.PromptTokens = int(n)
			case "completion_tokens":
				u.CompletionTokens = int(n)
			default:
				u.TotalTokens = int(n)
			}
		case "cost":
			if !isNull(v) {
				// A cost that is not a sane number is ignored (the price
				// table prices the call), not a reason to fail the answer.
				if f, err := strconv.ParseFloat(string(v), 64); err == nil && f >= 0 && !math.IsInf(f, 0) {
					u.Cost = &f
				}
			}
		case "prompt_tokens_details":
			if !isNull(v) {
				u.PromptTokensDetails = new(PromptTokensDetails)
				return json.Unmarshal(v, u.PromptTokensDetails)
			}
		case "completion_tokens_details":
			if !isNull(v) {
				u.CompletionTokensDetails = new(CompletionTokensDetails)
				return json.Unmarshal(v, u.CompletionTokensDetails)
			}
		}
		return nil
	})
}

func lenientString(v []byte, dst *string) error {
	if isNull(v) {
		return nil
	}
	s, err := unquote(v)
	if err != nil {
		return fmt.Errorf("expected a string, got %s", jsonKind(v))
	}
	*dst = s
	return nil
}

func lenientInt(v []byte, dst *int64) error {
	if isNull(v) {
		return nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(v), 64)
		if ferr != nil {
			return fmt.Errorf("expected an integer, got %s", jsonKind(v))
		}
		n = int64(f)
	}
	*dst = n
	return nil
}
