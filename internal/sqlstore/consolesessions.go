package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

var _ novamed.ConsoleSessionStore = (*Store)(nil)

// CreateConsoleSession stores a new staff console session.
func (s *Store) CreateConsoleSession(ctx context.Context, cs *novamed.ConsoleSession) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO console_sessions (token_hash, operator_id, created_at, last_seen_at, reauth_at, client_addr, user_agent)
VALUES (?, ?, ?, ?, ?, ?, ?)`, hex.EncodeToString(cs.TokenHash), cs.OperatorID, micros(cs.CreatedAt), micros(cs.LastSeenAt),
			micros(cs.ReauthAt), cs.ClientAddr, cs.UserAgent)
		if err != nil {
			return fmt.Errorf("sqlstore: create console session: %w", err)
		}
		return nil
	})
}

// ConsoleSession returns the session whose token hashes to tokenHash.
func (s *Store) ConsoleSession(ctx context.Context, tokenHash []byte) (*novamed.ConsoleSession, error) {
	var cs novamed.ConsoleSession
	var created, seen, reauth int64
	err := s.read.queryRow(ctx, `SELECT operator_id, created_at, last_seen_at, reauth_at, client_addr, user_agent FROM console_sessions WHERE token_hash = ?`,
		hex.EncodeToString(tokenHash)).Scan(&cs.OperatorID, &created, &seen, &reauth, &cs.ClientAddr, &cs.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.ErrNoConsoleSession
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read console session: %w", err)
	}
	cs.TokenHash = append([]byte(nil), tokenHash...)
	cs.CreatedAt, cs.LastSeenAt, cs.ReauthAt = fromMicros(created), fromMicros(seen), fromMicros(reauth)
	return &cs, nil
}

// TouchConsoleSession records activity (and a re-authentication).
func (s *Store) TouchConsoleSession(ctx context.Context, tokenHash []byte, at time.Time, reauth bool) error {
	return s.inTx(ctx, func(tx *txn) error {
		var res sql.Result
		var err error
		if reauth {
			res, err = tx.exec(ctx, `UPDATE console_sessions SET last_seen_at = ?, reauth_at = ? WHERE token_hash = ?`,
				micros(at), micros(at), hex.EncodeToString(tokenHash))
		} else {
			res, err = tx.exec(ctx, `UPDATE console_sessions SET last_seen_at = ? WHERE token_hash = ?`, micros(at), hex.EncodeToString(tokenHash))
		}
		if err != nil {
			return fmt.Errorf("sqlstore: touch console session: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return novamed.ErrNoConsoleSession
		}
		return nil
	})
}

// DeleteConsoleSession ends one session.
func (s *Store) DeleteConsoleSession(ctx context.Context, tokenHash []byte) error {
	return s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.exec(ctx, `DELETE FROM console_sessions WHERE token_hash = ?`, hex.EncodeToString(tokenHash)); err != nil {
			return fmt.Errorf("sqlstore: delete console session: %w", err)
		}
		return nil
	})
}

// DeleteOperatorConsoleSessions ends every session of an operator.
func (s *Store) DeleteOperatorConsoleSessions(ctx context.Context, operatorID string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM console_sessions WHERE operator_id = ?`, operatorID)
		if err != nil {
			return fmt.Errorf("sqlstore: delete operator console sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// PurgeConsoleSessions deletes sessions past their idle or absolute limit.
func (s *Store) PurgeConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?`, micros(idleBefore), micros(createdBefore))
		if err != nil {
			return fmt.Errorf("sqlstore: purge console sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
