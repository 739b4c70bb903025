package console

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/reencrypt"
	"github.com/novamed/partner-api/internal/websession"
)

// Store is what the pages read and change.
type Store interface {
	ListDeliveries(ctx context.Context, f novamed.DeliveryFilter) ([]*novamed.Delivery, string, error)
	RetryDelivery(ctx context.Context, id, webhookID string, clinics []string) (*novamed.Delivery, error)
	FindSecurityEvents(ctx context.Context, f novamed.SecurityEventFilter) ([]*novamed.SecurityEvent, error)
	CountOpenSecurityEvents(ctx context.Context, since time.Time, max int) (int, error)
	// AcknowledgeSecurityEvent marks an open event acknowledged, with its
	// audit record in the same transaction.
	AcknowledgeSecurityEvent(ctx context.Context, id, actor string, at time.Time, rec *novamed.AuditRecord) (*novamed.SecurityEvent, error)
	Usage(ctx context.Context, keyID, since string) ([]novamed.UsageCount, error)
	// ScanAudit calls fn for each live audit record in [since, until)
	// (zero: unbounded), oldest first.
	ScanAudit(ctx context.Context, since, until time.Time, fn func(*novamed.AuditRecord) error) error
	KeyNetworks(ctx context.Context, keyID string) ([]string, error)
	PharmacyStore
}

// pageSize is how many rows a list page shows.
const pageSize = 25

// Operator is a signed-in member of staff as the console sees them.
type Operator struct {
	ID    string
	Email string
	Name  string
	Role  string
	// HasTOTP says the operator has a second factor enrolled.
	HasTOTP bool
}

// Accounts is what the console needs of operator accounts.
type Accounts interface {
	// SignIn checks an email, password and second-factor code; a refusal
	// is a *SignInError.
	SignIn(ctx context.Context, email, password, code, clientAddr string) (*Operator, error)
	// Operator returns an enabled operator by id; any error ends the
	// operator's sessions.
	Operator(ctx context.Context, id string) (*Operator, error)
	// Can reports whether role has capability (the role table of issue 22).
	Can(role, capability string) bool
}

// SignInError is a refused sign-in: which field to show the message
// beside, and how long to wait before the next try (0: no wait).
type SignInError struct {
	Field      string
	Message    string
	RetryAfter time.Duration
}

func (e *SignInError) Error() string { return e.Message }

// Config holds the console's dependencies and settings.
type Config struct {
	Env novamed.Environment
	// Sessions is the console's session table (console_sessions).
	Sessions websession.Store
	// Store is the data the pages read and change (the same store the
	// admin API uses).
	Store    Store
	Accounts Accounts
	// Audit records operators' PHI views and actions (nil in tests of the
	// session machinery only).
	Audit  *audit.Writer
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// IdleTimeout ends a session after this long without activity
	// (default 15 min); AbsoluteTimeout after this long whatever happens
	// (default 12 h). HIPAA 164.312(a)(2)(iii).
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// ReauthWindow is how recent a password and second-factor check must be
	// before a sensitive action (default 5 min).
	ReauthWindow time.Duration
	// SecureCookies sets the Secure flag (everything except development on
	// loopback HTTP); HostPrefix names the cookie __Host-… (TLS).
	SecureCookies bool
	HostPrefix    bool
	// ClientAddr returns the request's client address (the partner API's
	// rule, trusted proxies included); the peer address when nil.
	ClientAddr func(*http.Request) string
	// Partners are the partner, BAA, clinic and key data and actions
	// (internal/onboarding on the same store as the admin API).
	Partners PartnerStore
	// OnKeysChanged tells every replica to forget cached keys (a key was
	// revoked or rolled, a partner suspended or reinstated).
	OnKeysChanged func(context.Context)
	// Enrolment turns one-time setup links into accounts (nil: the setup
	// page answers 404).
	Enrolment Enrolment
	// PartnerUsers invites the developer portal's partner users (nil:
	// not offered).
	PartnerUsers *partneruser.Service
	// HSTS adds Strict-Transport-Security (TLS or a TLS proxy).
	HSTS bool
	// VerifyAudit checks the whole audit trail, archive included (nil:
	// the audit page offers no verification).
	VerifyAudit func(context.Context) (AuditCheck, error)
	// Checkpoint signs the audit chain head: the JSON `novamed audit
	// checkpoint` prints, and the sequence number it covers (nil: not
	// offered).
	Checkpoint func(context.Context) ([]byte, int64, error)
	// Staff manages operator accounts on the operators page (nil: the
	// page answers 404): the operator service the CLI and the admin API use.
	Staff *operator.Service
	// Reencrypt starts and follows master-key re-encryptions (nil: no
	// crypto page).
	Reencrypt *reencrypt.Service
	// Traffic reads this replica's partner API counters for the overview
	// (nil: not shown).
	Traffic func() TrafficTotals
	// KeyRequests is the production key-request queue (issue 24); nil
	// makes one on Partners when it keeps key requests (else no queue).
	KeyRequests *keyrequest.Service
}

// Console is the staff console as an http.Handler for /console and below.
type Console struct {
	cfg    Config
	routes []Route
	// web is the console's routes, assets, pages and sessions, on the
	// machinery it shares with the portal.
	web *websession.Surface
	log *slog.Logger
	// sessions are the console's sessions (cookie, limits, CSRF).
	sessions *websession.Manager
	// traffic samples the partner API counters for the overview's rates.
	traffic trafficWindow
}

// Prefix is where the console is served.
const Prefix = "/console"

// New returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.Sessions == nil || cfg.Accounts == nil || cfg.Store == nil || cfg.Partners == nil {
		return nil, errors.New("console: Sessions, Accounts, Store and Partners are required")
	}
	websession.Defaults(&cfg.Now, &cfg.IdleTimeout, &cfg.AbsoluteTimeout, &cfg.Logger)
	if cfg.ReauthWindow <= 0 {
		cfg.ReauthWindow = 5 * time.Minute
	}
	if ks, ok := cfg.Partners.(keyrequest.Store); ok && cfg.KeyRequests == nil {
		cfg.KeyRequests = &keyrequest.Service{Store: ks, Env: cfg.Env, Now: cfg.Now}
	}
	c := &Console{cfg: cfg, log: cfg.Logger}
	var err error
	c.web, err = websession.NewSurface(websession.SurfaceConfig{Prefix: Prefix, Name: "console", Product: "NovaMed console",
		Templates: templateFS, Funcs: template.FuncMap{"cents": cents, "short": shortID}, HTMX: true,
		Sessions: websession.Config{Store: cfg.Sessions, Cookie: "novamed_console",
			HostPrefix: cfg.HostPrefix, Secure: cfg.SecureCookies, CSRFLabel: "novamed console csrf v1",
			Idle: cfg.IdleTimeout, Absolute: cfg.AbsoluteTimeout, Now: cfg.Now},
		HSTS: cfg.HSTS, ClientAddr: cfg.ClientAddr, Logger: cfg.Logger}, c.crossOriginDenied)
	if err != nil {
		return nil, err
	}
	c.sessions = c.web.Sessions
	c.register()
	if cfg.Traffic != nil {
		c.traffic.observe(c.now(), cfg.Traffic())
	}
	return c, nil
}

func (c *Console) now() time.Time { return c.cfg.Now() }

// Handles reports whether path belongs to the console.
func Handles(path string) bool { return path == Prefix || strings.HasPrefix(path, Prefix+"/") }

// ServeHTTP answers a console request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.web.ServeHTTP(w, r) }

func (c *Console) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	c.renderError(w, r, nil, http.StatusForbidden, "This request came from another site and was refused.")
}

// clientAddr is the request's client address.
func (c *Console) clientAddr(r *http.Request) string { return c.web.ClientAddr(r) }

// safeNext returns a console path to go to after signing in, or the
// overview: never another host (no open redirect).
func safeNext(next string) string { return websession.SafeNext(Prefix, next) }
