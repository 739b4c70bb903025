package console

import (
	"embed"
	"net/http"

	"github.com/novamed/partner-api/internal/websession"
)

// templateFS holds the console's pages; the layout and the sign-in and
// setup fields are internal/websession's, shared with the portal.
//
//go:embed templates
var templateFS embed.FS

// view is what every page template receives.
type view struct {
	websession.View
	Op *Operator
}

// nav lists the sections in order, each with the capability it needs.
var nav = []struct{ path, label, cap string }{
	{"/", "Overview", CapRead},
	{"/partners", "Partners", CapRead},
	{"/key-requests", "Key requests", CapChange},
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
	v := &view{View: websession.View{Title: title, Data: data, Env: string(c.cfg.Env)}}
	if s != nil {
		v.Op, v.CSRF, v.SignedIn = s.op, s.CSRF, true
		v.IdleMS = c.cfg.IdleTimeout.Milliseconds()
		for _, n := range nav {
			if c.cfg.Accounts.Can(s.op.Role, n.cap) {
				label := n.label
				if n.path == "/key-requests" {
					label = c.keyRequestsLabel(r.Context())
				}
				v.Nav = append(v.Nav, c.web.NavItem(r, n.path, label))
			}
		}
	}
	return v
}

// render writes a page. For an htmx request that targets part of a page,
// only the template's "main" block is sent.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	c.web.Render(w, r, status, page, v)
}

// renderError shows an error page (or, to htmx, the error alone).
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.web.RenderError(w, r, status, c.newView(r, s, http.StatusText(status), websession.ErrorData(status, msg)))
}
