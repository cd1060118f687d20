package caching

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/switchboard-ai/switchboard"
)

// keyVersion changes when the key or entry format does, so old entries are
// simply never found again.
const keyVersion = "v1"

// notInKey are request fields that do not change the answer: routing and
// transport options, end-user identifiers, metadata, and the cache
// directives themselves. Everything else the client sent is in the key,
// including fields the gateway does not know.
var notInKey = map[string]bool{
	"model": true, "stream": true, "stream_options": true, "user": true, "cache": true,
	"metadata": true, "store": true, "service_tier": true, "prompt_cache_key": true,
	"safety_identifier": true,
}

// canonical returns the request's answer-changing content as canonical JSON:
// fields sorted, insignificant whitespace gone, numbers normalised, the
// fields of notInKey removed.
func canonical(req *switchboard.ChatRequest) ([]byte, error) {
	raw := req.Raw
	if raw == nil {
		var err error
		if raw, err = json.Marshal(req); err != nil {
			return nil, err
		}
	}
	return switchboard.AppendCanonicalJSON(make([]byte, 0, len(raw)), raw, func(k string) bool { return notInKey[k] })
}

// escape keeps a key segment free of the separator, so prefixes stay exact.
func escape(s string) string {
	if s == "" {
		return "_"
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(s)
}

// Prefix returns the key prefix of a tenant's entries, optionally narrowed to
// one deployment (provider and upstream model); purges delete by prefix.
func Prefix(tenant, provider, model string) string {
	p := keyVersion + "/" + escape(tenant) + "/"
	if provider != "" {
		p += escape(provider) + "/"
		if model != "" {
			p += escape(model) + "/"
		}
	}
	return p
}

// chatKey is the key of a chat answer from one deployment.
func chatKey(tenant, namespace string, t Target, canon []byte) string {
	h := sha256.New()
	h.Write([]byte("chat\x00"))
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	h.Write(canon)
	return Prefix(tenant, t.Provider, t.Model) + "c" + hex.EncodeToString(h.Sum(nil))
}

// embeddingKey is the key of one embedding input's vector from one deployment.
func embeddingKey(tenant, namespace string, t Target, dims int, input string) string {
	h := sha256.New()
	h.Write([]byte("embed\x00"))
	h.Write([]byte(namespace))
	h.Write([]byte{0, byte(dims >> 24), byte(dims >> 16), byte(dims >> 8), byte(dims)})
	h.Write([]byte(input))
	return Prefix(tenant, t.Provider, t.Model) + "e" + hex.EncodeToString(h.Sum(nil))
}
