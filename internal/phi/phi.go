package phi

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

const (
	// keySize is the size in bytes of a master key.
	keySize = 32

	infoAES   = "novamed phi aes v1"
	infoIndex = "novamed phi index v1"
	infoCheck = "novamed phi key check v1"

	// checkMessage is what a key-check value authenticates.
	checkMessage = "novamed master key check"

	// overhead is the size of the nonce plus the GCM tag.
	overhead = 12 + 16
)

// ErrUnknownKeyVersion is returned by Keyring.Open when a sealed field names
// a key version that is not in the keyring.
var ErrUnknownKeyVersion = errors.New("phi: unknown key version")

// ErrCorrupt is returned by Keyring.Open when a sealed field is malformed or
// fails authentication, which includes a field opened with a table, column or
// row id other than the one it was sealed with.
var ErrCorrupt = errors.New("phi: corrupt sealed field")

var errContext = errors.New("phi: table, column and row id must not contain NUL bytes")

// encoding is the text encoding of sealed fields. Strict rejects non-zero
// trailing bits, so each ciphertext has exactly one text form.
var encoding = base64.RawStdEncoding.Strict()

// Keyring holds master keys by version; the highest version seals, all
// versions open. Create one with NewKeyring.
type Keyring struct {
	aeads     map[uint32]cipher.AEAD
	current   uint32
	indexKey  []byte            // blind-index key of the lowest version
	indexKeys map[uint32][]byte // blind-index key of every version
	checks    map[uint32]string // key-check value of every version
}

// NewKeyring returns a keyring for keys, which maps versions (at least 1) to
// 32-byte master keys. It needs at least one key. The keys are not retained.
func NewKeyring(keys map[uint32][]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("phi: keyring needs at least one key")
	}
	k := &Keyring{aeads: make(map[uint32]cipher.AEAD, len(keys)), indexKeys: make(map[uint32][]byte, len(keys)),
		checks: make(map[uint32]string, len(keys))}
	lowest := uint32(0)
	for v, master := range keys {
		if v == 0 {
			return nil, errors.New("phi: key version must be at least 1")
		}
		if len(master) != keySize {
			return nil, fmt.Errorf("phi: key version %d is %d bytes, want %d", v, len(master), keySize)
		}
		aesKey, err := hkdf.Key(sha256.New, master, nil, infoAES, 32)
		if err != nil {
			return nil, fmt.Errorf("phi: deriving key version %d: %w", v, err)
		}
		block, err := aes.NewCipher(aesKey)
		clear(aesKey)
		if err != nil {
			return nil, fmt.Errorf("phi: key version %d: %w", v, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("phi: key version %d: %w", v, err)
		}
		k.aeads[v] = aead
		if k.indexKeys[v], err = hkdf.Key(sha256.New, master, nil, infoIndex, 32); err != nil {
			return nil, fmt.Errorf("phi: deriving index key version %d: %w", v, err)
		}
		checkKey, err := hkdf.Key(sha256.New, master, nil, infoCheck, 32)
		if err != nil {
			return nil, fmt.Errorf("phi: deriving check key version %d: %w", v, err)
		}
		mac := hmac.New(sha256.New, checkKey)
		mac.Write([]byte(checkMessage))
		k.checks[v] = hex.EncodeToString(mac.Sum(nil))
		clear(checkKey)
		k.current = max(k.current, v)
		if lowest == 0 || v < lowest {
			lowest = v
		}
	}
	k.indexKey = k.indexKeys[lowest]
	return k, nil
}

// Versions returns the key versions in the ring, lowest first.
func (k *Keyring) Versions() []uint32 {
	out := make([]uint32, 0, len(k.aeads))
	for v := range k.aeads {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// HasVersion reports whether version is in the ring.
func (k *Keyring) HasVersion(version uint32) bool {
	_, ok := k.aeads[version]
	return ok
}

// KeyCheck returns the key-check value of version: an HMAC-SHA256 of a
// fixed message under a key derived from that version's master key (info
// "novamed phi key check v1"), as 64 hexadecimal digits. Stored beside the
// data, it tells whether a keyring holds the same master key as the one
// the data was sealed with, without revealing the key. ok is false when
// the version is not in the ring.
func (k *Keyring) KeyCheck(version uint32) (value string, ok bool) {
	value, ok = k.checks[version]
	return value, ok
}

// BlindIndexWith is BlindIndex keyed with the index key of the given
// version instead of the lowest one, so that indexes can be moved to a
// newer version (a re-index) before an old one is retired. It returns an
// error wrapping ErrUnknownKeyVersion when version is not in the ring.
func (k *Keyring) BlindIndexWith(version uint32, purpose, normalized string) (string, error) {
	key, ok := k.indexKeys[version]
	if !ok {
		return "", fmt.Errorf("%w %d", ErrUnknownKeyVersion, version)
	}
	return blindIndex(key, purpose, normalized), nil
}

// CurrentVersion returns the version that Seal uses, the highest in the ring.
func (k *Keyring) CurrentVersion() uint32 {
	return k.current
}

// Seal encrypts plaintext for the given table, column and row id with the
// current key version and returns the sealed text. An empty plaintext is
// encrypted too. Table, column and row id must not contain NUL bytes.
func (k *Keyring) Seal(table, column, rowID string, plaintext []byte) (string, error) {
	aad, err := associatedData(make([]byte, 0, len(table)+len(column)+len(rowID)+3+10), table, column, rowID, k.current)
	if err != nil {
		return "", err
	}
	sealed := k.aeads[k.current].Seal(nil, nil, plaintext, aad)

	text := make([]byte, 0, len("v4294967295:")+encoding.EncodedLen(len(sealed)))
	text = append(text, 'v')
	text = strconv.AppendUint(text, uint64(k.current), 10)
	text = append(text, ':')
	text = encoding.AppendEncode(text, sealed)
	return string(text), nil
}

// Open decrypts a field sealed by Seal for the same table, column and row id.
// It returns ErrUnknownKeyVersion if the field's key version is not in the
// ring, and ErrCorrupt if the field is malformed, was tampered with or was
// sealed for another table, column or row id.
func (k *Keyring) Open(table, column, rowID, sealed string) ([]byte, error) {
	version, payload, err := splitSealed(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[version]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownKeyVersion, version)
	}
	if strings.IndexByte(table, 0) >= 0 || strings.IndexByte(column, 0) >= 0 || strings.IndexByte(rowID, 0) >= 0 {
		// Seal refuses such a context, so no field can open under it.
		return nil, fmt.Errorf("%w: table, column or row id contains a NUL byte", ErrCorrupt)
	}
	// The decoder skips CR and LF; reject them so that each ciphertext has
	// exactly one text form.
	n := encoding.DecodedLen(len(payload))
	if n < overhead || strings.ContainsAny(payload, "\r\n") {
		return nil, ErrCorrupt
	}
	// One allocation holds the ciphertext (opened in place) and, after
	// it, the associated data: a list opens four fields per row.
	buf := make([]byte, n, n+len(table)+len(column)+len(rowID)+3+10)
	n, err = encoding.Decode(buf, []byte(payload))
	if err != nil || n < overhead {
		return nil, ErrCorrupt
	}
	ciphertext := buf[:n]
	aad, _ := associatedData(buf[n:n], table, column, rowID, version) // checked above
	plaintext, err := aead.Open(ciphertext[:0], nil, ciphertext, aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	if plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, nil
}

// SealString is Seal for string fields, except that an empty plaintext
// yields an empty result, so that absent optional fields stay empty.
func (k *Keyring) SealString(table, column, rowID, plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	return k.Seal(table, column, rowID, []byte(plaintext))
}

// OpenString is Open for string fields, except that an empty sealed text
// yields an empty result; it is the inverse of SealString.
func (k *Keyring) OpenString(table, column, rowID, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	plaintext, err := k.Open(table, column, rowID, sealed)
	if err != nil {
		return "", err
	}
	return string(plaintext), nil
}

// VersionOf returns the key version named by a sealed field, whether or not
// that version is in the ring. It returns ErrCorrupt if the version prefix is
// malformed; it does not check the rest of the field.
func (k *Keyring) VersionOf(sealed string) (uint32, error) {
	version, _, err := splitSealed(sealed)
	return version, err
}

// NeedsRotation reports whether sealed was sealed under a version older than
// the current one and should be re-sealed. It returns false for the empty
// string and for fields whose version prefix is malformed.
func (k *Keyring) NeedsRotation(sealed string) bool {
	version, err := k.VersionOf(sealed)
	return err == nil && version < k.current
}

// BlindIndex returns a deterministic keyed hash of normalized for equality
// lookups, as 64 hexadecimal digits: HMAC-SHA256 over purpose, a NUL byte and
// normalized, keyed with the index key of the lowest version in the ring.
// Distinct purposes (for example "patient.email" and "patient.ssn") yield
// unrelated indexes for the same value; purpose must not contain NUL bytes.
func (k *Keyring) BlindIndex(purpose string, normalized string) string {
	return blindIndex(k.indexKey, purpose, normalized)
}

func blindIndex(key []byte, purpose, normalized string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write([]byte(normalized))
	return hex.EncodeToString(mac.Sum(nil))
}

// infoFingerprint labels the idempotency fingerprint key, derived from the
// index key as the index key is derived from the master key.
const infoFingerprint = "novamed idempotency fingerprint v1"

// IdempotencyFingerprintKey returns a 32-byte key for keyed fingerprints of
// requests (HMAC-SHA256): HKDF-SHA256 of the blind-index key with its own
// label, so it changes exactly when the blind-index key does, and a stored
// fingerprint reveals nothing of the request without the master key.
func (k *Keyring) IdempotencyFingerprintKey() []byte {
	key, err := hkdf.Key(sha256.New, k.indexKey, nil, infoFingerprint, 32)
	if err != nil {
		// HKDF fails only when asked for more than 255 hash lengths.
		panic("phi: deriving the fingerprint key: " + err.Error())
	}
	return key
}

// associatedData appends to aad the AAD for a field: table, column, row id and
// version in decimal, separated by NUL bytes.
func associatedData(aad []byte, table, column, rowID string, version uint32) ([]byte, error) {
	if strings.IndexByte(table, 0) >= 0 || strings.IndexByte(column, 0) >= 0 || strings.IndexByte(rowID, 0) >= 0 {
		return nil, errContext
	}
	aad = append(aad, table...)
	aad = append(aad, 0)
	aad = append(aad, column...)
	aad = append(aad, 0)
	aad = append(aad, rowID...)
	aad = append(aad, 0)
	aad = strconv.AppendUint(aad, uint64(version), 10)
	return aad, nil
}

// splitSealed parses "v<version>:<payload>". The version must be canonical
// decimal (no sign, no leading zeros) and at least 1.
func splitSealed(sealed string) (version uint32, payload string, err error) {
	rest, ok := strings.CutPrefix(sealed, "v")
	if !ok {
		return 0, "", ErrCorrupt
	}
	digits, payload, ok := strings.Cut(rest, ":")
	if !ok || digits == "" || len(digits) > 10 || digits[0] == '0' {
		return 0, "", ErrCorrupt
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, "", ErrCorrupt
		}
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, "", ErrCorrupt
	}
	return uint32(v), payload, nil
}

// GenerateKey returns a new random 32-byte master key.
func GenerateKey() ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("phi: reading random bytes: %w", err)
	}
	return key, nil
}
