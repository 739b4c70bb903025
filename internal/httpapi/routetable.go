package httpapi

import "net/http"

// routeTable is a ServeMux that remembers its patterns, so tests can walk
// every route (the authorization matrix) instead of a hand-kept list.
type routeTable struct {
	*http.ServeMux
	patterns []string
	names    map[string]auditNames // partner routes: what their audit record names
}

func newRouteTable() *routeTable {
	return &routeTable{ServeMux: http.NewServeMux(), names: map[string]auditNames{}}
}

// Handle registers h for pattern.
func (t *routeTable) Handle(pattern string, h http.Handler) {
	t.patterns = append(t.patterns, pattern)
	if p, ok := h.(*partnerRoute); ok {
		t.names[pattern] = p.names
	}
	t.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern.
func (t *routeTable) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	t.Handle(pattern, http.HandlerFunc(f))
}

// Routes lists every registered pattern ("METHOD /path/{param}").
func (s *Server) Routes() []string { return append([]string(nil), s.mux.patterns...) }
