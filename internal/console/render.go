package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed templates
var templateFS embed.FS

// pageSet holds each page's template, parsed once with the layout.
type pageSet struct {
	byName map[string]*template.Template
}

func loadPages(assets *assetSet) (*pageSet, error) {
	funcs := template.FuncMap{
		"asset": assets.url,
		"ts":    timestamp,
		"join":  strings.Join,
		"cents": cents,
		"short": shortID,
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/page_*.html")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{byName: map[string]*template.Template{}}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("console: %s: %w", n, err)
		}
		ps.byName[strings.TrimSuffix(strings.TrimPrefix(n, "templates/page_"), ".html")] = t
	}
	return ps, nil
}

// timestamp renders a time as a <time> element: UTC in the page (and on
// hover), which the console's script rewrites into the browser's time zone.
func timestamp(t any) template.HTML {
	var tm time.Time
	switch v := t.(type) {
	case time.Time:
		tm = v
	case *time.Time:
		if v == nil {
			return "—"
		}
		tm = *v
	default:
		return ""
	}
	if tm.IsZero() {
		return "—"
	}
	u := tm.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		u.Format(time.RFC3339), u.Format("2006-01-02 15:04:05 UTC"), u.Format("2006-01-02 15:04 UTC")))
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
	{"/operators", "Operators", CapOperators},
}

func (c *Console) newView(r *http.Request, s *session, title string, data any) *view {
	v := &view{Title: title, Data: data, Env: string(c.cfg.Env)}
	if s != nil {
		v.Op, v.CSRF = s.op, s.csrf
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
	t, ok := c.pages.byName[page]
	if !ok {
		panic("console: unknown page " + page)
	}
	name := "layout.html"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" {
		name = "main"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		c.log.Error("console template failed", "page", page, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("Something went wrong on our side.")) //nolint:errcheck // the client went away
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
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
