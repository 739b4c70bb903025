package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// Environment names accepted by Generate and returned by Parse.
const (
	envDevelopment = "development"
	envProduction  = "production"
)

// Key prefixes, including the separator.
const (
	prefixDevelopment = "dev_"
	prefixProduction  = "prod_"
)

const (
	randomBytes = 32 // bytes of entropy in a key
	bodyLen     = 43 // base62 digits needed for 256 bits
	checkLen    = 6  // base62 digits needed for 32 bits
	displayLen  = 12 // length of DisplayPrefix
)

// alphabet is the base62 alphabet, in ascending ASCII order.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// maxBody is the base62 encoding of 2^256-1, the largest valid body. Because
// the alphabet is in ASCII order, comparing fixed-width bodies as strings
// compares the numbers they encode.
const maxBody = "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1"

// ErrMalformed is returned by Parse for any string that is not a well-formed
// key: wrong prefix, wrong length, a character outside the base62 alphabet or
// a checksum mismatch.
var ErrMalformed = errors.New("apikey: malformed key")

var errBadHash = errors.New("apikey: hash must be 64 hexadecimal digits")

// Generate returns a new random key for env, which must be "development" or
// "production".
func Generate(env string) (string, error) {
	var prefix string
	switch env {
	case envDevelopment:
		prefix = prefixDevelopment
	case envProduction:
		prefix = prefixProduction
	default:
		return "", fmt.Errorf("apikey: unknown environment %q (want %q or %q)", env, envDevelopment, envProduction)
	}

	var raw [randomBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("apikey: reading random bytes: %w", err)
	}

	buf := make([]byte, len(prefix)+bodyLen+checkLen)
	n := copy(buf, prefix)
	encodeBody(buf[n:n+bodyLen], raw)
	n += bodyLen
	encodeCheck(buf[n:], crcString(string(buf[:n])))
	return string(buf), nil
}

// Parse validates key and returns its environment, "development" or
// "production". It checks the prefix, the length, the alphabet, that the
// body encodes at most 256 bits, and the checksum. Any failure yields
// ErrMalformed. Parse does not allocate.
func Parse(key string) (env string, err error) {
	var prefixLen int
	switch {
	case strings.HasPrefix(key, prefixDevelopment):
		env, prefixLen = envDevelopment, len(prefixDevelopment)
	case strings.HasPrefix(key, prefixProduction):
		env, prefixLen = envProduction, len(prefixProduction)
	default:
		return "", ErrMalformed
	}
	if len(key) != prefixLen+bodyLen+checkLen {
		return "", ErrMalformed
	}
	for i := prefixLen; i < len(key); i++ {
		if !isBase62(key[i]) {
			return "", ErrMalformed
		}
	}
	checked := prefixLen + bodyLen
	if key[prefixLen:checked] > maxBody {
		return "", ErrMalformed
	}
	var want [checkLen]byte
	encodeCheck(want[:], crcString(key[:checked]))
	if string(want[:]) != key[checked:] {
		return "", ErrMalformed
	}
	return env, nil
}

// DisplayPrefix returns the first 12 bytes of key (for example
// "dev_3fA9kQ2b"), enough to identify a key in a user interface or a log
// without revealing it. A shorter input is returned unchanged.
func DisplayPrefix(key string) string {
	if len(key) <= displayLen {
		return key
	}
	return key[:displayLen]
}

// Hash is the SHA-256 digest of a key, which is what the server stores and
// looks up.
type Hash [sha256.Size]byte

// HashKey returns the SHA-256 digest of key. It does not allocate for keys
// of up to 64 bytes, which includes every well-formed key.
func HashKey(key string) Hash {
	// Hashing from a stack buffer avoids the heap allocation that converting
	// a string longer than 32 bytes to a []byte would cost.
	var buf [64]byte
	if len(key) <= len(buf) {
		n := copy(buf[:], key)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(key))
}

// Hex returns h as 64 lowercase hexadecimal digits.
func (h Hash) Hex() string {
	return hex.EncodeToString(h[:])
}

// ParseHash parses the 64 hexadecimal digits produced by Hash.Hex. Upper and
// lower case digits are accepted.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != hex.EncodedLen(len(h)) {
		return Hash{}, errBadHash
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, errBadHash
	}
	return h, nil
}

// Equal reports whether a and b are equal, in time independent of their
// contents.
func Equal(a, b Hash) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// isBase62 reports whether c is in the base62 alphabet.
func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// encodeBody writes the big-endian number in raw to dst as len(dst) base62
// digits, most significant first, left-padded with '0'. len(dst) must be
// large enough to hold the number.
func encodeBody(dst []byte, raw [randomBytes]byte) {
	for i := len(dst) - 1; i >= 0; i-- {
		// Divide raw by 62 in place; the remainder is the next digit.
		var rem uint32
		for j := range raw {
			acc := rem<<8 | uint32(raw[j])
			raw[j] = byte(acc / 62)
			rem = acc % 62
		}
		dst[i] = alphabet[rem]
	}
}

// encodeCheck writes v to dst as len(dst) base62 digits, most significant
// first, left-padded with '0'.
func encodeCheck(dst []byte, v uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[v%62]
		v /= 62
	}
}

// crcString returns the CRC-32 (IEEE) checksum of s. It is equivalent to
// crc32.ChecksumIEEE([]byte(s)) but never allocates.
func crcString(s string) uint32 {
	tab := crc32.IEEETable
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = tab[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}
