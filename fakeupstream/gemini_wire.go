package fakeupstream

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// This file holds the Gemini API wire types the fake reads and writes
// (https://ai.google.dev/api/generate-content), their validation, and their
// translation to and from the mock's OpenAI-shaped core. Requests are decoded
// strictly, as Gemini rejects unknown fields; unlike Gemini, the fake knows
// fields by their camelCase names only.

// geminiRequest is a generateContent (or streamGenerateContent) body.
type geminiRequest struct {
	Contents          []geminiContent   `json:"contents"`
	SystemInstruction *geminiContent    `json:"systemInstruction"`
	Tools             []geminiTool      `json:"tools"`
	ToolConfig        *geminiToolConfig `json:"toolConfig"`
	GenerationConfig  *geminiGenConfig  `json:"generationConfig"`
	SafetySettings    json.RawMessage   `json:"safetySettings"`
	CachedContent     string            `json:"cachedContent"`
	Mock              json.RawMessage   `json:"mock"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

// geminiPart is a request or response part; exactly one data field is set.
type geminiPart struct {
	Text                *string             `json:"text,omitempty"`
	Thought             bool                `json:"thought,omitempty"`
	ThoughtSignature    string              `json:"thoughtSignature,omitempty"`
	InlineData          *geminiBlob         `json:"inlineData,omitempty"`
	FileData            *geminiFileData     `json:"fileData,omitempty"`
	FunctionCall        *geminiFunctionCall `json:"functionCall,omitempty"`
	FunctionResponse    *geminiFunctionResp `json:"functionResponse,omitempty"`
	ExecutableCode      json.RawMessage     `json:"executableCode,omitempty"`
	CodeExecutionResult json.RawMessage     `json:"codeExecutionResult,omitempty"`
	VideoMetadata       json.RawMessage     `json:"videoMetadata,omitempty"`
}

type geminiBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type geminiFileData struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

type geminiFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type geminiFunctionResp struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type geminiTool struct {
	FunctionDeclarations []geminiFunctionDecl `json:"functionDeclarations"`
	GoogleSearch         json.RawMessage      `json:"googleSearch"`
	CodeExecution        json.RawMessage      `json:"codeExecution"`
}

type geminiFunctionDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

type geminiToolConfig struct {
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

type geminiGenConfig struct {
	StopSequences      []string        `json:"stopSequences"`
	ResponseMimeType   string          `json:"responseMimeType"`
	ResponseSchema     json.RawMessage `json:"responseSchema"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
	ResponseModalities []string        `json:"responseModalities"`
	CandidateCount     *int            `json:"candidateCount"`
	MaxOutputTokens    *int            `json:"maxOutputTokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"topP"`
	TopK               *int            `json:"topK"`
	Seed               *int64          `json:"seed"`
	PresencePenalty    *float64        `json:"presencePenalty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty"`
	ResponseLogprobs   *bool           `json:"responseLogprobs"`
	Logprobs           *int            `json:"logprobs"`
	ThinkingConfig     json.RawMessage `json:"thinkingConfig"`
	MediaResolution    string          `json:"mediaResolution"`
}

// geminiResponse is a GenerateContentResponse: the body, and each event of a stream.
type geminiResponse struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata geminiUsage       `json:"usageMetadata"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

type geminiCandidate struct {
	Content      geminiContent `json:"content"`
	FinishReason string        `json:"finishReason,omitempty"`
	Index        int           `json:"index"`
}

type geminiUsage struct {
	PromptTokenCount     int                   `json:"promptTokenCount"`
	CandidatesTokenCount int                   `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount      int                   `json:"totalTokenCount"`
	PromptTokensDetails  []geminiModalityCount `json:"promptTokensDetails"`
}

type geminiModalityCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

type geminiEmbedBatch struct {
	Requests []geminiEmbedRequest `json:"requests"`
	Mock     json.RawMessage      `json:"mock"`
}

type geminiEmbedRequest struct {
	Model                string          `json:"model"`
	Content              *geminiContent  `json:"content"`
	TaskType             string          `json:"taskType"`
	Title                string          `json:"title"`
	OutputDimensionality *int            `json:"outputDimensionality"`
	Mock                 json.RawMessage `json:"mock"`
}

type geminiValues struct {
	Values []float32 `json:"values"`
}

type geminiModel struct {
	Name                       string   `json:"name"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description"`
	InputTokenLimit            int      `json:"inputTokenLimit"`
	OutputTokenLimit           int      `json:"outputTokenLimit"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

type geminiErrorBody struct {
	Error geminiError `json:"error"`
}

type geminiError struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
}

// geminiSchemaKeys are the keys of Gemini's Schema object.
var geminiSchemaKeys = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "properties": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true, "example": true,
	"anyOf": true, "propertyOrdering": true, "default": true, "items": true, "minimum": true, "maximum": true,
}

// checkGeminiSchema reports the first key of a Schema Gemini would reject,
// as Gemini words it; at is the field's path.
func checkGeminiSchema(raw json.RawMessage, at string, depth int) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		return fmt.Sprintf("Invalid value at '%s' (type.googleapis.com/google.ai.generativelanguage.v1beta.Schema), %s", at, geminiShort(string(raw)))
	}
	if depth > 64 {
		return "Invalid JSON payload received. Too deeply nested at '" + at + "'."
	}
	for _, k := range geminiKeys(fields) {
		v := fields[k]
		if !geminiSchemaKeys[k] {
			return fmt.Sprintf("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", k, at)
		}
		switch k {
		case "type":
			var t string
			if json.Unmarshal(v, &t) != nil {
				return fmt.Sprintf("Invalid value at '%s.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), %s", at, geminiShort(string(v)))
			}
		case "properties":
			var props map[string]json.RawMessage
			if json.Unmarshal(v, &props) != nil {
				return fmt.Sprintf("Invalid value at '%s.properties', %s", at, geminiShort(string(v)))
			}
			for _, name := range geminiKeys(props) {
				if msg := checkGeminiSchema(props[name], at+".properties["+strconv.Quote(name)+"].value", depth+1); msg != "" {
					return msg
				}
			}
		case "items":
			if msg := checkGeminiSchema(v, at+".items", depth+1); msg != "" {
				return msg
			}
		case "anyOf":
			var alts []json.RawMessage
			_ = json.Unmarshal(v, &alts)
			for i, a := range alts {
				if msg := checkGeminiSchema(a, at+".any_of["+strconv.Itoa(i)+"]", depth+1); msg != "" {
					return msg
				}
			}
		}
	}
	return ""
}

// geminiBytes reports whether s is a protobuf bytes value as JSON carries
// it: base64, standard or URL-safe, padded or not.
func geminiBytes(s string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

// check validates the request as Gemini does, returning the message of the
// 400 it would answer, or "".
func (g *geminiRequest) check() string {
	if len(g.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified\n"
	}
	lastUserText := -1
	for i, c := range g.Contents {
		if c.Role == "user" || c.Role == "" {
			for _, p := range c.Parts {
				if p.Text != nil {
					lastUserText = i
				}
			}
		}
	}
	for i, c := range g.Contents {
		at := "contents[" + strconv.Itoa(i) + "]"
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return "Please use a valid role: user, model."
		}
		if len(c.Parts) == 0 {
			return "* GenerateContentRequest." + at + ".parts: contents.parts must not be empty.\n"
		}
		firstCall := true
		for j, p := range c.Parts {
			if msg := p.check(at + ".parts[" + strconv.Itoa(j) + "]"); msg != "" {
				return msg
			}
			if p.FunctionCall != nil && c.Role == "model" && i > lastUserText {
				if firstCall && p.ThoughtSignature == "" {
					return fmt.Sprintf("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", p.FunctionCall.Name, j+1)
				}
				firstCall = false
			}
		}
	}
	for i, t := range g.Tools {
		for j, d := range t.FunctionDeclarations {
			at := "tools[" + strconv.Itoa(i) + "].function_declarations[" + strconv.Itoa(j) + "]"
			if d.Name == "" {
				return "* GenerateContentRequest." + at + ".name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.) or dashes (-), with a maximum length of 64.\n"
			}
			if len(d.Parameters) == 0 || string(d.Parameters) == "null" {
				continue
			}
			if msg := checkGeminiSchema(d.Parameters, at+".parameters", 0); msg != "" {
				return msg
			}
			var p struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if json.Unmarshal(d.Parameters, &p) == nil && strings.EqualFold(p.Type, "object") && len(p.Properties) == 0 {
				return "* GenerateContentRequest." + at + ".parameters.properties: should be non-empty for OBJECT type\n"
			}
		}
	}
	if tc := g.ToolConfig; tc != nil {
		fc := tc.FunctionCallingConfig
		switch fc.Mode {
		case "", "MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED":
		default:
			return fmt.Sprintf("Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), %q", fc.Mode)
		}
		if len(fc.AllowedFunctionNames) > 0 && fc.Mode != "ANY" && fc.Mode != "VALIDATED" {
			return "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: allowed_function_names may only be set when the mode is ANY.\n"
		}
	}
	if gc := g.GenerationConfig; gc != nil {
		if n := gc.CandidateCount; n != nil && (*n < 1 || *n > 8) {
			return "* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8.\n"
		}
		if n := gc.MaxOutputTokens; n != nil && *n < 1 {
			return "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n"
		}
		if len(gc.ResponseSchema) > 0 {
			if gc.ResponseMimeType != "application/json" && gc.ResponseMimeType != "text/x.enum" {
				return "* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must be application/json or text/x.enum when response_schema is set.\n"
			}
			if msg := checkGeminiSchema(gc.ResponseSchema, "generation_config.response_schema", 0); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// check validates one part.
func (p *geminiPart) check(at string) string {
	n := 0
	for _, set := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil,
		p.FunctionResponse != nil, p.ExecutableCode != nil, p.CodeExecutionResult != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return "* GenerateContentRequest." + at + ".data: required oneof field 'data' must have one initialized field\n"
	case n > 1:
		return "Invalid JSON payload received. Oneof field 'data' is already set. Cannot set more than one field at '" + at + "'."
	case p.ThoughtSignature != "" && !geminiBytes(p.ThoughtSignature):
		return "Invalid value at '" + at + ".thought_signature' (TYPE_BYTES), Base64 decoding failed for " + strconv.Quote(geminiShort(p.ThoughtSignature))
	case p.InlineData != nil && p.InlineData.MimeType == "":
		return "* GenerateContentRequest." + at + ".inline_data.mime_type: mime_type is required.\n"
	case p.InlineData != nil && !geminiBytes(p.InlineData.Data):
		return "Invalid value at '" + at + ".inline_data.data' (TYPE_BYTES), Base64 decoding failed for " + strconv.Quote(geminiShort(p.InlineData.Data))
	case p.FileData != nil && p.FileData.FileURI == "":
		return "* GenerateContentRequest." + at + ".file_data.file_uri: file_uri is required.\n"
	case p.FunctionCall != nil && (p.FunctionCall.Name == "" || !geminiObjectOrAbsent(p.FunctionCall.Args)):
		return "* GenerateContentRequest." + at + ".function_call: a function call needs a name and an object of args.\n"
	case p.FunctionResponse != nil && (p.FunctionResponse.Name == "" || !geminiObject(p.FunctionResponse.Response)):
		return "* GenerateContentRequest." + at + ".function_response: a function response needs a name and an object response.\n"
	}
	return ""
}

// geminiObject reports whether v is a JSON object (a protobuf Struct).
func geminiObject(v json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(v, &m) == nil && m != nil
}

// geminiObjectOrAbsent reports whether v is absent, null or an object.
func geminiObjectOrAbsent(v json.RawMessage) bool {
	return len(v) == 0 || string(v) == "null" || geminiObject(v)
}

// chatRequest translates the request to the mock's OpenAI-shaped input: the
// system instruction becomes a system message, model turns assistant
// messages (function calls as tool calls), function responses tool messages
// (a {"content": text} response as its text), declarations functions.
func (g *geminiRequest) chatRequest(model string) *switchboard.ChatRequest {
	req := &switchboard.ChatRequest{Model: model}
	if g.SystemInstruction != nil {
		if text, _ := geminiText(g.SystemInstruction.Parts); text != "" {
			req.Messages = append(req.Messages, switchboard.Message{Role: "system", Content: switchboard.TextContent(text)})
		}
	}
	calls := 0
	for _, c := range g.Contents {
		text, hasText := geminiText(c.Parts)
		msg := switchboard.Message{Role: "user"}
		if c.Role == "model" {
			msg.Role = "assistant"
		}
		for _, p := range c.Parts {
			switch {
			case p.FunctionCall != nil:
				calls++
				args := string(p.FunctionCall.Args)
				if args == "" {
					args = "{}"
				}
				msg.ToolCalls = append(msg.ToolCalls, switchboard.ToolCall{
					ID: "call_" + strconv.Itoa(calls), Type: "function",
					Function: switchboard.FunctionCall{Name: p.FunctionCall.Name, Arguments: args},
				})
			case p.FunctionResponse != nil:
				req.Messages = append(req.Messages, switchboard.Message{
					Role: "tool", Name: p.FunctionResponse.Name, Content: switchboard.TextContent(geminiResponseText(p.FunctionResponse.Response)),
				})
			}
		}
		if hasText || len(msg.ToolCalls) > 0 {
			msg.Content = switchboard.TextContent(text)
			req.Messages = append(req.Messages, msg)
		}
	}
	for _, t := range g.Tools {
		for _, d := range t.FunctionDeclarations {
			req.Tools = append(req.Tools, switchboard.ToolDef{
				Type:     "function",
				Function: switchboard.FunctionDef{Name: d.Name, Description: d.Description, Parameters: d.Parameters},
			})
		}
	}
	if tc := g.ToolConfig; tc != nil {
		fc := tc.FunctionCallingConfig
		switch {
		case fc.Mode == "NONE":
			req.ToolChoice = json.RawMessage(`"none"`)
		case fc.Mode == "ANY" && len(fc.AllowedFunctionNames) == 1:
			req.ToolChoice = marshal(map[string]any{"type": "function", "function": map[string]string{"name": fc.AllowedFunctionNames[0]}})
		case fc.Mode == "ANY":
			req.ToolChoice = json.RawMessage(`"required"`)
		}
	}
	if gc := g.GenerationConfig; gc != nil {
		req.MaxTokens, req.N = gc.MaxOutputTokens, gc.CandidateCount
		schema := gc.ResponseSchema
		if len(schema) == 0 {
			schema = gc.ResponseJSONSchema
		}
		switch {
		case gc.ResponseMimeType == "application/json" && len(schema) > 0:
			req.ResponseFormat = marshal(map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "response", "schema": schema}})
		case gc.ResponseMimeType == "application/json":
			req.ResponseFormat = json.RawMessage(`{"type":"json_object"}`)
		}
	}
	return req
}

// geminiText joins the text parts, thoughts left out.
func geminiText(parts []geminiPart) (string, bool) {
	var b strings.Builder
	has := false
	for _, p := range parts {
		if p.Text != nil && !p.Thought {
			b.WriteString(*p.Text)
			has = true
		}
	}
	return b.String(), has
}

// geminiResponseText is a function response as the mock reads it: the string of a
// {"content": "…"} response, else the response's JSON.
func geminiResponseText(r json.RawMessage) string {
	var c struct {
		Content *string `json:"content"`
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(r, &fields) == nil && len(fields) == 1 && json.Unmarshal(r, &c) == nil && c.Content != nil {
		return *c.Content
	}
	return string(r)
}

// geminiFinish maps the mock's finish reason to Gemini's.
func geminiFinish(finish string) string {
	if finish == "length" {
		return "MAX_TOKENS"
	}
	return "STOP"
}

// geminiStatus is the google.rpc status name of an HTTP status.
func geminiStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// geminiShort shortens s for an error message.
func geminiShort(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// geminiKeys returns the keys of m, sorted.
func geminiKeys(m map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(m)) }
