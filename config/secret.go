package config

import (
	"encoding/json"
	"log/slog"
)

// redacted replaces a secret wherever it would be printed.
const redacted = "REDACTED"

// Secret is a credential read from config. It prints, logs and marshals as
// "REDACTED" (an empty secret as ""), so it never reaches a log line, a trace
// or `switchboard config print`; Reveal returns the value for the one place
// that needs it.
type Secret string

// String returns "REDACTED", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the masked value quoted, for %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue masks the secret in structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML masks the secret in YAML output.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON masks the secret in JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }
