package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// skipSignature is the thought signature Gemini documents for function calls
// it did not sign itself (history from another model, or a signature this
// replica never saw): it skips the validation Gemini 3 models enforce.
const skipSignature = "skip_thought_signature_validator"

// encoder translates OpenAI chat requests into Gemini's.
type encoder struct {
	// signature returns the thought signature kept for a tool call id; nil
	// means none are kept.
	signature func(callID string) (string, bool)
}

// request translates r. Errors are CodeInvalidRequest errors naming the
// OpenAI field Gemini cannot take.
func (e encoder) request(r *switchboard.ChatRequest) (*generateRequest, error) {
	out := &generateRequest{Mock: r.Extra["mock"]}
	names := map[string]string{} // tool call id → function name
	add := func(role string, parts []part) {
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			return
		}
		out.Contents = append(out.Contents, content{Role: role, Parts: parts})
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		param := "messages[" + strconv.Itoa(i) + "]"
		switch m.Role {
		case "system", "developer":
			text, err := textOf(m.Content, param+".content")
			if err != nil {
				return nil, err
			}
			if out.SystemInstruction == nil {
				out.SystemInstruction = &content{}
			}
			out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, textPart(text))
		case "user":
			parts, err := userParts(m.Content, param+".content")
			if err != nil {
				return nil, err
			}
			if len(parts) > 0 {
				add("user", parts)
			}
		case "assistant":
			parts, err := e.assistantParts(m, param, names)
			if err != nil {
				return nil, err
			}
			if len(parts) > 0 {
				add("model", parts)
			}
		case "tool", "function":
			name := names[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			if name == "" {
				return nil, switchboard.InvalidParam(param+".tool_call_id",
					"'%s.tool_call_id' %q does not match the id of a tool call of an earlier assistant message", param, m.ToolCallID)
			}
			text, err := textOf(m.Content, param+".content")
			if err != nil {
				return nil, err
			}
			add("user", []part{{FunctionResponse: &functionResponse{Name: name, Response: toolResponse(text)}}})
		}
	}
	if len(out.Contents) == 0 {
		return nil, switchboard.InvalidParam("messages", "gemini needs at least one user or assistant message besides system messages")
	}
	if err := encodeTools(r, out); err != nil {
		return nil, err
	}
	gc, err := encodeGenerationConfig(r)
	if err != nil {
		return nil, err
	}
	out.GenerationConfig = gc
	return out, nil
}

func textPart(s string) part { return part{Text: &s} }

// textOf returns the text of a message content: the string, or the text
// parts of an array joined. Other parts are an error.
func textOf(c json.RawMessage, param string) (string, error) {
	c = bytes.TrimSpace(c)
	if len(c) == 0 || c[0] == 'n' {
		return "", nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return "", switchboard.InvalidParam(param, "'%s' is not a valid string", param)
		}
		return s, nil
	}
	parts, err := contentParts(c, param)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", switchboard.InvalidParam(param+"["+strconv.Itoa(j)+"].type",
				"content part type %q is not supported here by gemini: only text is", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// openAIPart is an element of an array content.
type openAIPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	ImageURL   json.RawMessage `json:"image_url"` // {"url": …} (or, leniently, the URL string)
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
	File *struct {
		FileData string `json:"file_data"`
	} `json:"file"`
}

func contentParts(c json.RawMessage, param string) ([]openAIPart, error) {
	var parts []openAIPart
	if err := json.Unmarshal(c, &parts); err != nil {
		return nil, switchboard.InvalidParam(param, "'%s' must be a string or an array of content parts", param)
	}
	return parts, nil
}

// userParts translates a user message's content: text, images, audio and
// inline files.
func userParts(c json.RawMessage, param string) ([]part, error) {
	c = bytes.TrimSpace(c)
	if len(c) == 0 || c[0] != '[' {
		text, err := textOf(c, param)
		if err != nil || text == "" {
			return nil, err
		}
		return []part{textPart(text)}, nil
	}
	parts, err := contentParts(c, param)
	if err != nil {
		return nil, err
	}
	out := make([]part, 0, len(parts))
	for j, p := range parts {
		pp := param + "[" + strconv.Itoa(j) + "]"
		switch p.Type {
		case "text":
			out = append(out, textPart(p.Text))
		case "image_url":
			var u struct {
				URL string `json:"url"`
			}
			if json.Unmarshal(p.ImageURL, &u) != nil {
				_ = json.Unmarshal(p.ImageURL, &u.URL)
			}
			gp, err := mediaPart(u.URL, pp+".image_url.url", "image/jpeg")
			if err != nil {
				return nil, err
			}
			out = append(out, gp)
		case "input_audio":
			if p.InputAudio == nil || p.InputAudio.Data == "" {
				return nil, switchboard.InvalidParam(pp+".input_audio.data", "missing required parameter: '%s.input_audio.data'", pp)
			}
			format := strings.ToLower(p.InputAudio.Format)
			if format == "" {
				format = "wav"
			}
			out = append(out, part{InlineData: &blob{MimeType: "audio/" + format, Data: p.InputAudio.Data}})
		case "file":
			if p.File == nil || !strings.HasPrefix(p.File.FileData, "data:") {
				return nil, switchboard.InvalidParam(pp+".file.file_data", "gemini takes files as data URLs in '%s.file.file_data' (file ids are OpenAI's)", pp)
			}
			gp, err := mediaPart(p.File.FileData, pp+".file.file_data", "application/octet-stream")
			if err != nil {
				return nil, err
			}
			out = append(out, gp)
		default:
			return nil, switchboard.InvalidParam(pp+".type", "content part type %q is not supported by gemini", p.Type)
		}
	}
	return out, nil
}

// mediaPart turns a URL into a part: a data URL becomes inlineData, an
// http(s) or gs URL fileData with the MIME type guessed from its extension
// (def when unknown).
func mediaPart(raw, param, def string) (part, error) {
	if rest, ok := strings.CutPrefix(raw, "data:"); ok {
		meta, payload, ok := strings.Cut(rest, ",")
		if !ok {
			return part{}, switchboard.InvalidParam(param, "'%s' is not a valid data URL", param)
		}
		meta, isBase64 := strings.CutSuffix(meta, ";base64")
		mime, _, _ := strings.Cut(meta, ";")
		if mime == "" {
			mime = "text/plain"
		}
		if !isBase64 {
			text, err := url.PathUnescape(payload)
			if err != nil {
				return part{}, switchboard.InvalidParam(param, "'%s' is not a valid data URL", param)
			}
			payload = base64.StdEncoding.EncodeToString([]byte(text))
		}
		return part{InlineData: &blob{MimeType: strings.ToLower(mime), Data: payload}}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "gs") {
		return part{}, switchboard.InvalidParam(param, "'%s' must be a data URL or an http(s) URL", param)
	}
	mime := mimeTypes[strings.ToLower(path.Ext(u.Path))]
	if mime == "" {
		mime = def
	}
	return part{FileData: &fileData{MimeType: mime, FileURI: raw}}, nil
}

// mimeTypes maps the file extensions Gemini takes as input to MIME types.
var mimeTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
	".gif": "image/gif", ".heic": "image/heic", ".heif": "image/heif", ".pdf": "application/pdf",
	".txt": "text/plain", ".mp3": "audio/mp3", ".wav": "audio/wav", ".ogg": "audio/ogg",
	".flac": "audio/flac", ".mp4": "video/mp4", ".mov": "video/mov", ".webm": "video/webm",
}

// assistantParts translates an assistant message: its text and its tool
// calls as functionCall parts, the first carrying the call's thought
// signature. It records each call's function name by id in names.
func (e encoder) assistantParts(m *switchboard.Message, param string, names map[string]string) ([]part, error) {
	text, err := textOf(m.Content, param+".content")
	if err != nil {
		return nil, err
	}
	var out []part
	if text != "" {
		out = append(out, textPart(text))
	}
	for j, tc := range m.ToolCalls {
		pp := param + ".tool_calls[" + strconv.Itoa(j) + "].function"
		if tc.Function.Name == "" {
			return nil, switchboard.InvalidParam(pp+".name", "missing required parameter: '%s.name'", pp)
		}
		args := bytes.TrimSpace([]byte(tc.Function.Arguments))
		if len(args) == 0 {
			args = []byte("{}")
		}
		var buf bytes.Buffer
		if args[0] != '{' || json.Compact(&buf, args) != nil {
			return nil, switchboard.InvalidParam(pp+".arguments", "'%s.arguments' must be a JSON object", pp)
		}
		names[tc.ID] = tc.Function.Name
		p := part{FunctionCall: &functionCall{Name: tc.Function.Name, Args: buf.Bytes()}}
		if e.signature != nil {
			p.ThoughtSignature, _ = e.signature(tc.ID)
		}
		if j == 0 && p.ThoughtSignature == "" {
			p.ThoughtSignature = skipSignature
		}
		out = append(out, p)
	}
	return out, nil
}

// toolResponse is a functionResponse's response: a tool result that is a
// JSON object as is, anything else as {"content": value}.
func toolResponse(text string) json.RawMessage {
	t := bytes.TrimSpace([]byte(text))
	var buf bytes.Buffer
	if json.Valid(t) {
		_ = json.Compact(&buf, t)
		if t[0] == '{' {
			return buf.Bytes()
		}
		return json.RawMessage(`{"content":` + buf.String() + `}`)
	}
	s, _ := json.Marshal(text)
	return json.RawMessage(`{"content":` + string(s) + `}`)
}

// encodeTools sets the function declarations and the tool config.
func encodeTools(r *switchboard.ChatRequest, out *generateRequest) error {
	if len(r.Tools) == 0 {
		return nil
	}
	decls := make([]functionDeclaration, 0, len(r.Tools))
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "function" {
			return switchboard.InvalidParam("tools["+strconv.Itoa(i)+"].type", "tool type %q is not supported by gemini: only function tools are", t.Type)
		}
		decls = append(decls, functionDeclaration{
			Name:        t.Function.Name,
			Description: t.Function.Description,
			Parameters:  parametersSchema(t.Function.Parameters),
		})
	}
	out.Tools = []tool{{FunctionDeclarations: decls}}
	choice := bytes.TrimSpace(r.ToolChoice)
	if len(choice) == 0 {
		return nil
	}
	bad := switchboard.InvalidParam("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}} for gemini")
	var cfg functionCallingConfig
	if choice[0] == '"' {
		var s string
		_ = json.Unmarshal(choice, &s)
		switch s {
		case "auto":
			cfg.Mode = "AUTO"
		case "none":
			cfg.Mode = "NONE"
		case "required":
			cfg.Mode = "ANY"
		default:
			return bad
		}
	} else {
		var c struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(choice, &c) != nil || c.Type != "function" || c.Function.Name == "" {
			return bad
		}
		cfg = functionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{c.Function.Name}}
	}
	out.ToolConfig = &toolConfig{FunctionCallingConfig: cfg}
	return nil
}

// encodeGenerationConfig gathers the sampling and output options; nil when
// the request sets none.
func encodeGenerationConfig(r *switchboard.ChatRequest) (*generationConfig, error) {
	gc := &generationConfig{
		Temperature:    r.Temperature,
		TopP:           r.TopP,
		CandidateCount: r.N,
		Seed:           r.Seed,
	}
	if n := r.MaxOutputTokens(); n > 0 {
		gc.MaxOutputTokens = &n
	}
	if stop := bytes.TrimSpace(r.Stop); len(stop) > 0 {
		var one string
		if json.Unmarshal(stop, &one) == nil {
			gc.StopSequences = []string{one}
		} else if json.Unmarshal(stop, &gc.StopSequences) != nil {
			return nil, switchboard.InvalidParam("stop", "'stop' must be a string or an array of strings")
		}
	}
	for _, p := range []struct {
		key string
		dst **float64
	}{{"presence_penalty", &gc.PresencePenalty}, {"frequency_penalty", &gc.FrequencyPenalty}} {
		if v, ok := r.Extra[p.key]; ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if json.Unmarshal(v, p.dst) != nil {
				return nil, switchboard.InvalidParam(p.key, "'%s' must be a number", p.key)
			}
		}
	}
	if len(r.ResponseFormat) > 0 {
		var f struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Schema json.RawMessage `json:"schema"`
			} `json:"json_schema"`
		}
		if json.Unmarshal(r.ResponseFormat, &f) != nil {
			return nil, switchboard.InvalidParam("response_format", "'response_format' must be an object with a type")
		}
		switch f.Type {
		case "text":
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			gc.ResponseSchema = cleanSchema(f.JSONSchema.Schema)
		default:
			return nil, switchboard.InvalidParam("response_format.type", "invalid value %q for 'response_format.type': expected one of text, json_object, json_schema", f.Type)
		}
	}
	if isEmpty(gc) {
		return nil, nil
	}
	return gc, nil
}

func isEmpty(gc *generationConfig) bool {
	return gc.StopSequences == nil && gc.ResponseMimeType == "" && gc.ResponseSchema == nil &&
		gc.CandidateCount == nil && gc.MaxOutputTokens == nil && gc.Temperature == nil && gc.TopP == nil &&
		gc.Seed == nil && gc.PresencePenalty == nil && gc.FrequencyPenalty == nil
}
