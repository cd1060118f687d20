package switchboard

import (
	"encoding/json"
	"strconv"
)

// EmbeddingRequest is an OpenAI embeddings request. Input is the raw JSON
// value: a string, an array of strings, an array of token ids, or an array of
// token-id arrays.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	User           string          `json:"user,omitempty"`

	// Extra holds the fields not named above, verbatim.
	Extra map[string]json.RawMessage `json:"-"`
	// Raw is the body as the client sent it; nil once changed.
	Raw []byte `json:"-"`

	modelSpan, formatSpan [2]int
}

// EmbeddingResponse is an OpenAI embeddings response. Vectors are always held
// as float32; httpapi encodes them as floats or base64 as the client asked.
type EmbeddingResponse struct {
	Object string      `json:"object"`
	Data   []Embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  *Usage      `json:"usage,omitempty"`
}

// Embedding is one vector of an EmbeddingResponse.
type Embedding struct {
	Object    string    `json:"object"`
	Index     int       `json:"index"`
	Embedding []float32 `json:"embedding"`
}

// Texts returns the inputs as strings (token-id inputs are rendered as their
// decimal ids), used for token estimates and local embedders.
func (r *EmbeddingRequest) Texts() []string {
	var one string
	if json.Unmarshal(r.Input, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(r.Input, &many) == nil {
		return many
	}
	var ids []int
	if json.Unmarshal(r.Input, &ids) == nil {
		return []string{intsText(ids)}
	}
	var idss [][]int
	if json.Unmarshal(r.Input, &idss) == nil {
		out := make([]string, len(idss))
		for i, ids := range idss {
			out[i] = intsText(ids)
		}
		return out
	}
	return nil
}

func intsText(ids []int) string {
	b := make([]byte, 0, len(ids)*4)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}

// DecodeEmbeddingRequest decodes and validates an embeddings request body.
func DecodeEmbeddingRequest(body []byte) (*EmbeddingRequest, error) {
	if !json.Valid(body) {
		return nil, Errorf(CodeInvalidRequest, "request body is not valid JSON")
	}
	if jsonKind(body) != "object" {
		return nil, Errorf(CodeInvalidRequest, "request body must be a JSON object, got %s", jsonKind(body))
	}
	r := &EmbeddingRequest{Raw: body}
	err := eachField(body, func(k []byte, start, end int) error {
		v := body[start:end]
		switch string(k) {
		case "model":
			r.modelSpan = [2]int{start, end}
			return decodeString("model", v, &r.Model)
		case "input":
			r.Input = json.RawMessage(v)
		case "encoding_format":
			r.formatSpan = [2]int{start, end}
			return decodeString("encoding_format", v, &r.EncodingFormat)
		case "dimensions":
			return decodeInto("dimensions", v, &r.Dimensions, "an integer")
		case "user":
			return decodeString("user", v, &r.User)
		default:
			if r.Extra == nil {
				r.Extra = make(map[string]json.RawMessage, 2)
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
	if r.Model == "" {
		return nil, InvalidParam("model", "you must provide a model parameter")
	}
	if len(r.Input) == 0 || isNull(r.Input) {
		return nil, InvalidParam("input", "missing required parameter: 'input'")
	}
	if r.Texts() == nil {
		return nil, InvalidParam("input", "'input' must be a string, an array of strings, an array of token ids or an array of token-id arrays")
	}
	if n := len(r.Texts()); n == 0 || n > 2048 {
		return nil, InvalidParam("input", "'input' must hold between 1 and 2048 items, got %d", n)
	}
	switch r.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, InvalidParam("encoding_format", "invalid value %q for 'encoding_format': expected one of float, base64", r.EncodingFormat)
	}
	if r.Dimensions != nil && *r.Dimensions < 1 {
		return nil, InvalidParam("dimensions", "'dimensions' must be at least 1")
	}
	return r, nil
}

// MarshalJSON encodes the request with its Extra fields.
func (r EmbeddingRequest) MarshalJSON() ([]byte, error) {
	type plain EmbeddingRequest
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, r.Extra)
}

// UpstreamBody returns the body to send to an OpenAI-compatible upstream with
// the model replaced and encoding_format set to float (vectors are decoded
// and re-encoded for the client as it asked).
func (r *EmbeddingRequest) UpstreamBody(model string) ([]byte, error) {
	c := *r
	c.Model = model
	c.EncodingFormat = "float"
	c.Raw = nil
	return json.Marshal(c)
}
