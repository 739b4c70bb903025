package operator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// TokenPrefix starts every operator token.
const TokenPrefix = "op_"

// NewSecret returns prefix and 32 random bytes, unpadded base64url: a
// one-time link's or token's secret.
func NewSecret(prefix string) (string, error) { return newSecret(prefix) }

// WellFormed reports whether raw looks like a secret NewSecret made with
// prefix.
func WellFormed(raw, prefix string) bool { return wellFormed(raw, prefix) }

// newSecret returns prefix and 32 random bytes, unpadded base64url.
func newSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashSecret is what the store keeps of a token or setup link: SHA-256 in
// hexadecimal (the secret has 256 bits of entropy, so no stretching is
// needed, as for API keys).
func HashSecret(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(h[:])
}

// wellFormed reports whether raw looks like a secret newSecret made with
// prefix (so that garbage never reaches the store).
func wellFormed(raw, prefix string) bool {
	body, ok := strings.CutPrefix(raw, prefix)
	if !ok || len(body) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(body)
	return err == nil
}

// DisplayPrefix is the part of a token shown in listings and the audit
// trail: "op_" and six characters.
func DisplayPrefix(raw string) string {
	if len(raw) <= 9 {
		return raw
	}
	return raw[:9]
}
