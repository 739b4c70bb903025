package operator

import (
	"context"

	"github.com/novamed/partner-api/internal/novamed"
)

// ConfirmTOTP gives o the TOTP secret the operator has just shown they
// hold (code is its current code): the staff console's enrolment, where
// the secret is shown as a QR code and kept only once a code proves the
// authenticator app has it. The code's step counts as used.
func (s *Service) ConfirmTOTP(ctx context.Context, o *Operator, secret, code string) error {
	step, ok := MatchTOTP(secret, code, s.now())
	if !ok {
		return novamed.Errorf(novamed.CodeInvalid, "That code does not match: check the authenticator app's time and try the current code.")
	}
	now := s.now()
	if err := s.Store.SetOperatorTOTP(ctx, o.ID, secret, step, now, false); err != nil {
		return err
	}
	o.TOTPSecret, o.TOTPLastStep, o.UpdatedAt = secret, max(o.TOTPLastStep, step), now
	return nil
}
