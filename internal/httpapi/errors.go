package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[string]int{
	novamed.CodeInvalid:            http.StatusBadRequest,
	novamed.CodeInvalidJSON:        http.StatusBadRequest,
	novamed.CodeInvalidClinicID:    http.StatusBadRequest,
	novamed.CodeClinicNotFound:     http.StatusBadRequest,
	novamed.CodeDuplicate:          http.StatusBadRequest,
	novamed.CodeIdempotencyKey:     http.StatusBadRequest,
	novamed.CodeServiceNotAvail:    http.StatusBadRequest,
	novamed.CodeMedRequestUnknown:  http.StatusBadRequest,
	novamed.CodeRefillNotEligible:  http.StatusBadRequest,
	novamed.CodeRefillExists:       http.StatusBadRequest,
	novamed.CodeLimitReached:       http.StatusBadRequest,
	novamed.CodeInvalidTransition:  http.StatusConflict,
	novamed.CodeNotShipped:         http.StatusBadRequest,
	novamed.CodePartnerNotApproved: http.StatusConflict,
	novamed.CodeBAARequired:        http.StatusConflict,
	novamed.CodeNotCancellable:     http.StatusBadRequest,
	novamed.CodeUnauthorized:       http.StatusUnauthorized,
	novamed.CodeForbidden:          http.StatusForbidden,
	novamed.CodeNotFound:           http.StatusNotFound,
	novamed.CodeRouteNotFound:      http.StatusNotFound,
	novamed.CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
	novamed.CodeNotAcceptable:      http.StatusNotAcceptable,
	novamed.CodeIdempotencyInUse:   http.StatusConflict,
	novamed.CodeBodyTooLarge:       http.StatusRequestEntityTooLarge,
	novamed.CodeUnsupportedMedia:   http.StatusUnsupportedMediaType,
	novamed.CodeIdempotencyReused:  http.StatusUnprocessableEntity,
	novamed.CodeRateLimited:        http.StatusTooManyRequests,
	novamed.CodeTooManyAuthFails:   http.StatusTooManyRequests,
	novamed.CodeInternal:           http.StatusInternalServerError,
	novamed.CodeUnavailable:        http.StatusServiceUnavailable,
	novamed.CodeStorageUnavailable: http.StatusServiceUnavailable,
	novamed.CodeStorageFull:        http.StatusServiceUnavailable,
}

// Retry-After of the storage outage answers, in seconds: a lost connection
// or a failover is usually over within seconds; freeing disk space takes an
// operator.
const (
	retryAfterStorageUnavailable = 2
	retryAfterStorageFull        = 10
)

// storageFault turns a store error that shows an outage (sqlstore.FaultOf)
// into its 503 envelope error, with a fixed message and Retry-After; any
// other error is returned unchanged.
func storageFault(err error) error {
	switch sqlstore.FaultOf(err) {
	case sqlstore.Unavailable:
		return &novamed.Error{Code: novamed.CodeStorageUnavailable, Message: novamed.MsgStorageUnavailable,
			Details: map[string]any{"retry_after": retryAfterStorageUnavailable}}
	case sqlstore.Full:
		return &novamed.Error{Code: novamed.CodeStorageFull, Message: novamed.MsgStorageFull,
			Details: map[string]any{"retry_after": retryAfterStorageFull}}
	}
	return err
}

type errorBody struct {
	Success bool      `json:"success"`
	Error   errorInfo `json:"error"`
}

type errorInfo struct {
	Message    string         `json:"message"`
	Code       string         `json:"code"`
	Details    map[string]any `json:"details,omitempty"`
	RequestID  string         `json:"request_id"`
	RetryAfter *int           `json:"retry_after,omitempty"`
}

// envelopeOf turns any error into its status and envelope. An error without
// a code is a 500 with a fixed sentence; its cause goes to the log only.
func envelopeOf(err error, requestID string) (int, errorBody) {
	var e *novamed.Error
	if !errors.As(err, &e) && !errors.As(storageFault(err), &e) {
		e = &novamed.Error{Code: novamed.CodeInternal, Message: novamed.MsgInternal}
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	info := errorInfo{Message: e.Message, Code: e.Code, RequestID: requestID}
	if len(e.Fields) > 0 || len(e.Details) > 0 {
		info.Details = map[string]any{}
		for k, v := range e.Details {
			if k != "retry_after" {
				info.Details[k] = v
			}
		}
		if len(e.Fields) > 0 {
			info.Details["fields"] = e.Fields
		}
	}
	if ra, ok := e.Details["retry_after"].(int); ok {
		info.RetryAfter = &ra
	}
	return status, errorBody{Success: false, Error: info}
}

// writeError writes err as the contract's error envelope and logs causes of
// server faults. It is the only place error JSON is produced.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r)
	status, body := envelopeOf(err, st.requestID)
	s.budgetHeaders(w, r, st)
	if body.Error.RetryAfter != nil {
		w.Header().Set("Retry-After", strconv.Itoa(*body.Error.RetryAfter))
	}
	if status >= 500 {
		attrs := []any{"request_id", st.requestID, "err", err.Error()}
		if errors.Is(err, phi.ErrCorrupt) || errors.Is(err, phi.ErrUnknownKeyVersion) {
			// A ciphertext that fails authentication was moved or edited in
			// the database: a security event, not just a fault.
			s.log.Error("security event: PHI ciphertext failed authentication", attrs...)
			st.securityEvent = "phi_integrity_failure"
		} else if c := body.Error.Code; c == novamed.CodeStorageUnavailable || c == novamed.CodeStorageFull {
			s.log.Error("storage unavailable", append(attrs, "code", c)...)
			s.metrics.StorageFault(c)
		} else {
			s.log.Error("internal error", attrs...)
		}
	}
	b, merr := json.Marshal(body)
	if merr != nil {
		b = []byte(`{"success":false,"error":{"message":"` + novamed.MsgInternal + `","code":"INTERNAL_ERROR"}}`)
		status = http.StatusInternalServerError
	}
	s.send(w, r, status, append(b, '\n'))
}
