package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
)

// The store keeps the developer portal's partner users (issue 24).
var _ partneruser.Store = (*Store)(nil)

const partnerUserColumns = `id, partner_id, email, name, role, status, password_hash, totp_secret, totp_last_step, invited_by, created_at, updated_at`

func (s *Store) partnerUsers() accountTable[*partneruser.User] {
	return accountTable[*partneruser.User]{s: s, table: "partner_users", columns: partnerUserColumns, what: "partner user", notFound: "User", scan: s.scanPartnerUser}
}

func (s *Store) scanPartnerUser(r rowScanner) (*partneruser.User, error) {
	var u partneruser.User
	var role, status, sealed string
	var created, updated int64
	if err := r.Scan(&u.ID, &u.PartnerID, &u.Email, &u.Name, &role, &status, &u.PasswordHash, &sealed, &u.TOTPLastStep,
		&u.InvitedBy, &created, &updated); err != nil {
		return nil, err
	}
	u.Role, u.Status = partneruser.Role(role), partneruser.Status(status)
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	var err error
	if u.TOTPSecret, err = s.partnerUsers().openTOTP(u.ID, sealed); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreatePartnerUser stores an invited user and their invitation.
func (s *Store) CreatePartnerUser(ctx context.Context, u *partneruser.User, inv *partneruser.Invitation, eff novamed.Effects) error {
	return s.inTx(ctx, func(tx *txn) error {
		if _, err := s.lockPartner(ctx, tx, u.PartnerID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO partner_users (`+partnerUserColumns+`) VALUES (?, ?, ?, ?, ?, ?, '', '', 0, ?, ?, ?)`,
			u.ID, u.PartnerID, u.Email, u.Name, string(u.Role), string(u.Status), u.InvitedBy, micros(u.CreatedAt), micros(u.UpdatedAt))
		if s.syntax.isUnique(err) {
			return fmt.Errorf("partner user %s: %w", u.Email, novamed.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: insert partner user: %w", err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO partner_invitations (hash, partner_user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			inv.HashHex, inv.UserID, micros(inv.CreatedAt), micros(inv.ExpiresAt)); err != nil {
			return fmt.Errorf("sqlstore: insert partner invitation: %w", err)
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// GetPartnerUser returns the partner user with that id.
func (s *Store) GetPartnerUser(ctx context.Context, id string) (*partneruser.User, error) {
	return s.partnerUsers().get(ctx, "id", id)
}

// GetPartnerUserByEmail returns the partner user with that email.
func (s *Store) GetPartnerUserByEmail(ctx context.Context, email string) (*partneruser.User, error) {
	return s.partnerUsers().get(ctx, "email", operator.NormalizeEmail(email))
}

// ListPartnerUsers lists one partner's users by email.
func (s *Store) ListPartnerUsers(ctx context.Context, partnerID string) ([]*partneruser.User, error) {
	return s.partnerUsers().list(ctx, "WHERE partner_id = ? ", partnerID)
}

// PartnerInvitation returns an unused, unexpired invitation.
func (s *Store) PartnerInvitation(ctx context.Context, hashHex string, at time.Time) (*partneruser.Invitation, error) {
	var inv partneruser.Invitation
	var created, expires int64
	err := s.write.queryRow(ctx, `SELECT hash, partner_user_id, created_at, expires_at FROM partner_invitations WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
		hashHex, micros(at)).Scan(&inv.HashHex, &inv.UserID, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Invitation")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: partner invitation: %w", err)
	}
	inv.CreatedAt, inv.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &inv, nil
}

// AcceptPartnerInvitation spends the invitation and activates its user.
func (s *Store) AcceptPartnerInvitation(ctx context.Context, hashHex string, u *partneruser.User, eff novamed.Effects) error {
	sealed, err := s.partnerUsers().sealTOTP(u.ID, u.TOTPSecret)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE partner_invitations SET used_at = ? WHERE hash = ? AND partner_user_id = ? AND used_at IS NULL AND expires_at > ?`,
			micros(u.UpdatedAt), hashHex, u.ID, micros(u.UpdatedAt))
		if err != nil {
			return fmt.Errorf("sqlstore: spend partner invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return novamed.NotFound("Invitation")
		}
		res, err = tx.exec(ctx, `UPDATE partner_users SET status = ?, password_hash = ?, totp_secret = ?, updated_at = ? WHERE id = ? AND status = 'invited'`,
			string(u.Status), u.PasswordHash, sealed, micros(u.UpdatedAt), u.ID)
		if err != nil {
			return fmt.Errorf("sqlstore: accept partner invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return novamed.NotFound("Invitation")
		}
		// The code that proved the second factor counts as used, written
		// only forward as every used step is.
		if u.TOTPLastStep > 0 {
			if _, err := s.partnerUsers().useTOTPStepTx(ctx, tx, u.ID, u.TOTPLastStep); err != nil {
				return err
			}
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// SetPartnerUserStatus writes a partner user's status (and nothing else
// of the row: a change made since the caller read it stays); a user who
// is no longer active loses their portal sessions in the same
// transaction.
func (s *Store) SetPartnerUserStatus(ctx context.Context, id string, st partneruser.Status, at time.Time, eff novamed.Effects) error {
	return s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE partner_users SET status = ?, updated_at = ? WHERE id = ?`, string(st), micros(at), id)
		if err != nil {
			return fmt.Errorf("sqlstore: update partner user: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return novamed.NotFound("User")
		}
		if st != partneruser.Active {
			if _, err := tx.exec(ctx, `DELETE FROM portal_sessions WHERE partner_user_id = ?`, id); err != nil {
				return fmt.Errorf("sqlstore: end partner user sessions: %w", err)
			}
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// UsePartnerTOTPStep records a used TOTP step (a code works once).
func (s *Store) UsePartnerTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	return s.partnerUsers().useTOTPStep(ctx, userID, step)
}
