package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

type ctxKey struct{}

// reqState is what the middleware chain learns about one request, for the
// handlers, the audit record and the log line. Handlers read it; what they
// touched they return (facts), never set here: only the partner stack
// (answer) and an idempotent replay record facts.
type reqState struct {
	requestID string
	// clientRequestID is the client's own X-Request-Id, when valid: kept
	// beside the server's id, never instead of it.
	clientRequestID string
	start           time.Time
	clientAddr      string
	key             *novamed.APIKey
	keyPrefix       string
	action          string
	resourceType    string
	// facts is what the request touched, as its handler returned it.
	facts         facts
	securityEvent string
	idem          *novamed.IdempotencyRecord // pending: this request's Idempotency-Key
	// actor names an authenticated operator (operator:<id>) on the admin
	// API; partner requests are key:<id> (auditRecord).
	actor string
	// input is the request body as read, which knows the fields nothing read.
	input *novamed.Input
}

// stateOf is the request's state, which ServeHTTP installs before any
// handler runs. A request without one was not served by Server.ServeHTTP:
// a programming error that panics rather than audit a made-up request.
func stateOf(r *http.Request) *reqState {
	st, ok := r.Context().Value(ctxKey{}).(*reqState)
	if !ok {
		panic("httpapi: request without state (a handler was called outside Server.ServeHTTP)")
	}
	return st
}

func withState(r *http.Request, st *reqState) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
}

// auditRecord builds the audit record of the request with its outcome,
// naming what f says the request touched.
func (s *Server) auditRecord(r *http.Request, st *reqState, f facts, status int) *novamed.AuditRecord {
	now := s.now()
	rec := &novamed.AuditRecord{
		Time: now, RequestID: st.requestID, ClientRequestID: st.clientRequestID, ClinicID: f.clinicID, Action: st.action,
		ResourceType: st.resourceType, ResourceIDs: f.resourceIDs, ClientAddr: st.clientAddr,
		UserAgent: truncate(r.UserAgent(), 200), Status: status, KeyPrefix: st.keyPrefix,
	}
	if !st.start.IsZero() {
		rec.LatencyUS = max(now.Sub(st.start).Microseconds(), 0)
	}
	if rec.Action == "" {
		rec.Action = r.Method + " " + r.Pattern
	}
	if st.key != nil {
		rec.KeyID, rec.KeyOwner = st.key.ID, st.key.Owner
		rec.Actor = "key:" + st.key.ID
	}
	if st.actor != "" {
		rec.Actor = st.actor
	}
	return rec
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
