package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// partner creates a partner in status st.
func (f *fixture) partner(name string, st novamed.PartnerStatus) *novamed.Partner {
	f.t.Helper()
	now := f.tick()
	p := &novamed.Partner{ID: uuid.NewString(), Name: name, Contacts: []string{"Ops <ops@example.test>"}, Status: st, CreatedAt: now, UpdatedAt: now}
	must(f.t, "CreatePartner", f.s.CreatePartner(f.ctx, p, novamed.Effects{}))
	return p
}

// partnerClinic creates a clinic of partner.
func (f *fixture) partnerClinic(name, partner string) *novamed.Clinic {
	f.t.Helper()
	c := &novamed.Clinic{ID: uuid.NewString(), Name: name, PartnerID: partner, CreatedAt: f.tick()}
	must(f.t, "CreatePartnerClinic", f.s.CreatePartnerClinic(f.ctx, c, novamed.Effects{}))
	return c
}

func (f *fixture) baa(partner, signedOn, expiresOn string) *novamed.BAA {
	f.t.Helper()
	b, err := novamed.NewBAA(signedOn, "Dana Signer", "sha256:0f1e2d", expiresOn)
	must(f.t, "NewBAA", err)
	b.ID, b.PartnerID, b.RecordedBy, b.RecordedAt = uuid.NewString(), partner, "local:tester", f.tick()
	return b
}

func accept(*novamed.Partner) error { return nil }

func testPartners(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("CreateGetList", func(t *testing.T) {
		f := newFixture(t, newStore)
		list, err := f.s.ListPartners(f.ctx)
		must(t, "ListPartners empty", err)
		equal(t, "ListPartners empty", list, []*novamed.Partner{})
		b := f.partner("Beta Health", novamed.PartnerOnboarding)
		a := f.partner("Alpha Telehealth \"Ω\"", novamed.PartnerApproved)
		want := func(p *novamed.Partner) *novamed.Partner {
			w := *p
			w.CreatedAt, w.UpdatedAt = norm(p.CreatedAt), norm(p.UpdatedAt)
			return &w
		}
		got, err := f.s.GetPartner(f.ctx, a.ID)
		must(t, "GetPartner", err)
		equal(t, "GetPartner", got, want(a))
		list, err = f.s.ListPartners(f.ctx)
		must(t, "ListPartners", err)
		equal(t, "ListPartners (oldest first)", list, []*novamed.Partner{want(b), want(a)})
		_, err = f.s.GetPartner(f.ctx, uuid.NewString())
		wantCode(t, "GetPartner unknown", err, novamed.CodeNotFound)
		err = f.s.CreatePartner(f.ctx, &novamed.Partner{ID: a.ID, Name: "again", Status: novamed.PartnerOnboarding, CreatedAt: base, UpdatedAt: base}, novamed.Effects{})
		wantIs(t, "CreatePartner duplicate id", err, novamed.ErrConflict)
	})

	t.Run("Status", func(t *testing.T) {
		f := newFixture(t, newStore)
		p := f.partner("P", novamed.PartnerOnboarding)
		steps := []struct {
			action string
			want   novamed.PartnerStatus
			code   string
		}{
			{"reinstate", novamed.PartnerOnboarding, novamed.CodeInvalidTransition},
			{"suspend", novamed.PartnerOnboarding, novamed.CodeInvalidTransition},
			{"approve", novamed.PartnerApproved, ""},
			{"approve", novamed.PartnerApproved, ""}, // a retry holds
			{"suspend", novamed.PartnerSuspended, ""},
			{"approve", novamed.PartnerSuspended, novamed.CodeInvalidTransition},
			{"suspend", novamed.PartnerSuspended, ""},
			{"reinstate", novamed.PartnerApproved, ""},
			{"reinstate", novamed.PartnerApproved, ""},
		}
		for i, st := range steps {
			when := at(time.Duration(100+i) * time.Hour)
			got, err := f.s.SetPartnerStatus(f.ctx, p.ID, st.action, when, novamed.Effects{})
			if st.code != "" {
				wantCode(t, st.action, err, st.code)
			} else {
				must(t, st.action, err)
				if got.Status != st.want {
					t.Errorf("step %d %s: status %s, want %s", i, st.action, got.Status, st.want)
				}
			}
			stored, err := f.s.GetPartner(f.ctx, p.ID)
			must(t, "GetPartner", err)
			if stored.Status != st.want {
				t.Errorf("step %d %s: stored status %s, want %s", i, st.action, stored.Status, st.want)
			}
		}
		_, err := f.s.SetPartnerStatus(f.ctx, uuid.NewString(), "approve", base, novamed.Effects{})
		wantCode(t, "SetPartnerStatus unknown", err, novamed.CodeNotFound)
	})

	t.Run("BAA", func(t *testing.T) {
		f := newFixture(t, newStore)
		p := f.partner("P", novamed.PartnerApproved)
		other := f.partner("Other", novamed.PartnerApproved)
		first := f.baa(p.ID, "2025-01-10", "2026-01-10")
		got, err := f.s.RecordBAA(f.ctx, first, novamed.Effects{})
		must(t, "RecordBAA", err)
		wantFirst := *first
		wantFirst.RecordedAt = norm(first.RecordedAt)
		equal(t, "RecordBAA partner.BAA", got.BAA, &wantFirst)
		// A renewal signed later is the one on record, even when an
		// older one is recorded after it.
		renewal := f.baa(p.ID, "2025-12-01", "")
		_, err = f.s.RecordBAA(f.ctx, renewal, novamed.Effects{})
		must(t, "RecordBAA renewal", err)
		_, err = f.s.RecordBAA(f.ctx, f.baa(p.ID, "2024-06-01", "2025-06-01"), novamed.Effects{})
		must(t, "RecordBAA older", err)
		stored, err := f.s.GetPartner(f.ctx, p.ID)
		must(t, "GetPartner", err)
		if stored.BAA == nil || stored.BAA.ID != renewal.ID || stored.BAA.ExpiresOn != "" {
			t.Errorf("BAA on record: %+v, want the renewal %s without expiry", stored.BAA, renewal.ID)
		}
		list, err := f.s.ListPartners(f.ctx)
		must(t, "ListPartners", err)
		for _, l := range list {
			switch l.ID {
			case p.ID:
				equal(t, "ListPartners BAA", l.BAA, stored.BAA)
			case other.ID:
				if l.BAA != nil {
					t.Errorf("a partner without a BAA lists one: %+v", l.BAA)
				}
			}
		}
		_, err = f.s.RecordBAA(f.ctx, f.baa(uuid.NewString(), "2025-01-01", ""), novamed.Effects{})
		wantCode(t, "RecordBAA unknown partner", err, novamed.CodeNotFound)
	})

	t.Run("Clinics", func(t *testing.T) {
		f := newFixture(t, newStore)
		p, q := f.partner("P", novamed.PartnerApproved), f.partner("Q", novamed.PartnerApproved)
		c1, c2 := f.partnerClinic("One", p.ID), f.partnerClinic("Two", p.ID)
		f.partnerClinic("Three", q.ID)
		got, err := f.s.GetClinic(f.ctx, c1.ID)
		must(t, "GetClinic", err)
		if got.PartnerID != p.ID {
			t.Errorf("clinic partner %q, want %q", got.PartnerID, p.ID)
		}
		list, err := f.s.ListPartnerClinics(f.ctx, p.ID)
		must(t, "ListPartnerClinics", err)
		if len(list) != 2 || list[0].ID != c1.ID || list[1].ID != c2.ID {
			t.Errorf("ListPartnerClinics: %+v, want One and Two", list)
		}
		err = f.s.CreatePartnerClinic(f.ctx, &novamed.Clinic{ID: uuid.NewString(), Name: "X", PartnerID: uuid.NewString(), CreatedAt: base}, novamed.Effects{})
		wantCode(t, "CreatePartnerClinic unknown partner", err, novamed.CodeNotFound)
		err = f.s.CreatePartnerClinic(f.ctx, &novamed.Clinic{ID: uuid.NewString(), Name: "X", CreatedAt: base}, novamed.Effects{})
		wantCode(t, "CreatePartnerClinic without partner", err, novamed.CodeInvalid)
	})

	t.Run("IssueKey", func(t *testing.T) {
		f := newFixture(t, newStore)
		p, q := f.partner("P", novamed.PartnerApproved), f.partner("Q", novamed.PartnerApproved)
		_, err := f.s.RecordBAA(f.ctx, f.baa(p.ID, "2025-01-10", "2031-02-03"), novamed.Effects{})
		must(t, "RecordBAA", err)
		c1, c2, cq := f.partnerClinic("One", p.ID), f.partnerClinic("Two", p.ID), f.partnerClinic("Q1", q.ID)

		var seen *novamed.Partner
		k := f.newKey("issued", novamed.Production, c1.ID, c2.ID)
		must(t, "IssueAPIKey", f.s.IssueAPIKey(f.ctx, k, func(p *novamed.Partner) error { seen = p; return nil }, novamed.Effects{}))
		if seen == nil || seen.ID != p.ID || seen.BAA == nil || seen.BAA.ExpiresOn != "2031-02-03" {
			t.Errorf("the check saw %+v, want partner %s with its BAA", seen, p.ID)
		}
		if k.PartnerID != p.ID {
			t.Errorf("issued key partner %q, want %q", k.PartnerID, p.ID)
		}
		got, err := f.s.FindAPIKeyByHash(f.ctx, k.HashHex)
		must(t, "FindAPIKeyByHash", err)
		exp := time.Date(2031, 2, 3, 0, 0, 0, 0, time.UTC)
		equal(t, "key partner state", got.Partner, &novamed.PartnerKeyState{Status: novamed.PartnerApproved, HasBAA: true, BAAExpiresAt: &exp})
		if got.PartnerID != p.ID {
			t.Errorf("stored key partner %q, want %q", got.PartnerID, p.ID)
		}

		// A refused check stores nothing.
		refused := f.newKey("refused", novamed.Production, c1.ID)
		errNo := errors.New("no")
		err = f.s.IssueAPIKey(f.ctx, refused, func(*novamed.Partner) error { return errNo }, novamed.Effects{})
		wantIs(t, "IssueAPIKey refused", err, errNo)
		_, err = f.s.GetAPIKey(f.ctx, refused.ID)
		wantCode(t, "GetAPIKey of a refused key", err, novamed.CodeNotFound)

		// Clinics of two partners cannot share a key.
		err = f.s.IssueAPIKey(f.ctx, f.newKey("mixed", novamed.Development, c1.ID, cq.ID), accept, novamed.Effects{})
		wantCode(t, "IssueAPIKey across partners", err, novamed.CodeInvalid)
		err = f.s.CreateAPIKey(f.ctx, f.newKey("mixed", novamed.Development, c1.ID, cq.ID))
		wantCode(t, "CreateAPIKey across partners", err, novamed.CodeInvalid)

		// The key reads its partner's current state: suspended, then
		// reinstated.
		_, err = f.s.SetPartnerStatus(f.ctx, p.ID, "suspend", at(time.Hour), novamed.Effects{})
		must(t, "suspend", err)
		got, err = f.s.FindAPIKeyByHash(f.ctx, k.HashHex)
		must(t, "FindAPIKeyByHash", err)
		if got.Partner == nil || got.Partner.Status != novamed.PartnerSuspended {
			t.Errorf("key of a suspended partner: %+v", got.Partner)
		}
		list, err := f.s.ListAPIKeys(f.ctx, c1.ID)
		must(t, "ListAPIKeys", err)
		if len(list) != 1 || list[0].Partner == nil || list[0].Partner.Status != novamed.PartnerSuspended {
			t.Errorf("ListAPIKeys partner state: %+v", list)
		}
		// A key of clinics without partner has no partner state.
		plain := f.key("plain", f.clinic("no partner").ID)
		got, err = f.s.GetAPIKey(f.ctx, plain.ID)
		must(t, "GetAPIKey", err)
		if got.PartnerID != "" || got.Partner != nil {
			t.Errorf("a key without partner: %q %+v", got.PartnerID, got.Partner)
		}
	})

	t.Run("DevPartner", func(t *testing.T) {
		f := newFixture(t, newStore)
		must(t, "EnsureDevPartner", f.s.EnsureDevPartner(f.ctx, base))
		must(t, "EnsureDevPartner again", f.s.EnsureDevPartner(f.ctx, at(time.Hour)))
		p, err := f.s.GetPartner(f.ctx, novamed.DevPartnerID)
		must(t, "GetPartner", err)
		equal(t, "development partner", p, &novamed.Partner{ID: novamed.DevPartnerID, Name: novamed.DevPartnerName,
			Contacts: []string{}, Status: novamed.PartnerApproved, CreatedAt: norm(base), UpdatedAt: norm(base)})
	})

	t.Run("AuditEffects", func(t *testing.T) {
		f := newFixture(t, newStore)
		rec := func(action string) novamed.Effects {
			return novamed.Effects{Audit: &novamed.AuditRecord{Time: f.tick(), RequestID: "cli_" + uuid.NewString(), Action: action, Status: 200}}
		}
		now := f.tick()
		p := &novamed.Partner{ID: uuid.NewString(), Name: "P", Status: novamed.PartnerOnboarding, CreatedAt: now, UpdatedAt: now}
		must(t, "CreatePartner", f.s.CreatePartner(f.ctx, p, rec("partner.create")))
		_, err := f.s.SetPartnerStatus(f.ctx, p.ID, "approve", f.tick(), rec("partner.approve"))
		must(t, "approve", err)
		_, err = f.s.RecordBAA(f.ctx, f.baa(p.ID, "2025-01-01", ""), rec("partner.baa"))
		must(t, "RecordBAA", err)
		c := &novamed.Clinic{ID: uuid.NewString(), Name: "C", PartnerID: p.ID, CreatedAt: f.tick()}
		must(t, "CreatePartnerClinic", f.s.CreatePartnerClinic(f.ctx, c, rec("clinic.create")))
		must(t, "IssueAPIKey", f.s.IssueAPIKey(f.ctx, f.newKey("k", novamed.Production, c.ID), accept, rec("key.issue")))
		// A refused write leaves no record.
		q := f.partner("Q", novamed.PartnerOnboarding)
		_, err = f.s.SetPartnerStatus(f.ctx, q.ID, "reinstate", f.tick(), rec("partner.reinstate"))
		wantCode(t, "reinstate an onboarding partner", err, novamed.CodeInvalidTransition)
		var got []string
		must(t, "ScanAudit", f.s.ScanAudit(f.ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
			got = append(got, r.Action)
			return nil
		}))
		equal(t, "audited actions", got, []string{"partner.create", "partner.approve", "partner.baa", "clinic.create", "key.issue"})
	})

	t.Run("WebhookHold", func(t *testing.T) {
		f := newFixture(t, newStore)
		p, q := f.partner("P", novamed.PartnerApproved), f.partner("Q", novamed.PartnerApproved)
		cp, cq := f.partnerClinic("P1", p.ID), f.partnerClinic("Q1", q.ID)
		wp, wq := f.webhook(cp.ID), f.webhook(cq.ID)
		labels := map[string]string{wp.ID: "p", wq.ID: "q"}
		send := func(w *novamed.Webhook, clinic string) {
			_, err := f.s.SendTestEvent(f.ctx, w.ID, &novamed.Event{ID: newV7(t), ClinicID: clinic, Name: novamed.EventWebhookTest,
				Data: map[string]any{"webhook_id": w.ID}, CreatedAt: f.tick()})
			must(t, "SendTestEvent", err)
		}
		_, err := f.s.SetPartnerStatus(f.ctx, p.ID, "suspend", f.tick(), novamed.Effects{})
		must(t, "suspend", err)
		send(wp, cp.ID)
		send(wq, cq.ID)
		got, _ := f.claim("w", labels)
		equal(t, "claimed while P is suspended", got, []string{"q " + novamed.EventWebhookTest})
		_, err = f.s.SetPartnerStatus(f.ctx, p.ID, "reinstate", f.tick(), novamed.Effects{})
		must(t, "reinstate", err)
		got, _ = f.claim("w2", labels)
		equal(t, "claimed once P is reinstated", got, []string{"p " + novamed.EventWebhookTest})
	})

	t.Run("UpdateClinic", func(t *testing.T) {
		f := newFixture(t, newStore)
		p := f.partner("P", novamed.PartnerApproved)
		c := f.partnerClinic("Old name", p.ID)
		name, free := "New name", true
		got, err := f.s.UpdateClinic(f.ctx, c.ID, &name, nil, novamed.Effects{Audit: &novamed.AuditRecord{Time: f.tick(), RequestID: "cli_x", Action: "clinic.update", Status: 200}})
		must(t, "UpdateClinic name", err)
		if got.Name != name || got.FreeShipping || got.PartnerID != p.ID {
			t.Errorf("after a rename: %+v", got)
		}
		got, err = f.s.UpdateClinic(f.ctx, c.ID, nil, &free, novamed.Effects{})
		must(t, "UpdateClinic free shipping", err)
		if got.Name != name || !got.FreeShipping {
			t.Errorf("after free shipping on: %+v", got)
		}
		_, err = f.s.UpdateClinic(f.ctx, uuid.NewString(), &name, nil, novamed.Effects{})
		wantCode(t, "UpdateClinic unknown", err, novamed.CodeClinicNotFound)
		var actions []string
		must(t, "ScanAudit", f.s.ScanAudit(f.ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
			actions = append(actions, r.Action)
			return nil
		}))
		equal(t, "audited", actions, []string{"clinic.update"})
	})
}
