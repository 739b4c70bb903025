package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
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

// TestAdminKeyRequestQueueConcurrentDecisions: concurrent approvals (and
// approvals racing rejections) of the same requests through the admin
// API: for each request exactly one decision wins and every other answer
// is the 409 INVALID_TRANSITION envelope, never a 500; one key per
// approved request (NOVAMED_TEST_BACKEND=postgres for PostgreSQL).
func TestAdminKeyRequestQueueConcurrentDecisions(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts, admin := f.ts, f.tokens[operator.Admin]
	ctx := context.Background()
	c := &common{dataDir: ts.DataDir, env: ts.Env, db: ts.vars["NOVAMED_DB"]}
	store, _, err := c.openStore(ctx, ts.getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d := onboarding.Deps{Env: novamed.Development}
	p, err := onboarding.CreatePartner(ctx, store, d, onboarding.Actor{ID: "operator:t"}, onboarding.CreatePartnerInput{Name: "Raced Partner"})
	if err != nil {
		t.Fatal(err)
	}
	clinic, err := onboarding.CreateClinic(ctx, store, d, onboarding.Actor{ID: "operator:t"}, "Raced Clinic", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onboarding.SetStatus(ctx, store, d, onboarding.Actor{ID: "operator:t"}, p.ID, "approve"); err != nil {
		t.Fatal(err)
	}
	svc := &keyrequest.Service{Store: store, Env: novamed.Development}
	const deciders, requests = 4, 6
	approvedN := 0
	for n := range requests {
		req, err := svc.Request(ctx, keyrequest.Actor{ID: "partner_user:u1"}, p.ID,
			keyrequest.RequestInput{Kind: keyrequest.Issue, Name: fmt.Sprintf("Raced %d", n), Clinics: []string{clinic.ID}})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]*response, deciders)
		var wg sync.WaitGroup
		for i := range deciders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if n%2 == 1 && i%2 == 1 {
					out[i] = adminReq(t, ts, "POST", "/api/admin/key-requests/"+req.ID+"/reject", admin, map[string]any{"reason": "Raced."})
				} else {
					out[i] = adminReq(t, ts, "POST", "/api/admin/key-requests/"+req.ID+"/approve", admin, nil)
				}
			}()
		}
		wg.Wait()
		won := 0
		for i, r := range out {
			switch {
			case r == nil:
				t.Fatalf("request %d, decider %d: no answer", n, i)
			case r.Status == 200:
				won++
			case r.Status != 409 || r.Env.Error.Code != novamed.CodeInvalidTransition || !strings.Contains(r.Env.Error.Message, "already"):
				t.Errorf("request %d, decider %d: %d %s, want 200 or the 409 %s envelope", n, i, r.Status, r.Body, novamed.CodeInvalidTransition)
			}
		}
		if won != 1 {
			t.Errorf("request %d: %d decisions won, want exactly 1", n, won)
		}
		got, err := store.GetKeyRequest(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == keyrequest.Approved {
			approvedN++
		}
	}
	keys, err := store.ListAPIKeys(ctx, clinic.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != approvedN || approvedN < requests/2 {
		t.Errorf("%d keys for %d approved requests (at least %d: every decider approved them)", len(keys), approvedN, requests/2)
	}

	// The list is paged: every request once, newest first, then an empty
	// next_cursor; a bad limit or cursor is the 400 envelope.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > requests {
			t.Fatal("the pages do not end")
		}
		var out struct {
			KeyRequests []keyrequest.Request `json:"key_requests"`
			NextCursor  string               `json:"next_cursor"`
		}
		r := adminReq(t, ts, "GET", "/api/admin/key-requests?limit=4&cursor="+cursor, admin, nil)
		if r.Status != 200 {
			t.Fatalf("page: %d %s", r.Status, r.Body)
		}
		r.data(t, &out)
		if len(out.KeyRequests) > 4 || (out.NextCursor != "" && len(out.KeyRequests) != 4) {
			t.Fatalf("a page of %d with next_cursor %q", len(out.KeyRequests), out.NextCursor)
		}
		for _, kr := range out.KeyRequests {
			if seen[kr.ID] {
				t.Errorf("request %s on two pages", kr.ID)
			}
			seen[kr.ID] = true
		}
		if out.NextCursor == "" {
			break
		}
		cursor = out.NextCursor
	}
	if len(seen) != requests {
		t.Errorf("the pages listed %d of %d requests", len(seen), requests)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "cursor=nope"} {
		if r := adminReq(t, ts, "GET", "/api/admin/key-requests?"+q, admin, nil); r.Status != 400 || r.Env.Error.Code != novamed.CodeInvalid {
			t.Errorf("?%s: %d %s", q, r.Status, r.Body)
		}
	}
}
