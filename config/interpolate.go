package config

import (
	"errors"
	"fmt"
	"strings"
)

// interpolate expands ${VAR} and ${VAR:-default} in the raw text of file,
// before YAML parsing, so that line numbers stay those of the file. $${ is a
// literal ${. A reference must end on its own line. ${VAR:-default} uses the
// default when VAR is unset or empty, as the shell does. Every reference to
// an unset variable without a default is reported, with its line.
func interpolate(file, text string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(text, "${") {
		return text, nil
	}
	var (
		b    strings.Builder
		errs []error
		line = 1
	)
	b.Grow(len(text))
	at := func() string { return fmt.Sprintf("%s:%d", file, line) }
	for i := 0; i < len(text); {
		switch {
		case text[i] == '\n':
			line++
		case strings.HasPrefix(text[i:], "$${"):
			b.WriteString("${")
			i += 3
			continue
		case strings.HasPrefix(text[i:], "${"):
			end := strings.IndexAny(text[i+2:], "}\n")
			if end < 0 || text[i+2+end] == '\n' {
				errs = append(errs, &posError{pos: at(), msg: `unterminated "${" (write "$${" for a literal "${")`})
				b.WriteString("${")
				i += 2
				continue
			}
			ref := text[i+2 : i+2+end]
			val, err := expand(ref, env)
			if err != nil {
				errs = append(errs, &posError{pos: at(), msg: err.Error()})
			}
			b.WriteString(val)
			i += 2 + end + 1
			continue
		}
		b.WriteByte(text[i])
		i++
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return b.String(), nil
}

// expand resolves the inside of one ${…}.
func expand(ref string, env func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !isVarName(name) {
		return "", fmt.Errorf("invalid reference \"${%s}\" (want ${NAME} or ${NAME:-default}; write $${ for a literal ${)", ref)
	}
	if hasDef && strings.Contains(def, "${") {
		return "", fmt.Errorf("invalid reference \"${%s}\": a default cannot contain \"${\"", ref)
	}
	val, ok := env(name)
	switch {
	case ok && (val != "" || !hasDef):
		return val, nil
	case hasDef:
		return def, nil
	default:
		return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
	}
}

// isVarName reports whether s is a shell-style variable name.
func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
