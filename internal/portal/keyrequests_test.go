package portal

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
)

var newKeyRE = regexp.MustCompile(`id="new-key">([^<]+)<`)

// TestProductionKeyRequests: on a production deployment a partner admin
// requests a key (form errors beside their fields, another partner's
// clinic refused, nothing queued by a refused form) and the roll of a
// production key (once: a second while one waits is 409); a developer
// sees the requests but may not request, roll, collect or revoke; staff
// approve and reject in the queue; the admin sees each status (a
// rejection with its reason), collects the approved key once (shown
// once, the stored hash is its hash) and a second collect is the same
// not-found as an unknown request; every action is audited as
// partner_user:<id>.
func TestProductionKeyRequests(t *testing.T) {
	e := newEnvIn(t, novamed.Production)
	a := e.addPartner("Alpha Health")
	b := e.addPartner("Bravo Care")
	ctx := context.Background()
	staff := keyrequest.Actor{ID: "operator:test"}
	ck, csrf := e.signIn(a.admin, a.adminTOTP)

	w := e.do("GET", "/portal/key-requests", nil, ck)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `action="/portal/key-requests"`) || !strings.Contains(w.Body.String(), `href="/portal/key-requests"`) {
		t.Fatalf("key requests page (form, nav entry): %d %s", w.Code, w.Body.String())
	}
	for _, c := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"name": {""}, "clinic": {a.clinic.ID}}, "name"},
		{url.Values{"name": {"Prod"}}, "clinic"},
		{url.Values{"name": {"Prod"}, "clinic": {b.clinic.ID}}, "clinic"},
		{url.Values{"name": {"Prod"}, "clinic": {a.clinic.ID}, "rate_limit": {"lots"}}, "rate_limit"},
		{url.Values{"name": {"Prod"}, "clinic": {a.clinic.ID}, "expires": {"2026-11-01"}}, "expires"},
		{url.Values{"name": {"Prod"}, "clinic": {a.clinic.ID}, "expires": {"someday"}}, "expires"},
	} {
		c.form.Set("csrf_token", csrf)
		w := e.do("POST", "/portal/key-requests", c.form, ck)
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="`+c.field+`-error"`) ||
			!strings.Contains(w.Body.String(), `aria-describedby="`+c.field+`-error"`) {
			t.Errorf("form %v: %d, want 422 with the error beside %s", c.form, w.Code, c.field)
		}
		if strings.Contains(w.Body.String(), b.clinic.ID) {
			t.Errorf("form %v: the answer shows the other partner's clinic id", c.form)
		}
	}
	// addPartner queued a pending and an approved request for each.
	if l, _ := e.store.ListKeyRequests(ctx, "", ""); len(l) != 4 {
		t.Fatalf("refused forms queued %d requests", len(l)-4)
	}

	w = e.do("POST", "/portal/key-requests", url.Values{"csrf_token": {csrf}, "name": {"Production EHR"}, "clinic": {a.clinic.ID},
		"rate_limit": {"90"}, "expires": {"2027-06-30"}}, ck)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "pending: waiting for NovaMed staff") {
		t.Fatalf("request: %d %s", w.Code, w.Body.String())
	}
	l, _ := e.store.ListKeyRequests(ctx, a.partner.ID, keyrequest.Pending)
	if len(l) != 2 || l[0].Kind != keyrequest.Issue || l[0].Name != "Production EHR" || l[0].RateLimit != 90 || l[0].ExpiresAt == nil ||
		len(l[0].Clinics) != 1 || l[0].Clinics[0] != a.clinic.ID || l[0].RequestedBy != a.admin.Actor() {
		t.Fatalf("queued: %+v", l)
	}
	issue := l[0]

	// The roll of A's production key, with a 1 h grace; only one waits.
	w = e.do("POST", "/portal/keys/"+a.key.ID+"/roll-request", url.Values{"csrf_token": {csrf}, "grace": {"1h"}}, ck)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Roll of <code>"+a.key.Prefix) || !strings.Contains(w.Body.String(), "grace for the old key: 1 h") {
		t.Fatalf("roll request: %d %s", w.Code, w.Body.String())
	}
	if w := e.do("POST", "/portal/keys/"+a.key.ID+"/roll-request", url.Values{"csrf_token": {csrf}, "grace": {"1h"}}, ck); w.Code != http.StatusConflict {
		t.Errorf("second roll request while one waits: %d", w.Code)
	}
	if w := e.do("GET", "/portal/keys", nil, ck); !strings.Contains(w.Body.String(), "Roll requested") || strings.Contains(w.Body.String(), "/portal/keys/"+a.key.ID+"/roll-request") {
		t.Errorf("keys page after the roll request: %s", w.Body.String())
	}
	l, _ = e.store.ListKeyRequests(ctx, a.partner.ID, keyrequest.Pending)
	if len(l) != 3 || l[0].Kind != keyrequest.Roll || l[0].KeyID != a.key.ID || l[0].Grace != time.Hour {
		t.Fatalf("queued roll: %+v", l[0])
	}
	roll := l[0]

	// A developer sees the requests, may do none of it.
	dck, dcsrf := e.signIn(a.dev, "")
	w = e.do("GET", "/portal/key-requests", nil, dck)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Production EHR") || strings.Contains(w.Body.String(), `action="/portal/key-requests"`) {
		t.Errorf("developer's key requests page: %d", w.Code)
	}
	for _, path := range []string{"/portal/key-requests", "/portal/keys/" + a.key.ID + "/roll-request", "/portal/keys/" + a.key.ID + "/revoke",
		"/portal/key-requests/" + issue.ID + "/collect"} {
		if w := e.do("POST", path, url.Values{"csrf_token": {dcsrf}, "name": {"x"}, "clinic": {a.clinic.ID}, "grace": {"0s"}}, dck); w.Code != http.StatusForbidden {
			t.Errorf("developer POST %s: %d, want 403", path, w.Code)
		}
	}

	// Staff decide: the issue is approved, the roll rejected.
	svc := &keyrequest.Service{Store: e.store, Env: novamed.Production, Now: e.clock.Now}
	done, err := svc.Approve(ctx, staff, issue.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reject(ctx, staff, roll.ID, "Roll it after Friday's release."); err != nil {
		t.Fatal(err)
	}
	w = e.do("GET", "/portal/key-requests", nil, ck)
	page := w.Body.String()
	if !strings.Contains(page, "rejected") || !strings.Contains(page, "Roll it after Friday&#39;s release.") ||
		!strings.Contains(page, "/portal/key-requests/"+issue.ID+"/collect") || strings.Contains(page, `id="new-key"`) {
		t.Fatalf("statuses after the decisions: %s", page)
	}

	// Collected once: the key shown is the issued one.
	w = e.do("POST", "/portal/key-requests/"+issue.ID+"/collect", url.Values{"csrf_token": {csrf}}, ck)
	m := newKeyRE.FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil || !strings.Contains(w.Body.String(), `data-copy="new-key"`) {
		t.Fatalf("collect: %d %s", w.Code, w.Body.String())
	}
	if !strings.Contains(w.Body.String(), "request a roll of <code>"+done.IssuedPrefix) {
		t.Error("the collect page does not say what to do if the key is lost")
	}
	k, err := e.store.GetAPIKey(ctx, done.IssuedKeyID)
	if err != nil || k.HashHex != apikey.HashKey(m[1]).Hex() || k.Environment != novamed.Production || k.RateLimit != 90 || k.PartnerID != a.partner.ID {
		t.Fatalf("the collected key is not the issued one: %+v %v", k, err)
	}
	again := e.do("POST", "/portal/key-requests/"+issue.ID+"/collect", url.Values{"csrf_token": {csrf}}, ck)
	unknown := e.do("POST", "/portal/key-requests/"+uuid.NewString()+"/collect", url.Values{"csrf_token": {csrf}}, ck)
	if again.Code != http.StatusNotFound || again.Body.String() != unknown.Body.String() || strings.Contains(again.Body.String(), m[1]) {
		t.Errorf("second collect: %d, identical to an unknown request: %v", again.Code, again.Body.String() == unknown.Body.String())
	}
	if w := e.do("GET", "/portal/key-requests", nil, ck); strings.Contains(w.Body.String(), m[1]) || !strings.Contains(w.Body.String(), "collected") {
		t.Error("the key requests page shows the key again, or not that it was collected")
	} else if !strings.Contains(w.Body.String(), `id="lost-`+issue.ID+`"`) {
		// The collect answer may never have reached the browser: the list
		// says what to do then (the key stays active).
		t.Error("the collected request does not say what to do if the key was lost")
	}

	// An admin still revokes a production key directly.
	if w := e.do("POST", "/portal/keys/"+k.ID+"/revoke", url.Values{"csrf_token": {csrf}}, ck); w.Code != 200 {
		t.Fatalf("revoke the production key: %d", w.Code)
	}
	if k, _ := e.store.GetAPIKey(ctx, k.ID); k.RevokedAt == nil {
		t.Error("the production key was not revoked")
	}

	actions := map[string]int{}
	err = e.store.ScanAudit(ctx, time.Time{}, e.clock.Now().Add(time.Hour), func(r *novamed.AuditRecord) error {
		actions[r.Actor+" "+r.Action]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Besides addPartner's: two keys issued, two requests (each partner's
	// admin), two approvals.
	for want, n := range map[string]int{a.admin.Actor() + " key_request.create": 2 + 2, a.admin.Actor() + " key_request.collect": 1,
		a.admin.Actor() + " api_key.revoke": 1, "operator:test key_request.approve": 2 + 1, "operator:test api_key.issue": 4 + 1} {
		if actions[want] != n {
			t.Errorf("audit: %q recorded %d times, want %d (%v)", want, actions[want], n, actions)
		}
	}
	if actions[a.dev.Actor()+" key_request.create"] != 0 {
		t.Error("the developer's refused request was recorded")
	}
}

// TestKeyRequestsOnDevelopment: on a development deployment the key
// requests page only points to the Keys page (not in the menu) and a
// request is refused: keys are made directly there.
func TestKeyRequestsOnDevelopment(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	ck, csrf := e.signIn(a.admin, a.adminTOTP)
	w := e.do("GET", "/portal/key-requests", nil, ck)
	if w.Code != 200 || strings.Contains(w.Body.String(), `action="/portal/key-requests"`) || strings.Contains(w.Body.String(), `<a href="/portal/key-requests"`) {
		t.Errorf("development key requests page: %d", w.Code)
	}
	if w := e.do("POST", "/portal/key-requests", url.Values{"csrf_token": {csrf}, "name": {"x"}, "clinic": {a.clinic.ID}}, ck); w.Code != http.StatusForbidden {
		t.Errorf("request on development: %d", w.Code)
	}
	if w := e.do("POST", "/portal/keys/"+a.key.ID+"/roll-request", url.Values{"csrf_token": {csrf}, "grace": {"0s"}}, ck); w.Code != http.StatusForbidden {
		t.Errorf("roll request on development: %d", w.Code)
	}
	if l, _ := e.store.ListKeyRequests(context.Background(), "", ""); len(l) != 2 { // addPartner's
		t.Errorf("development queued %d requests", len(l)-2)
	}
}

// TestRollGraceField: a roll's grace is any duration up to the maximum
// (a few seconds included); a bad one is refused beside that key's field
// and rolls nothing.
func TestRollGraceField(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	ck, csrf := e.signIn(a.admin, a.adminTOTP)
	for _, bad := range []string{"forever", "-1s", "200h"} {
		w := e.do("POST", "/portal/keys/"+a.key.ID+"/roll", url.Values{"csrf_token": {csrf}, "grace": {bad}}, ck)
		errID := "grace-" + a.key.ID + "-error"
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="`+errID+`"`) ||
			!strings.Contains(w.Body.String(), `aria-describedby="grace-`+a.key.ID+`-hint `+errID+`"`) {
			t.Errorf("grace %q: %d, want 422 with the error beside the key's field", bad, w.Code)
		}
	}
	if k, _ := e.store.GetAPIKey(context.Background(), a.key.ID); k.ReplacedBy != "" {
		t.Fatal("a refused grace rolled the key")
	}
	w := e.do("POST", "/portal/keys/"+a.key.ID+"/roll", url.Values{"csrf_token": {csrf}, "grace": {" 2s "}}, ck)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "works until 2026-11-29") {
		t.Fatalf("roll with a 2 s grace: %d", w.Code)
	}
	k, _ := e.store.GetAPIKey(context.Background(), a.key.ID)
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(e.clock.Now().Add(2*time.Second)) {
		t.Errorf("the old key's grace end: %v, want %v", k.ExpiresAt, e.clock.Now().Add(2*time.Second))
	}
}

// TestProductionKeysNeedTOTP: a partner admin whose second factor is
// gone (changed in the database behind the portal's back) can neither
// sign in again nor, in a session already open, request, collect or
// revoke production keys.
func TestProductionKeysNeedTOTP(t *testing.T) {
	e := newEnvIn(t, novamed.Production)
	a := e.addPartner("Alpha Health")
	ck, csrf := e.signIn(a.admin, a.adminTOTP)
	db, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE partner_users SET totp_secret = '' WHERE id = ?`, a.admin.ID); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/portal/key-requests", "/portal/keys/" + a.key.ID + "/roll-request", "/portal/keys/" + a.key.ID + "/revoke",
		"/portal/key-requests/" + a.approved.ID + "/collect"} {
		w := e.do("POST", path, url.Values{"csrf_token": {csrf}, "name": {"x"}, "clinic": {a.clinic.ID}, "grace": {"0s"}}, ck)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "authenticator") {
			t.Errorf("POST %s without a second factor: %d", path, w.Code)
		}
	}
	if k, _ := e.store.GetAPIKey(context.Background(), a.key.ID); k.RevokedAt != nil || k.ReplacedBy != "" {
		t.Error("the production key changed")
	}
	if r, _ := e.store.GetKeyRequest(context.Background(), a.approved.ID); !r.Waiting {
		t.Error("the approved key was collected")
	}
	w := e.do("POST", "/portal/login", url.Values{"email": {a.admin.Email}, "password": {testPassword}}, nil)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="code-error"`) {
		t.Errorf("sign-in of an admin without a second factor: %d", w.Code)
	}
}

// TestKeyRequestCapInThePortal: with keyrequest.MaxPending requests of
// its partner waiting, an admin's request for a key is refused with the
// reason beside the form (409, what was typed kept) and a roll request
// beside the key's roll form; nothing more is queued, and another
// partner still asks.
func TestKeyRequestCapInThePortal(t *testing.T) {
	e := newEnvIn(t, novamed.Production)
	a := e.addPartner("Alpha Health")
	b := e.addPartner("Bravo Care")
	ctx := context.Background()
	svc := &keyrequest.Service{Store: e.store, Env: novamed.Production, Now: e.clock.Now}
	for n := 0; ; n++ {
		c, err := e.store.CountKeyRequests(ctx, a.partner.ID, keyrequest.Pending)
		if err != nil {
			t.Fatal(err)
		}
		if c == keyrequest.MaxPending {
			break
		}
		if _, err := svc.Request(ctx, keyrequest.Actor{ID: "partner_user:" + a.admin.ID}, a.partner.ID,
			keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Filler " + strconv.Itoa(n), Clinics: []string{a.clinic.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	ck, csrf := e.signIn(a.admin, a.adminTOTP)
	w := e.do("POST", "/portal/key-requests", url.Values{"csrf_token": {csrf}, "name": {"One too many"}, "clinic": {a.clinic.ID}}, ck)
	body := w.Body.String()
	if w.Code != http.StatusConflict || !strings.Contains(body, `id="request-error"`) || !strings.Contains(body, `aria-describedby="request-error"`) ||
		!strings.Contains(body, "already waiting for NovaMed staff") || !strings.Contains(body, `value="One too many"`) {
		t.Errorf("a request beyond the cap: %d, want 409 with the reason beside the form:\n%s", w.Code, body)
	}
	w = e.do("POST", "/portal/keys/"+a.key.ID+"/roll-request", url.Values{"csrf_token": {csrf}, "grace": {"24h"}}, ck)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `id="rgrace-`+a.key.ID+`-error"`) ||
		!strings.Contains(w.Body.String(), "already waiting for NovaMed staff") {
		t.Errorf("a roll request beyond the cap: %d, want 409 with the reason beside the roll form:\n%s", w.Code, w.Body.String())
	}
	if c, _ := e.store.CountKeyRequests(ctx, a.partner.ID, keyrequest.Pending); c != keyrequest.MaxPending {
		t.Errorf("refused requests queued: %d pending", c)
	}
	bck, bcsrf := e.signIn(b.admin, b.adminTOTP)
	if w := e.do("POST", "/portal/key-requests", url.Values{"csrf_token": {bcsrf}, "name": {"Bravo key"}, "clinic": {b.clinic.ID}}, bck); w.Code != http.StatusOK {
		t.Errorf("another partner's request: %d", w.Code)
	}
}
