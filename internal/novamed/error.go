package novamed

import (
	"errors"
	"fmt"
)

// Error codes are stable machine-readable identifiers carried in the error
// envelope. The HTTP layer maps each to a status in one table.
const (
	CodeInvalid         = "VALIDATION_ERROR"
	CodeInvalidJSON     = "INVALID_JSON"
	CodeInvalidClinicID = "INVALID_CLINIC_ID"
	CodeClinicNotFound  = "CLINIC_NOT_FOUND"
	CodeNotFound        = "NOT_FOUND"
	CodeDuplicate       = "DUPLICATE"
	CodeUnauthorized    = "UNAUTHORIZED"
	// CodeForbidden: an operator whose role lacks the capability (403).
	CodeForbidden         = "FORBIDDEN"
	CodeRateLimited       = "RATE_LIMIT_EXCEEDED"
	CodeTooManyAuthFails  = "TOO_MANY_FAILED_AUTHENTICATIONS"
	CodeIdempotencyReused = "IDEMPOTENCY_KEY_REUSED"
	CodeIdempotencyInUse  = "IDEMPOTENCY_KEY_IN_USE"
	CodeIdempotencyKey    = "INVALID_IDEMPOTENCY_KEY"
	CodeUnsupportedMedia  = "UNSUPPORTED_MEDIA_TYPE"
	CodeNotAcceptable     = "NOT_ACCEPTABLE"
	CodeBodyTooLarge      = "REQUEST_TOO_LARGE"
	CodeRouteNotFound     = "ROUTE_NOT_FOUND"
	CodeMethodNotAllowed  = "METHOD_NOT_ALLOWED"
	CodeInvalidTransition = "INVALID_TRANSITION"
	CodeNotShipped        = "ORDER_NOT_SHIPPED"
	CodeNotCancellable    = "ORDER_NOT_CANCELLABLE"
	CodeRefillNotEligible = "REFILL_NOT_ELIGIBLE"
	CodeRefillExists      = "REFILL_ALREADY_EXISTS"
	CodeServiceNotAvail   = "SERVICE_NOT_AVAILABLE"
	CodeMedRequestUnknown = "MEDICATION_REQUEST_NOT_FOUND"
	CodeLimitReached      = "LIMIT_REACHED"
	// CodePartnerNotApproved: a key for a partner that is not approved (409).
	CodePartnerNotApproved = "PARTNER_NOT_APPROVED"
	// CodeBAARequired: a production key for a partner without a BAA in
	// effect (409).
	CodeBAARequired = "BAA_REQUIRED"
	CodeInternal    = "INTERNAL_ERROR"
	CodeUnavailable = "SERVICE_UNAVAILABLE"
	// CodeStorageUnavailable: the database cannot be reached, refuses
	// connections, is shutting down or did not answer in time (503).
	CodeStorageUnavailable = "STORAGE_UNAVAILABLE"
	// CodeStorageFull: the database is out of disk space (503).
	CodeStorageFull = "STORAGE_FULL"
)

// Messages partners match on; the contract requires them verbatim.
const (
	MsgUnauthorized    = "Unauthorized. This can happen if the access token is invalid, expired or has been revoked"
	MsgClinicNotFound  = "Clinic not found"
	MsgInvalidClinicID = "Clinic ID must be a valid UUID."
	MsgInternal        = "An internal error occurred. It has been logged; please retry or contact NovaMed support with the request id."
	// MsgStorageUnavailable and MsgStorageFull are the fixed sentences of
	// the two storage outage codes (nothing of the cause is shown).
	MsgStorageUnavailable = "The service cannot reach its database right now. Nothing was changed; retry after the Retry-After delay."
	MsgStorageFull        = "The service's database is out of space right now. Nothing was changed; retry after the Retry-After delay."
	// MsgMigrationsPending answers API requests while a replica waits for
	// `novamed migrate` (serve without --migrate on an older schema).
	MsgMigrationsPending = "The service is waiting for its database to be upgraded. Nothing was changed; retry after the Retry-After delay."
)

// FieldError is one validation problem with one request field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type of the domain. Code selects the HTTP status and
// Message is safe to show to the partner; anything else stays in the log.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Details map[string]any
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("novamed: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// CodeInternal otherwise: an error without a code is a server fault.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrClinicNotFound is returned for a clinic that is unknown or not granted to
// the caller; the two cases are deliberately identical.
func ErrClinicNotFound() *Error { return &Error{Code: CodeClinicNotFound, Message: MsgClinicNotFound} }

// NotFound returns the 404 error for a resource, e.g. NotFound("Patient").
func NotFound(resource string) *Error {
	return &Error{Code: CodeNotFound, Message: resource + " not found"}
}

// ValidationError builds the error for a list of field problems: its message
// is the first problem's sentence and its Fields list every problem.
func ValidationError(fields []FieldError) *Error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: fields[0].Message, Fields: fields}
}
