package gemini

import (
	"bytes"
	"encoding/json"
)

// Gemini takes function parameters and response schemas in its own subset of
// OpenAPI 3.0 (https://ai.google.dev/api/caching#Schema) and rejects the
// request when a schema holds any other key. cleanSchema keeps that subset.

// schemaKeep are the Schema keys kept as they are.
var schemaKeep = map[string]bool{
	"description": true, "title": true, "nullable": true, "required": true,
	"minItems": true, "maxItems": true, "minProperties": true, "maxProperties": true,
	"minLength": true, "maxLength": true, "pattern": true, "minimum": true, "maximum": true,
	"default": true, "example": true, "propertyOrdering": true,
}

// schemaFormats are the formats Gemini accepts.
var schemaFormats = map[string]bool{"date-time": true, "enum": true, "int32": true, "int64": true, "float": true, "double": true}

// maxSchemaDepth bounds the nesting cleanSchema follows; deeper schemas are cut.
const maxSchemaDepth = 32

// cleanSchema returns the JSON schema raw reduced to what Gemini accepts,
// keys in their original order: keys outside the subset (additionalProperties,
// $schema, $ref, strict, …) are dropped, "type": [T, "null"] becomes
// "type": T with "nullable": true, oneOf becomes anyOf, a string const a
// string enum, and formats Gemini does not know are dropped. It returns nil when raw is not a JSON object.
func cleanSchema(raw json.RawMessage) json.RawMessage {
	return cleanAt(raw, 0)
}

func cleanAt(raw json.RawMessage, depth int) json.RawMessage {
	ms, ok := members(raw)
	if !ok || depth > maxSchemaDepth {
		return nil
	}
	out := make([]member, 0, len(ms))
	nullable, haveNullable, haveEnum, haveType, constEnum := false, false, false, false, false
	for _, m := range ms {
		switch m.key {
		case "enum":
			haveEnum = true
		case "type":
			haveType = true
		}
	}
	for _, m := range ms {
		switch m.key {
		case "type":
			var one string
			if json.Unmarshal(m.val, &one) == nil {
				if one == "null" {
					nullable = true
					continue
				}
				out = append(out, m)
				continue
			}
			var many []string
			if json.Unmarshal(m.val, &many) != nil {
				continue
			}
			t := ""
			for _, s := range many {
				if s == "null" {
					nullable = true
				} else if t == "" {
					t = s
				}
			}
			if t != "" {
				out = append(out, member{"type", quote(t)})
			}
		case "properties":
			props, ok := members(m.val)
			if !ok {
				continue
			}
			kept := props[:0]
			for _, p := range props {
				if c := cleanAt(p.val, depth+1); c != nil {
					kept = append(kept, member{p.key, c})
				}
			}
			if len(kept) > 0 {
				out = append(out, member{"properties", appendMembers(nil, kept)})
			}
		case "items":
			if c := cleanAt(m.val, depth+1); c != nil {
				out = append(out, member{"items", c})
			}
		case "anyOf", "oneOf":
			var alts []json.RawMessage
			if json.Unmarshal(m.val, &alts) != nil {
				continue
			}
			b := []byte{'['}
			for _, a := range alts {
				if c := cleanAt(a, depth+1); c != nil {
					if len(b) > 1 {
						b = append(b, ',')
					}
					b = append(b, c...)
				}
			}
			if len(b) > 1 {
				out = append(out, member{"anyOf", append(b, ']')})
			}
		case "enum":
			var ss []string
			if json.Unmarshal(m.val, &ss) == nil {
				out = append(out, m)
			}
		case "const":
			var s string
			if !haveEnum && json.Unmarshal(m.val, &s) == nil {
				out = append(out, member{"enum", json.RawMessage("[" + string(quote(s)) + "]")})
				constEnum = true
			}
		case "format":
			var s string
			if json.Unmarshal(m.val, &s) == nil && schemaFormats[s] {
				out = append(out, m)
			}
		case "nullable":
			haveNullable = true
			out = append(out, m)
		default:
			if schemaKeep[m.key] {
				out = append(out, m)
			}
		}
	}
	if constEnum && !haveType {
		out = append(out, member{"type", quote("string")}) // Gemini's enums are strings
	}
	if nullable && !haveNullable {
		out = append(out, member{"nullable", json.RawMessage("true")})
	}
	return appendMembers(nil, out)
}

// parametersSchema is the cleaned parameters of a function declaration, or
// nil for a function without parameters: Gemini rejects an object schema
// without properties.
func parametersSchema(raw json.RawMessage) json.RawMessage {
	c := cleanSchema(raw)
	ms, _ := members(c)
	for _, m := range ms {
		if m.key == "properties" {
			return c
		}
	}
	return nil
}

// member is one key and value of a JSON object.
type member struct {
	key string
	val json.RawMessage
}

// members returns the fields of the JSON object raw in order, false when raw
// is not an object.
func members(raw json.RawMessage) ([]member, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	return out, true
}

// appendMembers appends the object of ms, compacted, to b.
func appendMembers(b []byte, ms []member) []byte {
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, quote(m.key)...)
		b = append(b, ':')
		var buf bytes.Buffer
		if json.Compact(&buf, m.val) != nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, buf.Bytes()...)
	}
	return append(b, '}')
}

func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
