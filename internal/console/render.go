package console

import (
	"embed"
	"html/template"
	"net/http"
	"strings"

	"github.com/novamed/partner-api/internal/websession"
)

//go:embed templates
var templateFS embed.FS

func loadPages(assets *websession.Assets) (*websession.Pages, error) {
	return websession.LoadPages(templateFS, "templates", template.FuncMap{"asset": assets.URL, "cents": cents, "short": shortID})
}

// navItem is one entry of the navigation, shown only to roles that may
// open it.
type navItem struct {
	Path, Label string
	Current     bool
}

// view is what every page template receives.
type view struct {
	Title  string
	Op     *Operator
	CSRF   string
	Nav    []navItem
	IdleMS int64
	Env    string
	Notice string
	Data   any
}

// nav lists the sections in order, each with the capability it needs.
var nav = []struct{ path, label, cap string }{
	{"/", "Overview", CapRead},
	{"/partners", "Partners", CapRead},
	{"/deliveries", "Deliveries", CapRead},
	{"/orders", "Orders", CapPHI},
	{"/formulary", "Formulary", CapRead},
	{"/carriers", "Carriers", CapRead},
	{"/security", "Security events", CapAudit},
	{"/audit", "Audit", CapAudit},
	{"/crypto", "Master key", CapAudit},
	{"/operators", "Operators", CapOperators},
}

func (c *Console) newView(r *http.Request, s *session, title string, data any) *view {
	v := &view{Title: title, Data: data, Env: string(c.cfg.Env)}
	if s != nil {
		v.Op, v.CSRF = s.op, s.CSRF
		v.IdleMS = c.cfg.IdleTimeout.Milliseconds()
		for _, n := range nav {
			if c.cfg.Accounts.Can(s.op.Role, n.cap) {
				p := Prefix + n.path
				cur := r.URL.Path == p || (n.path != "/" && strings.HasPrefix(r.URL.Path, p+"/"))
				v.Nav = append(v.Nav, navItem{Path: p, Label: n.label, Current: cur})
			}
		}
	}
	return v
}

// render writes a page. For an htmx request that targets part of a page,
// only the template's "main" block is sent.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	name := "layout.html"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" {
		name = "main"
	}
	buf, err := c.pages.Execute(page, name, v)
	if err != nil {
		c.log.Error("console template failed", "page", page, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("Something went wrong on our side.")) //nolint:errcheck // the client went away
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf) //nolint:errcheck // the client went away
}

// renderError shows an error page (or, to htmx, the error alone).
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	v := c.newView(r, s, http.StatusText(status), map[string]any{"Status": status, "Message": msg})
	if r.Header.Get("HX-Request") == "true" {
		// htmx swaps error answers only when told to.
		w.Header().Set("HX-Retarget", "#flash")
		w.Header().Set("HX-Reswap", "innerHTML")
	}
	c.render(w, r, status, "error", v)
}
