package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/websession"
)

// TestPartnerUsersAndPortalSessions runs the developer portal's store
// methods on SQLite and PostgreSQL: an invitation (hash only) accepted
// once, the sealed TOTP secret read back, a code used once, sessions by
// hash, and a disabled user's sessions ended with them.
func TestPartnerUsersAndPortalSessions(t *testing.T) {
	bothStores(t, testPartnerUsers)
}

func testPartnerUsers(t *testing.T, s *sqlstore.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p, err := onboarding.CreatePartner(ctx, s, onboarding.Deps{Now: clock}, onboarding.Actor{ID: "operator:t"}, onboarding.CreatePartnerInput{Name: "Store Partner"})
	if err != nil {
		t.Fatal(err)
	}
	svc := &partneruser.Service{Store: s, Now: clock, Params: operator.PasswordParams{Memory: 64, Time: 1, Threads: 1}}
	u, link, _, err := svc.Invite(ctx, partneruser.Actor{ID: "operator:t"}, partneruser.InviteInput{PartnerID: p.ID, Email: "Dana@Partner.test", Name: "Dana", Role: partneruser.Admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := svc.Invite(ctx, partneruser.Actor{ID: "operator:t"}, partneruser.InviteInput{PartnerID: p.ID, Email: "dana@partner.test", Name: "Dana", Role: partneruser.Admin}); err == nil {
		t.Error("a second user with the same email")
	}
	raw := strings.TrimPrefix(link, partneruser.InvitationPath)
	secret, _, _ := operator.NewTOTP("t", "dana")
	code, _ := operator.TOTPCode(secret, now)
	if _, err := svc.Accept(ctx, partneruser.Actor{}, raw, "a long enough password", secret, code); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Accept(ctx, partneruser.Actor{}, raw, "a long enough password", secret, code); err != partneruser.ErrInvitationInvalid {
		t.Errorf("second accept: %v", err)
	}
	got, err := s.GetPartnerUserByEmail(ctx, "dana@partner.test")
	if err != nil || got.ID != u.ID || got.TOTPSecret != secret || got.Status != partneruser.Active {
		t.Fatalf("user read back: %+v %v", got, err)
	}
	now = now.Add(30 * time.Second)
	code, _ = operator.TOTPCode(secret, now)
	if _, err := svc.Login(ctx, "dana@partner.test", "a long enough password", code, "192.0.2.1"); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := svc.Login(ctx, "dana@partner.test", "a long enough password", code, "192.0.2.1"); err != operator.ErrBadCredentials {
		t.Errorf("the same code twice: %v", err)
	}
	ps := s.PortalSessions()
	rec := &websession.Record{TokenHash: websession.HashToken("tok"), Subject: u.ID, CreatedAt: now, LastSeenAt: now, ReauthAt: now}
	if err := ps.CreateSession(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if r, err := ps.Session(ctx, rec.TokenHash); err != nil || r.Subject != u.ID {
		t.Fatalf("session: %+v %v", r, err)
	}
	if err := ps.TouchSession(ctx, rec.TokenHash, now.Add(time.Minute), true); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetStatus(ctx, partneruser.Actor{ID: "operator:t"}, p.ID, u.ID, partneruser.Disabled); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Session(ctx, rec.TokenHash); err != websession.ErrNoSession {
		t.Errorf("a disabled user's session: %v", err)
	}
	if _, err := svc.SetStatus(ctx, partneruser.Actor{ID: "operator:t"}, novamed.DevPartnerID, u.ID, partneruser.Active); err == nil {
		t.Error("SetStatus through another partner")
	}
	var actions []string
	if err := s.RecentAudit(ctx, now.Add(-time.Hour), func(r *novamed.AuditRecord) bool { actions = append(actions, r.Action); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(actions, " ") != "partner_user.disable partner_user.accept partner_user.invite partner.create" {
		t.Errorf("recent audit, newest first: %v", actions)
	}
}
