package switchboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
)

// This file holds a small scanner over JSON text that finds the spans of an
// object's fields and an array's elements without decoding them. It lets the
// decoders below keep unknown fields verbatim, name the field at fault in
// errors, and patch a body in place instead of re-encoding it. Callers run
// json.Valid first; the scanner still never panics on invalid input.

var errSyntax = errors.New("invalid JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string whose opening quote is at i.
func skipString(data []byte, i int) (int, error) {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errSyntax
}

// skipValue returns the index just after the JSON value that starts at i.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errSyntax
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				end, err := skipString(data, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errSyntax
	case 't', 'f', 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return 0, errSyntax
	default:
		start := i
		for i < len(data) {
			c := data[i]
			if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
				break
			}
			i++
		}
		if i == start {
			return 0, errSyntax
		}
		return i, nil
	}
}

// eachField calls fn for every field of the JSON object in data, with the
// field's key (unescaped; it aliases data unless the key has escapes, so
// callers switch on string(key) without allocating and copy it to keep it)
// and the span [start, end) of its value in data.
func eachField(data []byte, fn func(key []byte, start, end int) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errSyntax
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return errSyntax
		}
		kEnd, err := skipString(data, i)
		if err != nil {
			return err
		}
		key, err := rawKey(data[i:kEnd])
		if err != nil {
			return err
		}
		i = skipSpace(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return errSyntax
		}
		start := skipSpace(data, i+1)
		end, err := skipValue(data, start)
		if err != nil {
			return err
		}
		if err := fn(key, start, end); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return errSyntax
		}
		if data[i] == '}' {
			return nil
		}
		if data[i] != ',' {
			return errSyntax
		}
		i = skipSpace(data, i+1)
	}
}

// eachElem calls fn for every element of the JSON array in data.
func eachElem(data []byte, fn func(i int, elem []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return errSyntax
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		end, err := skipValue(data, i)
		if err != nil {
			return err
		}
		if err := fn(n, data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return errSyntax
		}
		if data[i] == ']' {
			return nil
		}
		if data[i] != ',' {
			return errSyntax
		}
		i = skipSpace(data, i+1)
	}
}

// unquote returns the string value of a JSON string literal, fast when it
// holds no escapes.
func unquote(lit []byte) (string, error) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", errSyntax
	}
	inner := lit[1 : len(lit)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", errSyntax
	}
	return s, nil
}

// jsonKind names the JSON type of a raw value for error messages.
func jsonKind(v []byte) string {
	i := skipSpace(v, 0)
	if i >= len(v) {
		return "nothing"
	}
	switch v[i] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func isNull(v []byte) bool {
	i := skipSpace(v, 0)
	return len(v)-i >= 4 && string(v[i:i+4]) == "null"
}

// rawKey returns the bytes of a JSON string literal used as an object key,
// without allocating unless it holds escapes.
func rawKey(lit []byte) ([]byte, error) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return nil, errSyntax
	}
	inner := lit[1 : len(lit)-1]
	for _, c := range inner {
		if c == '\\' || c < 0x20 {
			s, err := unquote(lit)
			return []byte(s), err
		}
	}
	return inner, nil
}

// AppendCanonicalJSON appends a canonical form of the JSON value src to dst:
// object keys sorted, insignificant whitespace removed, numbers normalised
// (1, 1.0 and 1e0 are alike). At the top level, fields whose key skip
// reports true are left out. Two values that decode alike canonicalise
// alike, except strings that differ only in escaping. src must be valid JSON.
func AppendCanonicalJSON(dst, src []byte, skip func(key string) bool) ([]byte, error) {
	return appendCanonical(dst, src, skip)
}

func appendCanonical(dst, v []byte, skip func(string) bool) ([]byte, error) {
	i := skipSpace(v, 0)
	if i >= len(v) {
		return nil, errSyntax
	}
	switch v[i] {
	case '{':
		type field struct {
			key        []byte
			start, end int
		}
		var fields []field
		if err := eachField(v, func(k []byte, start, end int) error {
			if skip != nil && skip(string(k)) {
				return nil
			}
			fields = append(fields, field{k, start, end})
			return nil
		}); err != nil {
			return nil, err
		}
		slices.SortFunc(fields, func(a, b field) int { return bytes.Compare(a.key, b.key) })
		dst = append(dst, '{')
		for n, f := range fields {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONKey(dst, f.key)
			dst = append(dst, ':')
			var err error
			if dst, err = appendCanonical(dst, v[f.start:f.end], nil); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case '[':
		dst = append(dst, '[')
		err := eachElem(v, func(n int, elem []byte) error {
			if n > 0 {
				dst = append(dst, ',')
			}
			var err error
			dst, err = appendCanonical(dst, elem, nil)
			return err
		})
		if err != nil {
			return nil, err
		}
		return append(dst, ']'), nil
	case '"':
		end, err := skipString(v, i)
		if err != nil {
			return nil, err
		}
		return append(dst, v[i:end]...), nil
	case 't', 'f', 'n':
		end, err := skipValue(v, i)
		if err != nil {
			return nil, err
		}
		return append(dst, v[i:end]...), nil
	default:
		end, err := skipValue(v, i)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(string(v[i:end]), 64)
		if err != nil {
			return nil, errSyntax
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	}
}

// appendJSONKey appends k as a JSON string literal.
func appendJSONKey(dst, k []byte) []byte {
	plain := true
	for _, c := range k {
		if c == '"' || c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain {
		dst = append(dst, '"')
		dst = append(dst, k...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(string(k))
	return append(dst, b...)
}
