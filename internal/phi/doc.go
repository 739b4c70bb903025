// Package phi encrypts individual fields of protected health information
// (PHI) before they are stored, and computes blind indexes so that encrypted
// fields can still be looked up by equality.
//
// # Encryption
//
// Each field is sealed with AES-256-GCM under a random 96-bit nonce. The
// associated data binds the ciphertext to the table, column and row id it
// belongs to and to the key version, so a ciphertext copied to another row,
// column or table fails to open with [ErrCorrupt]. Because the row id is part
// of the associated data, it must be known before the row is written (for
// example a UUID chosen by the application), and table, column and row id
// must not contain NUL bytes.
//
// A sealed field is text of the form
//
//	v<version>:<base64 of nonce || ciphertext || tag>
//
// using unpadded standard base64. It is 28 bytes of overhead before encoding,
// so a 32-byte field seals to 80 characters plus the version prefix.
//
// [Keyring.SealString] and [Keyring.OpenString] map the empty string to the
// empty string so that absent optional fields stay empty; this reveals that a
// field is empty, which is accepted. [Keyring.Seal] always encrypts, even an
// empty plaintext.
//
// # Keys and rotation
//
// A [Keyring] holds 32-byte master keys by version (1, 2, ...). From each
// master key, HKDF-SHA256 derives an AES-256 key (info "novamed phi aes v1")
// and a separate blind-index key (info "novamed phi index v1"). The highest
// version seals; every version opens. To rotate, add a new master key with a
// higher version, deploy, then re-seal old fields (see
// [Keyring.NeedsRotation]) before removing the old version. Because nonces are
// random, a single key version must not seal more than 2^32 fields.
//
// [Keyring.KeyCheck] returns a key-check value per version (an HMAC of a
// fixed message under a key derived with info "novamed phi key check v1"),
// so that a store can tell whether a keyring holds the keys its data was
// sealed with without storing anything that reveals them.
//
// Master keys are stored one per file as base64 text (see [WriteKeyFile],
// [LoadKeyFile] and [ParseKey]). Errors never include key material.
//
// # Blind indexes
//
// [Keyring.BlindIndex] is an HMAC-SHA256 of a purpose and a normalized value
// keyed with the index key of the lowest version in the ring, so indexes stay
// valid when a new version is added; removing the lowest version changes it.
// [Keyring.BlindIndexWith] keys the index with a version the caller names
// (the store records which version its indexes use and re-indexes them on
// rotation before an old version is retired). Callers must normalize values
// (case, whitespace, formatting) consistently before indexing. A blind index
// reveals which rows share a value, so index only columns where that is
// acceptable.
//
// A Keyring is immutable and safe for concurrent use.
package phi
