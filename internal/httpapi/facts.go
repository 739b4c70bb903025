package httpapi

import (
	"errors"
	"net/http"
)

// facts is what a partner handler touched: the clinic and the resources
// that its request's audit record, log line and remembered idempotent
// answer name. A handler returns them with its answer or its error (an
// error's record names what was known when it failed), so the record is
// built from what the handler says, not from state it had to remember to
// set.
type facts struct {
	clinicID    string
	resourceIDs []string
}

// touched names a clinic and resources of it.
func touched(clinic string, ids ...string) facts {
	return facts{clinicID: clinic, resourceIDs: ids}
}

// fail is the return of a handler that failed after touching f.
func (f facts) fail(err error) (reply, error) { return reply{facts: f}, err }

// reply is a partner handler's success: what it touched and the answer,
// which the partner stack sends once the audit record is durable.
type reply struct {
	facts
	status int
	body   []byte
	// recorded: the audit record (and any idempotent answer) were
	// committed with the handler's write; facts are the record's.
	recorded bool
}

// handlerFunc is a partner handler. It may set response headers on w but
// never writes a body: it returns its reply (built by ok, okBody or create,
// each of which takes the facts) or an error, with what it touched.
type handlerFunc func(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error)

// auditNames is what a route's audit record must name on success; the
// partner stack refuses (500) a success whose facts fall short, and the
// route test checks every route's records against it.
type auditNames uint8

const (
	// namesKey: the key's own data or the shared catalogue; no clinic.
	namesKey auditNames = iota
	// namesClinic: one clinic (a clinic's catalogue).
	namesClinic
	// namesResource: one clinic and the resources read or changed.
	namesResource
	// namesListed: the listed resources (possibly none) of the key's clinics.
	namesListed
)

// errIncompleteFacts answers a success whose facts do not name what its
// route's audit record must: no answer leaves with a gap in its record.
var errIncompleteFacts = errors.New("httpapi: handler returned audit facts that do not name what its route requires")

// check reports whether f names what n requires.
func (n auditNames) check(f facts) error {
	switch n {
	case namesClinic:
		if f.clinicID != "" {
			return nil
		}
	case namesResource:
		if f.clinicID != "" && len(f.resourceIDs) > 0 {
			return nil
		}
	default:
		return nil
	}
	return errIncompleteFacts
}

// ok is a 200 success envelope of data.
func (s *Server) ok(f facts, data any, message string) (reply, error) {
	b, err := marshalSuccess(data, message)
	if err != nil {
		return f.fail(err)
	}
	return reply{facts: f, status: http.StatusOK, body: b}, nil
}

// okBody is a 200 answer already encoded.
func okBody(f facts, body []byte) reply {
	return reply{facts: f, status: http.StatusOK, body: body}
}
