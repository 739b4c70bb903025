package console

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/partneruser"
)

// TestInvitePartnerUser: an operator with the operators capability
// invites a portal user from the partner page; the one-time link is on
// the answer and nowhere afterwards; a bad email is shown beside its
// field; a support operator is refused.
func TestInvitePartnerUser(t *testing.T) {
	e := newEnv(t, nil)
	e.c = e.console(e.store, func(c *Config) { c.PartnerUsers = &partneruser.Service{Store: e.store, Now: e.clock.Now} })
	p, err := onboarding.CreatePartner(context.Background(), e.store, onboarding.Deps{Now: e.clock.Now}, onboarding.Actor{ID: "operator:t"},
		onboarding.CreatePartnerInput{Name: "Portal Partner"})
	if err != nil {
		t.Fatal(err)
	}
	admin := e.addOperator("admin@novamed.test", "admin")
	ck, csrf := e.signIn(e.c, "admin@novamed.test")
	page := do(t, e.c, "GET", "/console/partners/"+p.ID, nil, ck, nil)
	if !strings.Contains(page.Body.String(), `action="/console/partners/`+p.ID+`/portal-users"`) {
		t.Fatal("the partner page has no portal invitation form")
	}
	bad := do(t, e.c, "POST", "/console/partners/"+p.ID+"/portal-users", url.Values{"csrf_token": {csrf}, "email": {"nope"}, "name": {"Dana"}, "role": {"partner_admin"}}, ck, nil)
	if bad.Code != http.StatusUnprocessableEntity || !strings.Contains(bad.Body.String(), `id="pu_email-error"`) {
		t.Fatalf("bad email: %d", bad.Code)
	}
	w := do(t, e.c, "POST", "/console/partners/"+p.ID+"/portal-users", url.Values{"csrf_token": {csrf}, "email": {"dana@partner.test"}, "name": {"Dana"}, "role": {"partner_admin"}}, ck, nil)
	m := regexp.MustCompile(`id="invite-link">(/portal/setup/inv_[A-Za-z0-9_-]{43})<`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil {
		t.Fatalf("invite: %d %s", w.Code, w.Body.String())
	}
	if again := do(t, e.c, "GET", "/console/partners/"+p.ID, nil, ck, nil); strings.Contains(again.Body.String(), m[1]) {
		t.Error("the invitation link is shown a second time")
	}
	users, err := e.store.ListPartnerUsers(context.Background(), p.ID)
	if err != nil || len(users) != 1 || users[0].Status != partneruser.Invited || users[0].InvitedBy != "operator:"+admin.ID {
		t.Fatalf("users: %+v %v", users, err)
	}
	e.addOperator("support@novamed.test", "support")
	sck, scsrf := e.signIn(e.c, "support@novamed.test")
	if w := do(t, e.c, "POST", "/console/partners/"+p.ID+"/portal-users", url.Values{"csrf_token": {scsrf}, "email": {"x@partner.test"}, "name": {"X"}, "role": {"partner_admin"}}, sck, nil); w.Code != http.StatusForbidden {
		t.Errorf("support invites: %d", w.Code)
	}
}
