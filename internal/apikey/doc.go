// Package apikey generates, validates and hashes API keys for the NovaMed
// Partner API, and provides a small verification cache for the HTTP hot path.
//
// # Key format
//
// A key is
//
//	<prefix>_<body><check>
//
// where prefix is "dev" (environment "development") or "prod" (environment
// "production"); body is 43 base62 characters encoding 32 bytes from
// crypto/rand as a big-endian number, left-padded with '0'; and check is 6
// base62 characters encoding the CRC-32 (IEEE) of "<prefix>_<body>",
// left-padded with '0'. The base62 alphabet is 0-9, A-Z, a-z in that order
// (which is also ASCII order, so a fixed-width encoding sorts like the number
// it encodes). A development key is therefore 53 characters long and a
// production key 54.
//
// The checksum lets [Parse] reject typos, truncated copies and keys from the
// wrong environment cheaply and without allocating, before any storage lookup.
// It is not a security measure: the 256 random bits of the body are.
//
// # Storage and lookup
//
// Keys are never stored. The server stores [HashKey] of each key (an unsalted
// SHA-256 is appropriate because the key has 256 bits of entropy) and, to show
// a key to its owner, [DisplayPrefix]. A request is authenticated by
// [Parse], then [HashKey], then a lookup of the hash, first in a [Cache] and
// then in the database.
package apikey
