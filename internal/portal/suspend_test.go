package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/operator"
)

// TestSuspendedPartner: suspending a partner ends its users' portal
// sessions (the next request lands on the sign-in page with the reason)
// and refuses their sign-in with a clear message, while another partner's
// users are untouched; reinstating the partner lets them back in.
func TestSuspendedPartner(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	b := e.addPartner("Bravo Care")
	ckA, _ := e.signIn(a.admin, a.adminTOTP)
	ckB, _ := e.signIn(b.dev, "")
	ctx := context.Background()
	d := onboarding.Deps{Env: novamed.Development, Now: e.clock.Now}
	staff := onboarding.Actor{ID: "operator:test"}
	if _, err := onboarding.SetStatus(ctx, e.store, d, staff, a.partner.ID, "suspend"); err != nil {
		t.Fatal(err)
	}

	w := e.do("GET", "/portal/keys", nil, ckA)
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || !strings.Contains(loc, "reason=suspended") {
		t.Fatalf("suspended partner's session: %d %q", w.Code, loc)
	}
	if strings.Contains(w.Body.String(), a.key.Prefix) {
		t.Error("the redirect shows a key")
	}
	page := e.do("GET", "/portal/login?reason=suspended", nil, nil).Body.String()
	if !strings.Contains(page, "suspended") {
		t.Errorf("sign-in page lacks the reason:\n%s", page)
	}
	// The session is gone, not only refused: it stays gone after reinstatement.
	if _, err := onboarding.SetStatus(ctx, e.store, d, staff, a.partner.ID, "reinstate"); err != nil {
		t.Fatal(err)
	}
	if w := e.do("GET", "/portal/keys", nil, ckA); w.Code != http.StatusSeeOther {
		t.Errorf("ended session after reinstatement: %d", w.Code)
	}
	if _, err := onboarding.SetStatus(ctx, e.store, d, staff, a.partner.ID, "suspend"); err != nil {
		t.Fatal(err)
	}

	// Sign-in with the right password and code is refused, with no cookie.
	e.clock.Add(30 * time.Second)
	code, _ := operator.TOTPCode(a.adminTOTP, e.clock.Now())
	w = e.do("POST", "/portal/login", url.Values{"email": {a.admin.Email}, "password": {testPassword}, "code": {code}}, nil)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "suspended") || !strings.Contains(w.Body.String(), `id="email-error"`) {
		t.Errorf("sign-in of a suspended partner's admin: %d\n%s", w.Code, w.Body.String())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == "novamed_portal" && c.Value != "" {
			t.Error("a refused sign-in set a session cookie")
		}
	}
	// A wrong password still says only that: no hint the partner exists.
	w = e.do("POST", "/portal/login", url.Values{"email": {a.dev.Email}, "password": {"wrong password here"}}, nil)
	if strings.Contains(w.Body.String(), "suspended") {
		t.Error("a wrong password reveals the suspension")
	}

	// Partner B is untouched.
	if w := e.do("GET", "/portal/keys", nil, ckB); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), b.key.Prefix) {
		t.Errorf("other partner's session: %d", w.Code)
	}

	if _, err := onboarding.SetStatus(ctx, e.store, d, staff, a.partner.ID, "reinstate"); err != nil {
		t.Fatal(err)
	}
	e.signIn(a.admin, a.adminTOTP)
}
