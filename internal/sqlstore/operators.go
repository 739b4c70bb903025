package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

// The store keeps operators for internal/operator (issue 22).
var _ operator.Store = (*Store)(nil)

const operatorColumns = `id, email, name, role, status, password_hash, totp_secret, totp_last_step, created_at, updated_at`

func (s *Store) operators() accountTable[*operator.Operator] {
	return accountTable[*operator.Operator]{s: s, table: "operators", columns: operatorColumns, what: "operator", notFound: "operator", scan: s.scanOperator}
}

func (s *Store) scanOperator(r rowScanner) (*operator.Operator, error) {
	var o operator.Operator
	var role, status, sealed string
	var created, updated int64
	if err := r.Scan(&o.ID, &o.Email, &o.Name, &role, &status, &o.PasswordHash, &sealed, &o.TOTPLastStep, &created, &updated); err != nil {
		return nil, err
	}
	o.Role, o.Status = operator.Role(role), operator.Status(status)
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	var err error
	if o.TOTPSecret, err = s.operators().openTOTP(o.ID, sealed); err != nil {
		return nil, err
	}
	return &o, nil
}

// CreateOperator stores a new operator (email unique).
func (s *Store) CreateOperator(ctx context.Context, o *operator.Operator) error {
	sealed, err := s.operators().sealTOTP(o.ID, o.TOTPSecret)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO operators (`+operatorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, o.Email, o.Name, string(o.Role), string(o.Status), o.PasswordHash, sealed, o.TOTPLastStep,
			micros(o.CreatedAt), micros(o.UpdatedAt))
		if s.syntax.isUnique(err) {
			return fmt.Errorf("operator %s: %w", o.Email, novamed.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: insert operator: %w", err)
		}
		return nil
	})
}

// GetOperator returns the operator with that id.
func (s *Store) GetOperator(ctx context.Context, id string) (*operator.Operator, error) {
	return s.operators().get(ctx, "id", id)
}

// GetOperatorByEmail returns the operator with that (normalised) email.
func (s *Store) GetOperatorByEmail(ctx context.Context, email string) (*operator.Operator, error) {
	return s.operators().get(ctx, "email", operator.NormalizeEmail(email))
}

// ListOperators lists every operator by email.
func (s *Store) ListOperators(ctx context.Context) ([]*operator.Operator, error) {
	return s.operators().list(ctx, "")
}

// SetOperatorPassword writes an operator's password hash and revokes all
// their tokens, in one transaction; no other column is written.
func (s *Store) SetOperatorPassword(ctx context.Context, id, hash string, at time.Time) error {
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.updateOperator(ctx, tx, `password_hash = ?`, id, at, hash); err != nil {
			return err
		}
		return revokeOperatorTokens(ctx, tx, id, at)
	})
}

// RehashOperatorPassword replaces an operator's password hash by newHash
// (the same password under new costs) only while it is still oldHash: a
// password set since the sign-in read it stays. No other column is
// written, so a change of role or status since then stays too.
func (s *Store) RehashOperatorPassword(ctx context.Context, id, oldHash, newHash string, at time.Time) error {
	return s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.exec(ctx, `UPDATE operators SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?`,
			newHash, micros(at), id, oldHash); err != nil {
			return fmt.Errorf("sqlstore: rehash operator password: %w", err)
		}
		return nil
	})
}

// SetOperatorTOTP writes an operator's TOTP secret ("" removes the second
// factor) and, when usedStep > 0, records usedStep as used the way
// UseTOTPStep does (only forward: totp_last_step is never written back
// from an earlier read); when revokeTokens it revokes all their tokens.
// One transaction; no other column is written.
func (s *Store) SetOperatorTOTP(ctx context.Context, id, secret string, usedStep int64, at time.Time, revokeTokens bool) error {
	sealed, err := s.operators().sealTOTP(id, secret)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.updateOperator(ctx, tx, `totp_secret = ?`, id, at, sealed); err != nil {
			return err
		}
		if usedStep > 0 {
			if _, err := s.operators().useTOTPStepTx(ctx, tx, id, usedStep); err != nil {
				return err
			}
		}
		if revokeTokens {
			return revokeOperatorTokens(ctx, tx, id, at)
		}
		return nil
	})
}

// SetOperatorAccess changes an operator's role and/or status ("" keeps
// the stored one) and returns the operator as stored after it; a change
// of either revokes all their tokens in the same transaction. Only role,
// status and updated_at are written, from the row as read in the
// transaction (locked on PostgreSQL). A change that takes the last
// active admin out of that state is operator.ErrLastAdmin and changes
// nothing: the active admins are read in the transaction, locked on
// PostgreSQL (SELECT … FOR UPDATE, in id order so two such changes queue
// rather than deadlock; the one that waited re-reads the rows the other
// changed), and on SQLite the transaction holds the only writer, so two
// concurrent demotions of the last two admins cannot both pass.
func (s *Store) SetOperatorAccess(ctx context.Context, id string, role operator.Role, status operator.Status, at time.Time) (*operator.Operator, error) {
	var out *operator.Operator
	err := s.inTx(ctx, func(tx *txn) error {
		// The admins first (when the change may take one away), then the
		// row: every transaction that locks both locks in that order.
		if (role != "" && role != operator.Admin) || (status != "" && status != operator.Active) {
			if err := s.keepsAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		o, err := s.scanOperator(tx.queryRow(ctx, `SELECT `+operatorColumns+` FROM operators WHERE id = ?`+s.syntax.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound("operator")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: get operator: %w", err)
		}
		out = o
		changed := false
		if role != "" && role != o.Role {
			o.Role, changed = role, true
		}
		if status != "" && status != o.Status {
			o.Status, changed = status, true
		}
		o.UpdatedAt = at
		if err := s.updateOperator(ctx, tx, `role = ?, status = ?`, id, at, string(o.Role), string(o.Status)); err != nil {
			return err
		}
		if changed {
			return revokeOperatorTokens(ctx, tx, id, at)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updateOperator sets the columns of set (with args) and updated_at of
// one operator: novamed.NotFound when there is none.
func (s *Store) updateOperator(ctx context.Context, tx *txn, set, id string, at time.Time, args ...any) error {
	res, err := tx.exec(ctx, `UPDATE operators SET `+set+`, updated_at = ? WHERE id = ?`, append(args, micros(at), id)...)
	if err != nil {
		return fmt.Errorf("sqlstore: update operator: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return novamed.NotFound("operator")
	}
	return nil
}

func revokeOperatorTokens(ctx context.Context, tx *txn, id string, at time.Time) error {
	if _, err := tx.exec(ctx, `UPDATE operator_tokens SET revoked_at = ? WHERE operator_id = ? AND revoked_at IS NULL`, micros(at), id); err != nil {
		return fmt.Errorf("sqlstore: revoke operator tokens: %w", err)
	}
	return nil
}

// keepsAnAdmin refuses (operator.ErrLastAdmin) when id is the only active
// admin: called, in the transaction that updates id, for an update that
// leaves id no active admin.
func (s *Store) keepsAnAdmin(ctx context.Context, tx *txn, id string) error {
	rows, err := tx.query(ctx, `SELECT id FROM operators WHERE role = ? AND status = ? ORDER BY id`+s.syntax.forUpdate(),
		string(operator.Admin), string(operator.Active))
	if err != nil {
		return fmt.Errorf("sqlstore: active admins: %w", err)
	}
	defer rows.Close()
	was, others := false, 0
	for rows.Next() {
		var admin string
		if err := rows.Scan(&admin); err != nil {
			return fmt.Errorf("sqlstore: active admins: %w", err)
		}
		if admin == id {
			was = true
		} else {
			others++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: active admins: %w", err)
	}
	if was && others == 0 {
		return operator.ErrLastAdmin
	}
	return nil
}

// UseTOTPStep records step as the operator's last used TOTP step if it is
// later than the stored one.
func (s *Store) UseTOTPStep(ctx context.Context, operatorID string, step int64) (bool, error) {
	return s.operators().useTOTPStep(ctx, operatorID, step)
}

const operatorTokenColumns = `id, operator_id, hash, prefix, role, created_at, expires_at, revoked_at`

func scanOperatorToken(r rowScanner) (*operator.Token, error) {
	var t operator.Token
	var role string
	var created, expires int64
	var revoked sql.NullInt64
	if err := r.Scan(&t.ID, &t.OperatorID, &t.HashHex, &t.Prefix, &role, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	t.Role = operator.Role(role)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromMicros(expires), optTime(revoked)
	return &t, nil
}

// CreateOperatorToken stores a token's hash.
func (s *Store) CreateOperatorToken(ctx context.Context, t *operator.Token) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO operator_tokens (`+operatorTokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			t.ID, t.OperatorID, t.HashHex, t.Prefix, string(t.Role), micros(t.CreatedAt), micros(t.ExpiresAt))
		if err != nil {
			return fmt.Errorf("sqlstore: insert operator token: %w", err)
		}
		return nil
	})
}

// FindOperatorToken returns the token with that hash (from the write
// pool, so a revocation is seen at once).
func (s *Store) FindOperatorToken(ctx context.Context, hashHex string) (*operator.Token, error) {
	t, err := scanOperatorToken(s.write.queryRow(ctx, `SELECT `+operatorTokenColumns+` FROM operator_tokens WHERE hash = ?`, hashHex))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("operator token")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: find operator token: %w", err)
	}
	return t, nil
}

// ListOperatorTokens lists an operator's tokens, newest first.
func (s *Store) ListOperatorTokens(ctx context.Context, operatorID string) ([]*operator.Token, error) {
	rows, err := s.read.query(ctx, `SELECT `+operatorTokenColumns+` FROM operator_tokens WHERE operator_id = ? ORDER BY created_at DESC, id`, operatorID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list operator tokens: %w", err)
	}
	defer rows.Close()
	out := []*operator.Token{}
	for rows.Next() {
		t, err := scanOperatorToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeOperatorToken revokes one token (idempotent).
func (s *Store) RevokeOperatorToken(ctx context.Context, id string, at time.Time) (*operator.Token, error) {
	var out *operator.Token
	err := s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.exec(ctx, `UPDATE operator_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), id); err != nil {
			return fmt.Errorf("sqlstore: revoke operator token: %w", err)
		}
		t, err := scanOperatorToken(tx.queryRow(ctx, `SELECT `+operatorTokenColumns+` FROM operator_tokens WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound("operator token")
		}
		out = t
		return err
	})
	return out, err
}

// CreateSetupLink stores a setup link's hash.
func (s *Store) CreateSetupLink(ctx context.Context, l *operator.SetupLink) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO operator_setup_links (hash, operator_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, NULL)`,
			l.HashHex, l.OperatorID, micros(l.CreatedAt), micros(l.ExpiresAt))
		if err != nil {
			return fmt.Errorf("sqlstore: insert setup link: %w", err)
		}
		return nil
	})
}

// UseSetupLink spends an unused, unexpired setup link.
func (s *Store) UseSetupLink(ctx context.Context, hashHex string, at time.Time) (string, error) {
	var id string
	err := s.inTx(ctx, func(tx *txn) error {
		err := tx.queryRow(ctx, `SELECT operator_id FROM operator_setup_links WHERE hash = ? AND used_at IS NULL AND expires_at > ?`+s.syntax.forUpdate(),
			hashHex, micros(at)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound("setup link")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: setup link: %w", err)
		}
		_, err = tx.exec(ctx, `UPDATE operator_setup_links SET used_at = ? WHERE hash = ?`, micros(at), hashHex)
		return err
	})
	return id, err
}

// LoginThrottle returns a subject's failed sign-ins and the last one.
func (s *Store) LoginThrottle(ctx context.Context, subject string) (int, time.Time, error) {
	var n int
	var last int64
	err := s.write.queryRow(ctx, `SELECT failures, last_failure_at FROM operator_login_throttle WHERE subject = ?`, subject).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sqlstore: login throttle: %w", err)
	}
	return n, fromMicros(last), nil
}

// RecordLoginFailure counts one failed sign-in of subject at at; failures
// older than operator.ThrottleMemory are forgotten first.
func (s *Store) RecordLoginFailure(ctx context.Context, subject string, at time.Time) error {
	forget := micros(at.Add(-operator.ThrottleMemory))
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO operator_login_throttle (subject, failures, last_failure_at) VALUES (?, 1, ?)
ON CONFLICT (subject) DO UPDATE SET failures = CASE WHEN operator_login_throttle.last_failure_at < ? THEN 1 ELSE operator_login_throttle.failures + 1 END,
last_failure_at = excluded.last_failure_at`, subject, micros(at), forget)
		if err != nil {
			return fmt.Errorf("sqlstore: record login failure: %w", err)
		}
		return nil
	})
}

// ResetLoginThrottle forgets a subject's failed sign-ins.
func (s *Store) ResetLoginThrottle(ctx context.Context, subject string) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `DELETE FROM operator_login_throttle WHERE subject = ?`, subject)
		return err
	})
}
