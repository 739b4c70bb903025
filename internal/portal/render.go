package portal

import (
	"embed"
	"net/http"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/websession"
)

// templateFS holds the portal's pages; the layout and the sign-in and
// setup fields are internal/websession's, shared with the console.
//
//go:embed templates
var templateFS embed.FS

// view is what every page template receives.
type view struct {
	websession.View
	User    *partneruser.User
	Partner string
	IsAdmin bool
}

var nav = []struct{ path, label string }{
	{"/", "Overview"},
	{"/start", "Getting started"},
	{"/keys", "Keys"},
	{"/key-requests", "Key requests"},
	{"/requests", "Request log"},
	{"/usage", "Usage"},
	{"/webhooks", "Webhooks"},
	{"/users", "Users"},
}

func (p *Portal) newView(r *http.Request, q *req, title string, data any) *view {
	v := &view{View: websession.View{Title: title, Data: data, Env: string(p.cfg.Env)}}
	if q != nil {
		v.User, v.Partner, v.CSRF, v.IsAdmin, v.SignedIn = q.u, q.partner.Name, q.s.CSRF, q.u.Role == partneruser.Admin, true
		v.IdleMS = p.cfg.IdleTimeout.Milliseconds()
		for _, n := range nav {
			if n.path == "/key-requests" && p.cfg.Env != novamed.Production {
				continue // keys are made directly on development
			}
			v.Nav = append(v.Nav, p.web.NavItem(r, n.path, n.label))
		}
	}
	return v
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	p.web.Render(w, r, status, page, v)
}

func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, q *req, status int, msg string) {
	p.web.RenderError(w, r, status, p.newView(r, q, http.StatusText(status), websession.ErrorData(status, msg)))
}
