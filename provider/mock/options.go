package mock

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// Limits on option values, so a request cannot make the mock allocate or
// wait without bound.
const (
	// MaxWords bounds the words option.
	MaxWords = 100_000
	// MaxDelay bounds the latency and chunk_delay options.
	MaxDelay = time.Hour
)

// HeaderPrefix starts the HTTP headers that carry options in the HTTP fake
// (x-mock-latency, x-mock-chunk-delay, …; "_" and "-" are interchangeable).
const HeaderPrefix = "X-Mock-"

// Options are the per-request knobs of the mock, read from the request body
// field "mock" and, over HTTP, from x-mock-* headers. The zero value asks for
// nothing special.
type Options struct {
	// Latency, when set, is the wait before answering (over HTTP: before the
	// response headers). It replaces the provider's or server's default.
	Latency *time.Duration
	// ChunkDelay is the wait between two stream chunks.
	ChunkDelay time.Duration
	// Words is the length of a mock-lorem reply; 0 means DefaultWords.
	Words int
	// Status, when 400 or more, makes the request fail with that HTTP status
	// and the vendor's error body (in-process: the equivalent *switchboard.Error).
	Status int
	// RetryAfter is sent as the retry-after header (whole seconds) with a
	// 429, 503 or 529 status.
	RetryAfter time.Duration
	// StallAfter, when set, stops a stream after that many chunks while
	// keeping it open until the client goes away. A non-streamed request
	// never gets an answer.
	StallAfter *int
	// FailAfter, when set, cuts a stream after that many chunks (over HTTP the
	// connection is aborted). A non-streamed request is cut before any answer.
	FailAfter *int
	// Content, when set, is the reply text instead of the model's own.
	Content *string
	// Malformed makes the response body (streamed: the chunk at index 1)
	// syntactically broken JSON.
	Malformed bool
}

// LatencyOr returns the requested latency, or def when none was requested.
func (o Options) LatencyOr(def time.Duration) time.Duration {
	if o.Latency != nil {
		return *o.Latency
	}
	return def
}

// optionNames lists the known options, in the order of Options' fields.
var optionNames = []string{
	"latency", "chunk_delay", "words", "status", "retry_after",
	"stall_after", "fail_after", "content", "malformed",
}

// ParseOptions reads the options from raw, the value of the request body
// field "mock" (absent or null means none), and from h, the x-mock-* request
// headers (nil outside HTTP). A header wins over the body field of the same
// option. Unknown options and invalid values are CodeInvalidRequest errors
// naming the option.
func ParseOptions(raw json.RawMessage, h http.Header) (Options, error) {
	var o Options
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return Options{}, switchboard.InvalidParam("mock", "'mock' must be an object of mock options")
		}
		for name, v := range fields {
			if err := o.set(name, v, false); err != nil {
				return Options{}, err
			}
		}
	}
	for key, vals := range h {
		if len(key) <= len(HeaderPrefix) || !strings.EqualFold(key[:len(HeaderPrefix)], HeaderPrefix) || len(vals) == 0 {
			continue
		}
		name := strings.ReplaceAll(strings.ToLower(key[len(HeaderPrefix):]), "-", "_")
		if err := o.set(name, []byte(vals[0]), true); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

// set parses one option. v is JSON when !header, the header's text otherwise.
func (o *Options) set(name string, v []byte, header bool) error {
	bad := func(want string) error {
		return switchboard.InvalidParam("mock."+name, "invalid mock option %s: want %s, got %s", name, want, describe(v, header))
	}
	switch name {
	case "latency", "chunk_delay":
		s, ok := textOf(v, header)
		if !ok {
			return bad("a duration string such as \"250ms\"")
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > MaxDelay {
			return bad("a duration between 0s and " + MaxDelay.String())
		}
		if name == "latency" {
			o.Latency = &d
		} else {
			o.ChunkDelay = d
		}
	case "words":
		n, ok := intOf(v, header)
		if !ok || n < 0 || n > MaxWords {
			return bad("an integer between 0 and " + strconv.Itoa(MaxWords))
		}
		o.Words = n
	case "status":
		n, ok := intOf(v, header)
		if !ok || !(n == http.StatusOK || n >= 400 && n <= 599) {
			return bad("200 or an HTTP error status between 400 and 599")
		}
		o.Status = n
	case "retry_after":
		n, ok := intOf(v, header)
		if !ok || n < 0 || n > int(MaxDelay/time.Second) {
			return bad("a whole number of seconds")
		}
		o.RetryAfter = time.Duration(n) * time.Second
	case "stall_after", "fail_after":
		n, ok := intOf(v, header)
		if !ok || n < 0 {
			return bad("a chunk count of 0 or more")
		}
		if name == "stall_after" {
			o.StallAfter = &n
		} else {
			o.FailAfter = &n
		}
	case "content":
		s, ok := textOf(v, header)
		if !ok {
			return bad("a string")
		}
		o.Content = &s
	case "malformed":
		s, ok := textOf(v, header)
		if !ok {
			s = string(bytes.TrimSpace(v))
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad("a boolean")
		}
		o.Malformed = b
	default:
		return switchboard.InvalidParam("mock", "unknown mock option %q (known: %s)", name, strings.Join(optionNames, ", "))
	}
	return nil
}

// textOf returns a header's text, or the value of a JSON string.
func textOf(v []byte, header bool) (string, bool) {
	if header {
		return strings.TrimSpace(string(v)), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// intOf returns an integer given as a JSON number, a JSON string or a header.
func intOf(v []byte, header bool) (int, bool) {
	s, ok := textOf(v, header)
	if !ok {
		s = string(bytes.TrimSpace(v))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Accept integral JSON numbers written with a fraction or exponent (2.0, 1e3).
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		n = int64(f)
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		return 0, false
	}
	return int(n), true
}

// describe renders a bad value for an error message, shortened.
func describe(v []byte, header bool) string {
	s := string(bytes.TrimSpace(v))
	if header {
		s = strconv.Quote(s)
	}
	if len(s) > 40 {
		s = strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
