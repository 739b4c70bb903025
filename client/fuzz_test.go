package client

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseError: any answer — the API's envelope, a proxy's HTML, garbage,
// any Retry-After — becomes an APIError that keeps the status, never waits
// a negative time, names the status in Error(), and from a body that is not
// JSON takes no code and at most a short message.
func FuzzParseError(f *testing.F) {
	f.Add(429, `{"success":false,"error":{"message":"slow","code":"RATE_LIMIT_EXCEEDED","retry_after":4}}`, "9")
	f.Add(400, `{"success":false,"error":{"code":"VALIDATION_ERROR","details":{"fields":[{"field":"a","message":"b"}]}}}`, "")
	f.Add(502, "<html>Bad Gateway</html>", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(503, strings.Repeat("x", 300), "-1")
	f.Add(429, `{"error":{"retry_after":9223372037}}`, "")
	f.Add(429, "", "9223372037")
	f.Fuzz(func(t *testing.T, status int, body, retry string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retry}}}
		e := parseError(resp, []byte(body))
		if e.StatusCode != status {
			t.Fatalf("status %d kept as %d", status, e.StatusCode)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("RetryAfter %v < 0 (body %q, Retry-After %q)", e.RetryAfter, body, retry)
		}
		if msg := e.Error(); !strings.Contains(msg, strconv.Itoa(status)) {
			t.Fatalf("Error() = %q does not name the status %d", msg, status)
		}
		if !json.Valid([]byte(body)) {
			if e.Code != "" || e.Message != http.StatusText(status) && e.Message != strings.TrimSpace(body) {
				t.Fatalf("code %q, message %q from a body that is not JSON", e.Code, e.Message)
			}
			if len(e.Message) > 200 {
				t.Fatalf("a %d-byte body that is not JSON became the message", len(e.Message))
			}
		}
		// Without an envelope (which may carry its own retry_after), the
		// header's whole seconds are the wait.
		if n, err := strconv.Atoi(strings.TrimSpace(retry)); err == nil && n >= 0 && n < 1<<20 &&
			!json.Valid([]byte(body)) && e.RetryAfter != time.Duration(n)*time.Second {
			t.Fatalf("Retry-After %q read as %v", retry, e.RetryAfter)
		}
	})
}
