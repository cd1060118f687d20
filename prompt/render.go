package prompt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/switchboard-ai/switchboard"
)

// Request is a prompt to render: the "prompt" object of a chat completion
// ({"id", "version" | "label", "variables"}) and the body of
// POST /v1/prompts/{id}/render.
type Request struct {
	ID        string                     `json:"id"`
	Version   string                     `json:"version,omitempty"`
	Label     string                     `json:"label,omitempty"`
	Variables map[string]json.RawMessage `json:"variables,omitempty"`
}

// Ref returns the version the request names.
func (q *Request) Ref() Ref { return Ref{ID: q.ID, Version: q.Version, Label: q.Label} }

// ParseRequest decodes a "prompt" object. version may be a string or an
// integer. Errors are invalid_request *switchboard.Error values naming the
// field ("prompt.id", "prompt.variables").
func ParseRequest(raw json.RawMessage) (*Request, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, invalid("prompt", "prompt must be an object: {\"id\": …, \"version\" or \"label\": …, \"variables\": {…}}")
	}
	q := &Request{}
	for k, v := range fields {
		switch k {
		case "id":
			if json.Unmarshal(v, &q.ID) != nil || q.ID == "" {
				return nil, invalid("prompt.id", "prompt.id must be a non-empty string")
			}
		case "version":
			var n json.Number
			if err := json.Unmarshal(v, &q.Version); err != nil {
				if json.Unmarshal(v, &n) != nil {
					return nil, invalid("prompt.version", "prompt.version must be a string or an integer")
				}
				if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
					return nil, invalid("prompt.version", "prompt.version must be a string or an integer, got %s", n)
				}
				q.Version = n.String()
			}
		case "label":
			if json.Unmarshal(v, &q.Label) != nil {
				return nil, invalid("prompt.label", "prompt.label must be a string")
			}
		case "variables":
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				continue
			}
			if json.Unmarshal(v, &q.Variables) != nil || q.Variables == nil {
				return nil, invalid("prompt.variables", "prompt.variables must be an object")
			}
		default:
			return nil, invalid("prompt."+k, "unknown field prompt.%s (known: id, version, label, variables)", k)
		}
	}
	if q.ID == "" {
		return nil, invalid("prompt.id", "prompt.id is required")
	}
	return q, nil
}

// Rendered is a rendered prompt: the chat messages and the version's
// request defaults.
type Rendered struct {
	// ID, Version and Hash identify the version rendered (for the
	// x-switchboard-prompt-version header and inference records).
	ID      string `json:"id"`
	Version string `json:"version"`
	Hash    string `json:"hash"`
	// Label is the label resolved through, if any (DefaultLabel when the
	// request named neither version nor label and the prompt has it).
	Label    string                `json:"label,omitempty"`
	Messages []switchboard.Message `json:"messages"`
	// Model and Params are request defaults: a field the client sets wins.
	Model  string                     `json:"model,omitempty"`
	Params map[string]json.RawMessage `json:"params,omitempty"`
}

// Render resolves the request's version and renders it with its
// variables. Errors are *switchboard.Error values: not_found for an unknown
// prompt, version or label; invalid_request naming the variable (a
// *VarError in the chain) for a missing, mistyped, disallowed, too long or
// unknown variable.
func (r *Registry) Render(q *Request) (*Rendered, error) {
	p, err := r.Get(q.ID)
	if err != nil {
		return nil, err
	}
	v, err := p.resolve(q.Ref())
	if err != nil {
		return nil, err
	}
	out, err := v.Render(q.Variables)
	if err != nil {
		return nil, err
	}
	switch {
	case q.Label != "":
		out.Label = q.Label
	case q.Version == "" && p.labels[DefaultLabel] == v:
		out.Label = DefaultLabel
	}
	return out, nil
}

// Render renders v with vars.
func (v *Version) Render(vars map[string]json.RawMessage) (*Rendered, error) {
	if v.compiled == nil {
		return nil, &switchboard.Error{Code: switchboard.CodeInternal,
			Message: fmt.Sprintf("prompt %q version %s cannot be rendered: %s", v.PromptID, v.Version, v.Error)}
	}
	ctx, err := v.compiled.schema.bind(vars)
	if err != nil {
		return nil, err
	}
	msgs, err := v.compiled.render(v.PromptID, ctx)
	if err != nil {
		return nil, err
	}
	out := &Rendered{ID: v.PromptID, Version: v.Version, Hash: v.Hash, Model: v.Spec.Model,
		Params: v.Spec.Params, Messages: make([]switchboard.Message, len(msgs))}
	for i, m := range msgs {
		out.Messages[i] = switchboard.Message{Role: m.role, Content: switchboard.TextContent(m.text)}
	}
	return out, nil
}

// MergeInto returns the chat request body with the prompt applied: the
// "prompt" field removed, the rendered messages before the body's own
// messages (a conversation that goes on), and the version's model and
// params set where the body has none. body must be a JSON object.
func (rd *Rendered) MergeInto(body []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, invalid("", "request body must be a JSON object")
	}
	delete(fields, "prompt")
	msgs := rd.Messages
	if raw, ok := fields["messages"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		var own []switchboard.Message
		if err := json.Unmarshal(raw, &own); err != nil {
			return nil, invalid("messages", "messages must be an array of messages")
		}
		msgs = append(append([]switchboard.Message{}, rd.Messages...), own...)
	}
	m, err := json.Marshal(msgs)
	if err != nil {
		return nil, err
	}
	fields["messages"] = m
	if model, ok := fields["model"]; rd.Model != "" && (!ok || bytes.Equal(bytes.TrimSpace(model), []byte(`""`)) ||
		bytes.Equal(bytes.TrimSpace(model), []byte("null"))) {
		fields["model"], _ = json.Marshal(rd.Model)
	}
	for k, v := range rd.Params {
		if _, ok := fields[k]; !ok {
			fields[k] = v
		}
	}
	return json.Marshal(fields)
}

// ChatRequest builds a chat request from the rendered prompt: model (the
// version's when empty), the messages, the version's params with extra
// over them.
func (rd *Rendered) ChatRequest(model string, extra map[string]json.RawMessage) (*switchboard.ChatRequest, error) {
	fields := maps.Clone(rd.Params)
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	maps.Copy(fields, extra)
	if model == "" {
		model = rd.Model
	}
	fields["model"], _ = json.Marshal(model)
	fields["messages"], _ = json.Marshal(rd.Messages)
	delete(fields, "prompt")
	delete(fields, "stream")
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return switchboard.DecodeChatRequest(body)
}
