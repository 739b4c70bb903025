package httpapi

import (
	"net/http"

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

// openapiJSON serves the OpenAPI document as JSON (derived from the YAML).
func (s *Server) openapiJSON(w http.ResponseWriter, r *http.Request) {
	b, err := api.JSON()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, b)
}

// openapiYAML serves the OpenAPI document as maintained.
func (s *Server) openapiYAML(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(api.YAML()) //nolint:errcheck // the client went away; nothing to do
}

// docsPage serves the rendered reference. It overrides the API's
// default-src 'none' policy for its own responses only.
func (s *Server) docsPage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(api.DocsPage()) //nolint:errcheck // the client went away; nothing to do
}

// docsAsset serves the scripts the /docs page loads.
func (s *Server) docsAsset(w http.ResponseWriter, r *http.Request) {
	b, ok := api.DocsAsset(r.PathValue("asset"))
	if !ok {
		s.writeError(w, r, &novamed.Error{Code: novamed.CodeRouteNotFound, Message: "No route matches this request."})
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}
