package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestKeyRequestQueue runs the production key-request queue on SQLite and
// PostgreSQL: bad input queues nothing, approval is refused (and the
// request stays pending) until the partner is approved with a BAA, the
// issued key is collected once and only by its partner, a decided request
// cannot be decided again, and a rejection needs a reason.
func TestKeyRequestQueue(t *testing.T) {
	bothStores(t, testKeyRequests)
}

func testKeyRequests(t *testing.T, s *sqlstore.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	d := onboarding.Deps{Env: novamed.Production, Now: clock}
	op := onboarding.Actor{ID: "operator:t"}
	p, err := onboarding.CreatePartner(ctx, s, d, op, onboarding.CreatePartnerInput{Name: "Queue Partner"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := onboarding.CreatePartner(ctx, s, d, op, onboarding.CreatePartnerInput{Name: "Other Partner"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := onboarding.CreateClinic(ctx, s, d, op, "Queue Clinic", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	svc := &keyrequest.Service{Store: s, Env: novamed.Production, Now: clock}
	admin := keyrequest.Actor{ID: "partner_user:u1"}

	for _, in := range []keyrequest.RequestInput{
		{Kind: keyrequest.Issue, Name: "prod", Clinics: nil},
		{Kind: keyrequest.Issue, Name: "", Clinics: []string{c.ID}},
		{Kind: keyrequest.Issue, Name: "prod", Clinics: []string{"not-a-uuid"}},
		{Kind: keyrequest.Issue, Name: "prod", Clinics: []string{c.ID}, RateLimit: -1},
		{Kind: keyrequest.Issue, Name: "prod", Clinics: []string{c.ID}, ExpiresAt: &now},
		{Kind: keyrequest.Roll, KeyID: "nope"},
		{Kind: "other"},
	} {
		if _, err := svc.Request(ctx, admin, p.ID, in); err == nil {
			t.Errorf("request %+v accepted", in)
		}
	}
	if l, err := s.ListKeyRequests(ctx, "", ""); err != nil || len(l) != 0 {
		t.Fatalf("after bad input: %d requests, %v", len(l), err)
	}

	r, err := svc.Request(ctx, admin, p.ID, keyrequest.RequestInput{Kind: keyrequest.Issue, Name: "Production key", Clinics: []string{c.ID}, RateLimit: 120})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s.ListKeyRequests(ctx, p.ID, keyrequest.Pending); len(l) != 1 || l[0].ID != r.ID || l[0].Clinics[0] != c.ID || l[0].RateLimit != 120 || l[0].RequestedBy != "partner_user:u1" {
		t.Fatalf("pending of partner: %+v", l)
	}
	if l, _ := s.ListKeyRequests(ctx, other.ID, ""); len(l) != 0 {
		t.Fatalf("another partner sees %d requests", len(l))
	}

	var de *novamed.Error
	if _, err := svc.Approve(ctx, op, r.ID); !errors.As(err, &de) || de.Code != novamed.CodePartnerNotApproved {
		t.Fatalf("approve for a partner in onboarding: %v", err)
	}
	if _, err := onboarding.SetStatus(ctx, s, d, op, p.ID, "approve"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, op, r.ID); !errors.As(err, &de) || de.Code != novamed.CodeBAARequired {
		t.Fatalf("approve without a BAA: %v", err)
	}
	if got, _ := s.GetKeyRequest(ctx, r.ID); got.Status != keyrequest.Pending {
		t.Fatalf("a refused approval changed the request: %+v", got)
	}
	if keys, _ := s.ListAPIKeys(ctx, c.ID); len(keys) != 0 {
		t.Fatalf("a refused approval issued %d keys", len(keys))
	}
	if _, err := onboarding.RecordBAA(ctx, s, d, op, p.ID, onboarding.BAAInput{SignedOn: "2026-11-01", Signer: "Dana"}); err != nil {
		t.Fatal(err)
	}
	done, err := svc.Approve(ctx, op, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, op, r.ID); !errors.As(err, &de) || de.Code != novamed.CodeInvalidTransition {
		t.Fatalf("second approval: %v", err)
	}
	got, _ := s.GetKeyRequest(ctx, r.ID)
	if got.Status != keyrequest.Approved || !got.Waiting || got.IssuedKeyID != done.IssuedKeyID || got.DecidedBy != "operator:t" || got.DecidedAt == nil {
		t.Fatalf("approved request: %+v", got)
	}

	if _, err := svc.Collect(ctx, keyrequest.Actor{ID: "partner_user:x"}, other.ID, r.ID); !errors.As(err, &de) || de.Code != novamed.CodeNotFound {
		t.Fatalf("collect by another partner: %v", err)
	}
	raw, err := svc.Collect(ctx, admin, p.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.GetAPIKey(ctx, done.IssuedKeyID)
	if err != nil || k.HashHex != apikey.HashKey(raw).Hex() || k.Environment != novamed.Production || k.RateLimit != 120 || k.Prefix != done.IssuedPrefix {
		t.Fatalf("the collected key is not the issued one: %+v %v", k, err)
	}
	if _, err := svc.Collect(ctx, admin, p.ID, r.ID); !errors.As(err, &de) || de.Code != novamed.CodeNotFound {
		t.Fatalf("second collect: %v", err)
	}
	if got, _ := s.GetKeyRequest(ctx, r.ID); got.Waiting || got.CollectedAt == nil {
		t.Fatalf("collected request still holds its key: %+v", got)
	}

	roll, err := svc.Request(ctx, admin, p.ID, keyrequest.RequestInput{Kind: keyrequest.Roll, KeyID: k.ID, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reject(ctx, op, roll.ID, "  "); err == nil {
		t.Fatal("rejected without a reason")
	}
	if got, _ := s.GetKeyRequest(ctx, roll.ID); got.Status != keyrequest.Pending {
		t.Fatalf("a refused rejection changed the request: %+v", got)
	}
	if _, err := svc.Reject(ctx, op, roll.ID, "Roll it after the release freeze."); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetKeyRequest(ctx, roll.ID); got.Status != keyrequest.Rejected || got.Reason != "Roll it after the release freeze." || got.Grace != time.Hour {
		t.Fatalf("rejected request: %+v", got)
	}
	if _, err := svc.Collect(ctx, admin, p.ID, roll.ID); err == nil {
		t.Fatal("collected a key from a rejected request")
	}

	roll2, err := svc.Request(ctx, admin, p.ID, keyrequest.RequestInput{Kind: keyrequest.Roll, KeyID: k.ID, Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rolled, err := svc.Approve(ctx, op, roll2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old, _ := s.GetAPIKey(ctx, k.ID); old.ReplacedBy != rolled.IssuedKeyID {
		t.Fatalf("roll approval: old key %+v, successor %s", old, rolled.IssuedKeyID)
	}
	if l, _ := s.ListKeyRequests(ctx, "", keyrequest.Pending); len(l) != 0 {
		t.Fatalf("still pending: %d", len(l))
	}
}
