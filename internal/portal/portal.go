// Package portal is the partner developer portal (issue 24), served at
// /portal by the same binary as the partner API: partner users sign in
// with a password and TOTP, and see and manage only their own partner's
// users and keys. It stands on internal/websession, the staff console's
// session, CSRF, CSP and log-off machinery, with its own cookie, session
// table and CSRF label, so a console session is never a portal session.
//
// Isolation is the portal's first property: every signed-in handler gets
// the user's partner from the session and reads through it; an id of
// another partner answers the same "not found" page as an id that does
// not exist.
package portal

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/websession"
)

// Prefix is where the portal is served.
const Prefix = "/portal"

// Handles reports whether path belongs to the portal.
func Handles(path string) bool { return path == Prefix || strings.HasPrefix(path, Prefix+"/") }

// Store is what the portal reads and changes besides partner users.
type Store interface {
	onboarding.Store
	ListAPIKeys(ctx context.Context, clinicID string) ([]*novamed.APIKey, error)
	GetAPIKey(ctx context.Context, id string) (*novamed.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (*novamed.APIKey, error)
	RollAPIKey(ctx context.Context, id string, next *novamed.APIKey, graceUntil time.Time) (*novamed.APIKey, error)
	// RecentAudit reads the audit trail newest first (the request log).
	RecentAudit(ctx context.Context, since time.Time, fn func(*novamed.AuditRecord) bool) error
	Usage(ctx context.Context, keyID, since string) ([]novamed.UsageCount, error)
	ListSecurityEvents(ctx context.Context, since time.Time, limit int) ([]*novamed.SecurityEvent, error)
}

// Config holds the portal's dependencies and settings.
type Config struct {
	Env novamed.Environment
	// Sessions is the portal's session table.
	Sessions websession.Store
	Users    *partneruser.Service
	Store    Store
	// Audit records what partner users do (actor partner_user:<id>).
	Audit  *audit.Writer
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// IdleTimeout (default 15 min) and AbsoluteTimeout (default 12 h) end
	// sessions.
	IdleTimeout, AbsoluteTimeout time.Duration
	// SecureCookies, HostPrefix and HSTS as for the console.
	SecureCookies, HostPrefix, HSTS bool
	// ClientAddr returns the request's client address; the peer when nil.
	ClientAddr func(*http.Request) string
	// OnKeysChanged tells every replica to forget cached keys.
	OnKeysChanged func(context.Context)
	// Webhooks are the partner API's webhook registrations and delivery
	// log; WebhookURL checks an endpoint URL as the partner API does and
	// returns its normal form.
	Webhooks   novamed.WebhookAPIStore
	WebhookURL func(ctx context.Context, raw string) (string, error)
	// BaseURL is the API's address as partners reach it (the getting
	// started page); "" uses the scheme and host of the portal's request.
	BaseURL string
	// RoutesOf returns the partner API routes ("METHOD /path/{param}")
	// whose audit records name an action (httpapi.Server.RoutesOfAction),
	// for the request log; nil shows the action alone.
	RoutesOf func(action string) []string
	// MaxGrace bounds a roll's grace period (default 7 days).
	MaxGrace time.Duration
	// KeyRequests is the production key-request queue (issue 24); nil
	// makes one on Store.
	KeyRequests *keyrequest.Service
}

// Portal is the developer portal as an http.Handler for /portal.
type Portal struct {
	cfg    Config
	routes []Route
	// web is the portal's routes, assets, pages and sessions, on the
	// machinery it shares with the console.
	web      *websession.Surface
	sessions *websession.Manager
	log      *slog.Logger
}

// New returns the portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Sessions == nil || cfg.Users == nil || cfg.Store == nil || cfg.Webhooks == nil || cfg.WebhookURL == nil {
		return nil, errors.New("portal: Sessions, Users, Store, Webhooks and WebhookURL are required")
	}
	websession.Defaults(&cfg.Now, &cfg.IdleTimeout, &cfg.AbsoluteTimeout, &cfg.Logger)
	if cfg.MaxGrace <= 0 {
		cfg.MaxGrace = 7 * 24 * time.Hour
	}
	if cfg.KeyRequests == nil {
		ks, ok := cfg.Store.(keyrequest.Store)
		if !ok {
			return nil, errors.New("portal: KeyRequests is required when Store keeps no key requests")
		}
		cfg.KeyRequests = &keyrequest.Service{Store: ks, Env: cfg.Env, Now: cfg.Now}
	}
	p := &Portal{cfg: cfg, log: cfg.Logger}
	var err error
	p.web, err = websession.NewSurface(websession.SurfaceConfig{Prefix: Prefix, Name: "portal", Product: "NovaMed developer portal",
		Templates: templateFS,
		Sessions: websession.Config{Store: cfg.Sessions, Cookie: "novamed_portal", HostPrefix: cfg.HostPrefix,
			Secure: cfg.SecureCookies, CSRFLabel: "novamed portal csrf v1", Idle: cfg.IdleTimeout, Absolute: cfg.AbsoluteTimeout, Now: cfg.Now},
		HSTS: cfg.HSTS, ClientAddr: cfg.ClientAddr, Logger: cfg.Logger}, func(w http.ResponseWriter, r *http.Request) {
		p.renderError(w, r, nil, http.StatusForbidden, "This request came from another site and was refused.")
	})
	if err != nil {
		return nil, err
	}
	p.sessions = p.web.Sessions
	p.register()
	return p, nil
}

func (p *Portal) now() time.Time { return p.cfg.Now() }

// ServeHTTP answers a portal request.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.web.ServeHTTP(w, r) }

func (p *Portal) clientAddr(r *http.Request) string { return p.web.ClientAddr(r) }
