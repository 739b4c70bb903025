package httpapi

import (
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// securityHeaders are set on every response. PHI responses must never be
// cached by browsers or proxies, so no-store is universal.
func (s *Server) securityHeaders(h http.Header, requestID string) {
	h.Set("X-Request-Id", requestID)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	if s.hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

// logScratch is a request log line's working memory, reused across
// requests (an io.Writer does not keep what it is given): about a kilobyte
// per request less for the garbage collector.
type logScratch struct {
	attrs []slog.Attr
	line  []byte
}

func newLogScratch() any {
	return &logScratch{attrs: make([]slog.Attr, 0, 10), line: make([]byte, 0, 512)}
}

// logRequest writes the one log line of a request: identifiers and outcome
// only, never bodies, keys, query strings or PHI.
func (s *Server) logRequest(r *http.Request, status, size int, st *reqState) {
	if status == 0 {
		status = http.StatusOK
	}
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	sc := s.logScratch.Get().(*logScratch)
	defer s.logScratch.Put(sc)
	attrs := append(sc.attrs[:0],
		slog.String("request_id", st.requestID),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(s.now().Sub(st.start).Microseconds())/1000),
		slog.Int("bytes", size),
		slog.String("client", st.clientAddr),
	)
	if st.clientRequestID != "" {
		attrs = append(attrs, slog.String("client_request_id", st.clientRequestID))
	}
	if st.key != nil {
		attrs = append(attrs, slog.String("key_id", st.key.ID))
	}
	if st.facts.clinicID != "" {
		attrs = append(attrs, slog.String("clinic_id", st.facts.clinicID))
	}
	level := slog.LevelInfo
	if st.securityEvent != "" {
		attrs = append(attrs, slog.String("security_event", st.securityEvent))
		level = slog.LevelWarn // written out at once, not with the next batch
	}
	if s.accessLog != nil {
		sc.line = appendAccessLine(sc.line[:0], time.Now(), level, "request", attrs)
		s.accessLog.Write(sc.line) //nolint:errcheck // as slog: a log write error is not the request's
		if f, ok := s.accessLog.(interface{ Flush() error }); ok && level >= slog.LevelWarn {
			f.Flush() //nolint:errcheck // as above
		}
	} else {
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	}
	s.metrics.Request(route, r.Method, status, s.now().Sub(st.start))
	if st.key != nil {
		s.usage.Request(st.key.ID, route, status, st.clientAddr)
	}
}

// clientAddr is the peer address, or the address a trusted proxy reports in
// X-Forwarded-For (the right-most hop that is not itself a trusted proxy).
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// negotiate enforces the contract's media types: a body must be JSON (415)
// and the client must accept JSON (406).
func (s *Server) negotiate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptsJSON(r.Header.Values("Accept")) {
			s.writeError(w, r, &novamed.Error{Code: novamed.CodeNotAcceptable, Message: "This API answers only application/json; send an Accept header that allows it."})
			return
		}
		if r.ContentLength > maxBody {
			s.writeError(w, r, errTooLarge)
			return
		}
		// A request with a body (a known length above zero, or chunked) must
		// label it JSON; a bodiless POST or DELETE needs no Content-Type.
		if r.ContentLength != 0 {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || (mt != "application/json" && (r.Method != http.MethodPatch || mt != "application/merge-patch+json")) {
				msg := "Content-Type must be application/json."
				if r.Method == http.MethodPatch {
					msg = "Content-Type must be application/merge-patch+json or application/json."
				}
				s.writeError(w, r, &novamed.Error{Code: novamed.CodeUnsupportedMedia, Message: msg})
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// acceptsJSON reports whether the Accept header values admit application/json.
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
					continue
				}
			}
			if mt == "*/*" || mt == "application/*" || mt == "application/json" {
				return true
			}
		}
	}
	return false
}

// retryAfterSeconds rounds a wait up to whole seconds (at least 1).
func retryAfterSeconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	if n < 1 {
		n = 1
	}
	return n
}
