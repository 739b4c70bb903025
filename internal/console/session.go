package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// session is a request's signed-in session.
type session struct {
	token  string // the raw token from the cookie; never stored or logged
	hash   []byte
	rec    *novamed.ConsoleSession
	op     *Operator
	csrf   string
	absEnd time.Time // when the absolute limit ends the session
}

// newToken returns 32 random bytes, base64url: the session token.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// csrfToken is the session's CSRF token: an HMAC of the session token, so
// it needs no storage, differs per session and cannot be computed without
// the cookie.
func csrfToken(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("novamed console csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *Console) cookieName() string {
	if c.cfg.HostPrefix {
		return "__Host-novamed_console"
	}
	return "novamed_console"
}

// setCookie sends the session cookie: HttpOnly, SameSite=Strict, Path=/,
// no Domain, Secure unless development on loopback HTTP. It has no
// Max-Age: the browser forgets it when it closes, and the server ends the
// session at its limits whatever the browser keeps.
func (c *Console) setCookie(w http.ResponseWriter, value string, clear bool) {
	ck := &http.Cookie{Name: c.cookieName(), Value: value, Path: "/", HttpOnly: true, Secure: c.cfg.SecureCookies, SameSite: http.SameSiteStrictMode}
	if clear {
		ck.Value = ""
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// errSignedOut says why a request has no session.
type errSignedOut struct{ reason string }

func (e *errSignedOut) Error() string { return "signed out: " + e.reason }

// loadSession finds the request's session and checks its limits. An
// expired session is deleted. It does not record activity.
func (c *Console) loadSession(ctx context.Context, r *http.Request) (*session, error) {
	ck, err := r.Cookie(c.cookieName())
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil, &errSignedOut{"none"}
	}
	s := &session{token: ck.Value, hash: hashToken(ck.Value)}
	rec, err := c.cfg.Sessions.ConsoleSession(ctx, s.hash)
	if errors.Is(err, novamed.ErrNoConsoleSession) {
		return nil, &errSignedOut{"ended"}
	}
	if err != nil {
		return nil, err
	}
	now := c.now()
	s.absEnd = rec.CreatedAt.Add(c.cfg.AbsoluteTimeout)
	if now.Sub(rec.LastSeenAt) >= c.cfg.IdleTimeout {
		c.cfg.Sessions.DeleteConsoleSession(ctx, s.hash) //nolint:errcheck // the purge removes it otherwise
		return nil, &errSignedOut{"idle"}
	}
	if !now.Before(s.absEnd) {
		c.cfg.Sessions.DeleteConsoleSession(ctx, s.hash) //nolint:errcheck // as above
		return nil, &errSignedOut{"absolute"}
	}
	op, err := c.cfg.Accounts.Operator(ctx, rec.OperatorID)
	if err != nil {
		// A disabled or deleted operator's sessions end with them.
		c.cfg.Sessions.DeleteOperatorConsoleSessions(ctx, rec.OperatorID) //nolint:errcheck // best effort; the lookup fails again
		return nil, &errSignedOut{"operator"}
	}
	s.rec, s.op, s.csrf = rec, op, csrfToken(s.token)
	return s, nil
}

// touchEvery is how stale last_seen_at may get before a request writes
// it again: a thirtieth of the idle limit, at most 30 s, so a busy page
// costs at most one write per half minute and the idle log-off still
// happens within 97% to 100% of its limit.
func (c *Console) touchEvery() time.Duration {
	return min(c.cfg.IdleTimeout/30, 30*time.Second)
}

// touch records activity on the session.
func (c *Console) touch(ctx context.Context, s *session) error {
	now := c.now()
	if now.Sub(s.rec.LastSeenAt) < c.touchEvery() {
		return nil
	}
	return c.cfg.Sessions.TouchConsoleSession(ctx, s.hash, now, false)
}

// startSession creates a session for op and sets its cookie.
func (c *Console) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, op *Operator) error {
	token := newToken()
	now := c.now()
	rec := &novamed.ConsoleSession{TokenHash: hashToken(token), OperatorID: op.ID, CreatedAt: now, LastSeenAt: now, ReauthAt: now,
		ClientAddr: c.clientAddr(r), UserAgent: truncate(r.UserAgent(), 200)}
	if err := c.cfg.Sessions.CreateConsoleSession(ctx, rec); err != nil {
		return err
	}
	c.setCookie(w, token, false)
	return nil
}

// checkCSRF compares the request's token (form field or header) with the
// session's in constant time.
func checkCSRF(r *http.Request, s *session) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf_token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
