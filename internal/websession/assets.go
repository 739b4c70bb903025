package websession

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// asset is one embedded file with its content hash.
type asset struct {
	body    []byte
	version string
	ctype   string
}

// Assets are a surface's static files, each served under a URL that names
// its content hash, so it can be cached forever and a new build never
// meets a stale copy.
type Assets struct {
	prefix string
	byName map[string]*asset
}

// contentTypes are fixed here rather than taken from the system's MIME
// table, which differs between machines.
var contentTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml", ".png": "image/png",
}

// LoadAssets reads every .js, .css, .svg and .png file of fsys (by base
// name) to be served under prefix + "/assets/{version}/{name}".
func LoadAssets(fsys fs.FS, prefix string) (*Assets, error) {
	set := &Assets{prefix: prefix, byName: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		set.byName[path.Base(p)] = &asset{body: b, version: hex.EncodeToString(sum[:])[:12], ctype: ctype}
		return nil
	})
	return set, err
}

// URL is the versioned URL of a named asset.
func (a *Assets) URL(name string) string {
	if x, ok := a.byName[name]; ok {
		return a.prefix + "/assets/" + x.version + "/" + name
	}
	panic("websession: unknown asset " + name)
}

// ServeHTTP answers GET prefix/assets/{version}/{name}.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x, ok := a.byName[r.PathValue("name")]
	if !ok || x.version != r.PathValue("version") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", x.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(x.body) //nolint:errcheck // the client went away
}

// Pages are a surface's page templates, each parsed once with the layout.
type Pages struct{ byName map[string]*template.Template }

// LoadPages parses the shared layout and form parts (this package's
// templates: the layout calls the blocks "head", "scripts", "body" and
// "who", and the functions "asset", "base" and "product"), then
// dir/layout.html (a surface's definitions of those blocks only: it does
// not replace the layout) and dir/partials.html, with every
// dir/page_NAME.html of fsys; funcs gets "ts" (Timestamp) and "join".
func LoadPages(fsys fs.FS, dir string, funcs template.FuncMap) (*Pages, error) {
	all := template.FuncMap{"ts": Timestamp, "join": strings.Join}
	for k, v := range funcs {
		all[k] = v
	}
	base, err := template.New("layout.html").Funcs(all).ParseFS(shell, "templates/layout.html", "templates/forms.html")
	if err != nil {
		return nil, err
	}
	if base, err = base.ParseFS(fsys, dir+"/layout.html", dir+"/partials.html"); err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, dir+"/page_*.html")
	if err != nil {
		return nil, err
	}
	ps := &Pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		t, err := template.Must(base.Clone()).ParseFS(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		ps.byName[strings.TrimSuffix(strings.TrimPrefix(n, dir+"/page_"), ".html")] = t
	}
	return ps, nil
}

// Execute renders a page's template name ("layout.html" for the whole
// page, "main" for its main block) into a buffer.
func (p *Pages) Execute(page, name string, data any) ([]byte, error) {
	t, ok := p.byName[page]
	if !ok {
		panic("websession: unknown page " + page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Timestamp renders a time as a <time> element: UTC in the page (and on
// hover), which the page's script may rewrite into the browser's zone.
func Timestamp(t any) template.HTML {
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
