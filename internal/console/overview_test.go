package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/onboarding"
)

// TestOverviewBAACard: the overview lists the partners whose BAA has
// expired or expires within 30 days (expired first), and no other.
func TestOverviewBAACard(t *testing.T) {
	e := newEnv(t, nil)
	e.addOperator("viewer@novamed.test", "viewer")
	ctx := context.Background()
	deps := onboarding.Deps{Env: e.c.cfg.Env, Now: e.clock.Now}
	actor := onboarding.Actor{ID: "operator:test", RequestID: "req", Addr: "127.0.0.1", Via: "test"}
	now := e.clock.Now()
	for _, p := range []struct {
		name string
		days int
	}{{"Far Away Health", 60}, {"Lapsing Clinic Group", 10}, {"Soon Care", 45}, {"No BAA Yet", 0}} {
		partner, err := onboarding.CreatePartner(ctx, e.store, deps, actor, onboarding.CreatePartnerInput{Name: p.name, Contacts: []string{"ops@partner.test"}})
		if err != nil {
			t.Fatal(err)
		}
		if p.days == 0 {
			continue
		}
		if _, err := onboarding.RecordBAA(ctx, e.store, deps, actor, partner.ID, onboarding.BAAInput{SignedOn: now.AddDate(0, 0, -1).Format(time.DateOnly),
			Signer: "Pat Signer", Document: "baa.pdf", ExpiresOn: now.AddDate(0, 0, p.days).Format(time.DateOnly)}); err != nil {
			t.Fatal(err)
		}
	}
	ck, _ := e.signIn(e.c, "viewer@novamed.test")
	page := do(t, e.c, "GET", "/console/", nil, ck, nil).Body.String()
	if !strings.Contains(page, "Lapsing Clinic Group") || strings.Contains(page, "Soon Care") || strings.Contains(page, "Far Away") || strings.Contains(page, "No BAA Yet") {
		t.Fatalf("overview today: want only the BAA expiring in 10 days:\n%s", page)
	}
	e.clock.Add(20 * 24 * time.Hour)
	ck, _ = e.signIn(e.c, "viewer@novamed.test")
	page = do(t, e.c, "GET", "/console/", nil, ck, nil).Body.String()
	lapsed, soon := strings.Index(page, "Lapsing Clinic Group"), strings.Index(page, "Soon Care")
	if lapsed < 0 || soon < 0 || lapsed > soon || strings.Contains(page, "Far Away") || !strings.Contains(page, "BAA expired") {
		t.Fatalf("overview 20 days later: want the expired BAA, then the one expiring in 25 days:\n%s", page)
	}
}
