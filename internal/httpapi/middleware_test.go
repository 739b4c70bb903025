package httpapi

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestAcceptsJSON(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"":                                  true,
		"*/*":                               true,
		"application/*":                     true,
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"text/html, application/json;q=0.1": true,
		"text/html":                         false,
		"application/json;q=0":              false,
		"application/xml":                   false,
		"garbage;;;":                        false,
	}
	for accept, want := range cases {
		var values []string
		if accept != "" {
			values = []string{accept}
		}
		if got := acceptsJSON(values); got != want {
			t.Errorf("acceptsJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestClientAddrTrustsOnlyConfiguredProxies(t *testing.T) {
	t.Parallel()
	s := &Server{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	cases := []struct {
		remote, xff, want string
	}{
		{"203.0.113.7:5000", "", "203.0.113.7"},
		{"203.0.113.7:5000", "198.51.100.1", "203.0.113.7"}, // untrusted peer: header ignored
		{"10.1.2.3:5000", "198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:5000", "198.51.100.9, 198.51.100.1", "198.51.100.1"}, // right-most untrusted hop
		{"10.1.2.3:5000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"10.1.2.3:5000", "not-an-ip", "10.1.2.3"},
		{"[::ffff:203.0.113.7]:5000", "", "203.0.113.7"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientAddr(r); got != c.want {
			t.Errorf("clientAddr(%s, XFF %q) = %q, want %q", c.remote, c.xff, got, c.want)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 59 * time.Second: 59} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// TestStoreFailureIsNotAFailedLogin: when the store cannot answer, valid
// keys get 500s, but nothing is counted against the client's address.
func TestStoreFailureIsNotAFailedLogin(t *testing.T) {
	t.Parallel()
	s, raw, _ := newTestServer(t, 1000)
	s.store.(interface{ Close() error }).Close()
	for i := 0; i < 25; i++ {
		r := httptest.NewRequest("GET", "/api/external/me", nil)
		r.Header.Set("x-api-key", raw)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 500 {
			t.Fatalf("request %d with the store down: %d %s", i, w.Code, w.Body)
		}
	}
	d, err := s.limiter.Peek(context.Background(), "authfail:192.0.2.1", s.authFail, time.Minute)
	if err != nil || !d.Allowed || d.Remaining != s.authFail {
		t.Fatalf("store failures were counted as failed logins: %+v %v", d, err)
	}
}
