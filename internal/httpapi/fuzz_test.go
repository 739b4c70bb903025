package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzIdempotencyKey: accepted keys are exactly 1–255 printable ASCII.
func FuzzIdempotencyKey(f *testing.F) {
	for _, s := range []string{"k1", "", "tab\there", "é", string(make([]byte, 256))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		want := len(k) >= 1 && len(k) <= 255
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				want = false
			}
		}
		if got := validIdempotencyKey(k); got != want {
			t.Fatalf("validIdempotencyKey(%q) = %v, want %v", k, got, want)
		}
	})
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
