package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/websession"
)

var _ novamed.ConsoleSessionStore = (*Store)(nil)

// sessionTable is one surface's session table (console_sessions,
// portal_sessions): the same columns, the subject's column named for who
// signs in there.
type sessionTable struct {
	s              *Store
	table, subject string
}

func (t sessionTable) create(ctx context.Context, r *websession.Record) error {
	return t.s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO `+t.table+` (token_hash, `+t.subject+`, created_at, last_seen_at, reauth_at, client_addr, user_agent)
VALUES (?, ?, ?, ?, ?, ?, ?)`, hex.EncodeToString(r.TokenHash), r.Subject, micros(r.CreatedAt), micros(r.LastSeenAt),
			micros(r.ReauthAt), r.ClientAddr, r.UserAgent)
		if err != nil {
			return fmt.Errorf("sqlstore: create session: %w", err)
		}
		return nil
	})
}

func (t sessionTable) get(ctx context.Context, tokenHash []byte) (*websession.Record, error) {
	var r websession.Record
	var created, seen, reauth int64
	err := t.s.read.queryRow(ctx, `SELECT `+t.subject+`, created_at, last_seen_at, reauth_at, client_addr, user_agent FROM `+t.table+` WHERE token_hash = ?`,
		hex.EncodeToString(tokenHash)).Scan(&r.Subject, &created, &seen, &reauth, &r.ClientAddr, &r.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, websession.ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read session: %w", err)
	}
	r.TokenHash = append([]byte(nil), tokenHash...)
	r.CreatedAt, r.LastSeenAt, r.ReauthAt = fromMicros(created), fromMicros(seen), fromMicros(reauth)
	return &r, nil
}

func (t sessionTable) touch(ctx context.Context, tokenHash []byte, at time.Time, reauth bool) error {
	return t.s.inTx(ctx, func(tx *txn) error {
		var res sql.Result
		var err error
		if reauth {
			res, err = tx.exec(ctx, `UPDATE `+t.table+` SET last_seen_at = ?, reauth_at = ? WHERE token_hash = ?`,
				micros(at), micros(at), hex.EncodeToString(tokenHash))
		} else {
			res, err = tx.exec(ctx, `UPDATE `+t.table+` SET last_seen_at = ? WHERE token_hash = ?`, micros(at), hex.EncodeToString(tokenHash))
		}
		if err != nil {
			return fmt.Errorf("sqlstore: touch session: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return websession.ErrNoSession
		}
		return nil
	})
}

func (t sessionTable) delete(ctx context.Context, tokenHash []byte) error {
	return t.s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.exec(ctx, `DELETE FROM `+t.table+` WHERE token_hash = ?`, hex.EncodeToString(tokenHash)); err != nil {
			return fmt.Errorf("sqlstore: delete session: %w", err)
		}
		return nil
	})
}

func (t sessionTable) deleteSubject(ctx context.Context, subject string) (int64, error) {
	var n int64
	err := t.s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM `+t.table+` WHERE `+t.subject+` = ?`, subject)
		if err != nil {
			return fmt.Errorf("sqlstore: delete sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

func (t sessionTable) purge(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	var n int64
	err := t.s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM `+t.table+` WHERE last_seen_at < ? OR created_at < ?`, micros(idleBefore), micros(createdBefore))
		if err != nil {
			return fmt.Errorf("sqlstore: purge sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

func (s *Store) consoleTable() sessionTable {
	return sessionTable{s, "console_sessions", "operator_id"}
}

// CreateConsoleSession stores a new staff console session.
func (s *Store) CreateConsoleSession(ctx context.Context, cs *novamed.ConsoleSession) error {
	return s.consoleTable().create(ctx, &websession.Record{TokenHash: cs.TokenHash, Subject: cs.OperatorID, CreatedAt: cs.CreatedAt,
		LastSeenAt: cs.LastSeenAt, ReauthAt: cs.ReauthAt, ClientAddr: cs.ClientAddr, UserAgent: cs.UserAgent})
}

// ConsoleSession returns the session whose token hashes to tokenHash.
func (s *Store) ConsoleSession(ctx context.Context, tokenHash []byte) (*novamed.ConsoleSession, error) {
	r, err := s.consoleTable().get(ctx, tokenHash)
	if errors.Is(err, websession.ErrNoSession) {
		return nil, novamed.ErrNoConsoleSession
	}
	if err != nil {
		return nil, err
	}
	return &novamed.ConsoleSession{TokenHash: r.TokenHash, OperatorID: r.Subject, CreatedAt: r.CreatedAt, LastSeenAt: r.LastSeenAt,
		ReauthAt: r.ReauthAt, ClientAddr: r.ClientAddr, UserAgent: r.UserAgent}, nil
}

// TouchConsoleSession records activity (and a re-authentication).
func (s *Store) TouchConsoleSession(ctx context.Context, tokenHash []byte, at time.Time, reauth bool) error {
	err := s.consoleTable().touch(ctx, tokenHash, at, reauth)
	if errors.Is(err, websession.ErrNoSession) {
		return novamed.ErrNoConsoleSession
	}
	return err
}

// DeleteConsoleSession ends one session.
func (s *Store) DeleteConsoleSession(ctx context.Context, tokenHash []byte) error {
	return s.consoleTable().delete(ctx, tokenHash)
}

// DeleteOperatorConsoleSessions ends every session of an operator.
func (s *Store) DeleteOperatorConsoleSessions(ctx context.Context, operatorID string) (int64, error) {
	return s.consoleTable().deleteSubject(ctx, operatorID)
}

// PurgeConsoleSessions deletes sessions past their idle or absolute limit.
func (s *Store) PurgeConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	return s.consoleTable().purge(ctx, idleBefore, createdBefore)
}

// ConsoleSessions are the staff console's sessions (console_sessions)
// as a websession.Store.
func (s *Store) ConsoleSessions() SessionStore { return SessionStore{s.consoleTable()} }

// PortalSessions are the partner portal's sessions (portal_sessions).
func (s *Store) PortalSessions() SessionStore {
	return SessionStore{sessionTable{s, "portal_sessions", "partner_user_id"}}
}

// SessionStore is one surface's session table as a websession.Store.
type SessionStore struct{ t sessionTable }

var _ websession.Store = SessionStore{}

// CreateSession stores a new session.
func (p SessionStore) CreateSession(ctx context.Context, r *websession.Record) error {
	return p.t.create(ctx, r)
}

// Session returns the session whose token hashes to hash.
func (p SessionStore) Session(ctx context.Context, hash []byte) (*websession.Record, error) {
	return p.t.get(ctx, hash)
}

// TouchSession records activity (and a re-authentication).
func (p SessionStore) TouchSession(ctx context.Context, hash []byte, at time.Time, reauth bool) error {
	return p.t.touch(ctx, hash, at, reauth)
}

// DeleteSession ends one session.
func (p SessionStore) DeleteSession(ctx context.Context, hash []byte) error {
	return p.t.delete(ctx, hash)
}

// DeleteSubjectSessions ends every session of an operator or partner
// user.
func (p SessionStore) DeleteSubjectSessions(ctx context.Context, subject string) (int64, error) {
	return p.t.deleteSubject(ctx, subject)
}

// Purge deletes sessions past their idle or absolute limit.
func (p SessionStore) Purge(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	return p.t.purge(ctx, idleBefore, createdBefore)
}
