package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostileInput: every hostile request gets a 4xx (an envelope, or the
// HTTP server's own 431 for oversized headers) or a closed connection;
// nothing is written; the server stays up with bounded memory.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off", "--read-header-timeout", "1s", "--idle-timeout", "2s")
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "100000")
	clinicB := ts.newClinic("Other partner")
	valid := func(extra string) string {
		return `{"clinic_id":"` + demoClinic + `","first_name":"Hana","last_name":"Hostile","dob":"1980-01-01"` + extra + `}`
	}
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int // 0: any 4xx
	}{
		{"oversized body", "POST", "/api/external/patient", valid(`,"notes":"` + strings.Repeat("x", 2<<20) + `"`), nil, 413},
		{"deeply nested", "POST", "/api/external/patient", strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000), nil, 400},
		{"duplicate keys", "POST", "/api/external/patient", `{"clinic_id":"` + demoClinic + `","first_name":"Hana","first_name":"Eve","last_name":"Hostile","dob":"1980-01-01"}`, nil, 400},
		{"duplicate nested keys", "POST", "/api/external/patient", valid(`,"address":{"state":"TX","state":"CA"}`), nil, 400},
		{"invalid utf-8", "POST", "/api/external/patient", valid(`,"notes":"` + "\xc3\x28" + `"`), nil, 400},
		{"NUL in value", "POST", "/api/external/patient", valid(`,"notes":"a\u0000b"`), nil, 400},
		{"raw NUL", "POST", "/api/external/patient", valid("") + "\x00", nil, 400},
		{"long URL", "GET", "/api/external/patient/" + strings.Repeat("a", 8000), "", nil, 404},
		{"path traversal id", "GET", "/api/external/patient/..%2F..%2Fetc%2Fpasswd", "", nil, 404},
		{"path traversal segments", "GET", "/api/external/../external/patient/x", "", nil, 404},
		{"double slash", "GET", "/api/external//patient", "", nil, 404},
		{"sql in id", "GET", "/api/external/patient/1'%20OR%20'1'='1", "", nil, 404},
		{"sql in cursor", "GET", "/api/external/patient?cursor=1'%3B%20DROP%20TABLE%20patients%3B--", "", nil, 400},
		{"sql in limit", "GET", "/api/external/patient?limit=1%20OR%201=1", "", nil, 400},
		{"sql in clinic filter", "GET", "/api/external/patient?clinic_id=x'%20OR%20'1'='1", "", nil, 400},
		{"sql in dob", "POST", "/api/external/patient", `{"clinic_id":"` + demoClinic + `","first_name":"Hana","last_name":"Hostile","dob":"1980-01-01' OR '1'='1"}`, nil, 400},
		{"sql in email", "POST", "/api/external/patient", valid(`,"email":"a@b.test' OR 1=1--"`), nil, 400},
		{"sql in gender", "POST", "/api/external/patient", valid(`,"gender":"male'; DROP TABLE patients;--"`), nil, 400},
		{"sql in practitioner id", "POST", "/api/external/patient", valid(`,"practitioner_id":"' OR ''='"`), nil, 400},
		{"other partner's clinic", "POST", "/api/external/patient", `{"clinic_id":"` + clinicB + `","first_name":"Hana","last_name":"Hostile","dob":"1980-01-01"}`, nil, 400},
		{"huge header value", "GET", "/api/external/me", "", []string{"X-Filler", strings.Repeat("a", 70<<10)}, 431},
		{"huge idempotency key", "POST", "/api/external/patient", valid(""), []string{"Idempotency-Key", strings.Repeat("k", 300)}, 400},
		{"CRLF in idempotency key", "POST", "/api/external/patient", valid(""), []string{"Idempotency-Key", "a\rb"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body, closed := rawRequest(t, ts.URL, c.method, c.path, k.Key, c.body, c.hdr...)
			if closed {
				return
			}
			if st < 400 || st >= 500 || (c.status != 0 && st != c.status) {
				t.Fatalf("got %d, want %d: %.200s", st, c.status, body)
			}
			// The HTTP server itself refuses oversized or malformed headers
			// (431, 400 "Bad Request") before any handler runs.
			serverLevel := st == 431 || (st == 400 && strings.HasPrefix(body, "400 Bad Request"))
			if !serverLevel && !strings.Contains(body, `"success":false`) {
				t.Errorf("no error envelope: %.200s", body)
			}
		})
	}
	// Free text holding SQL is stored verbatim (parameterised queries), and
	// the tables are intact.
	r := ts.req("POST", "/api/external/patient", k.Key, map[string]any{"clinic_id": demoClinic, "first_name": "Robert'); DROP TABLE patients;--",
		"last_name": "Tables", "dob": "1990-01-01", "notes": "' OR '1'='1"})
	expectOK(t, r)
	if !strings.Contains(string(r.Body), `Robert'); DROP TABLE patients;--`) {
		t.Errorf("free text was not kept verbatim: %s", r.Body)
	}
	// Mass assignment: server-controlled fields in the body are ignored.
	r = ts.req("POST", "/api/external/practitioner", k.Key, map[string]any{"clinic_id": demoClinic, "first_name": "Mass", "last_name": "Assign",
		"email": "mass@clinic.test", "npi": "1234567893", "id": "650e8400-e29b-41d4-a716-446655440000", "status": "active",
		"created_at": "2000-01-01T00:00:00Z", "practitioner_id": "650e8400-e29b-41d4-a716-446655440000"})
	expectOK(t, r)
	var p struct {
		ID, Status string
		CreatedAt  time.Time `json:"created_at"`
	}
	r.data(t, &p)
	if p.ID == "650e8400-e29b-41d4-a716-446655440000" || p.Status != "pending" || p.CreatedAt.Year() < 2026 {
		t.Errorf("server-controlled fields were taken from the body: %+v", p)
	}
	if ids := ts.createdIDs(t, "/api/external/patient", k.Key); len(ids) != 1 {
		t.Errorf("%d patients stored, want only the verbatim one", len(ids))
	}
	expectOK(t, ts.req("GET", "/api/external/me", k.Key, nil))
}

// rawRequest speaks HTTP/1.1 on a plain connection so that malformed
// requests reach the server exactly as written.
func rawRequest(t *testing.T, base, method, path, key, body string, hdr ...string) (int, string, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // test deadline
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test\r\nx-api-key: %s\r\nAccept: application/json\r\nConnection: close\r\n", method, path, key)
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return 0, "", true
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", true
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(out), false
}

// TestSlowClientsAndManyConnections: a client that sends its headers slowly
// is cut off; hundreds of idle connections do not stop others being
// served, and memory stays bounded.
func TestSlowClientsAndManyConnections(t *testing.T) {
	ts := startServer(t, "development", "--sandbox", "off", "--read-header-timeout", "1s", "--idle-timeout", "2s")
	addr := strings.TrimPrefix(ts.URL, "http://")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	io.WriteString(slow, "GET /api/external/me HTTP/1.1\r\nHost: x\r\n") //nolint:errcheck // slowloris
	closed := false
	for time.Since(start) < 5*time.Second {
		if _, err := io.WriteString(slow, "X-Slow: 1\r\n"); err != nil {
			closed = true
			break
		}
		slow.SetReadDeadline(time.Now().Add(200 * time.Millisecond)) //nolint:errcheck // polling
		buf := make([]byte, 1)
		if _, err := slow.Read(buf); err == io.EOF {
			closed = true
			break
		}
	}
	if !closed {
		t.Fatalf("a slowloris client was kept for %v", time.Since(start))
	}
	var conns []net.Conn
	for i := 0; i < 300; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 20; i++ {
		expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))
	}
	if rss := selfRSSMB(); rss > 1024 {
		t.Errorf("test process RSS %.0f MB", rss)
	}
}

func selfRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
