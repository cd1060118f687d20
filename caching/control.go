package caching

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchboard-ai/switchboard"
)

// bodyControl is the `cache` object some clients (LiteLLM's among them)
// send in the request body.
type bodyControl struct {
	TTL       json.RawMessage `json:"ttl"`
	NoCache   bool            `json:"no-cache"`
	NoStore   bool            `json:"no-store"`
	MaxAge    *int            `json:"s-maxage"`
	Namespace string          `json:"namespace"`
	Use       *bool           `json:"use-cache"`
	// Similarity raises the semantic threshold for this request.
	Similarity *float32 `json:"similarity"`
}

// takeBodyControl removes the body's `cache` object from req (it must not
// reach an upstream, which would reject the unknown field) and merges it
// into cc. A malformed object is a 400 naming the field.
func takeBodyControl(req *switchboard.ChatRequest, cc switchboard.CacheControl) (switchboard.CacheControl, error) {
	raw, ok := req.Extra["cache"]
	if !ok {
		return cc, nil
	}
	delete(req.Extra, "cache")
	req.Raw = nil // re-encoded without the field
	var b bodyControl
	if err := json.Unmarshal(raw, &b); err != nil {
		return cc, switchboard.InvalidParam("cache", "'cache' must be an object with ttl, no-cache, no-store, s-maxage, namespace, use-cache or similarity: %v", err)
	}
	cc.NoCache = cc.NoCache || b.NoCache
	cc.NoStore = cc.NoStore || b.NoStore
	if b.MaxAge != nil && *b.MaxAge >= 0 {
		d := time.Duration(*b.MaxAge) * time.Second
		cc.MaxAge = &d
	}
	if b.Namespace != "" {
		cc.Namespace = b.Namespace
	}
	if b.Similarity != nil {
		if *b.Similarity < 0 || *b.Similarity > 1 {
			return cc, switchboard.InvalidParam("cache.similarity", "'cache.similarity' must be between 0 and 1, got %g", *b.Similarity)
		}
		cc.MinSimilarity = *b.Similarity
	}
	if b.Use != nil {
		cc.Force = *b.Use
		cc.NoStore = cc.NoStore || !*b.Use
		cc.NoCache = cc.NoCache || !*b.Use
	}
	if len(b.TTL) > 0 && string(b.TTL) != "null" {
		ttl, err := parseTTL(b.TTL)
		if err != nil {
			return cc, switchboard.InvalidParam("cache.ttl", "%v", err)
		}
		cc.TTL = ttl
		cc.Force = cc.Force || ttl > 0
	}
	return cc, nil
}

// parseTTL accepts seconds (a number) or a duration string ("10m").
func parseTTL(raw json.RawMessage) (time.Duration, error) {
	var secs float64
	if err := json.Unmarshal(raw, &secs); err == nil {
		if secs < 0 {
			return 0, fmt.Errorf("'cache.ttl' must not be negative")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("'cache.ttl' must be seconds or a duration such as \"10m\", got %q", s)
		}
		return d, nil
	}
	return 0, fmt.Errorf("'cache.ttl' must be seconds or a duration string")
}
