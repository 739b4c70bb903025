package console

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/sqlstore"
)

const testPassword = "correct horse battery staple"

// cheapHashes keep the tests' Argon2id fast; production uses the default.
var cheapHashes = operator.PasswordParams{Memory: 1024, Time: 1, Threads: 1}

// totpSecrets remembers the test operators' second factors, to compute
// their codes as an authenticator app would.
var totpSecrets sync.Map

func newTestAccounts(t *testing.T, store *sqlstore.Store, env novamed.Environment, now func() time.Time) OperatorAccounts {
	return OperatorAccounts{Service: &operator.Service{Store: store, Env: env, Now: now, Params: cheapHashes}}
}

// addOperator creates an operator with the test password (and, when
// withTOTP, an enrolled second factor) through the operator service.
func (e *testEnv) addOperator(email, role string, withTOTP ...bool) *operator.Operator {
	e.t.Helper()
	svc := e.acc.(OperatorAccounts).Service
	o, err := svc.Create(context.Background(), email, "", operator.Role(role), testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(withTOTP) > 0 && withTOTP[0] {
		if _, err := svc.EnrolTOTP(context.Background(), o); err != nil {
			e.t.Fatal(err)
		}
		totpSecrets.Store(email, o.TOTPSecret)
	}
	return o
}

// code is the operator's current authenticator code ("" without one).
func (e *testEnv) code(email string) string {
	e.t.Helper()
	secret, ok := totpSecrets.Load(email)
	if !ok {
		return ""
	}
	c, err := operator.TOTPCode(secret.(string), e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}
