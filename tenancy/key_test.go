package tenancy

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	format := regexp.MustCompile(`^sk-sb-[A-Za-z0-9_-]{43}$`)
	const n = 2000
	seen := make(map[string]bool, n)
	heads := make(map[string]bool, n) // the first 8 random characters
	chars := map[rune]bool{}
	for range n {
		k := GenerateKey()
		if !format.MatchString(k) {
			t.Fatalf("GenerateKey() = %q, want sk-sb- and 43 base64url characters", k)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(k, KeyPrefix))
		if err != nil || len(raw) != 32 {
			t.Fatalf("GenerateKey() = %q: decodes to %d bytes, %v; want 32 random bytes", k, len(raw), err)
		}
		if seen[k] {
			t.Fatalf("GenerateKey() returned %q twice", k)
		}
		seen[k] = true
		heads[k[len(KeyPrefix):len(KeyPrefix)+8]] = true
		for _, c := range k[len(KeyPrefix):] {
			chars[c] = true
		}
	}
	// 48 random bits each: a collision among 2000 would mean far less entropy.
	if len(heads) != n {
		t.Errorf("got %d distinct 8-character heads in %d keys, want all distinct", len(heads), n)
	}
	if len(chars) != 64 {
		t.Errorf("got %d distinct characters over %d keys, want the whole base64url alphabet (64)", len(chars), n)
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, want string }{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tc := range tests {
		if got := Hash(tc.key); got != tc.want {
			t.Errorf("Hash(%q) = %s, want %s", tc.key, got, tc.want)
		}
	}
	k := GenerateKey()
	d := digest(k)
	if got := Hash(k); got != strings.ToLower(got) || len(got) != 64 || got != Hash(k) || got == Hash(k+"x") ||
		got != hex.EncodeToString(d[:]) {
		t.Errorf("Hash(%q) = %q: want the stable lowercase hex of its digest", k, got)
	}
}

// TestDisplayPrefixAndMask checks that neither form of a key gives away
// more than a third of its secret part (what follows KeyPrefix in a
// generated key; all of any other key), whatever its length or alphabet,
// and that both stay valid UTF-8.
func TestDisplayPrefixAndMask(t *testing.T) {
	t.Parallel()
	gen := GenerateKey()
	tests := []struct {
		name, key            string
		wantPrefix, wantMask string // "" to check only the properties
	}{
		{name: "generated", key: gen, wantPrefix: gen[:10] + "…", wantMask: gen[:8] + "***" + gen[len(gen)-4:]},
		{name: "config key of 16", key: "0123456789abcdef", wantPrefix: "0123…", wantMask: "01***ef"},
		{name: "config key of 20", key: "0123456789abcdefghij"},
		{name: "config key of 24", key: "0123456789abcdefghijklmn"},
		{name: "config key of 40", key: strings.Repeat("k3y", 13) + "!"},
		{name: "generated prefix, short", key: "sk-sb-0123456789", wantPrefix: "sk-s…"},
		{name: "12 characters", key: "0123456789ab"},
		{name: "11 characters", key: "0123456789a", wantMask: "***"},
		{name: "3 characters", key: "abc", wantPrefix: "a…", wantMask: "***"},
		{name: "empty", key: "", wantPrefix: "…", wantMask: "***"},
		{name: "non-ASCII", key: "sk-sb-€€€€€€€€€€€€€€€€"},
		{name: "non-ASCII, no prefix", key: "ключ-ключ-ключ-ключ-€€€"},
		{name: "very long", key: KeyPrefix + strings.Repeat("x", 100_000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secret := tc.key
			if len(tc.key) > len(KeyPrefix)+12 {
				secret = strings.TrimPrefix(tc.key, KeyPrefix)
			}
			p := DisplayPrefix(tc.key)
			if tc.wantPrefix != "" && p != tc.wantPrefix {
				t.Errorf("DisplayPrefix = %q, want %q", p, tc.wantPrefix)
			}
			shown, ok := strings.CutSuffix(p, "…")
			if !ok || !strings.HasPrefix(tc.key, shown) {
				t.Errorf("DisplayPrefix = %q: want a prefix of the key and …", p)
			}
			if got := len(shown) - (len(tc.key) - len(secret)); got > 4 || got > len(secret)/3 {
				t.Errorf("DisplayPrefix = %q shows %d secret bytes of %d, want at most 4 and a third", p, got, len(secret))
			}

			m := Mask(tc.key)
			if tc.wantMask != "" && m != tc.wantMask {
				t.Errorf("Mask = %q, want %q", m, tc.wantMask)
			}
			head, tail, ok := strings.Cut(m, "***")
			if !ok || !strings.HasPrefix(tc.key, head) || !strings.HasSuffix(tc.key, tail) {
				t.Errorf("Mask = %q: want the key's head, *** and its tail", m)
			}
			if got := len(head) + len(tail) - (len(tc.key) - len(secret)); got > len(secret)/3 {
				t.Errorf("Mask = %q shows %d secret bytes of %d, want at most a third", m, got, len(secret))
			}
			for _, s := range []string{p, m} {
				if !utf8.ValidString(s) {
					t.Errorf("%q is not valid UTF-8", s)
				}
				if len(tc.key) >= 4 && strings.Contains(s, tc.key) {
					t.Errorf("%q contains the key", s)
				}
			}
		})
	}
}
