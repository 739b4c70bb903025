package httpapi

import (
	"net/http/httptest"
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

// FuzzHeaders: Accept parsing and request ids never panic, and an echoed
// request id is always safe to put in a header and a log line.
func FuzzHeaders(f *testing.F) {
	f.Add("application/json", "req-1")
	f.Add("text/html;q=0.5, */*;q=0", "<script>")
	f.Fuzz(func(t *testing.T, accept, id string) {
		acceptsJSON([]string{accept})
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["X-Request-Id"] = []string{id}
		got := requestID(r)
		if len(got) == 0 || len(got) > 128 || !saneID(got) {
			t.Fatalf("requestID(%q) = %q", id, got)
		}
	})
}
