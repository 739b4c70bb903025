package websession

import (
	"net/http/httptest"
	"testing"
)

// TestSurfacesDoNotShareTokens: one cookie token gives different CSRF
// tokens on two surfaces, and each surface reads only its own cookie.
func TestSurfacesDoNotShareTokens(t *testing.T) {
	con := NewManager(Config{Cookie: "novamed_console", CSRFLabel: "novamed console csrf v1"})
	por := NewManager(Config{Cookie: "novamed_portal", CSRFLabel: "novamed portal csrf v1", HostPrefix: true})
	tok := NewToken()
	if con.csrfToken(tok) == por.csrfToken(tok) {
		t.Error("the console's and the portal's CSRF tokens are equal for one session token")
	}
	if por.CookieName() != "__Host-novamed_portal" {
		t.Errorf("cookie %q", por.CookieName())
	}
	r := httptest.NewRequest("GET", "/portal/", nil)
	r.Header.Set("Cookie", "novamed_console="+tok)
	if _, err := por.Load(r.Context(), r); err == nil {
		t.Error("the portal loaded a session from the console's cookie")
	}
}

// TestSafeNext: only paths under the prefix; never another host.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/portal/keys?x=1":       "/portal/keys?x=1",
		"https://evil.test/x":    "/portal/",
		"//evil.test/portal/x":   "/portal/",
		"/console/":              "/portal/",
		"/portal\\..\\x":         "/portal/",
		"":                       "/portal/",
		"/portal/users#fragment": "/portal/users",
	} {
		if got := SafeNext("/portal", in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
