package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestKeyRequestApprovalIsAtomic: an approval issues the key, decides the
// request and writes both audit records in one transaction. A failure
// after the key was inserted (the key would belong to another partner), a
// request decided between the read and the write, and concurrent
// approvals leave no stray key: exactly one key per approved request, and
// a request that failed stays pending with no key and no record.
func TestKeyRequestApprovalIsAtomic(t *testing.T) {
	bothStores(t, testApprovalAtomic)
}

func testApprovalAtomic(t *testing.T, s *sqlstore.Store) {
	ctx := context.Background()
	start := time.Now().UTC().Add(-time.Minute)
	d := onboarding.Deps{Env: novamed.Production}
	op := onboarding.Actor{ID: "operator:t"}
	ready := func(name string) (*novamed.Partner, *novamed.Clinic) {
		p, err := onboarding.CreatePartner(ctx, s, d, op, onboarding.CreatePartnerInput{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		c, err := onboarding.CreateClinic(ctx, s, d, op, name+" Clinic", p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := onboarding.SetStatus(ctx, s, d, op, p.ID, "approve"); err != nil {
			t.Fatal(err)
		}
		if _, err := onboarding.RecordBAA(ctx, s, d, op, p.ID, onboarding.BAAInput{SignedOn: "2026-01-01", Signer: "Dana"}); err != nil {
			t.Fatal(err)
		}
		return p, c
	}
	p, c := ready("Atomic Partner")
	_, oc := ready("Neighbour Partner")
	svc := &keyrequest.Service{Store: s, Env: novamed.Production}
	admin := keyrequest.Actor{ID: "partner_user:u1"}
	keysOf := func(clinic string) int {
		t.Helper()
		keys, err := s.ListAPIKeys(ctx, clinic)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	audited := func(action, id string) int {
		t.Helper()
		n := 0
		err := s.RecentAudit(ctx, start, func(r *novamed.AuditRecord) bool {
			for _, rid := range r.ResourceIDs {
				if r.Action == action && rid == id {
					n++
					break
				}
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	stillPending := func(id string) {
		t.Helper()
		got, err := s.GetKeyRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != keyrequest.Pending || got.IssuedKeyID != "" || got.Waiting || got.DecidedBy != "" {
			t.Fatalf("a failed approval changed the request: %+v", got)
		}
	}

	// A request of one partner naming another partner's clinic (the
	// portal never queues one): the key is inserted, then refused in the
	// same transaction, so nothing of it remains.
	bad, err := svc.Request(ctx, admin, p.ID, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Misdirected", Clinics: []string{oc.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, op, bad.ID); err == nil {
		t.Fatal("approved a key for another partner's clinic")
	}
	stillPending(bad.ID)
	if n := keysOf(oc.ID); n != 0 {
		t.Fatalf("a refused approval left %d keys on the other partner's clinic", n)
	}
	if n := audited("key_request.approve", bad.ID); n != 0 {
		t.Fatalf("a refused approval was audited %d times", n)
	}

	// A request decided between the read and the approval's write: the
	// key prepared for it is never stored.
	r, err := svc.Request(ctx, admin, p.ID, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Raced", Clinics: []string{c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := s.GetKeyRequest(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reject(ctx, op, r.ID, "Not now."); err != nil {
		t.Fatal(err)
	}
	iss, err := onboarding.PrepareKey(d, op, onboarding.KeyInput{Name: stale.Name, Clinics: stale.Clinics})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	stale.DecidedBy, stale.DecidedAt = op.ID, &now
	if err := s.ApproveKeyRequest(ctx, stale, iss, novamed.Effects{}); novamed.ErrorCode(err) != novamed.CodeInvalidTransition {
		// A client's race: an *novamed.Error (409), never a plain error
		// that the console and the API would answer 500.
		t.Fatalf("approval of a rejected request: %v, want %s", err, novamed.CodeInvalidTransition)
	}
	if _, err := s.GetAPIKey(ctx, iss.Key.ID); err == nil {
		t.Fatal("the approval of a decided request stored its key")
	}
	if n := audited("api_key.issue", iss.Key.ID); n != 0 {
		t.Fatalf("the refused issuance was audited %d times", n)
	}
	if got, _ := s.GetKeyRequest(ctx, r.ID); got.Status != keyrequest.Rejected || got.Reason != "Not now." {
		t.Fatalf("the rejection was overwritten: %+v", got)
	}

	// Concurrent approvals of one request: one wins, the rest conflict,
	// and exactly one key exists.
	r, err = svc.Request(ctx, admin, p.ID, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Contended", Clinics: []string{c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	var wg sync.WaitGroup
	results := make([]*keyrequest.Request, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = svc.Approve(ctx, onboarding.Actor{ID: "operator:t"}, r.ID)
		}()
	}
	wg.Wait()
	var won *keyrequest.Request
	for i, err := range errs {
		switch {
		case err == nil && won == nil:
			won = results[i]
		case err == nil:
			t.Fatalf("two approvals of one request succeeded: %s and %s", won.IssuedKeyID, results[i].IssuedKeyID)
		case novamed.ErrorCode(err) != novamed.CodeInvalidTransition:
			t.Fatalf("a losing approval failed with %v, not a conflict", err)
		}
	}
	if won == nil {
		t.Fatal("no approval succeeded")
	}
	if got := keysOf(c.ID); got != 1 {
		t.Fatalf("%d concurrent approvals left %d keys, want 1", n, got)
	}
	got, err := s.GetKeyRequest(ctx, r.ID)
	if err != nil || got.Status != keyrequest.Approved || got.IssuedKeyID != won.IssuedKeyID || !got.Waiting {
		t.Fatalf("approved request: %+v %v", got, err)
	}
	if a, i := audited("key_request.approve", r.ID), audited("api_key.issue", won.IssuedKeyID); a != 1 || i != 1 {
		t.Fatalf("audit: %d approvals and %d issuances recorded, want 1 and 1", a, i)
	}

	// A roll approval refused by the issuing rules (the partner is
	// suspended) leaves the old key un-rolled.
	raw, err := svc.Collect(ctx, admin, p.ID, r.ID)
	if err != nil || raw == "" {
		t.Fatalf("collect: %q %v", raw, err)
	}
	roll, err := svc.Request(ctx, admin, p.ID, keyrequest.RequestInput{Kind: keyrequest.Roll, KeyID: won.IssuedKeyID, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onboarding.SetStatus(ctx, s, d, op, p.ID, "suspend"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, op, roll.ID); err == nil {
		t.Fatal("rolled a key of a suspended partner")
	}
	stillPending(roll.ID)
	if k, err := s.GetAPIKey(ctx, won.IssuedKeyID); err != nil || k.ReplacedBy != "" || k.ExpiresAt != nil {
		t.Fatalf("a refused roll changed the old key: %+v %v", k, err)
	}
	if got := keysOf(c.ID); got != 1 {
		t.Fatalf("a refused roll left %d keys", got)
	}
}
