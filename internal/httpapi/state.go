package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

type ctxKey struct{}

// reqState is what the middleware chain learns about one request, for the
// handlers, the audit record and the log line.
type reqState struct {
	requestID string
	// clientRequestID is the client's own X-Request-Id, when valid: kept
	// beside the server's id, never instead of it.
	clientRequestID string
	start           time.Time
	clientAddr      string
	key             *novamed.APIKey
	keyPrefix       string
	clinicID        string
	action          string
	resourceType    string
	resourceIDs     []string
	audited         bool // the audit record was committed with the write
	securityEvent   string
	idem            *novamed.IdempotencyRecord // pending: this request's Idempotency-Key
	// input is the request body as read, which knows the fields nothing read.
	input *novamed.Input
}

func stateOf(r *http.Request) *reqState {
	if st, ok := r.Context().Value(ctxKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

func withState(r *http.Request, st *reqState) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
}

// auditRecord builds the audit record of the request with its outcome.
func (s *Server) auditRecord(r *http.Request, status int) *novamed.AuditRecord {
	st := stateOf(r)
	now := s.now()
	rec := &novamed.AuditRecord{
		Time: now, RequestID: st.requestID, ClientRequestID: st.clientRequestID, ClinicID: st.clinicID, Action: st.action,
		ResourceType: st.resourceType, ResourceIDs: st.resourceIDs, ClientAddr: st.clientAddr,
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
	}
	return rec
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
