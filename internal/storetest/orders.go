package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func testOrders(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p := f.parties(a.ID)
		full, minimal := f.fullOrder(p), f.minimalOrder(p)
		wantFull, wantMinimal := storedOrder(full), storedOrder(minimal)
		must(t, "CreateMedicationOrder every field", f.s.CreateMedicationOrder(f.ctx, full, novamed.Effects{}))
		must(t, "CreateMedicationOrder required fields", f.s.CreateMedicationOrder(f.ctx, minimal, novamed.Effects{}))
		equal(t, "GetMedicationOrder every field", f.getOrder(full.ID, a.ID), wantFull)
		equal(t, "GetMedicationOrder required fields", f.getOrder(minimal.ID, a.ID), wantMinimal)
		items, next, err := f.s.ListMedicationOrders(f.ctx, novamed.OrderFilter{ListFilter: novamed.ListFilter{Clinics: []string{a.ID}, Limit: 10}})
		must(t, "ListMedicationOrders", err)
		equal(t, "ListMedicationOrders", items, []*novamed.MedicationOrder{wantMinimal, wantFull})
		equal(t, "ListMedicationOrders next", next, "")
		testScope(t, "GetMedicationOrder", a.ID, b.ID, full.ID, wantFull,
			func(id string, clinics []string) (*novamed.MedicationOrder, error) {
				return f.s.GetMedicationOrder(f.ctx, id, clinics)
			})
	})

	// An order's patient and practitioner must be of its clinic; a refused
	// order stores nothing, neither its rows nor its Effects.
	t.Run("Parties", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		own, other := f.parties(a.ID), f.parties(b.ID)
		cases := []struct {
			name                  string
			patient, practitioner string
		}{
			{"patient of another clinic", other.patient, own.practitioner},
			{"practitioner of another clinic", own.patient, other.practitioner},
			{"both of another clinic", other.patient, other.practitioner},
			{"unknown patient", unknownID, own.practitioner},
			{"unknown practitioner", own.patient, unknownID},
		}
		both := []string{a.ID, b.ID}
		for i, tc := range cases {
			o := f.fullOrder(own)
			o.PatientID, o.PractitionerID = tc.patient, tc.practitioner
			key := fmt.Sprintf("order-%d", i)
			err := f.s.CreateMedicationOrder(f.ctx, o, novamed.Effects{
				Idempotency: idemRecord("owner-1", key, base), Audit: f.auditRecord("order.create", base),
			})
			wantCode(t, "CreateMedicationOrder "+tc.name, err, novamed.CodeNotFound)
			_, err = f.s.GetMedicationOrder(f.ctx, o.ID, both)
			wantCode(t, "GetMedicationOrder of the refused order ("+tc.name+")", err, novamed.CodeNotFound)
			_, err = f.s.GetIdempotency(f.ctx, "owner-1", key)
			wantCode(t, "GetIdempotency of the refused order ("+tc.name+")", err, novamed.CodeNotFound)
		}
		items, _, err := f.s.ListMedicationOrders(f.ctx, novamed.OrderFilter{ListFilter: novamed.ListFilter{Clinics: both, Limit: 10}})
		must(t, "ListMedicationOrders", err)
		equal(t, "ListMedicationOrders after refusals", items, []*novamed.MedicationOrder{})
		equal(t, "audit records after refusals", len(f.scanAudit(zeroTime, zeroTime)), 0)
		equal(t, "events after refusals", f.events(a.ID), []*novamed.Event{})
	})

	t.Run("Effects", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		p := f.parties(c.ID)
		first := f.fullOrder(p)
		wantFirst := storedOrder(first)
		rec := idemRecord("owner-1", "key-1", at(time.Minute))
		a := f.auditRecord("order.create", at(time.Minute))
		snap := *a
		must(t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, first, novamed.Effects{Idempotency: rec, Audit: a}))
		got, err := f.s.GetIdempotency(f.ctx, "owner-1", "key-1")
		must(t, "GetIdempotency", err)
		equal(t, "GetIdempotency", got, storedIdem(rec))
		recs := f.scanAudit(zeroTime, zeroTime)
		if equal(t, "audit records", len(recs), 1) {
			equal(t, "audit record", recs[0], storedAudit(snap, 1, "", recs[0].Hash))
		}

		// The retried request (a new order id) replays the first answer.
		second := f.fullOrder(p)
		again := idemRecord("owner-1", "key-1", at(2*time.Minute))
		again.Body, again.Status = []byte(`{"second":true}`), 200
		err = f.s.CreateMedicationOrder(f.ctx, second, novamed.Effects{Idempotency: again, Audit: f.auditRecord("order.create", base)})
		wantIs(t, "second CreateMedicationOrder with the same key", err, novamed.ErrIdempotencyConflict)
		_, err = f.s.GetMedicationOrder(f.ctx, second.ID, []string{c.ID})
		wantCode(t, "GetMedicationOrder of the second order", err, novamed.CodeNotFound)
		items, _, err := f.s.ListMedicationOrders(f.ctx, novamed.OrderFilter{ListFilter: novamed.ListFilter{Clinics: []string{c.ID}, Limit: 10}})
		must(t, "ListMedicationOrders", err)
		equal(t, "ListMedicationOrders after the conflict", items, []*novamed.MedicationOrder{wantFirst})
		got, err = f.s.GetIdempotency(f.ctx, "owner-1", "key-1")
		must(t, "GetIdempotency", err)
		equal(t, "GetIdempotency keeps the first answer", got, storedIdem(rec))
		equal(t, "audit records after the conflict", len(f.scanAudit(zeroTime, zeroTime)), 1)
		verifyAudit(t, f, 1)
	})

	t.Run("List", func(t *testing.T) {
		byClinic := map[string]parties{}
		testList(t, newStore,
			func(f *fixture, clinic string) (*novamed.MedicationOrder, *novamed.MedicationOrder) {
				p, ok := byClinic[clinic]
				if !ok {
					p = f.parties(clinic)
					byClinic[clinic] = p
				}
				o := f.fullOrder(p)
				want := storedOrder(o)
				must(f.t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, o, novamed.Effects{}))
				return o, want
			},
			func(f *fixture) func(context.Context, novamed.ListFilter) ([]*novamed.MedicationOrder, string, error) {
				return orderLister(f, "", "")
			},
			func(o *novamed.MedicationOrder) string { return o.ID })
	})

	t.Run("Filters", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p1, pb := f.parties(a.ID), f.parties(b.ID)
		p2 := parties{clinic: a.ID, patient: f.patient(a.ID).ID, practitioner: p1.practitioner}
		o1, o2, o3 := f.order(p1), f.order(p2), f.order(p1)
		ob := f.order(pb)
		o4, o5 := f.order(p1), f.order(p2)
		for _, x := range []struct {
			o  *novamed.MedicationOrder
			to string
		}{{o1, novamed.OrderVerified}, {o3, novamed.OrderVerified}, {o5, novamed.OrderVerified},
			{ob, novamed.OrderVerified}, {o4, novamed.OrderCancelled}} {
			f.advance(x.o, x.to)
		}
		stored := map[*novamed.MedicationOrder]*novamed.MedicationOrder{}
		for _, o := range []*novamed.MedicationOrder{o1, o2, o3, o4, o5, ob} {
			stored[o] = f.getOrder(o.ID, o.ClinicID)
		}
		of := func(os ...*novamed.MedicationOrder) []*novamed.MedicationOrder {
			var out []*novamed.MedicationOrder
			for _, o := range os {
				out = append(out, stored[o])
			}
			return out
		}
		cases := []struct {
			name            string
			clinics         []string
			patient, status string
			want            []*novamed.MedicationOrder // newest first
		}{
			{"patient", []string{a.ID}, p1.patient, "", of(o4, o3, o1)},
			{"other patient", []string{a.ID}, p2.patient, "", of(o5, o2)},
			{"status verified", []string{a.ID}, "", novamed.OrderVerified, of(o5, o3, o1)},
			{"status verified in both clinics", []string{a.ID, b.ID}, "", novamed.OrderVerified, of(o5, ob, o3, o1)},
			{"status created", []string{a.ID}, "", novamed.OrderCreated, of(o2)},
			{"status cancelled", []string{a.ID}, "", novamed.OrderCancelled, of(o4)},
			{"status without orders", []string{a.ID, b.ID}, "", novamed.OrderDelivered, nil},
			{"patient and status", []string{a.ID}, p1.patient, novamed.OrderVerified, of(o3, o1)},
			{"patient and other status", []string{a.ID}, p2.patient, novamed.OrderCreated, of(o2)},
			{"patient of a clinic not asked for", []string{a.ID}, pb.patient, "", nil},
			{"patient of the clinic asked for", []string{a.ID, b.ID}, pb.patient, "", of(ob)},
			{"unknown patient", []string{a.ID, b.ID}, unknownID, "", nil},
			{"no clinics", nil, p1.patient, novamed.OrderVerified, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				walkPages(t, f, orderLister(f, tc.patient, tc.status), func(o *novamed.MedicationOrder) string { return o.ID },
					tc.clinics, 2, tc.want)
			})
		}
	})
}

// orderLister lists orders with a patient and status filter.
func orderLister(f *fixture, patient, status string) func(context.Context, novamed.ListFilter) ([]*novamed.MedicationOrder, string, error) {
	return func(ctx context.Context, lf novamed.ListFilter) ([]*novamed.MedicationOrder, string, error) {
		return f.s.ListMedicationOrders(ctx, novamed.OrderFilter{ListFilter: lf, PatientID: patient, Status: status})
	}
}
