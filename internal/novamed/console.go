package novamed

import (
	"context"
	"errors"
	"time"
)

// ErrNoConsoleSession is returned for a session that does not exist (never
// did, logged out, or purged).
var ErrNoConsoleSession = errors.New("novamed: no such console session")

// ConsoleSession is a signed-in staff console session, kept server-side so
// that every replica sees the same sessions and a logout ends one at once
// everywhere. Only a hash of the session token is stored; the token itself
// lives in the operator's cookie.
type ConsoleSession struct {
	// TokenHash is SHA-256 of the session token (the cookie's value).
	TokenHash []byte
	// OperatorID is the signed-in operator, so that "log out everywhere"
	// is one statement.
	OperatorID string
	CreatedAt  time.Time
	// LastSeenAt is the last request that counted as activity (the idle
	// log-off measures from it).
	LastSeenAt time.Time
	// ReauthAt is when the operator last proved their password and second
	// factor in this session (sign-in or re-authentication).
	ReauthAt   time.Time
	ClientAddr string
	UserAgent  string
}

// ConsoleSessionStore keeps staff console sessions.
type ConsoleSessionStore interface {
	// CreateConsoleSession stores a new session.
	CreateConsoleSession(ctx context.Context, s *ConsoleSession) error
	// ConsoleSession returns the session whose token hashes to tokenHash,
	// or ErrNoConsoleSession.
	ConsoleSession(ctx context.Context, tokenHash []byte) (*ConsoleSession, error)
	// TouchConsoleSession records activity at (and a re-authentication
	// when reauth is true); ErrNoConsoleSession when the session is gone.
	TouchConsoleSession(ctx context.Context, tokenHash []byte, at time.Time, reauth bool) error
	// DeleteConsoleSession ends one session (logout); ending a missing one
	// is not an error.
	DeleteConsoleSession(ctx context.Context, tokenHash []byte) error
	// DeleteOperatorConsoleSessions ends every session of an operator (log
	// out everywhere, operator disabled) and says how many there were.
	DeleteOperatorConsoleSessions(ctx context.Context, operatorID string) (int64, error)
	// PurgeConsoleSessions deletes sessions idle since before idleBefore or
	// created before createdBefore.
	PurgeConsoleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error)
}
