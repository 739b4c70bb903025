package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/webhook"
	"github.com/novamed/partner-api/internal/websession"
)

const testPassword = "correct horse battery staple"

// cheapHashes keep Argon2id fast in tests (the encoding names its costs).
var cheapHashes = operator.PasswordParams{Memory: 64, Time: 1, Threads: 1}

// noDNS resolves nothing: tests reach no name server (a .test host that
// does not resolve registers, as on a real deployment).
type noDNS struct{}

func (noDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errors.New("no DNS in tests")
}

// fixture is one partner as the tests see it.
type fixture struct {
	partner *novamed.Partner
	clinic  *novamed.Clinic
	key     *novamed.APIKey
	// webhook and delivery: a registered endpoint and its test event.
	webhook  *novamed.Webhook
	delivery *novamed.Delivery
	admin    *partneruser.User
	dev      *partneruser.User
	// adminTOTP is the admin's enrolled secret.
	adminTOTP string
	// pending is a key request waiting for staff; approved one whose key
	// waits to be collected.
	pending, approved *keyrequest.Request
}

type testEnv struct {
	t     *testing.T
	env   novamed.Environment
	path  string // the SQLite file
	store *sqlstore.Store
	clock *fakeclock.Clock
	users *partneruser.Service
	p     *Portal
}

func newEnv(t *testing.T) *testEnv { t.Helper(); return newEnvIn(t, novamed.Development) }

// newEnvIn is newEnv for a deployment of env.
func newEnvIn(t *testing.T, env novamed.Environment) *testEnv {
	t.Helper()
	ring, err := phi.NewKeyring(map[uint32][]byte{1: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "novamed.db")
	store, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &testEnv{t: t, env: env, path: path, store: store, clock: fakeclock.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))}
	e.users = &partneruser.Service{Store: store, Now: e.clock.Now, Params: cheapHashes}
	aw := audit.NewWriter(store, nil)
	t.Cleanup(func() { aw.Close() })
	policy := webhook.URLPolicy{AllowInsecure: true, Resolver: noDNS{}}
	e.p, err = New(Config{Env: env, Sessions: store.PortalSessions(), Users: e.users, Store: store, Now: e.clock.Now, Audit: aw,
		Webhooks: store, WebhookURL: func(ctx context.Context, raw string) (string, error) {
			u, err := policy.CheckURL(ctx, raw)
			if err != nil {
				return "", err
			}
			return u.String(), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// addPartner creates an approved partner with a BAA, a clinic, a
// development key, an admin (with TOTP) and a developer (without).
func (e *testEnv) addPartner(name string) *fixture {
	e.t.Helper()
	ctx := context.Background()
	d := onboarding.Deps{Env: e.env, Now: e.clock.Now}
	staff := onboarding.Actor{ID: "operator:test"}
	p, err := onboarding.CreatePartner(ctx, e.store, d, staff, onboarding.CreatePartnerInput{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := onboarding.RecordBAA(ctx, e.store, d, staff, p.ID, onboarding.BAAInput{SignedOn: "2026-01-15", Signer: "Dana"}); err != nil {
		e.t.Fatal(err)
	}
	if p, err = onboarding.SetStatus(ctx, e.store, d, staff, p.ID, "approve"); err != nil {
		e.t.Fatal(err)
	}
	c, err := onboarding.CreateClinic(ctx, e.store, d, staff, name+" clinic", p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	k, _, err := onboarding.IssueKey(ctx, e.store, d, staff, onboarding.KeyInput{Name: name + " key", Clinics: []string{c.ID}})
	if err != nil {
		e.t.Fatal(err)
	}
	f := &fixture{partner: p, clinic: c, key: k}
	f.webhook = &novamed.Webhook{ID: uuid.NewString(), ClinicID: c.ID, URL: "https://hooks." + strings.ToLower(strings.Fields(name)[0]) + ".test/novamed",
		Secrets: novamed.NewWebhookSecrets(), CreatedAt: e.clock.Now()}
	if err := e.store.CreateWebhook(ctx, f.webhook, novamed.Effects{}); err != nil {
		e.t.Fatal(err)
	}
	if f.delivery, err = e.store.SendTestEvent(ctx, f.webhook.ID, &novamed.Event{ID: uuid.NewString(), ClinicID: c.ID, Name: novamed.EventWebhookTest,
		CreatedAt: e.clock.Now(), Data: map[string]any{"message": "test"}}); err != nil {
		e.t.Fatal(err)
	}
	f.admin, f.adminTOTP = e.addUser(p.ID, "admin@"+strings.ToLower(strings.Fields(name)[0])+".test", partneruser.Admin)
	f.dev, _ = e.addUser(p.ID, "dev@"+strings.ToLower(strings.Fields(name)[0])+".test", partneruser.Developer)
	krs := &keyrequest.Service{Store: e.store, Env: e.env, Now: e.clock.Now}
	in := keyrequest.RequestInput{Kind: keyrequest.Issue, Name: name + " requested key", Clinics: []string{c.ID}}
	if f.pending, err = krs.Request(ctx, keyrequest.Actor{ID: f.admin.Actor()}, p.ID, in); err != nil {
		e.t.Fatal(err)
	}
	if f.approved, err = krs.Request(ctx, keyrequest.Actor{ID: f.admin.Actor()}, p.ID, in); err != nil {
		e.t.Fatal(err)
	}
	// A second later than the fixture's key, so that the key lists keep
	// one order.
	e.clock.Add(time.Second)
	if f.approved, err = krs.Approve(ctx, keyrequest.Actor{ID: "operator:test"}, f.approved.ID); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// addUser invites and accepts a user through the service (an admin
// enrols TOTP).
func (e *testEnv) addUser(partnerID, email string, role partneruser.Role) (*partneruser.User, string) {
	e.t.Helper()
	ctx := context.Background()
	_, link, _, err := e.users.Invite(ctx, partneruser.Actor{ID: "operator:test"}, partneruser.InviteInput{PartnerID: partnerID, Email: email, Name: "Test " + string(role), Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	secret, code := "", ""
	if role == partneruser.Admin {
		secret, _, err = operator.NewTOTP("test", email)
		if err != nil {
			e.t.Fatal(err)
		}
		code, _ = operator.TOTPCode(secret, e.clock.Now())
	}
	u, err := e.users.Accept(ctx, partneruser.Actor{}, strings.TrimPrefix(link, partneruser.InvitationPath), testPassword, secret, code)
	if err != nil {
		e.t.Fatal(err)
	}
	return u, secret
}

func (e *testEnv) do(method, path string, form url.Values, ck *http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, body)
	r.RemoteAddr = "127.0.0.1:40000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if ck != nil {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	e.p.ServeHTTP(w, r)
	return w
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// signIn signs in through the sign-in form and returns the session
// cookie and its CSRF token. The clock moves a TOTP step first, so that
// every sign-in has a fresh code.
func (e *testEnv) signIn(u *partneruser.User, totpSecret string) (*http.Cookie, string) {
	e.t.Helper()
	e.clock.Add(30 * time.Second)
	code := ""
	if totpSecret != "" {
		code, _ = operator.TOTPCode(totpSecret, e.clock.Now())
	}
	w := e.do("POST", "/portal/login", url.Values{"email": {u.Email}, "password": {testPassword}, "code": {code}}, nil)
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("sign in %s: %d %s", u.Email, w.Code, w.Body.String())
	}
	var ck *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "novamed_portal" {
			ck = c
		}
	}
	if ck == nil {
		e.t.Fatal("no session cookie")
	}
	page := e.do("GET", "/portal/", nil, ck)
	m := csrfRE.FindStringSubmatch(page.Body.String())
	if page.Code != 200 || m == nil {
		e.t.Fatalf("overview after sign-in: %d", page.Code)
	}
	return ck, m[1]
}

func fill(path, id string) string { return strings.ReplaceAll(path, "{id}", id) }

// idFor is the other partner's id a route's {id} takes: a user id for
// /users/{id}/…, a key id for /keys/{id}/….
func idFor(path string, f *fixture) string {
	switch {
	case strings.HasPrefix(path, Prefix+"/users/"):
		return f.dev.ID
	case strings.HasPrefix(path, Prefix+"/webhooks/"):
		return f.webhook.ID
	case strings.HasPrefix(path, Prefix+"/key-requests/"):
		return f.approved.ID
	}
	return f.key.ID
}

// fillAll fills a route's {id} and {delivery} with f's ids.
func fillAll(path string, f *fixture) string {
	return strings.ReplaceAll(fill(path, idFor(path, f)), "{delivery}", f.delivery.ID)
}

// TestIsolationMatrix walks every signed-in portal route (from the
// route table, not a hand-kept list) as a partner user of another
// partner, a staff console session, an expired portal session and no
// session. Partner B's admin never sees nor changes partner A's data, and
// A's ids answer byte for byte what an id that does not exist answers;
// the others are sent to sign in.
func TestIsolationMatrix(t *testing.T) {
	// Production adds the key-request routes' real work (request, roll
	// request, collect); development answers them without it.
	for _, env := range []novamed.Environment{novamed.Development, novamed.Production} {
		t.Run(string(env), func(t *testing.T) { isolationMatrix(t, env) })
	}
}

func isolationMatrix(t *testing.T, env novamed.Environment) {
	e := newEnvIn(t, env)
	a := e.addPartner("Alpha Health")
	b := e.addPartner("Bravo Care")
	ctx := context.Background()

	// A's data that must never appear in B's pages.
	secretsOfA := []string{a.partner.Name, a.partner.ID, a.clinic.ID, a.key.ID, a.key.Prefix, a.admin.Email, a.dev.Email, a.admin.ID, a.dev.ID,
		a.webhook.ID, a.webhook.URL, a.delivery.ID, a.pending.ID, a.pending.Name, a.approved.ID, a.approved.IssuedPrefix, a.approved.IssuedKeyID}

	bCookie, bCSRF := e.signIn(b.admin, b.adminTOTP)

	// A staff console session: a real console session row and cookie.
	staffToken := websession.NewToken()
	if err := e.store.CreateConsoleSession(ctx, &novamed.ConsoleSession{TokenHash: websession.HashToken(staffToken), OperatorID: "op-1",
		CreatedAt: e.clock.Now(), LastSeenAt: e.clock.Now(), ReauthAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	staff := &http.Cookie{Name: "novamed_console", Value: staffToken}
	// An expired portal session of A's admin: idle for longer than the
	// limit (a new one per request: the first use deletes it).
	expiredSession := func() *http.Cookie {
		tok := websession.NewToken()
		old := e.clock.Now().Add(-time.Hour)
		if err := e.store.PortalSessions().CreateSession(ctx, &websession.Record{TokenHash: websession.HashToken(tok), Subject: a.admin.ID,
			CreatedAt: old, LastSeenAt: old, ReauthAt: old}); err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: "novamed_portal", Value: tok}
	}

	routes := 0
	for _, rt := range e.p.Routes() {
		if rt.Public {
			continue
		}
		routes++
		name := rt.Method + " " + rt.Path
		var form url.Values
		if rt.Method == "POST" {
			form = url.Values{"csrf_token": {bCSRF}, "grace": {"1h"}, "clinic": {a.clinic.ID}, "name": {"x"}, "email": {"someone@bravo.test"}, "role": {"partner_developer"},
				"url": {"https://hooks.bravo-new.test/x"}, "overlap": {"1h"}}
		}
		path := fillAll(rt.Path, a)
		path = strings.TrimSuffix(path, "{$}")

		// Another partner's user.
		w := e.do(rt.Method, path, form, bCookie)
		body := w.Body.String()
		for _, s := range secretsOfA {
			if strings.Contains(body, s) {
				t.Errorf("%s as partner B: the answer shows partner A's %q", name, s)
			}
		}
		if strings.Contains(rt.Path, "{id}") {
			// Byte-identical to an id that does not exist.
			unknown := strings.ReplaceAll(fill(rt.Path, uuid.NewString()), "{delivery}", uuid.NewString())
			if strings.Contains(rt.Path, "{delivery}") {
				// B's own webhook with A's delivery: still not found.
				w3 := e.do(rt.Method, strings.ReplaceAll(fill(rt.Path, b.webhook.ID), "{delivery}", a.delivery.ID), form, bCookie)
				w4 := e.do(rt.Method, strings.ReplaceAll(fill(rt.Path, b.webhook.ID), "{delivery}", uuid.NewString()), form, bCookie)
				if w3.Code != http.StatusNotFound || w3.Body.String() != w4.Body.String() {
					t.Errorf("%s: B's webhook with A's delivery: %d, identical to unknown: %v", name, w3.Code, w3.Body.String() == w4.Body.String())
				}
			}
			w2 := e.do(rt.Method, unknown, form, bCookie)
			if w.Code != http.StatusNotFound || w2.Code != http.StatusNotFound || body != w2.Body.String() {
				t.Errorf("%s as partner B: %d vs %d for an unknown id; bodies identical: %v", name, w.Code, w2.Code, body == w2.Body.String())
			}
		} else if w.Code >= 500 {
			t.Errorf("%s as partner B: %d", name, w.Code)
		}

		// Staff session, expired session, no session: to the sign-in page.
		for _, c := range []struct {
			who    string
			ck     *http.Cookie
			reason string
		}{{"staff", staff, ""}, {"expired", expiredSession(), "reason=idle"}, {"none", nil, ""}} {
			f := url.Values(nil)
			if rt.Method == "POST" {
				f = url.Values{"csrf_token": {"x"}}
			}
			w := e.do(rt.Method, path, f, c.ck)
			loc := w.Header().Get("Location")
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/portal/login") || !strings.Contains(loc, c.reason) {
				t.Errorf("%s with %s session: %d %q, want 303 to /portal/login", name, c.who, w.Code, loc)
			}
			for _, s := range secretsOfA {
				if strings.Contains(w.Body.String(), s) {
					t.Errorf("%s with %s session shows %q", name, c.who, s)
				}
			}
		}
	}
	if routes < 15 {
		t.Fatalf("only %d signed-in routes walked", routes)
	}

	// A's data is as it was: its key active, its users active, no new user.
	k, err := e.store.GetAPIKey(ctx, a.key.ID)
	if err != nil || k.RevokedAt != nil || k.ReplacedBy != "" {
		t.Errorf("A's key changed: %+v %v", k, err)
	}
	us, err := e.store.ListPartnerUsers(ctx, a.partner.ID)
	if err != nil || len(us) != 2 || us[0].Status != partneruser.Active || us[1].Status != partneruser.Active {
		t.Errorf("A's users changed: %v", err)
	}
	wh, err := e.store.GetWebhook(ctx, a.webhook.ID, []string{a.clinic.ID})
	if err != nil || wh.Secrets.VerificationToken != a.webhook.Secrets.VerificationToken {
		t.Errorf("A's webhook changed or is gone: %v", err)
	}
	hooks, _, _ := e.store.ListWebhooks(ctx, novamed.ListFilter{Clinics: []string{a.clinic.ID}, Limit: 10})
	if len(hooks) != 1 {
		t.Errorf("A's clinic has %d webhooks after B's requests, want 1", len(hooks))
	}
	keys, _ := e.store.ListAPIKeys(ctx, a.clinic.ID)
	if len(keys) != 2 {
		t.Errorf("A's clinic has %d keys after B's requests, want 2 (its key and the approved request's)", len(keys))
	}
	if r, err := e.store.GetKeyRequest(ctx, a.approved.ID); err != nil || !r.Waiting || r.CollectedAt != nil {
		t.Errorf("A's approved key was collected: %+v %v", r, err)
	}
	if l, _ := e.store.ListKeyRequests(ctx, a.partner.ID, ""); len(l) != 2 {
		t.Errorf("A has %d key requests after B's requests, want 2", len(l))
	}
}

// TestDeveloperRole: a developer reads but may not invite, create or
// revoke keys (403), and rolls a development key.
func TestDeveloperRole(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	ck, csrf := e.signIn(a.dev, "")
	for _, rt := range e.p.Routes() {
		if !rt.AdminOnly {
			continue
		}
		path := fillAll(rt.Path, a)
		if w := e.do(rt.Method, path, url.Values{"csrf_token": {csrf}}, ck); w.Code != http.StatusForbidden {
			t.Errorf("%s %s as developer: %d, want 403", rt.Method, rt.Path, w.Code)
		}
	}
	w := e.do("POST", "/portal/keys/"+a.key.ID+"/roll", url.Values{"csrf_token": {csrf}, "grace": {"1h"}}, ck)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `id="new-key">dev_`) {
		t.Fatalf("developer rolls a development key: %d %s", w.Code, w.Body.String())
	}
	// Without the CSRF token: refused, nothing changes.
	if w := e.do("POST", "/portal/keys/"+a.key.ID+"/roll", url.Values{"grace": {"1h"}}, ck); w.Code != http.StatusForbidden {
		t.Errorf("roll without CSRF: %d", w.Code)
	}
}

var setupLinkRE = regexp.MustCompile(`id="invite-link">(/portal/setup/inv_[A-Za-z0-9_-]{43})<`)

// TestInvitationFlow: a partner admin invites a colleague from the portal
// (the link shown once), the colleague sets up their account (an admin
// must enrol TOTP; a wrong code is shown beside its field and spends
// nothing), signs out, the link is dead, they sign in again; an admin
// creates and revokes a development key; every action is audited with
// actor partner_user:<id>.
func TestInvitationFlow(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	ck, csrf := e.signIn(a.admin, a.adminTOTP)
	w := e.do("POST", "/portal/users", url.Values{"csrf_token": {csrf}, "email": {"new@alpha.test"}, "name": {"New Admin"}, "role": {"partner_admin"}}, ck)
	m := setupLinkRE.FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil {
		t.Fatalf("invite: %d %s", w.Code, w.Body.String())
	}
	link := m[1]
	if again := e.do("GET", "/portal/users", nil, ck); strings.Contains(again.Body.String(), link) || !strings.Contains(again.Body.String(), "new@alpha.test") {
		t.Error("the users page shows the link again, or not the invited user")
	}
	if w := e.do("POST", "/portal/users", url.Values{"csrf_token": {csrf}, "email": {"new@alpha.test"}, "name": {"Again"}, "role": {"partner_admin"}}, ck); w.Code != 422 || !strings.Contains(w.Body.String(), `id="email-error"`) {
		t.Errorf("second invitation of one email: %d", w.Code)
	}

	page := e.do("GET", link, nil, nil)
	secret := regexp.MustCompile(`name="totp_secret" value="([A-Z2-7]+)"`).FindStringSubmatch(page.Body.String())
	if page.Code != 200 || secret == nil || !strings.Contains(page.Body.String(), "Alpha Health") || !strings.Contains(page.Body.String(), "data:image/png;base64,") {
		t.Fatalf("setup page: %d", page.Code)
	}
	form := url.Values{"totp_secret": {secret[1]}, "password": {testPassword}, "password2": {testPassword}}
	if w := e.do("POST", link, form, nil); w.Code != 422 || !strings.Contains(w.Body.String(), `id="code-error"`) {
		t.Fatalf("an admin without a code: %d", w.Code)
	}
	form.Set("code", "000000")
	if w := e.do("POST", link, form, nil); w.Code != 422 || !strings.Contains(w.Body.String(), `id="code-error"`) || !strings.Contains(w.Body.String(), secret[1]) {
		t.Fatalf("a wrong code: %d (the same secret offered again: %v)", w.Code, strings.Contains(w.Body.String(), secret[1]))
	}
	code, _ := operator.TOTPCode(secret[1], e.clock.Now())
	form.Set("code", code)
	w = e.do("POST", link, form, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/portal/?welcome=1" {
		t.Fatalf("setup: %d %s", w.Code, w.Body.String())
	}
	if w := e.do("GET", link, nil, nil); w.Code != 404 {
		t.Errorf("the used link: %d", w.Code)
	}
	if w := e.do("POST", link, form, nil); w.Code != 404 {
		t.Errorf("the used link posted again: %d", w.Code)
	}
	newUser, err := e.store.GetPartnerUserByEmail(context.Background(), "new@alpha.test")
	if err != nil || newUser.Status != partneruser.Active || !newUser.HasTOTP() {
		t.Fatalf("new user: %+v %v", newUser, err)
	}
	nck, ncsrf := e.signIn(newUser, secret[1])

	// Keys: create (shown once), then revoke.
	w = e.do("POST", "/portal/keys", url.Values{"csrf_token": {ncsrf}, "name": {"CI"}, "clinic": {a.clinic.ID}}, nck)
	key := regexp.MustCompile(`id="new-key">(dev_[^<]+)<`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || key == nil {
		t.Fatalf("create key: %d %s", w.Code, w.Body.String())
	}
	if list := e.do("GET", "/portal/keys", nil, nck); strings.Contains(list.Body.String(), key[1]) || !strings.Contains(list.Body.String(), key[1][:12]) {
		t.Error("the keys page shows the key again, or not its prefix")
	}
	if w := e.do("POST", "/portal/keys", url.Values{"csrf_token": {ncsrf}, "name": {"CI"}}, nck); w.Code != 422 || !strings.Contains(w.Body.String(), `id="clinic-error"`) {
		t.Errorf("a key without clinics: %d", w.Code)
	}
	if w := e.do("POST", "/portal/keys/"+a.key.ID+"/revoke", url.Values{"csrf_token": {ncsrf}}, nck); w.Code != 200 || !strings.Contains(w.Body.String(), "revoked") {
		t.Fatalf("revoke: %d", w.Code)
	}
	if w := e.do("POST", "/portal/logout", url.Values{"csrf_token": {ncsrf}}, nck); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := e.do("GET", "/portal/keys", nil, nck); w.Code != http.StatusSeeOther {
		t.Errorf("after logout: %d", w.Code)
	}

	actions := map[string]bool{}
	err = e.store.ScanAudit(context.Background(), time.Time{}, e.clock.Now().Add(time.Hour), func(r *novamed.AuditRecord) error {
		if r.Actor == newUser.Actor() || r.Actor == a.admin.Actor() {
			actions[r.Actor+" "+r.Action] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{a.admin.Actor() + " portal.sign_in", a.admin.Actor() + " partner_user.invite", newUser.Actor() + " partner_user.accept",
		newUser.Actor() + " portal.sign_in", newUser.Actor() + " api_key.issue", newUser.Actor() + " api_key.revoke", newUser.Actor() + " portal.sign_out"} {
		if !actions[want] {
			t.Errorf("audit trail lacks %q (has %v)", want, actions)
		}
	}
}

// TestRequestLogAndUsage: the request log shows the partner's own keys'
// requests (latency, request id, the client's id, address), finds one by
// either id, and never another partner's; usage and its CSV count the
// partner's keys only; an anomaly event of the partner's key is listed,
// another partner's is not.
func TestRequestLogAndUsage(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	b := e.addPartner("Bravo Care")
	ctx := context.Background()
	now := e.clock.Now()
	for _, rec := range []*novamed.AuditRecord{
		{Time: now, RequestID: "req_alpha_1", ClientRequestID: "client-alpha-1", KeyID: a.key.ID, KeyOwner: a.key.Owner, KeyPrefix: a.key.Prefix,
			Action: "patient.list", ClientAddr: "192.0.2.10", Status: 200, LatencyUS: 1500},
		{Time: now, RequestID: "req_alpha_2", KeyID: a.key.ID, KeyOwner: a.key.Owner, KeyPrefix: a.key.Prefix, Action: "patient.read", Status: 404, LatencyUS: 900},
		{Time: now, RequestID: "req_alpha_3", KeyID: a.key.ID, KeyOwner: a.key.Owner, KeyPrefix: a.key.Prefix, Action: "webhook.delete", Status: 204, LatencyUS: 800},
		{Time: now, RequestID: "req_alpha_4", KeyID: a.key.ID, KeyOwner: a.key.Owner, KeyPrefix: a.key.Prefix, Action: "no_such.action", Status: 401, LatencyUS: 100},
		{Time: now, RequestID: "req_bravo_1", ClientRequestID: "client-bravo-1", KeyID: b.key.ID, KeyOwner: b.key.Owner, KeyPrefix: b.key.Prefix,
			Action: "patient.list", ClientAddr: "198.51.100.7", Status: 200, LatencyUS: 700},
	} {
		if err := e.p.cfg.Audit.Record(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	day := now.Format(time.DateOnly)
	if err := e.store.AddUsage(ctx, []novamed.UsageCount{
		{KeyID: a.key.ID, Day: day, Route: "GET /api/external/patient", StatusClass: "2xx", Count: 7},
		{KeyID: a.key.ID, Day: day, Route: novamed.RouteRateLimited, StatusClass: "4xx", Count: 3},
		{KeyID: b.key.ID, Day: day, Route: "GET /api/external/patient", StatusClass: "2xx", Count: 99},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordSecurityEvent(ctx, &novamed.SecurityEvent{ID: uuid.NewString(), At: now, Rule: novamed.RuleNewNetwork, KeyID: a.key.ID, ClientAddr: "192.0.2.10", Detail: map[string]any{}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{novamed.RuleRateSpike, novamed.RuleRolledKeyUse} {
		if err := e.store.RecordSecurityEvent(ctx, &novamed.SecurityEvent{ID: uuid.NewString(), At: now, Rule: rule, KeyID: a.key.ID, ClientAddr: "192.0.2.11", Detail: map[string]any{}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.RecordSecurityEvent(ctx, &novamed.SecurityEvent{ID: uuid.NewString(), At: now, Rule: novamed.RulePrefixFailures, KeyID: b.key.ID, ClientAddr: "198.51.100.7", Detail: map[string]any{}}, nil); err != nil {
		t.Fatal(err)
	}
	// The request log shows the method and route of each action, read from
	// the partner API's own route table.
	api := httpapi.New(httpapi.Config{Env: novamed.Development, Store: e.store})
	t.Cleanup(api.Close)
	e.p.cfg.RoutesOf = api.RoutesOfAction
	ck, _ := e.signIn(a.dev, "")
	log := e.do("GET", "/portal/requests", nil, ck).Body.String()
	for _, want := range []string{"req_alpha_1", "req_alpha_2", "client-alpha-1", "1.5 ms", "192.0.2.10",
		"<code>GET /api/external/patient</code> <small>(patient.list)</small>", "<code>GET /api/external/patient/{id}</code> <small>(patient.read)</small>",
		"<code>DELETE /api/external/webhook</code> or <code>DELETE /api/external/webhook/{id}</code>", "<td>no_such.action</td>"} {
		if !strings.Contains(log, want) {
			t.Errorf("request log lacks %q", want)
		}
	}
	for _, not := range []string{"req_bravo_1", "client-bravo-1", "198.51.100.7", b.key.Prefix} {
		if strings.Contains(log, not) {
			t.Errorf("request log shows partner B's %q", not)
		}
	}
	for q, want := range map[string]string{"req_alpha_2": "req_alpha_2", "client-alpha-1": "req_alpha_1"} {
		body := e.do("GET", "/portal/requests?q="+q, nil, ck).Body.String()
		if !strings.Contains(body, want) || strings.Count(body, "<tr>") != 2 {
			t.Errorf("search %s: want only %s", q, want)
		}
	}
	if body := e.do("GET", "/portal/requests?q=client-bravo-1", nil, ck).Body.String(); !strings.Contains(body, `id="no-requests"`) {
		t.Error("searching partner B's client id finds something")
	}
	usage := e.do("GET", "/portal/usage", nil, ck).Body.String()
	if !strings.Contains(usage, "<td>7</td>") || !strings.Contains(usage, "<td>3</td>") || strings.Contains(usage, "<td>99</td>") ||
		!strings.Contains(usage, novamed.RuleNewNetwork) || !strings.Contains(usage, novamed.RuleRateSpike) || !strings.Contains(usage, novamed.RuleRolledKeyUse) ||
		strings.Contains(usage, novamed.RulePrefixFailures) || strings.Contains(usage, b.key.Prefix) {
		t.Errorf("usage page:\n%s", usage)
	}
	// One chart, partner A's key's, with its text alternative: 7 requests
	// and 3 refused by the rate limit (B's 99 are not drawn).
	if strings.Count(usage, "<svg") != 1 || !strings.Contains(usage, `aria-labelledby="chart-0-title chart-0-desc"`) ||
		!strings.Contains(usage, "Requests per day of key "+a.key.Prefix) || !strings.Contains(usage, "7 requests in all, 3 refused by the rate limit") {
		t.Errorf("usage chart:\n%s", usage)
	}
	// The per-route table is on the page, not only in the CSV.
	if !strings.Contains(usage, `id="usage-routes"`) ||
		!strings.Contains(usage, "<tr><td><code>"+a.key.Prefix+"</code></td><td><code>GET /api/external/patient</code></td><td>7</td><td>0</td><td>0</td><td>0</td></tr>") {
		t.Errorf("per-route table:\n%s", usage)
	}
	// B's 99 requests are looked for as a count and by B's key: a bare
	// "99" can be part of A's random key prefix.
	w := e.do("GET", "/portal/usage.csv", nil, ck)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(w.Body.String(), day+","+a.key.Prefix+",GET /api/external/patient,2xx,7") ||
		strings.Contains(w.Body.String(), ",99\n") || strings.Contains(w.Body.String(), b.key.Prefix) {
		t.Errorf("usage.csv: %d\n%s", w.Code, w.Body.String())
	}
}

// TestGettingStarted: the partner's clinic ids and the base URL are filled
// into the quickstart; no key (nor another partner's clinic) is in it.
func TestGettingStarted(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	b := e.addPartner("Bravo Care")
	ck, _ := e.signIn(a.dev, "")
	w := e.do("GET", "/portal/start", nil, ck)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `"assigned_clinic": "`+a.clinic.ID+`"`) || !strings.Contains(body, `id="base-url">http://127.0.0.1:8080<`) ||
		!strings.Contains(body, "curl http://127.0.0.1:8080/api/external/me") {
		t.Fatalf("getting started: %d\n%s", w.Code, body)
	}
	if strings.Contains(body, "dev_") || strings.Contains(body, b.clinic.ID) {
		t.Error("the getting-started page shows a key or another partner's clinic")
	}
}

// TestWebhooks: an admin adds an endpoint for their clinic (token and
// secret shown once), sends a test event, sees the delivery, replays it,
// rotates the secrets with an overlap and deletes the endpoint; another
// partner's clinic and a forbidden URL are refused beside their fields.
func TestWebhooks(t *testing.T) {
	e := newEnv(t)
	a := e.addPartner("Alpha Health")
	b := e.addPartner("Bravo Care")
	ck, csrf := e.signIn(a.admin, a.adminTOTP)
	if w := e.do("POST", "/portal/webhooks", url.Values{"csrf_token": {csrf}, "clinic": {b.clinic.ID}, "url": {"https://hooks.alpha.test/new"}}, ck); w.Code != 422 || !strings.Contains(w.Body.String(), `id="clinic-error"`) {
		t.Errorf("another partner's clinic: %d", w.Code)
	}
	if w := e.do("POST", "/portal/webhooks", url.Values{"csrf_token": {csrf}, "clinic": {a.clinic.ID}, "url": {"ftp://hooks.alpha.test/new"}}, ck); w.Code != 422 || !strings.Contains(w.Body.String(), `id="url-error"`) {
		t.Errorf("a forbidden URL: %d", w.Code)
	}
	w := e.do("POST", "/portal/webhooks", url.Values{"csrf_token": {csrf}, "clinic": {a.clinic.ID}, "url": {"https://hooks.alpha.test/new"}}, ck)
	token := regexp.MustCompile(`id="wh-token">([^<]+)<`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || token == nil || !strings.Contains(w.Body.String(), `id="wh-secret">whsec_`) {
		t.Fatalf("add: %d %s", w.Code, w.Body.String())
	}
	page := e.do("GET", "/portal/webhooks", nil, ck).Body.String()
	if strings.Contains(page, token[1]) || !strings.Contains(page, "https://hooks.alpha.test/new") {
		t.Error("the webhooks page shows the token again, or not the new endpoint")
	}
	hooks, _, _ := e.store.ListWebhooks(context.Background(), novamed.ListFilter{Clinics: []string{a.clinic.ID}, Limit: 10})
	var id string
	for _, h := range hooks {
		if h.URL == "https://hooks.alpha.test/new" {
			id = h.ID
		}
	}
	if w := e.do("POST", "/portal/webhooks/"+id+"/test", url.Values{"csrf_token": {csrf}}, ck); w.Code != 200 || !strings.Contains(w.Body.String(), "Test event queued") {
		t.Fatalf("test event: %d", w.Code)
	}
	ds, _, _ := e.store.ListDeliveries(context.Background(), novamed.DeliveryFilter{Clinics: []string{a.clinic.ID}, WebhookID: id, Limit: 10})
	if len(ds) != 1 || ds[0].EventName != novamed.EventWebhookTest {
		t.Fatalf("deliveries after the test event: %+v", ds)
	}
	if w := e.do("POST", "/portal/webhooks/"+id+"/deliveries/"+ds[0].ID+"/replay", url.Values{"csrf_token": {csrf}}, ck); w.Code != 200 || !strings.Contains(w.Body.String(), "another attempt") {
		t.Errorf("replay: %d %s", w.Code, w.Body.String())
	}
	w = e.do("POST", "/portal/webhooks/"+id+"/rotate", url.Values{"csrf_token": {csrf}, "overlap": {"1h"}}, ck)
	rotated := regexp.MustCompile(`id="wh-token">([^<]+)<`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || rotated == nil || rotated[1] == token[1] || !strings.Contains(w.Body.String(), "stay in use until") {
		t.Errorf("rotate: %d", w.Code)
	}
	if w := e.do("POST", "/portal/webhooks/"+id+"/rotate", url.Values{"csrf_token": {csrf}, "overlap": {"forever"}}, ck); w.Code != 422 {
		t.Errorf("rotate with a bad overlap: %d", w.Code)
	}
	if w := e.do("POST", "/portal/webhooks/"+id+"/delete", url.Values{"csrf_token": {csrf}}, ck); w.Code != 200 || strings.Contains(w.Body.String(), "https://hooks.alpha.test/new") {
		t.Errorf("delete: %d", w.Code)
	}
}
