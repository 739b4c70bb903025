package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Carriers and services of the published catalogue (contract §8, "Carrier
// services by id") that the shipment and refill-shipping tests name; the
// tests install shippingCatalogue themselves rather than rely on the
// default catalogue.
const (
	stamps         = "se-11225"
	stampsName     = "Stamps.com"
	stampsTracking = "https://tools.usps.com/go/TrackConfirmAction?tLabels="
)

// shippingCatalogue holds FedEx and Stamps.com with services of the
// published catalogue; fedex_2day does not deliver to Hawaii here.
func shippingCatalogue() []novamed.Carrier {
	return []novamed.Carrier{
		{ID: fedex, Name: fedexName, Tracking: fedexTracking + "{tracking}", Services: []novamed.CarrierService{
			{ID: "fedex_ground", Name: "FedEx Ground®", Speed: "business-day", BaseCostCents: 3244, RemoteSurchargeCents: 1500},
			{ID: "fedex_2day", Name: "FedEx 2Day®", Speed: "business-day", BaseCostCents: 5643, RemoteSurchargeCents: 2000, UnavailableStates: []string{"HI"}},
		}},
		{ID: stamps, Name: stampsName, Tracking: stampsTracking + "{tracking}", Services: []novamed.CarrierService{
			{ID: "usps_first_class", Name: "USPS First-Class Mail®", Speed: "business-day", BaseCostCents: 549, RemoteSurchargeCents: 300},
			{ID: "usps_priority", Name: "USPS Priority Mail®", Speed: "business-day", BaseCostCents: 985, RemoteSurchargeCents: 500},
			{ID: "usps_priority_express", Name: "USPS Priority Mail Express®", Speed: "next-day", BaseCostCents: 3140, RemoteSurchargeCents: 1000},
		}},
	}
}

func testShipments(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	// A shipment cancelled and the order shipped again: the order returns to
	// filled with its shipment kept and marked cancelled, shipping again
	// adds a new active shipment, and the events follow in that order.
	t.Run("CancelAndReship", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p := f.parties(a.ID)
		other := f.advance(f.order(f.parties(b.ID)), novamed.OrderShipped) // untouched throughout
		cur := f.advance(f.order(p, 1), novamed.OrderShipped)
		first := cur.Shipment
		before := f.events(a.ID)
		reason := "Returned to sender: \"address unknown\" ✓"
		rec := f.auditRecord("medication_order.cancel_shipment", at(time.Hour))
		rec.ResourceType, rec.ResourceIDs = "medication_order", []string{cur.ID}
		idem := idemRecord("owner-1", "cancel-1", at(time.Hour))
		got, ev, err := f.s.CancelShipment(f.ctx, cur.ID, reason, novamed.Effects{Audit: rec, Idempotency: idem})
		must(t, "CancelShipment", err)
		if got == nil || ev == nil {
			t.Fatalf("CancelShipment: got order %v and event %v, want both", got, ev)
		}
		wantNormalised(t, "CancelShipment: updated_at", got.UpdatedAt)
		want := cloneOrder(cur)
		want.Status, want.UpdatedAt, want.Shipment = novamed.OrderFilled, got.UpdatedAt, nil
		cancelledAt := got.UpdatedAt
		want.Shipments[0].Status, want.Shipments[0].CancelledAt, want.Shipments[0].CancelReason = novamed.ShipmentCancelled, &cancelledAt, reason
		equal(t, "CancelShipment", got, want)
		equal(t, "CancelShipment: GetMedicationOrder", f.getOrder(cur.ID, a.ID), want)
		equal(t, "CancelShipment: ListMedicationOrders", f.allOrders(a.ID)[0], want)
		equal(t, "CancelShipment: event name", ev.Name, novamed.EventShipmentCancelled)
		equal(t, "CancelShipment: event clinic", ev.ClinicID, a.ID)
		equal(t, "CancelShipment: event created_at", ev.CreatedAt, got.UpdatedAt)
		data, absent := orderData(want)
		data["shipment_id"], data["shipment_provider"], data["tracking_number"] = first.ID, first.Provider, first.TrackingNumber
		data["tracking_url"], data["shipping_label"], data["reason"] = first.TrackingURL, first.LabelURL, reason
		absent = slices.DeleteFunc(absent, func(k string) bool { return slices.Contains(shipmentKeys, k) })
		wantData(t, "CancelShipment", ev.Data, data, absent...)
		after := f.events(a.ID)
		if equal(t, "CancelShipment: events", len(after), len(before)+1) {
			sameEvent(t, "CancelShipment: listed event", after[len(after)-1], ev)
			wantData(t, "CancelShipment: listed event", after[len(after)-1].Data, data, absent...)
		}
		// The effects committed with it; the audit record names the order
		// and the shipment, and the store put in the order's clinic.
		gotIdem, err := f.s.GetIdempotency(f.ctx, "owner-1", "cancel-1")
		must(t, "GetIdempotency", err)
		equal(t, "GetIdempotency", gotIdem, storedIdem(idem))
		audits := f.scanAudit(zeroTime, zeroTime)
		if equal(t, "audit records", len(audits), 1) {
			equal(t, "audit record clinic", audits[0].ClinicID, a.ID)
			equal(t, "audit record resources", audits[0].ResourceIDs, []string{cur.ID, first.ID})
			equal(t, "audit record action", audits[0].Action, "medication_order.cancel_shipment")
		}
		verifyAudit(t, f, 1)

		// A filled order whose shipment was cancelled can be cancelled no
		// more: there is no active shipment.
		_, ev2, err := f.s.CancelShipment(f.ctx, cur.ID, "again", novamed.Effects{})
		wantCode(t, "CancelShipment of the filled order", err, novamed.CodeNotShipped)
		if ev2 != nil {
			t.Errorf("CancelShipment of the filled order: got event %s", ev2.Name)
		}

		// Shipping again adds a second shipment with its own id.
		sh := f.shipment()
		reshipped, ev3, err := f.s.TransitionOrder(f.ctx, cur.ID, novamed.OrderShipped, sh)
		must(t, "TransitionOrder shipped again", err)
		want2 := cloneOrder(want)
		want2.Status, want2.UpdatedAt = novamed.OrderShipped, reshipped.UpdatedAt
		second := *sh
		second.Provider, second.TrackingURL = fedexName, fedexTracking+sh.TrackingNumber
		addShipment(want2, shipped(second, reshipped.UpdatedAt))
		equal(t, "TransitionOrder shipped again", reshipped, want2)
		equal(t, "TransitionOrder shipped again: GetMedicationOrder", f.getOrder(cur.ID, a.ID), want2)
		if ev3 == nil || ev3.Name != novamed.EventShipmentCreated {
			t.Fatalf("TransitionOrder shipped again: got event %v, want %s", ev3, novamed.EventShipmentCreated)
		}
		if sh.ID == first.ID {
			t.Fatalf("the suite's second shipment reuses id %s", sh.ID)
		}
		d3, absent3 := orderData(want2)
		wantData(t, "shipment:created again", ev3.Data, d3, absent3...)
		names := []string{}
		for _, e := range f.events(a.ID)[len(before):] {
			names = append(names, e.Name)
		}
		equal(t, "events after cancel and reship", names, []string{novamed.EventShipmentCancelled, novamed.EventShipmentCreated})

		// Delivery marks the active shipment only.
		delivered := f.advance(reshipped, novamed.OrderDelivered)
		want3 := cloneOrder(want2)
		want3.Status, want3.UpdatedAt = novamed.OrderDelivered, delivered.UpdatedAt
		deliveredAt := delivered.UpdatedAt
		want3.Shipment.DeliveredAt = &deliveredAt
		equal(t, "delivered after reship", f.getOrder(cur.ID, a.ID), want3)
		_, _, err = f.s.CancelShipment(f.ctx, cur.ID, "too late", novamed.Effects{})
		wantCode(t, "CancelShipment of a delivered order", err, novamed.CodeNotShipped)
		equal(t, "GetMedicationOrder after a refused cancellation", f.getOrder(cur.ID, a.ID), want3)

		// Cancelling again after the second shipment works the same way
		// and keeps both earlier shipments.
		o2 := f.advance(f.order(p), novamed.OrderShipped)
		for i := range 3 {
			c, _, err := f.s.CancelShipment(f.ctx, o2.ID, fmt.Sprintf("lost %d", i), novamed.Effects{})
			must(t, fmt.Sprintf("CancelShipment %d", i), err)
			if i < 2 {
				o2, _, err = f.s.TransitionOrder(f.ctx, o2.ID, novamed.OrderShipped, f.shipment())
				must(t, fmt.Sprintf("TransitionOrder shipped %d", i), err)
			} else {
				o2 = c
			}
		}
		got2 := f.getOrder(o2.ID, a.ID)
		equal(t, "three cancelled shipments", got2, o2)
		if equal(t, "shipments after three cancellations", len(got2.Shipments), 3) {
			for i, s := range got2.Shipments {
				equal(t, fmt.Sprintf("shipment %d status", i), s.Status, novamed.ShipmentCancelled)
				equal(t, fmt.Sprintf("shipment %d reason", i), s.CancelReason, fmt.Sprintf("lost %d", i))
			}
		}
		equal(t, "the other clinic's order", f.getOrder(other.ID, b.ID), other)
	})

	// Only a shipped order's shipment can be cancelled; anything else is
	// refused and changes nothing, effects included.
	t.Run("NotShipped", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		p := f.parties(c.ID)
		for _, from := range append(slices.Clone(forward), novamed.OrderCancelled) {
			if from == novamed.OrderShipped {
				continue
			}
			o := f.advance(f.order(p), from)
			before := len(f.events(c.ID))
			what := "CancelShipment of a " + from + " order"
			got, ev, err := f.s.CancelShipment(f.ctx, o.ID, "lost", novamed.Effects{
				Audit: f.auditRecord("medication_order.cancel_shipment", base), Idempotency: idemRecord("owner-1", "k-"+from, base)})
			wantError(t, what, err, novamed.CodeNotShipped,
				"Only the shipment of a shipped order can be cancelled; this order is "+from+".")
			if got != nil || ev != nil {
				t.Errorf("%s: got order %v and event %v, want neither", what, got, ev)
			}
			equal(t, what+": GetMedicationOrder", f.getOrder(o.ID, c.ID), o)
			equal(t, what+": events", len(f.events(c.ID)), before)
			_, err = f.s.GetIdempotency(f.ctx, "owner-1", "k-"+from)
			wantCode(t, what+": GetIdempotency", err, novamed.CodeNotFound)
		}
		equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 0)
		_, _, err := f.s.CancelShipment(f.ctx, unknownID, "lost", novamed.Effects{})
		wantCode(t, "CancelShipment of an unknown order", err, novamed.CodeNotFound)
	})

	// Concurrent cancellations of one shipment: one wins, one event.
	t.Run("Concurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		o := f.advance(f.order(f.parties(c.ID)), novamed.OrderShipped)
		before := len(f.events(c.ID))
		errs := make([]error, 8)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-start
				_, _, errs[i] = f.s.CancelShipment(f.ctx, o.ID, "lost", novamed.Effects{})
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				continue
			}
			if code := novamed.ErrorCode(err); code != novamed.CodeNotShipped && code != novamed.CodeInvalidTransition {
				t.Errorf("CancelShipment %d: got %v, want ORDER_NOT_SHIPPED or INVALID_TRANSITION", i, err)
			}
		}
		equal(t, "successful cancellations", won, 1)
		equal(t, "events", len(f.events(c.ID)), before+1)
		equal(t, "shipments", len(f.getOrder(o.ID, c.ID).Shipments), 1)
	})

	// A refill's shipping fields reach its new order: the service of any
	// carrier, priced for the refill's address (else the patient's), the
	// address and the payment method id; the order then ships with that
	// carrier.
	t.Run("RefillShipping", func(t *testing.T) {
		f := newFixture(t, newStore)
		must(t, "ReplaceCarriers", f.s.ReplaceCarriers(f.ctx, shippingCatalogue(), false))
		a, b := f.clinic("A"), f.clinic("B")
		p := f.parties(a.ID)
		orig := f.advance(f.order(p, 6), novamed.OrderShipped) // FedEx 2Day
		root := orig.Items[0]
		remaining := 6
		deliver := func(o *novamed.MedicationOrder) {
			t.Helper()
			f.advance(o, novamed.OrderDelivered)
		}

		// usps_priority to California: Stamps.com at the mainland price.
		r := f.refill(root.ID)
		r.ShipmentServiceCode, r.PaymentMethodID = "usps_priority", "pm_card_visa_1234"
		r.ShippingAddress = &novamed.Address{Line1: "123 Main Street", City: "San Francisco", State: "CA", Zip: "94102"}
		remaining--
		n, _ := f.refillOK("CreateRefill with usps_priority", r, []string{a.ID}, novamed.Effects{}, orig, root, remaining)
		equal(t, "refill order carrier", n.CarrierID, stamps)
		equal(t, "refill order service", n.ServiceID, "usps_priority")
		equal(t, "refill order cost", n.ShippingCost, 9.85)
		equal(t, "refill order address", n.ShippingAddress, r.ShippingAddress)
		equal(t, "refill order payment method", n.PaymentMethodID, "pm_card_visa_1234")
		shippedRefill := f.advance(n, novamed.OrderShipped)
		if sh := shippedRefill.Shipment; sh == nil || sh.Provider != stampsName || !strings.HasPrefix(sh.TrackingURL, stampsTracking) {
			t.Errorf("the refill's order shipped with %+v, want Stamps.com and its tracking URL", sh)
		}
		deliver(shippedRefill)

		// An address alone re-prices the original service for it (Alaska:
		// the remote surcharge).
		r = f.refill(root.ID)
		r.ShippingAddress = &novamed.Address{Line1: "1 Glacier Way", City: "Juneau", State: "AK", Zip: "99801"}
		remaining--
		n, _ = f.refillOK("CreateRefill to Alaska", r, []string{a.ID}, novamed.Effects{}, orig, root, remaining)
		equal(t, "refill to Alaska: service", n.ServiceID, "fedex_2day")
		equal(t, "refill to Alaska: cost", n.ShippingCost, 76.43)
		deliver(n)

		// A service code alone ships to the patient's address, priced there.
		pf := f.fullPatient(a.ID, p.practitioner) // Oregon
		must(t, "CreatePatient", f.s.CreatePatient(f.ctx, pf, novamed.Effects{}))
		oo := f.minimalOrder(parties{clinic: a.ID, patient: pf.ID, practitioner: p.practitioner}, 3)
		must(t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, oo, novamed.Effects{}))
		oo = f.advance(storedOrder(oo), novamed.OrderShipped)
		r = f.refill(oo.Items[0].ID)
		r.ShipmentServiceCode = "usps_priority_express"
		n, _ = f.refillOK("CreateRefill with a code alone", r, []string{a.ID}, novamed.Effects{}, oo, oo.Items[0], 2)
		equal(t, "refill with a code alone: cost", n.ShippingCost, 31.40)
		equal(t, "refill with a code alone: address (the patient's, kept)", n.ShippingAddress, &pf.Address)
		deliver(n)

		// A clinic with free shipping pays nothing.
		_, err := f.s.SetClinicFreeShipping(f.ctx, a.ID, true)
		must(t, "SetClinicFreeShipping", err)
		r = f.refill(root.ID)
		r.ShipmentServiceCode = "usps_first_class"
		r.ShippingAddress = &novamed.Address{Line1: "9 Palm Ave", City: "Miami", State: "FL", Zip: "33101"}
		got, err := f.s.CreateRefill(f.ctx, r, []string{a.ID}, novamed.Effects{})
		must(t, "CreateRefill with free shipping", err)
		remaining--
		equal(t, "refill with free shipping: refills remaining", got.Items[0].RefillsRemaining, remaining)
		equal(t, "refill with free shipping: cost", got.ShippingCost, 0.0)
		equal(t, "refill with free shipping: carrier", got.CarrierID, stamps)
		deliver(storedOrder(got))
		_, err = f.s.SetClinicFreeShipping(f.ctx, a.ID, false)
		must(t, "SetClinicFreeShipping off", err)

		// Refused: nothing is written, effects included.
		both := []string{a.ID, b.ID}
		orders, refills := f.allOrders(both...), f.refills(both...)
		rootBefore := f.getOrder(orig.ID, a.ID)
		for _, tc := range []struct {
			name, code, state, field, errCode string
		}{
			{"unknown service code", "usps_priority_mail_bogus", "CA", "shipment_service_code", novamed.CodeInvalid},
			{"a carrier id as service code", stamps, "CA", "shipment_service_code", novamed.CodeInvalid},
			{"service not delivering there", "", "HI", "", novamed.CodeServiceNotAvail},
			{"no state to price for", "usps_priority", "", "", novamed.CodeServiceNotAvail},
		} {
			r := f.refill(root.ID)
			r.ShipmentServiceCode = tc.code
			if tc.state != "" {
				r.ShippingAddress = &novamed.Address{Line1: "1 Any St", City: "Town", State: tc.state, Zip: "96801"}
			}
			what := "CreateRefill, " + tc.name
			_, err := f.s.CreateRefill(f.ctx, r, []string{a.ID}, novamed.Effects{
				Idempotency: idemRecord("owner-1", tc.name, base), Audit: f.auditRecord("refill.create", base)})
			if wantCode(t, what, err, tc.errCode) && tc.field != "" {
				var e *novamed.Error
				if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
					t.Errorf("%s: got fields %+v, want one naming %s", what, e.Fields, tc.field)
				}
			}
			equal(t, what+": orders", f.allOrders(both...), orders)
			equal(t, what+": refills", f.refills(both...), refills)
			equal(t, what+": original order", f.getOrder(orig.ID, a.ID), rootBefore)
			_, err = f.s.GetIdempotency(f.ctx, "owner-1", tc.name)
			wantCode(t, what+": GetIdempotency", err, novamed.CodeNotFound)
		}
		equal(t, "audit records", len(f.scanAudit(zeroTime, zeroTime)), 0)
	})
}
