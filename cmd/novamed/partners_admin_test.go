package main

import (
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

// TestAdminOnboardsAPartnerOnProduction: through the admin API on a
// production server, a support operator creates a partner and a clinic,
// approves the partner; the production key is refused (409 BAA_REQUIRED
// in the envelope) while the BAA is missing and issued once it is
// recorded; a security operator suspends the partner (its key gets 401
// within 2 s) and reinstates it; a viewer lists partners with their BAA
// state but may not suspend; every action is audited with its operator.
func TestAdminOnboardsAPartnerOnProduction(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "production")
	token := func(role string) string {
		email := role + "@example.test"
		ts.mustCLI(nil, "operators", "create", "--email", email, "--role", role, "--password-file", passwordFile(t, "a long password for "+role))
		var tok struct{ Token string }
		ts.mustCLI(&tok, "operators", "token", "--email", email)
		ts.addSecret(tok.Token)
		return tok.Token
	}
	support, security, viewer := token("support"), token("security"), token("viewer")

	r := adminReq(t, ts, "POST", "/api/admin/partners", support, map[string]any{"name": "Acme Telehealth", "contacts": []string{"Dana Ops <ops@acme.test>"}})
	var p struct {
		ID       string
		Status   string
		BAAState string `json:"baa_state"`
		Flags    []string
		Clinics  []string
	}
	if r.Status != 200 {
		t.Fatalf("create partner: %d %s", r.Status, r.Body)
	}
	r.data(t, &p)
	if p.Status != "onboarding" || p.BAAState != "missing" || strings.Join(p.Flags, ",") != "BAA missing" {
		t.Fatalf("new partner: %+v", p)
	}
	r = adminReq(t, ts, "POST", "/api/admin/clinics", support, map[string]any{"name": "Acme North"})
	if r.Status != 400 || !strings.Contains(r.Env.Error.Message, "needs a partner") {
		t.Errorf("a production clinic without a partner: %d %s", r.Status, r.Body)
	}
	r = adminReq(t, ts, "POST", "/api/admin/clinics", support, map[string]any{"name": "Acme North", "partner_id": p.ID})
	var clinic struct {
		ID        string
		PartnerID string `json:"partner_id"`
	}
	if r.Status != 200 {
		t.Fatalf("create clinic: %d %s", r.Status, r.Body)
	}
	r.data(t, &clinic)
	issue := func() *response {
		return adminReq(t, ts, "POST", "/api/admin/keys", support, map[string]any{"name": "acme prod", "clinics": []string{clinic.ID}})
	}
	if r := issue(); r.Status != 409 || r.Env.Error.Code != "PARTNER_NOT_APPROVED" {
		t.Errorf("a key for an onboarding partner: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/partners/"+p.ID+"/approve", support, nil); r.Status != 200 {
		t.Fatalf("approve: %d %s", r.Status, r.Body)
	}
	if r := issue(); r.Status != 409 || r.Env.Error.Code != "BAA_REQUIRED" || !strings.Contains(r.Env.Error.Message, "no BAA on record") {
		t.Errorf("a production key without a BAA: %d %s, want 409 BAA_REQUIRED", r.Status, r.Body)
	}
	r = adminReq(t, ts, "POST", "/api/admin/partners/"+p.ID+"/baas", support, map[string]any{"signed_on": "2026-01-05", "signer": "Pat Lee", "document": "sha256:9f86d081"})
	if r.Status != 200 {
		t.Fatalf("record BAA: %d %s", r.Status, r.Body)
	}
	r = issue()
	if r.Status != 200 {
		t.Fatalf("a production key with a BAA: %d %s", r.Status, r.Body)
	}
	var k struct{ ID, Key string }
	r.data(t, &k)
	ts.addSecret(k.Key)
	if !strings.HasPrefix(k.Key, "prod_") {
		t.Fatalf("issued %q", k.Key)
	}
	expectOK(t, ts.req("GET", "/api/external/me", k.Key, nil))

	if r := adminReq(t, ts, "POST", "/api/admin/partners/"+p.ID+"/suspend", viewer, nil); r.Status != 403 {
		t.Errorf("a viewer suspends: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/partners/"+p.ID+"/suspend", security, nil); r.Status != 200 {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	wait.Until(t, 2*time.Second, func() bool { return ts.req("GET", "/api/external/me", k.Key, nil).Status == 401 },
		"the suspended partner's key is accepted after 2 s")
	if r := adminReq(t, ts, "POST", "/api/admin/partners/"+p.ID+"/reinstate", security, nil); r.Status != 200 {
		t.Fatalf("reinstate: %d %s", r.Status, r.Body)
	}
	wait.Until(t, 2*time.Second, func() bool { return ts.req("GET", "/api/external/me", k.Key, nil).Status == 200 },
		"the reinstated partner's key is refused after 2 s")

	r = adminReq(t, ts, "GET", "/api/admin/partners/"+p.ID, viewer, nil)
	if r.Status != 200 {
		t.Fatalf("show: %d %s", r.Status, r.Body)
	}
	r.data(t, &p)
	if p.Status != "approved" || p.BAAState != "on record" || len(p.Flags) != 0 || len(p.Clinics) != 1 || p.Clinics[0] != clinic.ID {
		t.Errorf("partner after onboarding: %+v", p)
	}
	var list struct {
		Partners []struct{ ID string }
	}
	r = adminReq(t, ts, "GET", "/api/admin/partners", viewer, nil)
	r.data(t, &list)
	if r.Status != 200 || len(list.Partners) != 1 || list.Partners[0].ID != p.ID {
		t.Errorf("list: %d %s", r.Status, r.Body)
	}
	name := "Acme South"
	if r := adminReq(t, ts, "PATCH", "/api/admin/clinics/"+clinic.ID, support, map[string]any{"name": name}); r.Status != 200 || !strings.Contains(string(r.Body), name) {
		t.Errorf("rename clinic: %d %s", r.Status, r.Body)
	}

	actions := map[string]int{}
	for _, rec := range exportActor(t, ts, "operator:") {
		if rec.Status == 200 {
			actions[rec.Action]++
		}
	}
	for _, a := range []string{"partner.create", "clinic.create", "partner.approve", "partner.baa_record", "api_key.issue", "partner.suspend", "partner.reinstate", "partner.read", "partner.list", "clinic.update"} {
		if actions[a] != 1 {
			t.Errorf("audit export --actor operator: has %d successful %s, want 1 (all: %v)", actions[a], a, actions)
		}
	}
}
