package operator

import (
	"context"
	"errors"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// CheckKeepsAdmin refuses a change of o's role or status (either may be
// empty: unchanged) that would leave the deployment without an active
// admin, so nobody could manage operators any more. by is the operator
// making the change: disabling yourself is refused too (you would be
// signed out in the middle of it).
func (s *Service) CheckKeepsAdmin(ctx context.Context, by string, o *Operator, role Role, status Status) error {
	if status == Disabled && o.ID == by {
		return novamed.Errorf(novamed.CodeInvalid, "You cannot disable your own account: ask another admin to do it.")
	}
	losesAdmin := o.Role == Admin && o.Status == Active &&
		((role != "" && role != Admin) || status == Disabled)
	if !losesAdmin {
		return nil
	}
	all, err := s.Store.ListOperators(ctx)
	if err != nil {
		return err
	}
	for _, other := range all {
		if other.ID != o.ID && other.Role == Admin && other.Status == Active {
			return nil
		}
	}
	return lastAdminError(by, o)
}

// ErrLastAdmin is what Store.SetOperatorAccess returns, changing nothing,
// when the update would leave no active admin. The store decides it in
// the update's own transaction (the active admins locked), so two
// concurrent demotions cannot both pass: CheckKeepsAdmin is the early,
// friendly check; this one is the guarantee.
var ErrLastAdmin = errors.New("operator: the last active admin")

// lastAdminError is the refusal of a change that would leave no active
// admin, worded for the operator by who makes it.
func lastAdminError(by string, o *Operator) error {
	who := o.Email + " is"
	if o.ID == by {
		who = "You are"
	}
	return novamed.Errorf(novamed.CodeInvalid, "%s the last active admin: make another operator admin first, or nobody could manage operators.", who)
}

// ResetSecondFactor removes o's second factor, revokes o's tokens and
// returns a new one-time setup link (shown once) through which o sets a
// password and enrols a new authenticator. Until then o cannot sign in
// where a second factor is required (production).
func (s *Service) ResetSecondFactor(ctx context.Context, o *Operator) (path string, expires time.Time, err error) {
	now := s.now()
	if err := s.Store.SetOperatorTOTP(ctx, o.ID, "", 0, now, true); err != nil {
		return "", time.Time{}, err
	}
	o.TOTPSecret, o.UpdatedAt = "", now
	return s.NewSetupLink(ctx, o)
}
