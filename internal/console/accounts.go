package console

import (
	"context"
	"errors"

	"github.com/novamed/partner-api/internal/operator"
)

// OperatorAccounts are the console's accounts on the operator service of
// issue 22: the same passwords, second factors, sign-in throttle and role
// table as the admin API and the CLI.
type OperatorAccounts struct {
	Service *operator.Service
}

// SignIn checks a sign-in through the operator service (Argon2id, TOTP
// with replay refusal, growing delays per account and address).
func (a OperatorAccounts) SignIn(ctx context.Context, email, password, code, clientAddr string) (*Operator, error) {
	o, err := a.Service.Login(ctx, email, password, code, clientAddr)
	var te *operator.ThrottledError
	switch {
	case errors.As(err, &te):
		return nil, &SignInError{Field: "password", Message: "Too many failed sign-ins: wait " + te.RetryAfter.Round(1e9).String() + " and try again.", RetryAfter: te.RetryAfter}
	case errors.Is(err, operator.ErrBadCredentials):
		return nil, &SignInError{Field: "password", Message: "The email, password or authenticator code is wrong."}
	case errors.Is(err, operator.ErrTOTPRequired):
		return nil, &SignInError{Field: "code", Message: "This deployment requires an authenticator code, and your account has none: ask an admin for a new setup link."}
	case err != nil:
		return nil, err
	}
	return fromOperator(o), nil
}

// Operator returns an active operator.
func (a OperatorAccounts) Operator(ctx context.Context, id string) (*Operator, error) {
	o, err := a.Service.Store.GetOperator(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Status != operator.Active {
		return nil, errors.New("console: operator disabled")
	}
	return fromOperator(o), nil
}

// Can reads the role table of issue 22.
func (a OperatorAccounts) Can(role, capability string) bool {
	return operator.Role(role).Can(operator.Capability(capability))
}

func fromOperator(o *operator.Operator) *Operator {
	return &Operator{ID: o.ID, Email: o.Email, Name: o.Name, Role: string(o.Role), HasTOTP: o.HasTOTP()}
}
