package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/novamed/partner-api/api"
	"github.com/novamed/partner-api/internal/novamed"
)

// docsCSP is the Content-Security-Policy of the /docs page: the bundled
// Redoc runs from this server only (no inline or remote scripts, no eval),
// fetches only this server's /openapi.json, and may not be framed. Redoc
// styles itself with inline <style> elements, hence 'unsafe-inline' for
// styles only.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Cache policies: a versioned asset never changes under its URL; the page,
// the document and unversioned assets are revalidated with their ETag.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// cachedBody is a static answer kept with its gzip form and their ETags.
type cachedBody struct {
	ctype, cache string
	raw, gz      []byte
	etag, gzETag string
}

func newCachedBody(raw []byte, ctype, cache string, compress bool) *cachedBody {
	sum := sha256.Sum256(raw)
	tag := hex.EncodeToString(sum[:])[:24]
	b := &cachedBody{ctype: ctype, cache: cache, raw: raw, etag: `"` + tag + `"`, gzETag: `"` + tag + `-gzip"`}
	if compress {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(raw) //nolint:errcheck // writes to memory
		zw.Close()    //nolint:errcheck // writes to memory
		b.gz = buf.Bytes()
	}
	return b
}

// acceptsGzip reports whether Accept-Encoding allows gzip (RFC 9110 §12.5.3).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "*" {
				continue
			}
			q := 1.0
			if _, qv, ok := strings.Cut(strings.ReplaceAll(params, " ", ""), "q="); ok {
				if f, err := strconv.ParseFloat(qv, 64); err == nil {
					q = f
				}
			}
			return q > 0
		}
	}
	return false
}

// etagMatches reports whether an If-None-Match value names etag (weak
// comparison, RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// serveCached answers with b: gzip when the client takes it, 304 when its
// If-None-Match names the representation's ETag.
func serveCached(w http.ResponseWriter, r *http.Request, b *cachedBody) {
	h := w.Header()
	body, etag := b.raw, b.etag
	if b.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = b.gz, b.gzETag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Type", b.ctype)
	h.Set("Cache-Control", b.cache)
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body) //nolint:errcheck // the client went away; nothing to do
	}
}

// docsAssets are the /docs page and its scripts, built once per server.
type docsAssets struct {
	once      sync.Once
	page      *cachedBody
	versioned map[string]*cachedBody // by script name, immutable
	plain     map[string]*cachedBody // the same under /docs/{asset}, revalidated
	base      *api.Served            // the document for placeholderURL
	baseErr   error

	mu   sync.Mutex
	docs map[string]*servedDoc // by public URL (a few)
}

type servedDoc struct{ json, yaml *cachedBody }

// placeholderURL stands for the server's URL in the document built once;
// each answer replaces it with the URL it is served for.
const placeholderURL = "https://novamed-public-url.invalid"

// maxCachedDocs bounds the document forms kept (one per Host a server is
// reached under, when no public URL is configured).
const maxCachedDocs = 8

func (d *docsAssets) init(prefix string) {
	d.once.Do(func() {
		d.page = newCachedBody(api.DocsPage(prefix), "text/html; charset=utf-8", cacheRevalidate, true)
		d.versioned, d.plain = map[string]*cachedBody{}, map[string]*cachedBody{}
		for _, name := range []string{"docs.js", "redoc.standalone.js"} {
			b, _ := api.DocsAsset(name)
			// One compression for both names (Redoc is a megabyte): only
			// the caching header differs.
			v := newCachedBody(b, "text/javascript; charset=utf-8", cacheImmutable, true)
			plain := *v
			plain.cache = cacheRevalidate
			d.versioned[name], d.plain[name] = v, &plain
		}
		d.base, d.baseErr = api.ServedDocument(placeholderURL)
		d.docs = map[string]*servedDoc{}
	})
}

// document returns the served document for public URL u.
func (d *docsAssets) document(u string) (*servedDoc, error) {
	if d.baseErr != nil {
		return nil, d.baseErr
	}
	d.mu.Lock()
	doc, ok := d.docs[u]
	d.mu.Unlock()
	if ok {
		return doc, nil
	}
	// JSON escapes nothing in a URL of validHost's characters, so one
	// replacement serves both forms.
	j := bytes.ReplaceAll(d.base.JSON, []byte(placeholderURL), []byte(u))
	y := bytes.ReplaceAll(d.base.YAML, []byte(placeholderURL), []byte(u))
	d.mu.Lock()
	defer d.mu.Unlock()
	cache := len(d.docs) < maxCachedDocs
	doc = &servedDoc{json: newCachedBody(j, "application/json; charset=utf-8", cacheRevalidate, cache),
		yaml: newCachedBody(y, "application/yaml; charset=utf-8", cacheRevalidate, cache)}
	if cache {
		d.docs[u] = doc
	}
	return doc, nil
}

// validHost is a Host header this server will name in its document: a
// DNS name or an IP literal, with an optional port.
var validHost = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?$`)

// publicURL is the URL the document names as its server: --public-url
// when configured, else the URL this request reached the server at.
func (s *Server) publicURL(r *http.Request) string {
	if s.publicBase != "" {
		return s.publicBase
	}
	scheme := "http"
	if r.TLS != nil || (s.hsts && s.forwardedHTTPS(r)) {
		scheme = "https"
	}
	host := r.Host
	if !validHost.MatchString(host) {
		host = "127.0.0.1"
	}
	return scheme + "://" + strings.ToLower(host)
}

// forwardedHTTPS reports whether a trusted proxy says the client used HTTPS.
func (s *Server) forwardedHTTPS(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.trusted(ap.Addr().Unmap())
}

// publicPrefix is the path prefix of the configured public URL ("" if none).
func publicPrefix(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.TrimRight(p.EscapedPath(), "/")
}

func (s *Server) servedDoc(w http.ResponseWriter, r *http.Request) (*servedDoc, bool) {
	s.docs.init(publicPrefix(s.publicBase))
	doc, err := s.docs.document(s.publicURL(r))
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return doc, true
}

// openapiJSON serves the OpenAPI document as JSON, naming this server.
func (s *Server) openapiJSON(w http.ResponseWriter, r *http.Request) {
	if doc, ok := s.servedDoc(w, r); ok {
		serveCached(w, r, doc.json)
	}
}

// openapiYAML serves the OpenAPI document as YAML, naming this server.
func (s *Server) openapiYAML(w http.ResponseWriter, r *http.Request) {
	if doc, ok := s.servedDoc(w, r); ok {
		serveCached(w, r, doc.yaml)
	}
}

// docsPage serves the rendered reference (at /docs and /docs/). It
// overrides the API's default-src 'none' policy for its own responses only.
func (s *Server) docsPage(w http.ResponseWriter, r *http.Request) {
	s.docs.init(publicPrefix(s.publicBase))
	w.Header().Set("Content-Security-Policy", docsCSP)
	serveCached(w, r, s.docs.page)
}

// docsAsset serves the scripts of the /docs page at their unversioned
// paths (revalidated on each use).
func (s *Server) docsAsset(w http.ResponseWriter, r *http.Request) {
	s.docs.init(publicPrefix(s.publicBase))
	b, ok := s.docs.plain[r.PathValue("asset")]
	if !ok {
		s.writeError(w, r, &novamed.Error{Code: novamed.CodeRouteNotFound, Message: "No route matches this request."})
		return
	}
	serveCached(w, r, b)
}

// docsVersionedAsset serves the scripts of the /docs page under the
// version the page names; they never change there, so browsers keep them.
func (s *Server) docsVersionedAsset(w http.ResponseWriter, r *http.Request) {
	s.docs.init(publicPrefix(s.publicBase))
	b, ok := s.docs.versioned[r.PathValue("asset")]
	if !ok || r.PathValue("version") != api.AssetVersion() {
		s.writeError(w, r, &novamed.Error{Code: novamed.CodeRouteNotFound, Message: "No route matches this request."})
		return
	}
	serveCached(w, r, b)
}
