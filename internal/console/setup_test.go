package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

var totpField = regexp.MustCompile(`name="totp_secret" value="([A-Z2-7]+)"`)

// TestSetupLinkAndTOTPSignIn: on production, the one-time link sets a
// password and enrols TOTP (QR code and typed key); it works once; sign-in
// then needs the code, and a wrong code is shown beside its field.
func TestSetupLinkAndTOTPSignIn(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Env = novamed.Production })
	svc := e.acc.(OperatorAccounts).Service
	svc.Env = novamed.Production
	e.c.cfg.Enrolment = svc
	o, err := svc.Create(context.Background(), "new@novamed.test", "New Operator", operator.Support, "")
	if err != nil {
		t.Fatal(err)
	}
	path, _, err := svc.NewSetupLink(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	page := do(t, e.c, "GET", path, nil, nil, nil)
	body := page.Body.String()
	if page.Code != 200 || !strings.Contains(body, `src="data:image/png;base64,`) || !strings.Contains(body, `id="totp-key"`) {
		t.Fatalf("setup page: %d\n%s", page.Code, body)
	}
	m := totpField.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no TOTP secret on the setup page")
	}
	secret := m[1]
	if !strings.Contains(body, ">"+secret+"</code>") {
		t.Error("the typed fallback key is not shown")
	}

	// Production needs the code; a wrong one costs nothing (the link still works).
	form := url.Values{"password": {testPassword}, "password2": {testPassword}, "totp_secret": {secret}}
	w := do(t, e.c, "POST", path, form, nil, nil)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="code-error"`) {
		t.Fatalf("without a code: %d", w.Code)
	}
	form.Set("code", "000000")
	if w := do(t, e.c, "POST", path, form, nil, nil); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "does not match") {
		t.Fatalf("wrong code: %d", w.Code)
	}
	form.Set("password2", "something else entirely")
	if w := do(t, e.c, "POST", path, form, nil, nil); !strings.Contains(w.Body.String(), `id="password2-error"`) {
		t.Fatalf("mismatched passwords: %d", w.Code)
	}
	code, _ := operator.TOTPCode(secret, e.clock.Now())
	form.Set("code", code)
	form.Set("password2", testPassword)
	w = do(t, e.c, "POST", path, form, nil, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", w.Code, w.Body)
	}
	ck := sessionCookie(t, w)
	if p := do(t, e.c, "GET", "/console/", nil, ck, nil); p.Code != 200 {
		t.Fatalf("signed in after setup: %d", p.Code)
	}
	if w := do(t, e.c, "POST", path, form, nil, nil); w.Code != http.StatusNotFound {
		t.Errorf("the link worked twice: %d", w.Code)
	}

	// Sign-in needs the code now; the setup's code is spent.
	login := url.Values{"email": {"new@novamed.test"}, "password": {testPassword}, "code": {code}}
	if w := do(t, e.c, "POST", "/console/login", login, nil, nil); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="password-error"`) {
		t.Errorf("reused code: %d", w.Code)
	}
	e.clock.Add(31 * time.Second)
	next, _ := operator.TOTPCode(secret, e.clock.Now())
	login.Set("code", next)
	// The throttle delays the next attempt after a failure.
	e.clock.Add(10 * time.Second)
	next, _ = operator.TOTPCode(secret, e.clock.Now())
	login.Set("code", next)
	if w := do(t, e.c, "POST", "/console/login", login, nil, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("TOTP sign-in: %d %s", w.Code, w.Body)
	}
	login.Del("code")
	e.clock.Add(31 * time.Second)
	if w := do(t, e.c, "POST", "/console/login", login, nil, nil); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("production sign-in without a code: %d", w.Code)
	}
}
