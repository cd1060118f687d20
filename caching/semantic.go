package caching

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"

	"github.com/switchboard-ai/switchboard"
)

var errEOF = io.EOF

// Semantic finds earlier answers to similar questions: the semantic tier
// (package semantic implements it). Lookup returns the exact-cache key of
// the most similar stored question in the namespace, if it clears both the
// configured threshold and minSimilarity (a request may only raise it).
type Semantic interface {
	Lookup(ctx context.Context, namespace, text string, minSimilarity float32) (key string, similarity float32, ok bool, err error)
	Store(ctx context.Context, namespace, key, text string) error
}

// semanticNamespace is where similar questions may match: the same tenant,
// deployment, request parameters, system prompt, tools and earlier turns —
// everything but the wording of the last user message. A semantic hit can
// never cross any of those.
func semanticNamespace(p *plan, served *switchboard.Outcome) string {
	h := sha256.New()
	h.Write([]byte(p.tenant))
	h.Write([]byte{0})
	h.Write([]byte(p.ns))
	h.Write([]byte{0})
	h.Write([]byte(served.Provider + "/" + served.UpstreamModel))
	h.Write([]byte{0})
	h.Write([]byte(p.context))
	return hex.EncodeToString(h.Sum(nil))
}

// contextOf is the canonical request without the last user message: what a
// semantic match must share exactly.
func contextOf(req *switchboard.ChatRequest) string {
	c := *req
	c.Raw = nil
	last := -1
	for i := len(c.Messages) - 1; i >= 0; i-- {
		if c.Messages[i].Role == "user" {
			last = i
			break
		}
	}
	if last >= 0 {
		msgs := append([]switchboard.Message(nil), c.Messages[:last]...)
		c.Messages = append(msgs, c.Messages[last+1:]...)
	}
	canon, err := canonical(&c)
	if err != nil {
		b, _ := json.Marshal(c)
		return string(b)
	}
	return string(canon)
}
