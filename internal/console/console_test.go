package console

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/websession"
)

// testEnv is a console on a real SQLite store.
type testEnv struct {
	t     *testing.T
	store *sqlstore.Store
	path  string
	clock *fakeclock.Clock
	acc   Accounts
	c     *Console
}

func openStore(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	key := make([]byte, 32)
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newEnv(t *testing.T, mod func(*Config)) *testEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "novamed.db")
	e := &testEnv{t: t, path: path, store: openStore(t, path), clock: fakeclock.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))}
	env := novamed.Development
	e.acc = newTestAccounts(t, e.store, env, e.clock.Now)
	e.c = e.console(e.store, mod)
	return e
}

func (e *testEnv) console(store *sqlstore.Store, mod func(*Config)) *Console {
	e.t.Helper()
	cfg := Config{Env: novamed.Development, Sessions: store.ConsoleSessions(), Store: store, Partners: store, Accounts: e.acc, Now: e.clock.Now,
		IdleTimeout: 15 * time.Minute, AbsoluteTimeout: 12 * time.Hour, Staff: e.acc.(OperatorAccounts).Service}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// do sends one request to h as a same-origin browser would.
func do(t *testing.T, h http.Handler, method, target string, form url.Values, cookie *http.Cookie, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, "http://127.0.0.1:8080"+target, body)
	r.RemoteAddr = "127.0.0.1:50000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != http.MethodGet {
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if strings.HasSuffix(c.Name, "novamed_console") && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no session cookie in %d answer: %v", w.Code, w.Header()["Set-Cookie"])
	return nil
}

// signIn signs email in on h and returns the cookie and the page's CSRF token.
func (e *testEnv) signIn(h http.Handler, email string) (*http.Cookie, string) {
	e.t.Helper()
	w := do(e.t, h, "POST", "/console/login", url.Values{"email": {email}, "password": {testPassword}, "code": {e.code(email)}}, nil, nil)
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("sign in %s: %d %s", email, w.Code, w.Body)
	}
	ck := sessionCookie(e.t, w)
	page := do(e.t, h, "GET", "/console/", nil, ck, nil)
	if page.Code != 200 {
		e.t.Fatalf("overview after sign-in: %d %s", page.Code, page.Body)
	}
	return ck, csrfFrom(e.t, page.Body.String())
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfFrom(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name           string
		secure, prefix bool
		wantName       string
	}{
		{"development on loopback HTTP", false, false, "novamed_console"},
		{"behind a TLS proxy", true, false, "novamed_console"},
		{"TLS", true, true, "__Host-novamed_console"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.SecureCookies, c.HostPrefix = tc.secure, tc.prefix })
			e.addOperator("admin@novamed.test", "admin")
			w := do(t, e.c, "POST", "/console/login", url.Values{"email": {"admin@novamed.test"}, "password": {testPassword}, "code": {e.code("admin@novamed.test")}}, nil, nil)
			if w.Code != http.StatusSeeOther {
				t.Fatalf("sign in: %d", w.Code)
			}
			raw := w.Header().Get("Set-Cookie")
			ck := sessionCookie(t, w)
			if ck.Name != tc.wantName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tc.secure || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("Set-Cookie %q: want %s, HttpOnly, SameSite=Strict, Secure=%v, Path=/, no Domain", raw, tc.wantName, tc.secure)
			}
			// The store keeps the token's hash only.
			sum := sha256.Sum256([]byte(ck.Value))
			if _, err := e.store.ConsoleSession(context.Background(), sum[:]); err != nil {
				t.Errorf("no session stored under the token's hash: %v", err)
			}
			db, err := os.ReadFile(e.path)
			if err != nil {
				t.Fatal(err)
			}
			wal, _ := os.ReadFile(e.path + "-wal")
			if strings.Contains(string(db)+string(wal), ck.Value) {
				t.Error("the raw session token is in the database file")
			}
		})
	}
}

// TestCSPOnEveryRoute: every console route, signed in or not, answers with
// the strict Content-Security-Policy and may not be framed.
func TestCSPOnEveryRoute(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("admin@novamed.test", "admin")
	ck, csrf := e.signIn(e.c, "admin@novamed.test")
	for _, rt := range e.c.Routes() {
		for _, signedIn := range []bool{false, true} {
			var cookie *http.Cookie
			if signedIn {
				cookie = ck
			}
			var form url.Values
			if rt.Method == "POST" {
				form = url.Values{"csrf_token": {csrf}}
			}
			if rt.Path == "/console/logout" || rt.Path == "/console/logout-everywhere" {
				continue // would end the session the loop uses; their headers are checked below
			}
			w := do(t, e.c, rt.Method, fillPath(rt.Path), form, cookie, nil)
			checkHeaders(t, rt.Method+" "+rt.Path, w)
		}
	}
	checkHeaders(t, "POST /console/logout", do(t, e.c, "POST", "/console/logout", url.Values{"csrf_token": {csrf}}, ck, nil))
	checkHeaders(t, "unknown", do(t, e.c, "GET", "/console/nope", nil, nil, nil))
	if !strings.Contains(websession.CSP, "script-src 'self';") || strings.Contains(websession.CSP, "unsafe") || !strings.Contains(websession.CSP, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q: want script-src 'self', nothing unsafe, frame-ancestors 'none'", websession.CSP)
	}
}

func checkHeaders(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	h := w.Header()
	if h.Get("Content-Security-Policy") != websession.CSP {
		t.Errorf("%s (%d): Content-Security-Policy = %q", what, w.Code, h.Get("Content-Security-Policy"))
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s: framing/sniffing/referrer headers missing: %v", what, h)
	}
	if strings.HasPrefix(h.Get("Content-Type"), "text/html") && h.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: a page must not be cached (Cache-Control %q)", what, h.Get("Cache-Control"))
	}
}

var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

func fillPath(p string) string {
	p = strings.TrimSuffix(p, "{$}")
	return pathParam.ReplaceAllString(p, "00000000-0000-4000-8000-000000000000")
}

// wrongToken is tok with its first character changed (to "x", or "y"
// when it starts with "x": "x"+tok[1:] was the right token one time in 64).
func wrongToken(tok string) string {
	if strings.HasPrefix(tok, "x") {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

// TestCrossSitePostRefused: a state change from another site is refused
// even with the victim's cookie, and a same-site one needs the session's
// CSRF token.
func TestCrossSitePostRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("admin@novamed.test", "admin")
	ck, csrf := e.signIn(e.c, "admin@novamed.test")
	// logout-everywhere is the state change: if any request got through,
	// the session would be gone.
	cases := []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"cross-site fetch metadata", url.Values{"csrf_token": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"other origin, no fetch metadata", url.Values{"csrf_token": {csrf}}, map[string]string{"Sec-Fetch-Site": "", "Origin": "http://evil.test"}},
		{"same origin without the token", url.Values{}, nil},
		{"same origin with a wrong token", url.Values{"csrf_token": {wrongToken(csrf)}}, nil},
	}
	for _, tc := range cases {
		w := do(t, e.c, "POST", "/console/logout-everywhere", tc.form, ck, tc.hdr)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tc.name, w.Code)
		}
		checkHeaders(t, tc.name, w)
	}
	if w := do(t, e.c, "GET", "/console/", nil, ck, nil); w.Code != 200 {
		t.Fatalf("the session did not survive the refused posts: %d", w.Code)
	}
	// Cross-site sign-in (login CSRF) is refused too.
	w := do(t, e.c, "POST", "/console/login", url.Values{"email": {"admin@novamed.test"}, "password": {testPassword}}, nil, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d, want 403", w.Code)
	}
	// The same request with the token and from the console's origin works
	// (the header form, as htmx sends it).
	w = do(t, e.c, "POST", "/console/logout-everywhere", url.Values{}, ck, map[string]string{"X-CSRF-Token": csrf})
	if w.Code != http.StatusSeeOther {
		t.Errorf("same-origin post with the token: %d", w.Code)
	}
}

// TestIdleAndAbsoluteLogOff uses the injected clock.
func TestIdleAndAbsoluteLogOff(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("admin@novamed.test", "admin")
	ck, _ := e.signIn(e.c, "admin@novamed.test")
	e.clock.Add(14 * time.Minute)
	if w := do(t, e.c, "GET", "/console/", nil, ck, nil); w.Code != 200 {
		t.Fatalf("after 14 idle minutes: %d, want 200", w.Code)
	}
	e.clock.Add(15 * time.Minute)
	w := do(t, e.c, "GET", "/console/", nil, ck, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login?reason=idle" {
		t.Fatalf("after 15 idle minutes: %d → %q, want 303 to the sign-in page (idle)", w.Code, w.Header().Get("Location"))
	}
	sum := sha256.Sum256([]byte(ck.Value))
	if _, err := e.store.ConsoleSession(context.Background(), sum[:]); err == nil {
		t.Error("the idle session is still stored")
	}

	// Absolute limit: activity every 10 minutes does not extend it.
	ck, _ = e.signIn(e.c, "admin@novamed.test")
	for i := 0; i < 71; i++ { // 11 h 50 min of activity
		e.clock.Add(10 * time.Minute)
		if w := do(t, e.c, "GET", "/console/", nil, ck, nil); w.Code != 200 {
			t.Fatalf("active session ended after %d min: %d", (i+1)*10, w.Code)
		}
	}
	e.clock.Add(10 * time.Minute)
	w = do(t, e.c, "GET", "/console/", nil, ck, nil)
	if w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "reason=absolute") {
		t.Fatalf("after 12 h: %d → %q, want the sign-in page (absolute)", w.Code, w.Header().Get("Location"))
	}
	// An htmx request is sent to the sign-in page with HX-Redirect.
	ck, _ = e.signIn(e.c, "admin@novamed.test")
	e.clock.Add(16 * time.Minute)
	w = do(t, e.c, "GET", "/console/", nil, ck, map[string]string{"HX-Request": "true"})
	if w.Header().Get("HX-Redirect") != "/console/login?reason=idle" {
		t.Errorf("htmx after idle: HX-Redirect %q", w.Header().Get("HX-Redirect"))
	}
}

// TestLogoutEndsSessionOnEveryReplica: two consoles (replicas) on one
// database; a logout on one ends the session on the other at once, and
// "sign out everywhere" ends all of the operator's sessions.
func TestLogoutEndsSessionOnEveryReplica(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("admin@novamed.test", "admin")
	e.addOperator("other@novamed.test", "admin")
	replicaB := e.console(openStore(t, e.path), nil)

	ck, csrf := e.signIn(e.c, "admin@novamed.test")
	if w := do(t, replicaB, "GET", "/console/", nil, ck, nil); w.Code != 200 {
		t.Fatalf("replica B does not know replica A's session: %d", w.Code)
	}
	if w := do(t, replicaB, "POST", "/console/logout", url.Values{"csrf_token": {csrf}}, ck, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("logout on B: %d", w.Code)
	}
	if w := do(t, e.c, "GET", "/console/", nil, ck, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("replica A still serves the logged-out session: %d", w.Code)
	}

	ck1, _ := e.signIn(e.c, "admin@novamed.test")
	ck2, csrf2 := e.signIn(replicaB, "admin@novamed.test")
	other, _ := e.signIn(e.c, "other@novamed.test")
	if w := do(t, replicaB, "POST", "/console/logout-everywhere", url.Values{"csrf_token": {csrf2}}, ck2, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("logout everywhere: %d", w.Code)
	}
	for name, c := range map[string]*http.Cookie{"A's session": ck1, "B's session": ck2} {
		for rname, h := range map[string]http.Handler{"replica A": e.c, "replica B": replicaB} {
			if w := do(t, h, "GET", "/console/", nil, c, nil); w.Code != http.StatusSeeOther {
				t.Errorf("%s on %s survived logout everywhere: %d", name, rname, w.Code)
			}
		}
	}
	if w := do(t, e.c, "GET", "/console/", nil, other, nil); w.Code != 200 {
		t.Errorf("another operator's session ended too: %d", w.Code)
	}
}

// TestViewerCannotReachPHIOrChanges is generated from the route table:
// every route a viewer's role lacks answers 403 and changes nothing, and
// every PHI route needs a capability the viewer lacks.
func TestViewerCannotReachPHIOrChanges(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("viewer@novamed.test", "viewer")
	ck, csrf := e.signIn(e.c, "viewer@novamed.test")
	checked := 0
	for _, rt := range e.c.Routes() {
		if rt.Capability == "" {
			continue
		}
		if rt.PHI && e.acc.Can("viewer", rt.Capability) {
			t.Errorf("%s %s shows PHI behind %q, which a viewer has", rt.Method, rt.Path, rt.Capability)
		}
		state := rt.Method != "GET"
		if state && rt.Capability == CapRead && rt.Path != "/console/logout-everywhere" && rt.Path != "/console/reauth" {
			t.Errorf("%s %s is a state change behind the read capability", rt.Method, rt.Path)
		}
		if e.acc.Can("viewer", rt.Capability) {
			continue
		}
		checked++
		var form url.Values
		if state {
			form = url.Values{"csrf_token": {csrf}}
		}
		w := do(t, e.c, rt.Method, fillPath(rt.Path), form, ck, nil)
		if w.Code != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d, want 403", rt.Method, rt.Path, w.Code)
		}
	}
	t.Logf("%d routes refused to a viewer", checked)
}
