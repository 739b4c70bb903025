package main

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// waitSeconds lets n seconds (and a little) pass: for a test of what a
// Retry-After of n seconds promises, that very wait is the behaviour under
// test (the limiter runs on the real clock).
func waitSeconds(n int) { time.Sleep(time.Duration(n)*time.Second + 50*time.Millisecond) }

// clientFrom returns an HTTP client whose connections come from a given
// loopback source address, to act as a second client machine.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func TestFailedAuthenticationGuard(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	bogus := forgeKey(t, "development")
	for i := 0; i < 20; i++ {
		// A changing X-Forwarded-For from an untrusted peer must not help.
		r := ts.req("GET", "/api/external/me", bogus, nil, "X-Forwarded-For", "198.51.100."+string(rune('0'+i%10)))
		expectError(t, r, 401, "UNAUTHORIZED", msgUnauthorized)
	}
	r := ts.req("GET", "/api/external/me", bogus, nil, "X-Forwarded-For", "203.0.113.99")
	expectError(t, r, 429, "TOO_MANY_FAILED_AUTHENTICATIONS", "")
	// A valid key from the guessing address is still served (issue 19.2:
	// a shared NAT must not lock partners out); only failures are slowed.
	expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))
	expectError(t, ts.req("GET", "/api/external/me", bogus, nil), 429, "TOO_MANY_FAILED_AUTHENTICATIONS", "")

	// A valid key from another address is unaffected.
	req, _ := http.NewRequest("GET", ts.URL+"/api/external/me", nil)
	req.Header.Set("x-api-key", ts.Key)
	resp, err := clientFrom("127.0.0.2").Do(req)
	if err != nil {
		t.Fatalf("request from 127.0.0.2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("valid key from another address: %d, want 200", resp.StatusCode)
	}
}
