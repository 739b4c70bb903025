package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// refill builds a refill request of a medication request, with new ids.
func (f *fixture) refill(request string) *novamed.RefillRequest {
	f.t.Helper()
	return &novamed.RefillRequest{ID: newV7(f.t), NewOrderID: newV7(f.t), NewItemID: newV7(f.t), MedicationRequestID: request}
}

// refillOrder is the new order a refill r of item (of order orig) creates at
// created: the item copied with its prescription and rx number, the
// original's shipping, refills remaining as given.
func refillOrder(orig *novamed.MedicationOrder, item *novamed.MedicationRequest, remaining int, r *novamed.RefillRequest, created time.Time) *novamed.MedicationOrder {
	it := *item
	it.ID, it.OrderID, it.RefillsRemaining, it.IssueDate = r.NewItemID, r.NewOrderID, remaining, created.Format(time.DateOnly)
	o := &novamed.MedicationOrder{
		ID: r.NewOrderID, ClinicID: orig.ClinicID, PatientID: orig.PatientID, PractitionerID: orig.PractitionerID,
		Status: novamed.OrderCreated, CarrierID: orig.CarrierID, ServiceID: orig.ServiceID, DeliverySpeed: orig.DeliverySpeed,
		ShippingCost: orig.ShippingCost, IsRefrigerated: orig.IsRefrigerated, ShipmentGroupID: orig.ShipmentGroupID,
		RefillRequestID: r.ID, Items: []*novamed.MedicationRequest{&it}, Shipments: []*novamed.Shipment{},
		PaymentMethodID: r.PaymentMethodID, CreatedAt: created, UpdatedAt: created,
	}
	if r.ShipmentGroupID != "" {
		o.ShipmentGroupID = r.ShipmentGroupID
	}
	if r.ShippingAddress != nil {
		a := *r.ShippingAddress
		o.ShippingAddress = &a
	}
	return o
}

// refillShipping sets the carrier, service, speed and price the new order o
// of refill r must have, read from the store's catalogue (in which the
// suite's refills name services by id): the refill's service, else the
// order's, priced for state; the clinics of these refills have no free
// shipping.
func (f *fixture) refillShipping(o *novamed.MedicationOrder, r *novamed.RefillRequest, state string) {
	f.t.Helper()
	if r.ShipmentServiceCode == "" && r.ShippingAddress == nil {
		return
	}
	cs, err := f.s.ListCarriers(f.ctx)
	must(f.t, "ListCarriers", err)
	for _, c := range cs {
		for _, svc := range c.Services {
			if (r.ShipmentServiceCode != "" && svc.ID == r.ShipmentServiceCode) ||
				(r.ShipmentServiceCode == "" && c.ID == o.CarrierID && svc.ID == o.ServiceID) {
				cents := svc.BaseCostCents
				if slices.Contains(novamed.RemoteStates, state) {
					cents += svc.RemoteSurchargeCents
				}
				o.CarrierID, o.ServiceID, o.DeliverySpeed, o.ShippingCost = c.ID, svc.ID, svc.Speed, float64(cents)/100
				return
			}
		}
	}
	f.t.Fatalf("refill %s: service %q is not in the catalogue", r.ID, r.ShipmentServiceCode)
}

// storedRefill is the form GetRefill returns a refill r (as built, before
// CreateRefill) of a request of orig in lineage root in, its new order in
// status and created at created.
func storedRefill(r *novamed.RefillRequest, orig *novamed.MedicationOrder, root, status string, created time.Time) *novamed.RefillRequest {
	w := *r
	w.ClinicID, w.RootRequestID, w.OriginalOrderID, w.Status, w.CreatedAt = orig.ClinicID, root, orig.ID, status, created
	w.NewItemID = ""
	if r.ShippingAddress != nil {
		a := *r.ShippingAddress
		w.ShippingAddress = &a
	}
	return &w
}

// refillOK creates a refill of item (of order orig) that must succeed, leaving
// remaining refills, and checks its new order and GetRefill; it returns the
// new order and the stored refill.
func (f *fixture) refillOK(what string, r *novamed.RefillRequest, clinics []string, eff novamed.Effects,
	orig *novamed.MedicationOrder, item *novamed.MedicationRequest, remaining int,
) (*novamed.MedicationOrder, *novamed.RefillRequest) {
	f.t.Helper()
	in := *r
	got, err := f.s.CreateRefill(f.ctx, r, clinics, eff)
	must(f.t, what, err)
	if got == nil {
		f.t.Fatalf("%s: got no order", what)
	}
	wantNormalised(f.t, what+": created_at", got.CreatedAt)
	want := refillOrder(orig, item, remaining, &in, got.CreatedAt)
	if in.ShippingAddress != nil {
		f.refillShipping(want, &in, in.ShippingAddress.State)
	} else {
		// Without an address of its own the refill's order keeps the
		// patient's address of the moment (a later change does not move it).
		p, err := f.s.GetPatient(f.ctx, orig.PatientID, []string{orig.ClinicID})
		must(f.t, what+": GetPatient", err)
		if !p.Address.IsZero() {
			a := p.Address
			want.ShippingAddress = &a
		}
		if in.ShipmentServiceCode != "" {
			f.refillShipping(want, &in, p.Address.State)
		}
	}
	equal(f.t, what, got, want)
	equal(f.t, what+": GetMedicationOrder of the new order", f.getOrder(in.NewOrderID, orig.ClinicID), want)
	wantRefill := storedRefill(&in, orig, item.RootID, novamed.OrderCreated, got.CreatedAt)
	gotRefill, err := f.s.GetRefill(f.ctx, in.ID, []string{orig.ClinicID})
	must(f.t, what+": GetRefill", err)
	equal(f.t, what+": GetRefill", gotRefill, wantRefill)
	return want, wantRefill
}

// getRefill reads a refill that must exist.
func (f *fixture) getRefill(id string, clinics ...string) *novamed.RefillRequest {
	f.t.Helper()
	r, err := f.s.GetRefill(f.ctx, id, clinics)
	must(f.t, "GetRefill "+id, err)
	return r
}

// refills lists every refill of clinics.
func (f *fixture) refills(clinics ...string) []*novamed.RefillRequest {
	f.t.Helper()
	items, _, err := f.s.ListRefills(f.ctx, novamed.ListFilter{Clinics: clinics, Limit: 100})
	must(f.t, "ListRefills", err)
	return items
}

// allOrders lists every order of clinics.
func (f *fixture) allOrders(clinics ...string) []*novamed.MedicationOrder {
	f.t.Helper()
	items, _, err := f.s.ListMedicationOrders(f.ctx, novamed.OrderFilter{ListFilter: novamed.ListFilter{Clinics: clinics, Limit: 100}})
	must(f.t, "ListMedicationOrders", err)
	return items
}

func testRefills(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	// Every refused refill stores nothing: no refill, no order, no change of
	// refills remaining, no Effects.
	t.Run("Ineligible", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		pa, pb := f.parties(a.ID), f.parties(b.ID)
		// items: refillable, do not refill, none remaining, both
		o := f.minimalOrder(pa, 2, 2, 0, 0)
		o.Items[1].DoNotRefill, o.Items[3].DoNotRefill = true, true
		must(t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, o, novamed.Effects{}))
		shipped := f.advance(storedOrder(o), novamed.OrderShipped)
		created := f.order(pa, 2)
		filled := f.advance(f.order(pa, 2), novamed.OrderFilled)
		cancelled := f.advance(f.order(pa, 2), novamed.OrderCancelled)
		dnr := f.minimalOrder(pa, 2)
		dnr.Items[0].DoNotRefill = true
		must(t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, dnr, novamed.Effects{}))
		other := f.advance(f.order(pb, 2), novamed.OrderShipped)

		type refusal struct {
			name, request, clinicID string
			clinics                 []string
			code, msg               string
		}
		unknown := func(name, request, clinicID string, clinics ...string) refusal {
			return refusal{name, request, clinicID, clinics, novamed.CodeMedRequestUnknown, novamed.MsgMedicationRequestNotFound}
		}
		ineligible := func(name, request, msg string) refusal {
			return refusal{name, request, "", []string{a.ID}, novamed.CodeRefillNotEligible, msg}
		}
		ok := shipped.Items[0].ID
		cases := []refusal{
			unknown("unknown request", unknownID, "", a.ID, b.ID),
			unknown("request of another clinic", other.Items[0].ID, "", a.ID),
			unknown("request of a clinic not granted", ok, "", b.ID),
			unknown("no clinics", ok, ""),
			unknown("clinic_id of another granted clinic", ok, b.ID, a.ID, b.ID),
			unknown("unknown clinic_id", ok, unknownID, a.ID),
			ineligible("created order", created.Items[0].ID, novamed.MsgRefillPending),
			ineligible("filled order", filled.Items[0].ID, novamed.MsgRefillPending),
			ineligible("cancelled order", cancelled.Items[0].ID, novamed.MsgRefillPending),
			ineligible("created order, do not refill", dnr.Items[0].ID, novamed.MsgRefillPending),
			ineligible("do not refill", shipped.Items[1].ID, novamed.MsgRefillNotAllowed),
			ineligible("do not refill, none remaining", shipped.Items[3].ID, novamed.MsgRefillNotAllowed),
			ineligible("none remaining", shipped.Items[2].ID, novamed.MsgNoRefillsRemaining),
		}
		both := []string{a.ID, b.ID}
		orders, refills, audits := f.allOrders(both...), []*novamed.RefillRequest{}, 0
		refuse := func(tc refusal) {
			t.Helper()
			r := f.refill(tc.request)
			r.ClinicID = tc.clinicID
			key := "refill-" + tc.name
			_, err := f.s.CreateRefill(f.ctx, r, tc.clinics, novamed.Effects{
				Idempotency: idemRecord("owner-1", key, base), Audit: f.auditRecord("refill.create", base),
			})
			what := "CreateRefill " + tc.name
			wantError(t, what, err, tc.code, tc.msg)
			equal(t, what+": orders", f.allOrders(both...), orders)
			equal(t, what+": refills", f.refills(both...), refills)
			_, err = f.s.GetRefill(f.ctx, r.ID, both)
			wantCode(t, what+": GetRefill", err, novamed.CodeNotFound)
			_, err = f.s.GetIdempotency(f.ctx, "owner-1", key)
			wantCode(t, what+": GetIdempotency", err, novamed.CodeNotFound)
			equal(t, what+": audit records", len(f.scanAudit(zeroTime, zeroTime)), audits)
		}
		for _, tc := range cases {
			refuse(tc)
		}

		// Once refilled, the request has an open refill.
		r := f.refill(ok)
		r.ClinicID = a.ID
		_, err := f.s.CreateRefill(f.ctx, r, []string{b.ID, a.ID}, novamed.Effects{
			Idempotency: idemRecord("owner-1", "refill-ok", base), Audit: f.auditRecord("refill.create", base),
		})
		must(t, "CreateRefill", err)
		orders, refills, audits = f.allOrders(both...), f.refills(both...), 1
		refuse(refusal{"open refill", ok, "", []string{a.ID}, novamed.CodeRefillExists, novamed.MsgRefillExists})
		refuse(refusal{"open refill, clinic_id given", ok, a.ID, []string{a.ID}, novamed.CodeRefillExists, novamed.MsgRefillExists})
		verifyAudit(t, f, 1)
	})

	t.Run("Lineage", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p := f.parties(a.ID)
		o := f.minimalOrder(p)
		it := f.fullItem(o.ID)
		it.DoNotRefill, it.RxNumber, it.RefillsAuthorized, it.RefillsRemaining = false, "", 3, 3
		o.Items = []*novamed.MedicationRequest{it, f.item(o.ID, 1)}
		o.DeliverySpeed, o.ShippingCost, o.IsRefrigerated, o.ShipmentGroupID = "business-day", 12.34, true, "grp-original"
		must(t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, o, novamed.Effects{}))
		orig := f.advance(storedOrder(o), novamed.OrderShipped)
		root := orig.Items[0]
		origWant := cloneOrder(orig)

		// A refill with every field, and its Effects.
		r1 := f.refill(root.ID)
		r1.ShipmentGroupID, r1.ShipmentServiceCode, r1.PaymentMethodID = "grp-refill", "fedex_priority_overnight", "pm_123"
		r1.ShippingAddress = &novamed.Address{Line1: "3 Oak St", Line2: "Unit ✓", Line3: "c/o \"Vet\"", City: "Salem", State: "OR", Zip: "97301"}
		rec := idemRecord("owner-1", "refill-1", at(time.Minute))
		n1, w1 := f.refillOK("CreateRefill with every field", r1, []string{b.ID, a.ID},
			novamed.Effects{Idempotency: rec, Audit: f.auditRecord("refill.create", at(time.Minute))}, orig, root, 2)
		origWant.Items[0].RefillsRemaining = 2
		equal(t, "GetMedicationOrder of the original after a refill", f.getOrder(orig.ID, a.ID), origWant)
		gotRec, err := f.s.GetIdempotency(f.ctx, "owner-1", "refill-1")
		must(t, "GetIdempotency", err)
		equal(t, "GetIdempotency", gotRec, storedIdem(rec))
		equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 1)
		verifyAudit(t, f, 1)
		testScope(t, "GetRefill", a.ID, b.ID, w1.ID, w1, func(id string, clinics []string) (*novamed.RefillRequest, error) {
			return f.s.GetRefill(f.ctx, id, clinics)
		})
		equal(t, "ListRefills", f.refills(a.ID), []*novamed.RefillRequest{w1})
		equal(t, "ListRefills of the other clinic", f.refills(b.ID), []*novamed.RefillRequest{})

		_, err = f.s.CreateRefill(f.ctx, f.refill(root.ID), []string{a.ID}, novamed.Effects{})
		wantError(t, "CreateRefill while the first is open", err, novamed.CodeRefillExists, novamed.MsgRefillExists)

		// The refill's status is its order's.
		n1 = f.advance(n1, novamed.OrderVerified)
		equal(t, "GetRefill status after verification", f.getRefill(w1.ID, a.ID).Status, novamed.OrderVerified)
		n1 = f.advance(n1, novamed.OrderCancelled)
		w1.Status = novamed.OrderCancelled
		equal(t, "GetRefill after cancellation", f.getRefill(w1.ID, a.ID), w1)
		equal(t, "GetMedicationOrder of the cancelled refill order", f.getOrder(n1.ID, a.ID), n1)

		// A cancelled refill is closed and gives its refill back.
		n2, w2 := f.refillOK("CreateRefill after a cancelled refill", f.refill(root.ID), []string{a.ID}, novamed.Effects{}, orig, root, 2)
		origWant.Items[0].RefillsRemaining = 2
		equal(t, "GetMedicationOrder of the original after two refills", f.getOrder(orig.ID, a.ID), origWant)

		// So is a delivered one; a refill of the refill's request continues
		// the lineage.
		n2 = f.advance(n2, novamed.OrderDelivered)
		w2.Status = novamed.OrderDelivered
		equal(t, "GetRefill after delivery", f.getRefill(w2.ID, a.ID), w2)
		n3, w3 := f.refillOK("CreateRefill of the refill's request", f.refill(n2.Items[0].ID), []string{a.ID}, novamed.Effects{}, n2, n2.Items[0], 1)
		equal(t, "refill of the refill: lineage root", w3.RootRequestID, root.ID)
		equal(t, "refill of the refill: rx number", n3.Items[0].RxNumber, root.RxNumber)
		origWant.Items[0].RefillsRemaining = 1
		equal(t, "GetMedicationOrder of the original after three refills", f.getOrder(orig.ID, a.ID), origWant)

		n3 = f.advance(n3, novamed.OrderShipped)
		_, err = f.s.CreateRefill(f.ctx, f.refill(root.ID), []string{a.ID}, novamed.Effects{})
		wantError(t, "CreateRefill while the third is shipped", err, novamed.CodeRefillExists, novamed.MsgRefillExists)
		f.advance(n3, novamed.OrderDelivered)
		w3.Status = novamed.OrderDelivered
		// The refill the cancellation gave back is the last one.
		n5, w5 := f.refillOK("CreateRefill with the refill a cancellation gave back", f.refill(root.ID), []string{a.ID}, novamed.Effects{}, orig, root, 0)
		f.advance(n5, novamed.OrderDelivered)
		w5.Status = novamed.OrderDelivered
		origWant.Items[0].RefillsRemaining = 0
		for _, req := range []string{root.ID, n2.Items[0].ID, n3.Items[0].ID, n5.Items[0].ID} {
			_, err = f.s.CreateRefill(f.ctx, f.refill(req), []string{a.ID}, novamed.Effects{})
			wantError(t, "CreateRefill after the last refill", err, novamed.CodeRefillNotEligible, novamed.MsgNoRefillsRemaining)
		}

		// The other item of the original is a lineage of its own.
		_, w4 := f.refillOK("CreateRefill of the original's other item", f.refill(orig.Items[1].ID), []string{a.ID}, novamed.Effects{}, orig, orig.Items[1], 0)
		origWant.Items[1].RefillsRemaining = 0
		equal(t, "GetMedicationOrder of the original at the end", f.getOrder(orig.ID, a.ID), origWant)
		equal(t, "ListRefills at the end", f.refills(a.ID), []*novamed.RefillRequest{w4, w5, w3, w2, w1})
	})

	t.Run("List", func(t *testing.T) {
		type source struct {
			order *novamed.MedicationOrder
			next  int // the next item to refill
		}
		sources := map[string]*source{} // by clinic
		testList(t, newStore,
			func(f *fixture, clinic string) (*novamed.RefillRequest, *novamed.RefillRequest) {
				src, ok := sources[clinic]
				if !ok {
					src = &source{order: f.advance(f.order(f.parties(clinic), 1, 1, 1, 1, 1, 1, 1), novamed.OrderShipped)}
					sources[clinic] = src
				}
				it := src.order.Items[src.next]
				src.next++
				r := f.refill(it.ID)
				in := *r
				n, err := f.s.CreateRefill(f.ctx, r, []string{clinic}, novamed.Effects{})
				must(f.t, "CreateRefill", err)
				return r, storedRefill(&in, src.order, it.RootID, novamed.OrderCreated, n.CreatedAt)
			},
			func(f *fixture) func(context.Context, novamed.ListFilter) ([]*novamed.RefillRequest, string, error) {
				return f.s.ListRefills
			},
			func(r *novamed.RefillRequest) string { return r.ID })
	})

	// Concurrent refills of one request: one wins, the others see its refill.
	t.Run("Concurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		orig := f.advance(f.order(f.parties(c.ID), 3), novamed.OrderShipped)
		reqs := make([]*novamed.RefillRequest, 8)
		for i := range reqs {
			reqs[i] = f.refill(orig.Items[0].ID)
		}
		ids := make([]string, len(reqs))
		errs := make([]error, len(reqs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, r := range reqs {
			ids[i] = r.ID
			wg.Go(func() {
				<-start
				_, errs[i] = f.s.CreateRefill(f.ctx, r, []string{c.ID}, novamed.Effects{})
			})
		}
		close(start)
		wg.Wait()
		won := []string{}
		for i, err := range errs {
			if err == nil {
				won = append(won, ids[i])
				continue
			}
			wantError(t, fmt.Sprintf("CreateRefill %d", i), err, novamed.CodeRefillExists, novamed.MsgRefillExists)
		}
		if !equal(t, "successful refills", len(won), 1) {
			return
		}
		refills := f.refills(c.ID)
		if equal(t, "refills", len(refills), 1) {
			equal(t, "the refill", refills[0].ID, won[0])
		}
		equal(t, "orders", len(f.allOrders(c.ID)), 2)
		equal(t, "refills remaining of the original", f.getOrder(orig.ID, c.ID).Items[0].RefillsRemaining, 2)
	})
}
