package tenancy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// KeyPrefix starts every key Switchboard generates.
const KeyPrefix = "sk-sb-"

// GenerateKey returns a new random API key.
func GenerateKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash returns the hex SHA-256 digest of key, as stored.
func Hash(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

func digest(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// DisplayPrefix is the part of a key shown in listings and logs: enough to
// tell keys apart, too little to use. Past a generated key's KeyPrefix it
// shows at most 4 characters, and never more than a third of the rest.
func DisplayPrefix(key string) string {
	n := len(KeyPrefix) + 4
	if !strings.HasPrefix(key, KeyPrefix) || len(key) < n+8 {
		n = min(4, len(key)/3)
	}
	for n > 0 && n < len(key) && !utf8.RuneStart(key[n]) {
		n-- // cut between characters
	}
	return key[:n] + "…"
}

// Mask hides most of a key for an error message: what OpenAI shows for an
// incorrect key ("sk-sb-ab***wxyz"). It shows at most a third of a key:
// a sixth at each end, up to 8 characters at the start and 4 at the end.
func Mask(key string) string {
	if len(key) < 12 {
		return "***"
	}
	n := len(key) / 6
	head, tail := min(8, n), len(key)-min(4, n)
	// Cut between characters: the head shrinks, the tail too.
	for head > 0 && !utf8.RuneStart(key[head]) {
		head--
	}
	for tail < len(key) && !utf8.RuneStart(key[tail]) {
		tail++
	}
	// A key a client sent may be any bytes; the message must be text.
	return strings.ToValidUTF8(key[:head]+"***"+key[tail:], "\uFFFD")
}

// configKeyID is the stable ID of a key from the configuration: derived from
// its digest, so every replica and every restart agrees on it.
func configKeyID(hash string) string { return "cfg_" + hash[:16] }

func newKeyID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "key_" + base64.RawURLEncoding.EncodeToString(b[:])
}
