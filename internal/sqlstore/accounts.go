package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/novamed/partner-api/internal/novamed"
)

// accountTable is one table of people who sign in with a password and a
// TOTP second factor (operators, partner_users): the same row reads, the
// same sealed totp_secret column and the same totp_last_step, with the
// row type and columns of each.
type accountTable[T any] struct {
	s              *Store
	table, columns string
	// what names a row in errors ("operator"); notFound is the noun of
	// the not-found error the callers answer.
	what, notFound string
	scan           func(rowScanner) (T, error)
}

// get reads the row whose column where equals arg, from the write pool: a
// sign-in or token check right after a change must see it (the read pool
// of SQLite may lag a group commit).
func (t accountTable[T]) get(ctx context.Context, where string, arg any) (T, error) {
	v, err := t.scan(t.s.write.queryRow(ctx, `SELECT `+t.columns+` FROM `+t.table+` WHERE `+where+` = ?`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return v, novamed.NotFound(t.notFound)
	}
	if err != nil {
		return v, fmt.Errorf("sqlstore: get %s: %w", t.what, err)
	}
	return v, nil
}

// list reads the rows that match where ("" for all), by email.
func (t accountTable[T]) list(ctx context.Context, where string, args ...any) ([]T, error) {
	rows, err := t.s.read.query(ctx, `SELECT `+t.columns+` FROM `+t.table+` `+where+`ORDER BY email`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list %ss: %w", t.what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := t.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list %ss: %w", t.what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// sealTOTP seals a row's TOTP secret ("" stays "").
func (t accountTable[T]) sealTOTP(id, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	z := t.s.sealer(t.table, id)
	v := z.str("totp_secret", secret)
	return v, z.err
}

// openTOTP opens a row's sealed TOTP secret ("" stays "").
func (t accountTable[T]) openTOTP(id, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	op := t.s.opener(t.table, id)
	v := op.str("totp_secret", sealed)
	return v, op.err
}

// useTOTPStep records step as the row's last used TOTP step if it is
// later than the stored one (a code works once). It is the only write of
// totp_last_step after the row's insert: a write of a value read earlier
// could move it back and let a used code work again.
func (t accountTable[T]) useTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	used := false
	err := t.s.inTx(ctx, func(tx *txn) error {
		var err error
		used, err = t.useTOTPStepTx(ctx, tx, id, step)
		return err
	})
	return used, err
}

// useTOTPStepTx is useTOTPStep in the transaction tx.
func (t accountTable[T]) useTOTPStepTx(ctx context.Context, tx *txn, id string, step int64) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE `+t.table+` SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
	if err != nil {
		return false, fmt.Errorf("sqlstore: %s totp step: %w", t.what, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
