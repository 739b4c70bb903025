package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/novamed/partner-api/internal/operator"
)

// localOperatorKey marks a request of the operator CLI's direct database
// mode (LocalAdmin); a value only this process can put in a context.
type localOperatorKey struct{}

// LocalAdmin is the admin API as the operator CLI's direct database mode
// (bootstrap and break-glass, on the database host) calls it in process:
// the same routes, rules, answers and audit records as through a server,
// with no token, the admin role and the actor local:<osUser>. It is never
// mounted on a listener: whoever can call it already holds the database
// and its master key.
func (s *Server) LocalAdmin(osUser string) http.Handler {
	op := &operator.Operator{Role: operator.Admin, Status: operator.Active, LocalUser: osUser}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), localOperatorKey{}, op)))
	})
}

// adminOperator is the operator of an admin request: LocalAdmin's, or the
// one whose token (Authorization: Bearer op_…) the request bears.
func (s *Server) adminOperator(r *http.Request) (*operator.Operator, error) {
	if op, ok := r.Context().Value(localOperatorKey{}).(*operator.Operator); ok {
		return op, nil
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, operator.ErrUnauthenticated
	}
	op, _, err := s.operators.Authenticate(r.Context(), strings.TrimSpace(raw))
	return op, err
}
