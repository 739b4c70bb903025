// Package websession is the browser-session machinery shared by the staff
// console (/console) and the partner developer portal (/portal):
// server-side sessions keyed by the SHA-256 of a random cookie token, a
// per-session CSRF token derived from it, idle and absolute log-off, the
// cookie's flags, the security headers and Content-Security-Policy of
// every page, safe post-sign-in redirects and the TOTP enrolment data of
// a setup page. Each surface keeps its own cookie name, CSRF label and
// session table, so a console session is never a portal session.
//
// A Surface is the rest of what the two have in common: the static
// assets (one copy, static/), the page layout and the sign-in and setup
// form fields (templates/, with blocks and {{product}} and {{base}} for
// what differs), rendering and error pages, the navigation's current
// entry, route registration, the cross-origin refusal in front of the
// routes and the redirect to the sign-in page.
package websession

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrNoSession is returned by a Store for a session that does not exist
// (never did, logged out, or purged).
var ErrNoSession = errors.New("websession: no such session")

// Record is a session as stored: the hash of its token, never the token.
type Record struct {
	// TokenHash is SHA-256 of the cookie's value.
	TokenHash []byte
	// Subject is who is signed in (an operator id, a partner user id).
	Subject   string
	CreatedAt time.Time
	// LastSeenAt is the last request that counted as activity.
	LastSeenAt time.Time
	// ReauthAt is when the subject last proved their password and second
	// factor in this session.
	ReauthAt   time.Time
	ClientAddr string
	UserAgent  string
}

// Store keeps sessions of one surface.
type Store interface {
	CreateSession(ctx context.Context, r *Record) error
	// Session returns the session whose token hashes to hash, or
	// ErrNoSession.
	Session(ctx context.Context, hash []byte) (*Record, error)
	// TouchSession records activity at (and a re-authentication when
	// reauth); ErrNoSession when the session is gone.
	TouchSession(ctx context.Context, hash []byte, at time.Time, reauth bool) error
	// DeleteSession ends one session; a missing one is not an error.
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteSubjectSessions ends every session of a subject.
	DeleteSubjectSessions(ctx context.Context, subject string) (int64, error)
}

// Config are one surface's session settings.
type Config struct {
	Store Store
	// Cookie is the cookie's name; with HostPrefix it is sent as
	// "__Host-" + Cookie.
	Cookie     string
	HostPrefix bool
	// Secure sets the cookie's Secure flag (everything except development
	// on loopback HTTP).
	Secure bool
	// CSRFLabel separates the CSRF tokens of two surfaces.
	CSRFLabel string
	// Idle and Absolute end a session after this long without activity,
	// and this long after sign-in whatever happens.
	Idle, Absolute time.Duration
	// Now is the clock.
	Now func() time.Time
}

// Manager runs the sessions of one surface.
type Manager struct{ cfg Config }

// NewManager returns a Manager; Now defaults to time.Now.
func NewManager(cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg}
}

// Session is a request's signed-in session.
type Session struct {
	// Token is the raw cookie value: never stored or logged.
	Token string
	Hash  []byte
	Rec   *Record
	// CSRF is the session's CSRF token.
	CSRF string
	// AbsEnd is when the absolute limit ends the session.
	AbsEnd time.Time
}

// SignedOut says why a request has no session: "none", "ended", "idle"
// or "absolute".
type SignedOut struct{ Reason string }

func (e *SignedOut) Error() string { return "signed out: " + e.Reason }

// NewToken returns 32 random bytes, base64url: a session token.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is what the store keeps of a token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// csrfToken is an HMAC of the session token: no storage, different per
// session and per surface, not computable without the cookie.
func (m *Manager) csrfToken(token string) string {
	h := hmac.New(sha256.New, []byte(token))
	h.Write([]byte(m.cfg.CSRFLabel))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string {
	if m.cfg.HostPrefix {
		return "__Host-" + m.cfg.Cookie
	}
	return m.cfg.Cookie
}

// SetCookie sends the session cookie (HttpOnly, SameSite=Strict, Path=/,
// no Domain, no Max-Age: the server ends sessions at their limits), or
// clears it.
func (m *Manager) SetCookie(w http.ResponseWriter, value string, clear bool) {
	ck := &http.Cookie{Name: m.CookieName(), Value: value, Path: "/", HttpOnly: true, Secure: m.cfg.Secure, SameSite: http.SameSiteStrictMode}
	if clear {
		ck.Value = ""
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// Load finds the request's session and checks its limits; an expired
// session is deleted. A request without a live session gets *SignedOut.
// It does not record activity.
func (m *Manager) Load(ctx context.Context, r *http.Request) (*Session, error) {
	ck, err := r.Cookie(m.CookieName())
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil, &SignedOut{"none"}
	}
	s := &Session{Token: ck.Value, Hash: HashToken(ck.Value)}
	rec, err := m.cfg.Store.Session(ctx, s.Hash)
	if errors.Is(err, ErrNoSession) {
		return nil, &SignedOut{"ended"}
	}
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	s.AbsEnd = rec.CreatedAt.Add(m.cfg.Absolute)
	if now.Sub(rec.LastSeenAt) >= m.cfg.Idle {
		m.cfg.Store.DeleteSession(ctx, s.Hash) //nolint:errcheck // the purge removes it otherwise
		return nil, &SignedOut{"idle"}
	}
	if !now.Before(s.AbsEnd) {
		m.cfg.Store.DeleteSession(ctx, s.Hash) //nolint:errcheck // as above
		return nil, &SignedOut{"absolute"}
	}
	s.Rec, s.CSRF = rec, m.csrfToken(s.Token)
	return s, nil
}

// touchEvery is how stale last_seen_at may get before a request writes
// it again: a thirtieth of the idle limit, at most 30 s, so a busy page
// costs at most one write per half minute and the idle log-off still
// happens within 97% to 100% of its limit.
func (m *Manager) touchEvery() time.Duration { return min(m.cfg.Idle/30, 30*time.Second) }

// Touch records activity on the session.
func (m *Manager) Touch(ctx context.Context, s *Session) error {
	now := m.cfg.Now()
	if now.Sub(s.Rec.LastSeenAt) < m.touchEvery() {
		return nil
	}
	return m.cfg.Store.TouchSession(ctx, s.Hash, now, false)
}

// Reauthenticated records a fresh password and second-factor check.
func (m *Manager) Reauthenticated(ctx context.Context, s *Session) error {
	return m.cfg.Store.TouchSession(ctx, s.Hash, m.cfg.Now(), true)
}

// Start creates a session for subject and sets its cookie.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, subject, clientAddr string) error {
	token := NewToken()
	now := m.cfg.Now()
	rec := &Record{TokenHash: HashToken(token), Subject: subject, CreatedAt: now, LastSeenAt: now, ReauthAt: now,
		ClientAddr: clientAddr, UserAgent: Truncate(r.UserAgent(), 200)}
	if err := m.cfg.Store.CreateSession(ctx, rec); err != nil {
		return err
	}
	m.SetCookie(w, token, false)
	return nil
}

// End deletes the session and clears the cookie.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, s *Session) error {
	if s != nil {
		if err := m.cfg.Store.DeleteSession(ctx, s.Hash); err != nil {
			return err
		}
	}
	m.SetCookie(w, "", true)
	return nil
}

// CheckCSRF compares the request's token (header X-CSRF-Token or form
// field csrf_token) with the session's in constant time.
func CheckCSRF(r *http.Request, s *Session) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf_token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

// CSP is the Content-Security-Policy of every page: scripts and styles
// from this server only (no inline script or style, no eval), images from
// here or data: URLs (the TOTP QR code), requests and forms only to this
// server, never framed.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// SetSecurityHeaders sets the headers of every page (and HSTS when the
// browser talks TLS); no-store unless the handler chose a cache policy.
func SetSecurityHeaders(h http.Header, hsts bool) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
}

// SafeNext returns a path under prefix to go to after signing in, or
// prefix + "/": never another host (no open redirect).
func SafeNext(prefix, next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return prefix + "/"
	}
	return u.RequestURI()
}

// PeerAddr is the request's peer address (IPv4-mapped addresses unmapped).
func PeerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// Truncate cuts s to at most n bytes.
func Truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Redirect sends the browser to target: a 303, or for an htmx request an
// HX-Redirect header (htmx would otherwise swap the target page into the
// current one).
func Redirect(w http.ResponseWriter, r *http.Request, target string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
