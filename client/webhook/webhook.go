// Package webhook signs, verifies and parses NovaMed webhook deliveries with
// the Standard Webhooks scheme: headers webhook-id, webhook-timestamp and
// webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>", one
// space-separated entry per signing secret in use: two during a rotation's
// overlap), keyed with the webhook's signing secret ("whsec_" + base64). The
// x-api-key header carries the webhook's separate verification token.
//
// Partners call VerifyAndParse in their receivers (or Verify, then Parse) and
// read the typed data of the event with Event.Order,
// Event.PractitionerActivated or Event.Test; the NovaMed server uses Sign.
// Delivery is at least once: de-duplicate on Event.ID (the webhook-id
// header). Standard library only.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a signed delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	// HeaderAPIKey carries the webhook's verification token, as the NovaMed
	// guide tells partners to check (VerifyToken); it is not the signing
	// secret. Verify proves the body too.
	HeaderAPIKey = "x-api-key"
	secretPrefix = "whsec_"
)

// Errors Verify returns.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrBadTimestamp   = errors.New("webhook: timestamp outside the tolerance window")
	ErrBadSignature   = errors.New("webhook: no valid signature")
	ErrBadSecret      = errors.New("webhook: secret must be whsec_ followed by base64")
)

func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 || !strings.HasPrefix(secret, secretPrefix) {
		return nil, ErrBadSecret
	}
	return key, nil
}

// Sign returns the webhook-signature value for a delivery.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + signature(key, id, strconv.FormatInt(ts.Unix(), 10), body), nil
}

func signature(key []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyToken reports, in constant time, whether a delivery's x-api-key
// header is one of tokens (during a rotation's overlap a receiver may hold
// both the old and the new verification token).
func VerifyToken(h http.Header, tokens ...string) bool {
	got := h.Values(HeaderAPIKey)
	if len(got) != 1 || got[0] == "" {
		return false
	}
	ok := false
	for _, t := range tokens {
		if t != "" && subtle.ConstantTimeCompare([]byte(got[0]), []byte(t)) == 1 {
			ok = true
		}
	}
	return ok
}

// Verify checks a delivery: the timestamp lies within tolerance of now and
// one of the signatures in webhook-signature (space-separated, for secret
// rotation) matches the body. Compare in constant time; reject on any error.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration) error {
	return verifyAt(secret, h, body, tolerance, time.Now())
}

func verifyAt(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrBadTimestamp
	}
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	want := signature(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}
