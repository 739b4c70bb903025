package websession

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// static holds the stylesheet, script and vendored htmx of every surface
// (same look, same behaviour, one copy), each served under its surface's
// prefix.
//
//go:embed static
var static embed.FS

// shell holds the templates both surfaces share: the page layout and the
// sign-in and setup form fields (templates/*.html).
//
//go:embed templates
var shell embed.FS

// Defaults fills a surface's unset settings: the clock (time.Now), the
// idle limit (15 min), the absolute limit (12 h; HIPAA 164.312(a)(2)(iii))
// and the logger (one that discards).
func Defaults(now *func() time.Time, idle, absolute *time.Duration, log **slog.Logger) {
	if *now == nil {
		*now = time.Now
	}
	if *idle <= 0 {
		*idle = 15 * time.Minute
	}
	if *absolute <= 0 {
		*absolute = 12 * time.Hour
	}
	if *log == nil {
		*log = slog.New(slog.DiscardHandler)
	}
}

// SurfaceConfig describes one browser surface (the staff console, the
// partner portal).
type SurfaceConfig struct {
	// Prefix is where the surface is served ("/console"); templates get it
	// as {{base}}.
	Prefix string
	// Name names the surface in log lines ("console").
	Name string
	// Product names the surface in page titles and its brand link
	// ("NovaMed console"); templates get it as {{product}}.
	Product string
	// Templates holds templates/layout.html (the surface's blocks of the
	// shared layout), templates/partials.html and templates/page_*.html;
	// Funcs are their functions besides asset, base, product, ts and join.
	Templates fs.FS
	Funcs     template.FuncMap
	// HTMX: an htmx request that targets part of a page gets the page's
	// "main" block alone, and an error is swapped into #flash.
	HTMX bool
	// Sessions are the surface's session settings (Now, Idle and Absolute
	// already defaulted).
	Sessions Config
	// HSTS adds Strict-Transport-Security (TLS or a TLS proxy).
	HSTS bool
	// ClientAddr returns the request's client address; the peer address
	// when nil.
	ClientAddr func(*http.Request) string
	Logger     *slog.Logger
}

// Surface is the request plumbing one surface shares with the other: the
// security headers and cross-origin refusal in front of its routes, its
// static assets, pages and sessions, and the sign-in redirect.
type Surface struct {
	cfg SurfaceConfig
	// Mux holds the surface's routes.
	Mux      *http.ServeMux
	Assets   *Assets
	Pages    *Pages
	Sessions *Manager
	cop      *http.CrossOriginProtection
	denied   http.HandlerFunc
}

// NewSurface loads a surface's assets and pages and starts its session
// manager; denied answers a state change from another origin (the
// surface's 403 page).
func NewSurface(cfg SurfaceConfig, denied http.HandlerFunc) (*Surface, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Surface{cfg: cfg, Mux: http.NewServeMux(), cop: http.NewCrossOriginProtection(), denied: denied}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	if s.Assets, err = LoadAssets(sub, cfg.Prefix); err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"asset": s.Assets.URL, "base": func() string { return cfg.Prefix }, "product": func() string { return cfg.Product }}
	for k, v := range cfg.Funcs {
		funcs[k] = v
	}
	if s.Pages, err = LoadPages(cfg.Templates, "templates", funcs); err != nil {
		return nil, err
	}
	s.Sessions = NewManager(cfg.Sessions)
	s.cop.SetDenyHandler(denied)
	return s, nil
}

// ServeHTTP sets the security headers, refuses a state change from
// another origin before anything else (Sec-Fetch-Site, else Origin
// against Host; signed-in routes check the session's CSRF token too) and
// routes the request.
func (s *Surface) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SetSecurityHeaders(w.Header(), s.cfg.HSTS)
	if err := s.cop.Check(r); err != nil {
		s.denied(w, r)
		return
	}
	s.Mux.ServeHTTP(w, r)
}

// Handle registers a route and returns its method and path.
func (s *Surface) Handle(pattern string, h http.Handler) (method, path string) {
	s.Mux.Handle(pattern, h)
	method, path, _ = strings.Cut(pattern, " ")
	return method, path
}

// ClientAddr is the request's client address.
func (s *Surface) ClientAddr(r *http.Request) string {
	if s.cfg.ClientAddr != nil {
		return s.cfg.ClientAddr(r)
	}
	return PeerAddr(r)
}

// ToSignIn sends a signed-out request to the sign-in page, saying why
// (unless the reason is "none") and, for a GET of a page other than the
// home page, where to come back to.
func (s *Surface) ToSignIn(w http.ResponseWriter, r *http.Request, reason string) {
	s.Sessions.SetCookie(w, "", true)
	q := url.Values{}
	if reason != "none" {
		q.Set("reason", reason)
	}
	if r.Method == http.MethodGet && r.URL.Path != s.cfg.Prefix+"/" {
		q.Set("next", r.URL.RequestURI())
	}
	target := s.cfg.Prefix + "/login"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	Redirect(w, r, target)
}

// NavItem is one entry of a surface's navigation.
type NavItem struct {
	Path, Label string
	Current     bool
}

// NavItem is the navigation entry of the surface's path (relative to
// its prefix), current on that page and, except for the home page, below
// it.
func (s *Surface) NavItem(r *http.Request, path, label string) NavItem {
	p := s.cfg.Prefix + path
	cur := r.URL.Path == p || (path != "/" && strings.HasPrefix(r.URL.Path, p+"/"))
	return NavItem{Path: p, Label: label, Current: cur}
}

// View is what every page template receives; a surface embeds it in its
// own view with who is signed in.
type View struct {
	Title string
	// SignedIn shows the account and the sign-out form.
	SignedIn bool
	CSRF     string
	Nav      []NavItem
	// IdleMS is the idle limit the page's script signs out after.
	IdleMS int64
	Env    string
	Notice string
	Data   any
}

// Render writes a page (for an htmx request that targets part of a page
// on an HTMX surface, only its "main" block); a template failure is a
// plain 500 whose cause goes to the log only.
func (s *Surface) Render(w http.ResponseWriter, r *http.Request, status int, page string, v any) {
	name := "layout.html"
	if s.cfg.HTMX && r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" {
		name = "main"
	}
	buf, err := s.Pages.Execute(page, name, v)
	if err != nil {
		s.cfg.Logger.Error(s.cfg.Name+" template failed", "page", page, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("Something went wrong on our side.")) //nolint:errcheck // the client went away
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf) //nolint:errcheck // the client went away
}

// ErrorData is the data of the "error" page.
func ErrorData(status int, msg string) any {
	return map[string]any{"Status": status, "Message": msg}
}

// RenderError shows the "error" page, whose view has ErrorData (on an
// HTMX surface, an htmx request gets the error alone, in #flash).
func (s *Surface) RenderError(w http.ResponseWriter, r *http.Request, status int, v any) {
	if s.cfg.HTMX && r.Header.Get("HX-Request") == "true" {
		// htmx swaps error answers only when told to.
		w.Header().Set("HX-Retarget", "#flash")
		w.Header().Set("HX-Reswap", "innerHTML")
	}
	s.Render(w, r, status, "error", v)
}
