package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/novamed/partner-api/internal/operator"
)

var setupLinkRE = regexp.MustCompile(`id="setup-link">(http://127\.0\.0\.1:8080/console/setup/[^<]+)<`)

// TestOperatorsPage: an admin invites an operator (the setup link shown
// once, and it works), changes a role, disables and enables, resets a
// second factor; bad input and a lock-out of the last admin are refused
// beside the field or row with nothing changed; each action is audited.
func TestOperatorsPage(t *testing.T) {
	e := newEnv(t, withAudit(t))
	admin := e.addOperator("admin@novamed.test", "admin", true)
	ck, csrf := e.signIn(e.c, "admin@novamed.test")
	post := func(p string, form url.Values) *httpResponse {
		form.Set("csrf_token", csrf)
		w := do(t, e.c, "POST", p, form, ck, nil)
		return &httpResponse{w.Code, w.Header().Get("Location"), w.Body.String()}
	}
	svc := e.acc.(OperatorAccounts).Service
	count := func() int {
		ops, err := svc.Store.ListOperators(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(ops)
	}
	if w := do(t, e.c, "GET", "/console/operators", nil, ck, nil); w.Code != 200 || !strings.Contains(w.Body.String(), "admin@novamed.test") {
		t.Fatalf("operators: %d", w.Code)
	}

	// Invitations with bad input change nothing.
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"email": {"not-an-email"}, "role": {"viewer"}}, "email-error"},
		{url.Values{"email": {"new@novamed.test"}, "role": {"owner"}}, "role-error"},
		{url.Values{"email": {"new@novamed.test"}}, "role-error"},
		{url.Values{"email": {"admin@novamed.test"}, "role": {"viewer"}}, "email-error"},
	} {
		r := post("/console/operators", tc.form)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="`+tc.field+`"`) || setupLinkRE.MatchString(r.body) {
			t.Errorf("invite %v: %d, want 400 with %s", tc.form, r.code, tc.field)
		}
		if count() != 1 {
			t.Fatalf("invite %v created an operator", tc.form)
		}
	}
	r := post("/console/operators", url.Values{"email": {"Pharm@NovaMed.test"}, "name": {"Pharma Cist"}, "role": {"pharmacy"}})
	m := setupLinkRE.FindStringSubmatch(r.body)
	if r.code != 200 || m == nil || !strings.Contains(r.body, `data-copy="setup-link"`) {
		t.Fatalf("invite: %d\n%s", r.code, r.body)
	}
	if w := do(t, e.c, "GET", "/console/operators", nil, ck, nil); strings.Contains(w.Body.String(), m[1]) {
		t.Fatal("the setup link is shown again")
	}
	// The link works once, on the setup page.
	secret := strings.TrimPrefix(m[1], "http://127.0.0.1:8080/console/setup/")
	if _, err := svc.UseSetupLink(context.Background(), secret, testPassword); err != nil {
		t.Fatalf("the invitation's link: %v", err)
	}
	pharm, err := svc.Store.GetOperatorByEmail(context.Background(), "pharm@novamed.test")
	if err != nil || pharm.Role != operator.Pharmacy {
		t.Fatalf("invited operator: %+v %v", pharm, err)
	}

	// The last admin cannot demote or disable themselves.
	for _, tc := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/role", url.Values{"role": {"viewer"}}, "last active admin"},
		{"/disable", url.Values{}, "cannot disable your own account"},
		{"/reset-second-factor", url.Values{}, "cannot reset your own second factor"},
	} {
		r := post("/console/operators/"+admin.ID+tc.path, tc.form)
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="row-error"`) || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s on yourself: %d, want 400 saying %q", tc.path, r.code, tc.want)
		}
	}
	if o, _ := svc.Store.GetOperator(context.Background(), admin.ID); o.Role != operator.Admin || o.Status != operator.Active || !o.HasTOTP() {
		t.Fatalf("the last admin changed: %+v", o)
	}
	if r := post("/console/operators/"+pharm.ID+"/role", url.Values{"role": {"root"}}); r.code != http.StatusBadRequest || !strings.Contains(r.body, `id="row-error"`) {
		t.Errorf("bad role: %d", r.code)
	}
	if r := post("/console/operators/00000000-0000-4000-8000-000000000000/disable", url.Values{}); r.code != http.StatusNotFound {
		t.Errorf("unknown operator: %d", r.code)
	}

	// Role, disable (their session ends), enable.
	pck, _ := e.signIn(e.c, "pharm@novamed.test")
	if r := post("/console/operators/"+pharm.ID+"/role", url.Values{"role": {"admin"}}); r.code != http.StatusSeeOther {
		t.Fatalf("role: %d %s", r.code, r.body)
	}
	if w := do(t, e.c, "GET", "/console/operators", nil, pck, nil); w.Code != 200 {
		t.Errorf("the promoted operator's session does not follow the new role: %d", w.Code)
	}
	if r := post("/console/operators/"+pharm.ID+"/disable", url.Values{}); r.code != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.code)
	}
	if w := do(t, e.c, "GET", "/console/", nil, pck, nil); w.Code != http.StatusSeeOther {
		t.Errorf("a disabled operator's session still works: %d", w.Code)
	}
	if r := post("/console/operators/"+pharm.ID+"/enable", url.Values{}); r.code != http.StatusSeeOther {
		t.Fatalf("enable: %d", r.code)
	}
	// With a second admin, the first may step down (and leaves the page).
	if r := post("/console/operators/"+admin.ID+"/role", url.Values{"role": {"security"}}); r.code != http.StatusSeeOther || r.loc != "/console/" {
		t.Fatalf("step down: %d → %q %s", r.code, r.loc, r.body)
	}
	if w := do(t, e.c, "GET", "/console/operators", nil, ck, nil); w.Code != http.StatusForbidden {
		t.Errorf("after stepping down: %d", w.Code)
	}

	// The other admin resets the first one's second factor: a new link.
	e.clock.Add(31e9)
	ck2, csrf2 := e.signIn(e.c, "pharm@novamed.test")
	w := do(t, e.c, "POST", "/console/operators/"+admin.ID+"/reset-second-factor", url.Values{"csrf_token": {csrf2}}, ck2, nil)
	if w.Code != 200 || !setupLinkRE.MatchString(w.Body.String()) {
		t.Fatalf("reset second factor: %d", w.Code)
	}
	if o, _ := svc.Store.GetOperator(context.Background(), admin.ID); o.HasTOTP() {
		t.Error("the second factor is still there")
	}
	if w := do(t, e.c, "GET", "/console/", nil, ck, nil); w.Code != http.StatusSeeOther {
		t.Errorf("the reset operator's session still works: %d", w.Code)
	}

	got := strings.Join(e.auditActions("operator:"+admin.ID), " ")
	for _, want := range []string{"operator.create:OK", "operator.create:Bad Request", "operator.role:OK", "operator.role:Bad Request",
		"operator.disable:OK", "operator.disable:Not Found", "operator.enable:OK", "operator.totp_reset:Bad Request"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s: %s", want, got)
		}
	}
	if got := strings.Join(e.auditActions("operator:"+pharm.ID), " "); !strings.Contains(got, "operator.totp_reset:OK") {
		t.Errorf("audit of the second admin: %s", got)
	}
}

// TestOperatorsAdminOnly: no other role reaches the operators page or its
// link.
func TestOperatorsAdminOnly(t *testing.T) {
	e := newEnv(t, nil)
	for _, role := range []string{"viewer", "support", "pharmacy", "security"} {
		e.addOperator(role+"@novamed.test", role)
		ck, _ := e.signIn(e.c, role+"@novamed.test")
		if w := do(t, e.c, "GET", "/console/operators", nil, ck, nil); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d", role, w.Code)
		}
		if w := do(t, e.c, "GET", "/console/", nil, ck, nil); strings.Contains(w.Body.String(), `href="/console/operators"`) {
			t.Errorf("%s's navigation links to operators", role)
		}
	}
}
