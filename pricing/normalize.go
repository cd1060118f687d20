package pricing

import "strings"

// dotPrefixes are the Amazon Bedrock cross-region and vendor prefixes of a
// model ID ("us.anthropic.claude-sonnet-4-20250514-v1:0").
var dotPrefixes = []string{
	"us.", "eu.", "apac.", "au.", "jp.", "ca.", "us-gov.", "global.",
	"anthropic.", "meta.", "mistral.", "openai.", "google.", "cohere.", "amazon.",
}

// undecorate removes one decoration from a lowercase model name and reports
// whether there was one. Every step makes the name shorter or removes its
// dots, so repeated calls end.
func undecorate(name string) (string, bool) {
	for _, p := range dotPrefixes {
		if len(name) > len(p) && strings.HasPrefix(name, p) {
			return name[len(p):], true
		}
	}
	// Suffixes are cut only within the last path segment, so that a
	// provider prefix ("a:b/gpt-4o") never turns into a model name.
	last := name[strings.LastIndexByte(name, '/')+1:]
	if strings.HasSuffix(last, "]") { // "claude-opus-4-6[1m]"
		if i := strings.LastIndexByte(last, '['); i > 0 {
			return name[:len(name)-len(last)+i], true
		}
	}
	for _, sep := range []byte{':', '@'} { // Bedrock "-v1:0", tags; Vertex "@20241022"
		if i := strings.IndexByte(last, sep); i > 0 {
			return name[:len(name)-len(last)+i], true
		}
	}
	if base, ok := strings.CutSuffix(name, "-latest"); ok && base != "" {
		return base, true
	}
	if base, ok := cutVersion(name); ok {
		return base, true
	}
	if strings.HasPrefix(name, "claude-") && strings.Contains(name, ".") && !strings.Contains(name, "/") {
		return strings.ReplaceAll(name, ".", "-"), true // OpenRouter "claude-3.5-sonnet"
	}
	return "", false
}

// cutVersion removes a trailing snapshot marker: a date ("-2024-08-06",
// "-20250514"), a 3- or 4-digit version ("-001", "-2411", "-0613") or
// "-v<digits>".
func cutVersion(name string) (string, bool) {
	// -YYYY-MM-DD
	if n := len(name); n > 11 && name[n-11] == '-' && name[n-6] == '-' && name[n-3] == '-' &&
		digits(name[n-10:n-6]) && digits(name[n-5:n-3]) && digits(name[n-2:]) {
		return name[:n-11], true
	}
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", false
	}
	tail := name[i+1:]
	switch {
	case (len(tail) == 8 || len(tail) == 4 || len(tail) == 3) && digits(tail):
		return name[:i], true
	case len(tail) >= 2 && tail[0] == 'v' && digits(tail[1:]):
		return name[:i], true
	}
	return "", false
}

// digits reports whether s is non-empty and all ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
