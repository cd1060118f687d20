package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// decodeStrict decodes one JSON object from data into v (a pointer to a
// struct) and rejects unknown fields and data after it. Errors are
// invalid_request and name, as param and in the message, the JSON path the
// client wrote ("variants[1].prompt_version"), never a Go type: what is the
// object of "invalid <what>: …".
func decodeStrict(data []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return switchboard.InvalidParam("", "invalid %s: %s", what, jsonMessage(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return switchboard.InvalidParam("", "invalid %s: data after the JSON object", what)
	}
	if bytes.TrimSpace(raw)[0] != '{' {
		return switchboard.InvalidParam("", "invalid %s: must be a JSON object", what)
	}
	if param, msg := checkShape(raw, reflect.TypeOf(v).Elem(), ""); msg != "" {
		return switchboard.InvalidParam(param, "invalid %s: %s", what, msg)
	}
	// checkShape follows encoding/json; this decode cannot fail unless the
	// two disagree, and then still says nothing of Go.
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return switchboard.InvalidParam("", "invalid %s: %s", what, jsonMessage(err))
	}
	return nil
}

// jsonMessage returns a client-safe description of a decoding error, with
// no Go type names.
func jsonMessage(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	case errors.As(err, &te):
		return "wrong type"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON"
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return strings.TrimPrefix(msg, "json: ")
	}
	return "malformed JSON"
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
)

// checkShape walks the valid JSON value raw against the Go type t as
// encoding/json would decode it, in document order, and returns the path
// and a message for the first unknown field or value of the wrong JSON
// type; "" when there is none. null is accepted anywhere, as
// encoding/json accepts it.
func checkShape(raw json.RawMessage, t reflect.Type, path string) (param, msg string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", ""
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func(want string) (string, string) {
		if path == "" {
			return "", "must be " + want
		}
		return path, path + " must be " + want
	}
	if t == timeType {
		var tm time.Time
		if err := json.Unmarshal(raw, &tm); err != nil {
			return wrong("an RFC 3339 time")
		}
		return "", ""
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return "", "" // json.RawMessage and the like read any value
	}
	c := raw[0]
	switch t.Kind() {
	case reflect.Struct:
		if c != '{' {
			return wrong("an object")
		}
		return checkObject(raw, t, path)
	case reflect.Slice, reflect.Array:
		if c != '[' {
			return wrong("an array")
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return "", ""
		}
		for i := 0; dec.More(); i++ {
			var elem json.RawMessage
			if err := dec.Decode(&elem); err != nil {
				return "", ""
			}
			if p, m := checkShape(elem, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); m != "" {
				return p, m
			}
		}
	case reflect.String:
		if c != '"' {
			return wrong("a string")
		}
	case reflect.Bool:
		if c != 't' && c != 'f' {
			return wrong("true or false")
		}
	case reflect.Float32, reflect.Float64:
		if c != '-' && (c < '0' || c > '9') {
			return wrong("a number")
		}
		if _, err := strconv.ParseFloat(string(raw), t.Bits()); err != nil {
			return wrong("a finite number")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if c != '-' && (c < '0' || c > '9') {
			return wrong("an integer")
		}
		if _, err := strconv.ParseInt(string(raw), 10, t.Bits()); err != nil {
			return wrong("an integer (no fraction or exponent) in range")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if c < '0' || c > '9' {
			return wrong("an integer ≥ 0")
		}
		if _, err := strconv.ParseUint(string(raw), 10, t.Bits()); err != nil {
			return wrong("an integer ≥ 0 (no fraction or exponent) in range")
		}
	}
	return "", ""
}

// checkObject checks the members of a JSON object against struct type t.
// Keys match json tags exactly, else case-insensitively (as
// encoding/json matches them).
func checkObject(raw json.RawMessage, t reflect.Type, path string) (param, msg string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return "", ""
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", ""
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return "", ""
		}
		p := key
		if path != "" {
			p = path + "." + key
		}
		ft, ok := fieldType(t, key)
		if !ok {
			return p, fmt.Sprintf("unknown field %q", p)
		}
		if p, m := checkShape(val, ft, p); m != "" {
			return p, m
		}
	}
	return "", ""
}

// fieldType returns the type of the field of struct t that JSON key key
// decodes into.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	var folded reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		if name == key {
			return f.Type, true
		}
		if folded == nil && strings.EqualFold(name, key) {
			folded = f.Type
		}
	}
	return folded, folded != nil
}
