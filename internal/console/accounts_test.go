package console

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/novamed/partner-api/internal/sqlstore"
)

const testPassword = "correct horse battery staple"

// testAccounts stands in for the operator accounts until they land.
type testAccounts struct {
	mu  sync.Mutex
	ops map[string]*Operator
}

func newTestAccounts(t *testing.T, _ *sqlstore.Store) *testAccounts {
	return &testAccounts{ops: map[string]*Operator{}}
}

func (e *testEnv) addOperator(email, role string) {
	a := e.acc.(*testAccounts)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ops[email] = &Operator{ID: "op-" + email, Email: email, Name: email, Role: role}
}

func (e *testEnv) code(string) string { return "" }

func (a *testAccounts) SignIn(_ context.Context, email, password, _, _ string) (*Operator, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	op, ok := a.ops[email]
	if !ok || password != testPassword {
		return nil, &SignInError{Field: "password", Message: "Email, password or code is wrong."}
	}
	return op, nil
}

func (a *testAccounts) Operator(_ context.Context, id string) (*Operator, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, op := range a.ops {
		if op.ID == id {
			return op, nil
		}
	}
	return nil, errors.New("no such operator")
}

var roleTable = map[string][]string{
	CapRead: {"viewer", "support", "pharmacy", "security", "admin"}, CapChange: {"support", "admin"},
	CapRevoke: {"support", "security", "admin"}, CapPHI: {"pharmacy", "security", "admin"},
	CapOrders: {"pharmacy", "admin"}, CapAudit: {"security", "admin"}, CapOperators: {"admin"},
}

func (a *testAccounts) Can(role, c string) bool { return slices.Contains(roleTable[c], role) }
