package console

import (
	"context"
	"net/http"

	"github.com/novamed/partner-api/internal/websession"
)

// session is a request's signed-in session (internal/websession's, with
// the operator it belongs to).
type session struct {
	*websession.Session
	op *Operator
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
		c.cfg.Sessions.DeleteSubjectSessions(ctx, ws.Rec.Subject) //nolint:errcheck // best effort; the lookup fails again
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
