package httpapi

import "net/http"

// routeTable is a ServeMux that remembers its patterns, so tests can walk
// every route (the authorization matrix) instead of a hand-kept list.
type routeTable struct {
	*http.ServeMux
	patterns []string
	names    map[string]auditNames // partner routes: what their audit record names
	actions  map[string][]string   // partner routes' audit action → their patterns
}

func newRouteTable() *routeTable {
	return &routeTable{ServeMux: http.NewServeMux(), names: map[string]auditNames{}, actions: map[string][]string{}}
}

// Handle registers h for pattern.
func (t *routeTable) Handle(pattern string, h http.Handler) {
	t.patterns = append(t.patterns, pattern)
	if p, ok := h.(*partnerRoute); ok {
		t.names[pattern] = p.names
		t.actions[p.action] = append(t.actions[p.action], pattern)
	}
	t.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern.
func (t *routeTable) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	t.Handle(pattern, http.HandlerFunc(f))
}

// Routes lists every registered pattern ("METHOD /path/{param}").
func (s *Server) Routes() []string { return append([]string(nil), s.mux.patterns...) }

// RoutesOfAction returns the partner routes ("METHOD /path/{param}") whose
// audit records name action, in the order registered: one for most
// actions, more when several routes share an action (webhook.delete),
// none for an action no partner route records. The audit record keeps the
// action only; the partner portal's request log shows the routes through
// this lookup rather than a copy of the route table.
func (s *Server) RoutesOfAction(action string) []string {
	return append([]string(nil), s.mux.actions[action]...)
}
