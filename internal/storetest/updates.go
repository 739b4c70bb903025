package storetest

import (
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// testUpdates: a partner's updates of patients and practitioners and
// cancellation of orders (issue 25).
func testUpdates(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("Patient", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		pr := f.practitioner(a.ID)
		p := f.fullPatient(a.ID, pr.ID)
		must(t, "CreatePatient", f.s.CreatePatient(f.ctx, p, novamed.Effects{}))
		changed := *storedPatient(p)
		changed.Address = novamed.Address{Line1: "9 New St", City: "Salem", State: "OR", Zip: "97301"}
		changed.MedicationAllergies, changed.FirstName = []string{"latex"}, "Max"
		rec := f.auditRecord("patient.update", f.tick())
		ev, err := f.s.UpdatePatient(f.ctx, &changed, novamed.Effects{Audit: rec})
		must(t, "UpdatePatient", err)
		if ev == nil || ev.Name != novamed.EventPatientUpdated || ev.Data["patient_id"] != p.ID || ev.ClinicID != a.ID {
			t.Errorf("UpdatePatient event %+v", ev)
		}
		got, err := f.s.GetPatient(f.ctx, p.ID, []string{a.ID})
		must(t, "GetPatient", err)
		equal(t, "GetPatient after the update", got, &changed)
		evs, err := f.s.ListEvents(f.ctx, a.ID, "", 10)
		must(t, "ListEvents", err)
		if len(evs) != 1 || evs[0].Name != novamed.EventPatientUpdated {
			t.Errorf("events %+v", evs)
		}
		if recs := f.scanAudit(time.Time{}, time.Time{}); len(recs) != 1 || recs[0].Action != "patient.update" {
			t.Errorf("audit %+v", recs)
		}

		// Another patient's identity is a duplicate naming it; nothing changes.
		other := f.patient(a.ID)
		clash := *storedPatient(other)
		clash.FirstName, clash.LastName, clash.DateOfBirth = changed.FirstName, changed.LastName, changed.DateOfBirth
		_, err = f.s.UpdatePatient(f.ctx, &clash, novamed.Effects{})
		wantExisting(t, "UpdatePatient to another's identity", err, p.ID)
		got, err = f.s.GetPatient(f.ctx, other.ID, []string{a.ID})
		must(t, "GetPatient", err)
		equal(t, "the refused update's patient", got, storedPatient(other))
		// Its own identity again is no duplicate.
		_, err = f.s.UpdatePatient(f.ctx, &changed, novamed.Effects{})
		must(t, "UpdatePatient with the same identity", err)
		// Another clinic's id is not found.
		moved := changed
		moved.ClinicID, moved.PractitionerID = b.ID, ""
		_, err = f.s.UpdatePatient(f.ctx, &moved, novamed.Effects{})
		wantCode(t, "UpdatePatient in another clinic", err, novamed.CodeNotFound)
	})

	t.Run("Practitioner", func(t *testing.T) {
		f := newFixture(t, newStore)
		a := f.clinic("A")
		p := f.fullPractitioner(a.ID)
		must(t, "CreatePractitioner", f.s.CreatePractitioner(f.ctx, p, novamed.Effects{}))
		changed := *storedPractitioner(p)
		changed.Phone, changed.Address = "+15550199", novamed.Address{Line1: "2 Clinic Rd", City: "Austin", State: "TX", Zip: "78701"}
		changed.Status = novamed.PractitionerActive // not the store's to take from an update
		ev, err := f.s.UpdatePractitioner(f.ctx, &changed, novamed.Effects{})
		must(t, "UpdatePractitioner", err)
		if changed.Status != p.Status || ev == nil || ev.Name != novamed.EventPractitionerUpdated || ev.Data["practitioner_id"] != p.ID {
			t.Errorf("UpdatePractitioner: status %s, event %+v", changed.Status, ev)
		}
		got, err := f.s.GetPractitioner(f.ctx, p.ID, []string{a.ID})
		must(t, "GetPractitioner", err)
		equal(t, "GetPractitioner after the update", got, &changed)
		other := f.practitioner(a.ID)
		clash := *storedPractitioner(other)
		clash.NPI = p.NPI
		_, err = f.s.UpdatePractitioner(f.ctx, &clash, novamed.Effects{})
		wantExisting(t, "UpdatePractitioner to another's NPI", err, p.ID)
	})

	t.Run("CancelOrder", func(t *testing.T) {
		f := newFixture(t, newStore)
		a := f.clinic("A")
		pr := f.practitioner(a.ID)
		pa := f.patient(a.ID)
		o := f.order(parties{clinic: a.ID, patient: pa.ID, practitioner: pr.ID}, 1)
		at := f.tick()
		got, ev, err := f.s.CancelOrder(f.ctx, o.ID, novamed.OrderCreated, "switched", at, novamed.Effects{})
		must(t, "CancelOrder", err)
		if got.Status != novamed.OrderCancelled || ev.Name != novamed.EventOrderCancelled || ev.Data["reason"] != "switched" ||
			ev.Data["cancelled_by"] != "partner" {
			t.Errorf("CancelOrder: %s, event %+v", got.Status, ev)
		}
		equal(t, "cancelled order's status", f.getOrder(o.ID, a.ID).Status, novamed.OrderCancelled)
		// An order that changed since the caller read it is refused.
		_, _, err = f.s.CancelOrder(f.ctx, o.ID, novamed.OrderCreated, "again", f.tick(), novamed.Effects{})
		wantCode(t, "CancelOrder of an order no longer created", err, novamed.CodeInvalidTransition)

		// A refill's order gives its refill back.
		shipped := f.advance(f.order(parties{clinic: a.ID, patient: pa.ID, practitioner: pr.ID}, 1), novamed.OrderShipped)
		r := f.refill(shipped.Items[0].ID)
		n, err := f.s.CreateRefill(f.ctx, r, []string{a.ID}, novamed.Effects{})
		must(t, "CreateRefill", err)
		equal(t, "refills left after the refill", f.getOrder(n.ID, a.ID).Items[0].RefillsRemaining, 0)
		_, _, err = f.s.CancelOrder(f.ctx, n.ID, novamed.OrderCreated, "not needed", f.tick(), novamed.Effects{})
		must(t, "CancelOrder of the refill's order", err)
		_, err = f.s.CreateRefill(f.ctx, f.refill(shipped.Items[0].ID), []string{a.ID}, novamed.Effects{})
		must(t, "CreateRefill after the cancellation (the refill is back)", err)
	})
}
