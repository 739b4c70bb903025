package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/websession"
)

// session is a request's signed-in session (internal/websession's, with
// the operator it belongs to).
type session struct {
	*websession.Session
	op *Operator
}

// consoleSessions adapts the console's session table to websession.Store.
type consoleSessions struct{ st novamed.ConsoleSessionStore }

func (a consoleSessions) CreateSession(ctx context.Context, r *websession.Record) error {
	return a.st.CreateConsoleSession(ctx, &novamed.ConsoleSession{TokenHash: r.TokenHash, OperatorID: r.Subject, CreatedAt: r.CreatedAt,
		LastSeenAt: r.LastSeenAt, ReauthAt: r.ReauthAt, ClientAddr: r.ClientAddr, UserAgent: r.UserAgent})
}

func (a consoleSessions) Session(ctx context.Context, hash []byte) (*websession.Record, error) {
	cs, err := a.st.ConsoleSession(ctx, hash)
	if errors.Is(err, novamed.ErrNoConsoleSession) {
		return nil, websession.ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	return &websession.Record{TokenHash: cs.TokenHash, Subject: cs.OperatorID, CreatedAt: cs.CreatedAt, LastSeenAt: cs.LastSeenAt,
		ReauthAt: cs.ReauthAt, ClientAddr: cs.ClientAddr, UserAgent: cs.UserAgent}, nil
}

func (a consoleSessions) TouchSession(ctx context.Context, hash []byte, at time.Time, reauth bool) error {
	err := a.st.TouchConsoleSession(ctx, hash, at, reauth)
	if errors.Is(err, novamed.ErrNoConsoleSession) {
		return websession.ErrNoSession
	}
	return err
}

func (a consoleSessions) DeleteSession(ctx context.Context, hash []byte) error {
	return a.st.DeleteConsoleSession(ctx, hash)
}

func (a consoleSessions) DeleteSubjectSessions(ctx context.Context, subject string) (int64, error) {
	return a.st.DeleteOperatorConsoleSessions(ctx, subject)
}

// loadSession finds the request's session, checks its limits and loads
// its operator. It does not record activity.
func (c *Console) loadSession(ctx context.Context, r *http.Request) (*session, error) {
	ws, err := c.sessions.Load(ctx, r)
	if err != nil {
		return nil, err
	}
	op, err := c.cfg.Accounts.Operator(ctx, ws.Rec.Subject)
	if err != nil {
		// A disabled or deleted operator's sessions end with them.
		c.cfg.Sessions.DeleteOperatorConsoleSessions(ctx, ws.Rec.Subject) //nolint:errcheck // best effort; the lookup fails again
		return nil, &websession.SignedOut{Reason: "operator"}
	}
	return &session{Session: ws, op: op}, nil
}

// startSession creates a session for op and sets its cookie.
func (c *Console) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, op *Operator) error {
	return c.sessions.Start(ctx, w, r, op.ID, c.clientAddr(r))
}

// checkCSRF compares the request's token with the session's.
func checkCSRF(r *http.Request, s *session) bool { return websession.CheckCSRF(r, s.Session) }

func truncate(s string, n int) string { return websession.Truncate(s, n) }
