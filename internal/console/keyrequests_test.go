package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

// TestKeyRequestQueuePage: on production the queue lists the pending
// requests with partner, BAA state and clinics, and the menu counts them
// (for support; a viewer neither sees nor reaches it). Approving needs a
// recent re-authentication, is refused with the reason beside the request
// while the partner has no BAA (nothing issued, still pending), and
// issues the key without ever showing it; rejecting needs a reason (the
// error beside the field) and the partner sees it; a decided request
// cannot be decided again; decisions are audited as operator:<id>.
func TestKeyRequestQueuePage(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Env = novamed.Production })
	ctx := context.Background()
	d := onboarding.Deps{Env: novamed.Production, Now: e.clock.Now}
	staff := onboarding.Actor{ID: "operator:seed"}
	partner := func(name string, baa bool) (*novamed.Partner, *novamed.Clinic) {
		return productionPartner(t, e, name, baa)
	}
	ready, rc := partner("Ready Health", true)
	unsigned, uc := partner("Unsigned Care", false)
	old, _, err := onboarding.IssueKey(ctx, e.store, d, staff, onboarding.KeyInput{Name: "current", Clinics: []string{rc.ID}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &keyrequest.Service{Store: e.store, Env: novamed.Production, Now: e.clock.Now}
	asks := func(p *novamed.Partner, in keyrequest.RequestInput) *keyrequest.Request {
		r, err := svc.Request(ctx, keyrequest.Actor{ID: "partner_user:pu-" + p.ID[:8]}, p.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	issue := asks(ready, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "EHR production", Clinics: []string{rc.ID}, RateLimit: 120})
	blocked := asks(unsigned, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Unsigned production", Clinics: []string{uc.ID}})
	roll := asks(ready, keyrequest.RequestInput{Kind: keyrequest.Roll, KeyID: old.ID, Name: old.Name, Grace: time.Hour})

	e.addOperator("viewer@novamed.test", "viewer")
	vck, _ := e.signIn(e.c, "viewer@novamed.test")
	if w := do(t, e.c, "GET", "/console/key-requests", nil, vck, nil); w.Code != http.StatusForbidden {
		t.Errorf("viewer opens the queue: %d", w.Code)
	}
	if w := do(t, e.c, "GET", "/console/", nil, vck, nil); strings.Contains(w.Body.String(), "Key requests") {
		t.Error("the viewer's menu offers the queue")
	}

	op := e.addOperator("support@novamed.test", "support")
	ck, csrf := e.signIn(e.c, "support@novamed.test")
	page := do(t, e.c, "GET", "/console/key-requests", nil, ck, nil).Body.String()
	for _, want := range []string{"Key requests (3 pending)", "Ready Health", "Unsigned Care", "Ready Health Clinic", "Unsigned Care Clinic",
		"EHR production", "Roll of <code>" + old.Prefix, "grace for the old key: 1 h", ">missing<", ">on record<",
		`id="approve-` + blocked.ID + `-refusal"`, "Unsigned Care has no BAA on record", `id="approve-` + issue.ID + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	if !strings.Contains(page, `name="return_to" value="/console/key-requests"`) {
		t.Error("the approve form does not say where re-authentication returns to")
	}
	if strings.Contains(page, `id="approve-`+blocked.ID+`"`) {
		t.Error("the queue offers to approve a request of a partner without a BAA")
	}

	var bodies []string
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		form.Set("csrf_token", csrf)
		w := do(t, e.c, "POST", path, form, ck, nil)
		bodies = append(bodies, w.Body.String()+w.Header().Get("Location"))
		return &http.Response{StatusCode: w.Code, Header: w.Header(), Body: nil, Status: w.Body.String()}
	}

	// Outside the re-authentication window: to the reauth page, nothing
	// decided.
	e.clock.Add(6 * time.Minute)
	if r := post("/console/key-requests/"+issue.ID+"/approve", url.Values{"return_to": {"/console/key-requests"}}); r.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(r.Header.Get("Location"), "/console/reauth?next=%2Fconsole%2Fkey-requests") {
		t.Fatalf("approve without a recent re-authentication: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if got, _ := e.store.GetKeyRequest(ctx, issue.ID); got.Status != keyrequest.Pending {
		t.Fatal("the approval went through without re-authentication")
	}
	if r := post("/console/reauth", url.Values{"password": {testPassword}, "code": {e.code("support@novamed.test")}, "next": {"/console/key-requests"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reauth: %d", r.StatusCode)
	}

	// No BAA: refused beside the request, nothing issued.
	r := post("/console/key-requests/"+blocked.ID+"/approve", url.Values{})
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.Status, `id="approve-`+blocked.ID+`-error"`) || !strings.Contains(r.Status, "Not approved. Unsigned Care has no BAA on record") {
		t.Errorf("approve without a BAA: %d", r.StatusCode)
	}
	if got, _ := e.store.GetKeyRequest(ctx, blocked.ID); got.Status != keyrequest.Pending {
		t.Errorf("the refused approval changed the request: %+v", got)
	}
	if keys, _ := e.store.ListAPIKeys(ctx, uc.ID); len(keys) != 0 {
		t.Errorf("the refused approval issued %d keys", len(keys))
	}

	// Approved: the key is issued and sealed for the partner, never shown.
	if r := post("/console/key-requests/"+issue.ID+"/approve", url.Values{}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/key-requests?done=approved" {
		t.Fatalf("approve: %d %s", r.StatusCode, r.Status)
	}
	got, _ := e.store.GetKeyRequest(ctx, issue.ID)
	if got.Status != keyrequest.Approved || !got.Waiting || got.DecidedBy != "operator:"+op.ID {
		t.Fatalf("approved request: %+v", got)
	}
	page = do(t, e.c, "GET", "/console/key-requests?done=approved", nil, ck, nil).Body.String()
	bodies = append(bodies, page)
	if !strings.Contains(page, "Key requests (2 pending)") || !strings.Contains(page, "waiting to be collected") || !strings.Contains(page, got.IssuedPrefix) {
		t.Errorf("queue after the approval:\n%s", page)
	}
	if r := post("/console/key-requests/"+issue.ID+"/approve", url.Values{}); r.StatusCode != http.StatusConflict {
		t.Errorf("second approval: %d", r.StatusCode)
	}
	if r := post("/console/key-requests/"+uuid.NewString()+"/approve", url.Values{}); r.StatusCode != http.StatusNotFound {
		t.Errorf("approve an unknown request: %d", r.StatusCode)
	}

	// Rejection needs a reason, shown beside the field.
	r = post("/console/key-requests/"+roll.ID+"/reject", url.Values{"reason": {"  "}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Status, `id="reason-`+roll.ID+`-error"`) ||
		!strings.Contains(r.Status, `aria-describedby="reason-`+roll.ID+`-error"`) {
		t.Errorf("reject without a reason: %d", r.StatusCode)
	}
	if got, _ := e.store.GetKeyRequest(ctx, roll.ID); got.Status != keyrequest.Pending {
		t.Errorf("a refused rejection changed the request: %+v", got)
	}
	if r := post("/console/key-requests/"+roll.ID+"/reject", url.Values{"reason": {"Roll after the release freeze."}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject: %d", r.StatusCode)
	}
	if got, _ := e.store.GetKeyRequest(ctx, roll.ID); got.Status != keyrequest.Rejected || got.Reason != "Roll after the release freeze." {
		t.Errorf("rejected request: %+v", got)
	}
	if page := do(t, e.c, "GET", "/console/key-requests", nil, ck, nil).Body.String(); !strings.Contains(page, "rejected: Roll after the release freeze.") {
		t.Errorf("the decided list lacks the rejection's reason:\n%s", page)
	}

	// The key was never on a console page: the partner collects it.
	raw, err := svc.Collect(ctx, keyrequest.Actor{ID: "partner_user:x"}, ready.ID, issue.ID)
	if err != nil || raw == "" {
		t.Fatalf("collect: %v", err)
	}
	for _, b := range bodies {
		if strings.Contains(b, raw) {
			t.Fatal("a console answer showed the issued key")
		}
	}

	actions := map[string]int{}
	if err := e.store.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		if r.Actor == "operator:"+op.ID {
			actions[r.Action]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if actions["key_request.approve"] != 1 || actions["key_request.reject"] != 1 || actions["api_key.issue"] != 1 {
		t.Errorf("audit of the operator: %v", actions)
	}
}

// TestReauthReturnsToTheKeyForms: on production, issuing and rolling a key
// need a recent re-authentication; the forms say where it returns to (the
// console sends no Referer), so after it the operator is back on the
// partner or key page, not the overview, and nothing was issued or rolled.
func TestReauthReturnsToTheKeyForms(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Env = novamed.Production })
	ctx := context.Background()
	d := onboarding.Deps{Env: novamed.Production, Now: e.clock.Now}
	staff := onboarding.Actor{ID: "operator:seed"}
	p, c := productionPartner(t, e, "Return Health", true)
	k, _, err := onboarding.IssueKey(ctx, e.store, d, staff, onboarding.KeyInput{Name: "current", Clinics: []string{c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	e.addOperator("support@novamed.test", "support")
	ck, csrf := e.signIn(e.c, "support@novamed.test")
	e.clock.Add(6 * time.Minute) // outside the re-authentication window

	returnTo := regexp.MustCompile(`name="return_to" value="([^"]+)"`)
	for _, f := range []struct{ page, action string }{
		{"/console/partners/" + p.ID, "/console/partners/" + p.ID + "/keys"},
		{"/console/keys/" + k.ID, "/console/keys/" + k.ID + "/roll"},
	} {
		m := returnTo.FindStringSubmatch(do(t, e.c, "GET", f.page, nil, ck, nil).Body.String())
		if m == nil || m[1] != f.page {
			t.Errorf("%s: the form's return_to = %v, want %s", f.page, m, f.page)
			continue
		}
		form := url.Values{"csrf_token": {csrf}, "return_to": {m[1]}, "clinics": {c.ID}, "name": {"another"}, "grace": {"24h"}}
		w := do(t, e.c, "POST", f.action, form, ck, nil)
		if want := "/console/reauth?next=" + url.QueryEscape(f.page); w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("POST %s outside the window: %d %q, want 303 %q", f.action, w.Code, w.Header().Get("Location"), want)
		}
	}
	keys, err := e.store.ListAPIKeys(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ReplacedBy != "" {
		t.Errorf("a key was issued or rolled without re-authentication: %+v", keys)
	}
}

// productionPartner creates an approved partner named name with one clinic
// (name + " Clinic"), and a BAA on record when baa is set.
func productionPartner(t *testing.T, e *testEnv, name string, baa bool) (*novamed.Partner, *novamed.Clinic) {
	t.Helper()
	ctx := context.Background()
	d := onboarding.Deps{Env: novamed.Production, Now: e.clock.Now}
	staff := onboarding.Actor{ID: "operator:seed"}
	p, err := onboarding.CreatePartner(ctx, e.store, d, staff, onboarding.CreatePartnerInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	c, err := onboarding.CreateClinic(ctx, e.store, d, staff, name+" Clinic", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if baa {
		if _, err := onboarding.RecordBAA(ctx, e.store, d, staff, p.ID, onboarding.BAAInput{SignedOn: "2026-01-15", Signer: "Dana"}); err != nil {
			t.Fatal(err)
		}
	}
	if p, err = onboarding.SetStatus(ctx, e.store, d, staff, p.ID, "approve"); err != nil {
		t.Fatal(err)
	}
	return p, c
}
