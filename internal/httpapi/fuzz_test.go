package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
)

// FuzzIdempotencyKey checks validIdempotencyKey against the contract's rule
// (§5: 1–255 printable ASCII characters) written independently — by runes,
// with the unicode package — and against properties any correct check has:
// a valid key stays valid when cut shorter, becomes invalid with one
// non-printable or non-ASCII byte inserted anywhere, and the longest valid
// key is 255 bytes.
func FuzzIdempotencyKey(f *testing.F) {
	for _, s := range []string{"k1", "", " ", "~", "tab\there", "del\x7f", "\x1f", "é", "\xff",
		strings.Repeat("k", 255), strings.Repeat("k", 256), string(make([]byte, 256))} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, k string, pos uint8) {
		if got, want := validIdempotencyKey(k), contractKey(k); got != want {
			t.Fatalf("validIdempotencyKey(%q) = %v, the contract says %v", k, got, want)
		}
		if !validIdempotencyKey(k) {
			return
		}
		if i := int(pos) % len(k); i > 0 && !validIdempotencyKey(k[:i]) {
			t.Fatalf("validIdempotencyKey(%q) = false, but the longer %q is valid", k[:i], k)
		}
		i := int(pos) % (len(k) + 1)
		for _, bad := range []string{"\x00", "\t", "\x7f", "\x80", "é"} {
			if b := k[:i] + bad + k[i:]; validIdempotencyKey(b) {
				t.Fatalf("validIdempotencyKey(%q) = true with %q inserted", b, bad)
			}
		}
		long := strings.Repeat(k, 256/len(k)+1)
		if !validIdempotencyKey(long[:255]) || validIdempotencyKey(long[:256]) {
			t.Fatalf("from %q: 255 bytes must be valid, 256 invalid", k)
		}
	})
}

// contractKey is the contract's Idempotency-Key rule as a reader would
// check it: between 1 and 255 characters, each a printable ASCII one
// (space to tilde). A byte that is not valid UTF-8 decodes as U+FFFD, which
// is not ASCII.
func contractKey(k string) bool {
	n := 0
	for _, r := range k {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return false
		}
		n++
	}
	return n >= 1 && n <= 255
}

// FuzzHeaders: Accept parsing and request ids never panic, and a kept
// client request id is always safe to put in a header, an audit record and
// a log line.
func FuzzHeaders(f *testing.F) {
	f.Add("application/json", "req-1")
	f.Add("text/html;q=0.5, */*;q=0", "<script>")
	f.Add("*/*", "trace:1.2-3_4")
	f.Fuzz(func(t *testing.T, accept, id string) {
		acceptsJSON([]string{accept})
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["X-Request-Id"] = []string{id}
		got := clientRequestID(r)
		if got != "" && got != id {
			t.Fatalf("clientRequestID(%q) = %q: an id is kept as sent or not at all", id, got)
		}
		if len(got) > 128 || strings.ContainsFunc(got, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c))
		}) {
			t.Fatalf("clientRequestID(%q) = %q", id, got)
		}
		if own := newRequestID(); !strings.HasPrefix(own, "req_") || len(own) != 28 {
			t.Fatalf("newRequestID() = %q", own)
		}
	})
}
