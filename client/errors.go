package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes the API answers with (APIError.Code). They are stable; match on
// them rather than on messages.
const (
	CodeValidation                = "VALIDATION_ERROR"
	CodeInvalidJSON               = "INVALID_JSON"
	CodeInvalidClinicID           = "INVALID_CLINIC_ID"
	CodeClinicNotFound            = "CLINIC_NOT_FOUND"
	CodeNotFound                  = "NOT_FOUND"
	CodeRouteNotFound             = "ROUTE_NOT_FOUND"
	CodeDuplicate                 = "DUPLICATE"
	CodeUnauthorized              = "UNAUTHORIZED"
	CodeRateLimited               = "RATE_LIMIT_EXCEEDED"
	CodeTooManyFailedAuth         = "TOO_MANY_FAILED_AUTHENTICATIONS"
	CodeIdempotencyKeyReused      = "IDEMPOTENCY_KEY_REUSED"
	CodeIdempotencyKeyInUse       = "IDEMPOTENCY_KEY_IN_USE"
	CodeInvalidIdempotencyKey     = "INVALID_IDEMPOTENCY_KEY"
	CodeUnsupportedMediaType      = "UNSUPPORTED_MEDIA_TYPE"
	CodeNotAcceptable             = "NOT_ACCEPTABLE"
	CodeRequestTooLarge           = "REQUEST_TOO_LARGE"
	CodeMethodNotAllowed          = "METHOD_NOT_ALLOWED"
	CodeInvalidTransition         = "INVALID_TRANSITION"
	CodeOrderNotShipped           = "ORDER_NOT_SHIPPED"
	CodeOrderNotCancellable       = "ORDER_NOT_CANCELLABLE"
	CodeRefillNotEligible         = "REFILL_NOT_ELIGIBLE"
	CodeRefillAlreadyExists       = "REFILL_ALREADY_EXISTS"
	CodeServiceNotAvailable       = "SERVICE_NOT_AVAILABLE"
	CodeMedicationRequestNotFound = "MEDICATION_REQUEST_NOT_FOUND"
	CodeLimitReached              = "LIMIT_REACHED"
	CodeInternal                  = "INTERNAL_ERROR"
	CodeServiceUnavailable        = "SERVICE_UNAVAILABLE"
	// CodeStorageUnavailable and CodeStorageFull are 503s of a storage
	// outage (a failover, a restart, a full disk): nothing was changed and
	// RetryAfter says when to retry. The client retries them itself.
	CodeStorageUnavailable = "STORAGE_UNAVAILABLE"
	CodeStorageFull        = "STORAGE_FULL"
)

// Sentinels for errors.Is; an *APIError matches the ones of its kind (see
// the Is… helpers for the rules).
var (
	ErrNotFound     = errors.New("novamed: not found")
	ErrUnauthorized = errors.New("novamed: unauthorized")
	ErrRateLimited  = errors.New("novamed: rate limited")
	ErrValidation   = errors.New("novamed: request refused as invalid")
	ErrConflict     = errors.New("novamed: conflict")
)

// FieldError is one problem with one request field ("medication_requests[0].quantity").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// APIError is every error answer of the API: {"success":false,"error":{…}}.
// Get it with errors.As; the Is… helpers classify it.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the machine-readable code, e.g. CodeValidation ("" if the
	// answer was not the API's envelope, e.g. from a proxy).
	Code string
	// Message is a sentence safe to show.
	Message string
	// Fields lists every field problem of a validation error.
	Fields []FieldError
	// Details holds the error's other details, if any.
	Details map[string]any
	// RequestID identifies the request for NovaMed support.
	RequestID string
	// RetryAfter is how long to wait before retrying (429 and 503), else 0.
	RetryAfter time.Duration
	// retryAfterSet reports that the server said RetryAfter (even 0).
	retryAfterSet bool
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "novamed: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request_id " + e.RequestID + ")")
	}
	return b.String()
}

// Is matches the sentinels ErrNotFound, ErrUnauthorized, ErrRateLimited,
// ErrValidation and ErrConflict by the rules of IsNotFound and the others.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrValidation:
		return e.StatusCode == http.StatusBadRequest && e.Code != CodeDuplicate
	case ErrConflict:
		return e.StatusCode == http.StatusConflict || e.StatusCode == http.StatusUnprocessableEntity || e.Code == CodeDuplicate
	}
	return false
}

// IsNotFound reports whether err is a 404: the id names nothing the key may
// see. (A missing clinic named in a body is a 400 CLINIC_NOT_FOUND, see
// IsValidation.)
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsUnauthorized reports whether err is a 401: the key is missing, malformed,
// unknown, revoked, expired or of the other environment.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsRateLimited reports whether err is a 429 (after the client's own
// retries); APIError.RetryAfter says when to try again.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }

// IsValidation reports whether err is a 400 other than DUPLICATE: the
// request was refused as sent and must be changed before it can succeed.
// Code tells which rule: VALIDATION_ERROR (with Fields), INVALID_JSON,
// INVALID_CLINIC_ID, CLINIC_NOT_FOUND, SERVICE_NOT_AVAILABLE,
// REFILL_NOT_ELIGIBLE, ORDER_NOT_CANCELLABLE, …. A 400 DUPLICATE is
// IsConflict only: the two never both hold.
func IsValidation(err error) bool { return errors.Is(err, ErrValidation) }

// IsConflict reports whether err conflicts with existing state: a 409
// (INVALID_TRANSITION, or IDEMPOTENCY_KEY_IN_USE once retries are spent), a
// 422 IDEMPOTENCY_KEY_REUSED, or a 400 DUPLICATE.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// errorEnvelope is {"success":false,"error":{…}}.
type errorEnvelope struct {
	Error *struct {
		Message    string                     `json:"message"`
		Code       string                     `json:"code"`
		Details    map[string]json.RawMessage `json:"details"`
		RequestID  string                     `json:"request_id"`
		RetryAfter *int                       `json:"retry_after"`
	} `json:"error"`
}

// parseError builds the APIError of a non-2xx answer, tolerating answers
// that are not the API's envelope.
func parseError(resp *http.Response, body []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var env errorEnvelope
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		if env.Error.RequestID != "" {
			e.RequestID = env.Error.RequestID
		}
		for k, v := range env.Error.Details {
			if k == "fields" {
				_ = json.Unmarshal(v, &e.Fields) // a malformed list is left out
				continue
			}
			var x any
			if json.Unmarshal(v, &x) == nil {
				if e.Details == nil {
					e.Details = map[string]any{}
				}
				e.Details[k] = x
			}
		}
		if env.Error.RetryAfter != nil && *env.Error.RetryAfter >= 0 {
			e.RetryAfter, e.retryAfterSet = seconds(*env.Error.RetryAfter), true
		}
	} else {
		e.Message = http.StatusText(resp.StatusCode)
		if s := strings.TrimSpace(string(body)); s != "" && len(s) <= 200 {
			e.Message = s
		}
	}
	if !e.retryAfterSet {
		e.RetryAfter, e.retryAfterSet = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// seconds is n (≥ 0) seconds, saturating at 2³¹−1 seconds (68 years)
// rather than overflowing into a negative wait (an immediate retry that
// would also shrink the total counted against WithMaxRetryWait); sums of a
// few such waits still fit in a Duration.
func seconds(n int) time.Duration {
	return time.Duration(min(n, math.MaxInt32)) * time.Second
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	d, _ := retryAfter(v, now)
	return d
}

// retryAfter reads Retry-After as whole seconds or an HTTP date, exactly;
// ok is false when v is empty or neither (a date already past reads as 0).
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		return seconds(max(n, 0)), n >= 0
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
