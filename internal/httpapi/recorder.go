package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
)

var errPanic = errors.New("httpapi: handler panicked")

// recorder remembers the status and size of a response, and optionally its
// body (for idempotent replays).
type recorder struct {
	http.ResponseWriter
	status  int
	bytes   int
	wrote   bool
	capture *bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.wrote {
		return
	}
	r.status, r.wrote = code, true
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if r.capture != nil {
		r.capture.Write(b)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// probeWriter swallows the mux's own plain-text 404/405 answers.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// newRequestID makes the server's own id of a request. The server never
// adopts a client's id: each audit record and log line must name exactly one
// request, whatever clients send.
func newRequestID() string {
	var b [12]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand never fails on supported platforms
	return "req_" + hex.EncodeToString(b[:])
}

// clientRequestID returns the client's X-Request-Id if it is valid (one
// header of 1–128 characters of [A-Za-z0-9._:-]), else "" (ignored).
func clientRequestID(r *http.Request) string {
	values := r.Header.Values("X-Request-Id")
	if len(values) != 1 {
		return ""
	}
	id := values[0]
	if len(id) == 0 || len(id) > 128 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return ""
		}
	}
	return id
}

func saneID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// panicText describes a panic without its value unless it is a runtime
// error: a custom panic value could carry request data, and the log must
// never hold PHI.
func panicText(v any) string {
	if e, ok := v.(runtime.Error); ok {
		return e.Error()
	}
	return fmt.Sprintf("panic of type %T", v)
}
