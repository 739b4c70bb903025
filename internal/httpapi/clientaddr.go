package httpapi

import "net/http"

// ClientAddr is the request's client address as the partner API judges it
// (X-Forwarded-For believed from trusted proxies only), for the other
// doors served beside it (the staff console).
func (s *Server) ClientAddr(r *http.Request) string { return s.clientAddr(r) }
