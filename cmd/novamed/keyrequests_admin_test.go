package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/operator"
)

// TestAdminKeyRequestQueue: a partner admin's key request (queued in the
// store as the portal does) is listed by the admin API; a rejection
// without a reason, an unknown status filter and an approval for a partner
// not yet approved change nothing; the approval of an approved partner
// issues the key without showing it to the operator, and a second
// decision is 409.
func TestAdminKeyRequestQueue(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts, admin := f.ts, f.tokens[operator.Admin]
	ctx := context.Background()
	c := &common{dataDir: ts.DataDir, env: ts.Env, db: ts.vars["NOVAMED_DB"]}
	store, _, err := c.openStore(ctx, ts.getenv)
	if err != nil {
		t.Fatal(err)
	}
	d := onboarding.Deps{Env: novamed.Development}
	p, err := onboarding.CreatePartner(ctx, store, d, onboarding.Actor{ID: "operator:t"}, onboarding.CreatePartnerInput{Name: "Queue Partner"})
	if err != nil {
		t.Fatal(err)
	}
	clinic, err := onboarding.CreateClinic(ctx, store, d, onboarding.Actor{ID: "operator:t"}, "Queue Clinic", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	req, err := (&keyrequest.Service{Store: store, Env: novamed.Development}).Request(ctx, keyrequest.Actor{ID: "partner_user:u1"}, p.ID,
		keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Production", Clinics: []string{clinic.ID}})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	pending := func() int {
		var out struct {
			KeyRequests []keyrequest.Request `json:"key_requests"`
		}
		r := adminReq(t, ts, "GET", "/api/admin/key-requests?status=pending", admin, nil)
		if r.Status != 200 {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		r.data(t, &out)
		return len(out.KeyRequests)
	}
	if n := pending(); n != 1 {
		t.Fatalf("pending: %d", n)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/key-requests?status=bogus", admin, nil); r.Status != 400 {
		t.Errorf("bad status filter: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/key-requests/"+req.ID+"/reject", admin, map[string]any{"reason": " "}); r.Status != 400 {
		t.Errorf("reject without a reason: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/key-requests/"+req.ID+"/approve", admin, nil); r.Status < 400 || r.Status >= 500 {
		t.Errorf("approve for a partner in onboarding: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/key-requests/not-a-uuid/approve", admin, nil); r.Status != 404 {
		t.Errorf("unknown request: %d %s", r.Status, r.Body)
	}
	if n := pending(); n != 1 {
		t.Fatalf("bad input changed the queue: %d pending", n)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/partners/"+p.ID+"/approve", admin, nil); r.Status != 200 {
		t.Fatalf("approve partner: %d %s", r.Status, r.Body)
	}
	r := adminReq(t, ts, "POST", "/api/admin/key-requests/"+req.ID+"/approve", admin, nil)
	if r.Status != 200 {
		t.Fatalf("approve: %d %s", r.Status, r.Body)
	}
	var got keyrequest.Request
	r.data(t, &got)
	if got.Status != keyrequest.Approved || !got.Waiting || got.IssuedKeyID == "" || strings.Contains(string(r.Body), `"key"`) || regexp.MustCompile(`dev_[A-Za-z0-9_-]{16,}`).Match(r.Body) {
		t.Errorf("approved: %s", r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/key-requests/"+req.ID+"/reject", admin, map[string]any{"reason": "late"}); r.Status != 409 {
		t.Errorf("second decision: %d %s", r.Status, r.Body)
	}
	if n := pending(); n != 0 {
		t.Errorf("still pending: %d", n)
	}
}
