package portal

import (
	"embed"
	"html/template"
	"net/http"
	"strings"

	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/websession"
)

//go:embed templates
var templateFS embed.FS

func loadPages(assets *websession.Assets) (*websession.Pages, error) {
	return websession.LoadPages(templateFS, "templates", template.FuncMap{"asset": assets.URL})
}

type navItem struct {
	Path, Label string
	Current     bool
}

// view is what every page template receives.
type view struct {
	Title   string
	User    *partneruser.User
	Partner string
	IsAdmin bool
	CSRF    string
	Nav     []navItem
	IdleMS  int64
	Env     string
	Notice  string
	Data    any
}

var nav = []struct{ path, label string }{
	{"/", "Overview"},
	{"/start", "Getting started"},
	{"/keys", "Keys"},
	{"/requests", "Request log"},
	{"/usage", "Usage"},
	{"/webhooks", "Webhooks"},
	{"/users", "Users"},
}

func (p *Portal) newView(r *http.Request, q *req, title string, data any) *view {
	v := &view{Title: title, Data: data, Env: string(p.cfg.Env)}
	if q != nil {
		v.User, v.Partner, v.CSRF, v.IsAdmin = q.u, q.partner.Name, q.s.CSRF, q.u.Role == partneruser.Admin
		v.IdleMS = p.cfg.IdleTimeout.Milliseconds()
		for _, n := range nav {
			path := Prefix + n.path
			cur := r.URL.Path == path || (n.path != "/" && strings.HasPrefix(r.URL.Path, path+"/"))
			v.Nav = append(v.Nav, navItem{Path: path, Label: n.label, Current: cur})
		}
	}
	return v
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	b, err := p.pages.Execute(page, "layout.html", v)
	if err != nil {
		p.log.Error("portal template failed", "page", page, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("Something went wrong on our side.")) //nolint:errcheck // the client went away
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away
}

func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, q *req, status int, msg string) {
	p.render(w, r, status, "error", p.newView(r, q, http.StatusText(status), map[string]any{"Status": status, "Message": msg}))
}
