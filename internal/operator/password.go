package operator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are Argon2id's cost parameters.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultPasswordParams are OWASP's recommendation for Argon2id (46 MiB,
// one pass, one lane): a hash costs about 50 ms of one core, and a stored
// hash names its own parameters, so raising these later re-hashes each
// password at its next sign-in (NeedsRehash).
var DefaultPasswordParams = PasswordParams{Memory: 46 * 1024, Time: 1, Threads: 1}

const (
	saltLen = 16
	hashLen = 32
	// MinPasswordLen is the shortest password accepted (NIST 800-63B's
	// minimum for a chosen secret is 8; staff get more).
	MinPasswordLen = 12
	// MaxPasswordLen bounds the work one sign-in attempt can ask for.
	MaxPasswordLen = 256
)

// ErrWeakPassword is returned for a password outside the accepted length.
var ErrWeakPassword = fmt.Errorf("a password needs %d to %d characters", MinPasswordLen, MaxPasswordLen)

// CheckPassword says whether a new password is acceptable.
func CheckPassword(pw string) error {
	if n := len([]rune(pw)); n < MinPasswordLen || len(pw) > MaxPasswordLen {
		return ErrWeakPassword
	}
	return nil
}

// HashPassword returns the PHC-style encoding of pw's Argon2id hash:
// $argon2id$v=19$m=47104,t=1,p=1$<salt>$<hash> (unpadded base64).
func HashPassword(pw string, p PasswordParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, hashLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

var errBadEncoding = errors.New("operator: not an argon2id password hash")

// decodeHash parses an encoding HashPassword wrote.
func decodeHash(encoded string) (p PasswordParams, salt, sum []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadEncoding
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errBadEncoding
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory < 8 || p.Memory > 1<<22 || p.Time < 1 || p.Time > 16 || p.Threads < 1 {
		return p, nil, nil, errBadEncoding
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadEncoding
	}
	if sum, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(sum) < 16 {
		return p, nil, nil, errBadEncoding
	}
	return p, salt, sum, nil
}

// VerifyPassword reports whether pw matches encoded, comparing in constant
// time. An encoding it cannot read is an error (never a match).
func VerifyPassword(encoded, pw string) (bool, error) {
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	p, salt, sum, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(sum)))
	return subtle.ConstantTimeCompare(got, sum) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than p.
func NeedsRehash(encoded string, p PasswordParams) bool {
	have, _, _, err := decodeHash(encoded)
	return err != nil || have != p
}
