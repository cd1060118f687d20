package tenancy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
// tell keys apart, too little to use.
func DisplayPrefix(key string) string {
	n := len(KeyPrefix) + 4
	if len(key) < n+8 {
		n = min(4, len(key)/3)
	}
	return key[:n] + "…"
}

// Mask hides most of a key for an error message: what OpenAI shows for an
// incorrect key ("sk-sb-ab***wxyz").
func Mask(key string) string {
	if len(key) < 12 {
		return "***"
	}
	return key[:min(8, len(key)/3)] + "***" + key[len(key)-4:]
}

// configKeyID is the stable ID of a key from the configuration: derived from
// its digest, so every replica and every restart agrees on it.
func configKeyID(hash string) string { return "cfg_" + hash[:16] }

func newKeyID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "key_" + base64.RawURLEncoding.EncodeToString(b[:])
}
