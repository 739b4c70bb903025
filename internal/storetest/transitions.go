package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// forward is the lifecycle of an order; cancelled is reachable from every
// status before shipped.
var forward = []string{novamed.OrderCreated, novamed.OrderVerified, novamed.OrderSubmitted, novamed.OrderAcknowledged,
	novamed.OrderFilled, novamed.OrderShipped, novamed.OrderDelivered}

// legalStep reports whether an order may move from one status to another.
func legalStep(from, to string) bool {
	i := slices.Index(forward, from)
	if to == novamed.OrderCancelled {
		return i >= 0 && i < slices.Index(forward, novamed.OrderShipped)
	}
	return i >= 0 && i+1 < len(forward) && forward[i+1] == to
}

func testTransitions(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("Lifecycle", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p := f.parties(a.ID)
		o := f.order(p, 2, 0)
		ob := f.advance(f.order(f.parties(b.ID)), novamed.OrderVerified) // an event of another clinic
		steps := []struct{ to, event string }{
			{novamed.OrderVerified, novamed.EventOrderVerified},
			{novamed.OrderSubmitted, novamed.EventOrderSubmitted},
			{novamed.OrderAcknowledged, novamed.EventOrderAcknowledged},
			{novamed.OrderFilled, novamed.EventOrderFilled},
			{novamed.OrderShipped, novamed.EventShipmentCreated},
			{novamed.OrderDelivered, novamed.EventOrderDelivered},
		}
		prev := o
		var returned []*novamed.Event
		var states []*novamed.MedicationOrder // the order after each step
		for _, st := range steps {
			what := "TransitionOrder " + prev.Status + " → " + st.to
			var sh *novamed.Shipment
			if st.to == novamed.OrderShipped {
				sh = &novamed.Shipment{ID: "shp_lifecycle", TrackingNumber: "794612345678",
					LabelURL: "https://labels.example/794612345678.pdf", EstimatedDelivery: "2025-03-20"}
			}
			got, ev, err := f.s.TransitionOrder(f.ctx, o.ID, st.to, sh)
			must(t, what, err)
			if got == nil || ev == nil {
				t.Fatalf("%s: got order %v and event %v, want both", what, got, ev)
			}
			want := cloneOrder(prev)
			want.Status, want.UpdatedAt = st.to, got.UpdatedAt
			wantNormalised(t, what+": updated_at", got.UpdatedAt)
			if !got.UpdatedAt.After(o.UpdatedAt) {
				t.Errorf("%s: updated_at: got %s, want the store's clock (after %s)", what, got.UpdatedAt, o.UpdatedAt)
			}
			switch st.to {
			case novamed.OrderVerified:
				// Every item gets its own rx number at verification.
				seen := map[string]bool{}
				for i, it := range want.Items {
					if i >= len(got.Items) {
						break
					}
					rx := got.Items[i].RxNumber
					if rx == "" || seen[rx] {
						t.Errorf("%s: item %d rx number: got %q, want a new, distinct one", what, i, rx)
					}
					seen[rx], it.RxNumber = true, rx
				}
			case novamed.OrderShipped:
				addShipment(want, shipped(novamed.Shipment{ID: sh.ID, Provider: fedexName, TrackingNumber: sh.TrackingNumber,
					TrackingURL: fedexTracking + sh.TrackingNumber, LabelURL: sh.LabelURL,
					EstimatedDelivery: sh.EstimatedDelivery}, got.UpdatedAt))
			case novamed.OrderDelivered:
				delivered := got.UpdatedAt
				want.Shipment.DeliveredAt = &delivered
			}
			equal(t, what, got, want)
			equal(t, what+": GetMedicationOrder", f.getOrder(o.ID, a.ID), want)
			equal(t, what+": event name", ev.Name, st.event)
			equal(t, what+": event clinic", ev.ClinicID, a.ID)
			equal(t, what+": event created_at", ev.CreatedAt, got.UpdatedAt)
			data, absent := orderData(want)
			wantData(t, what, ev.Data, data, absent...)
			returned, states, prev = append(returned, ev), append(states, want), want
		}

		listed := f.events(a.ID)
		if equal(t, "ListEvents: events", len(listed), len(steps)) {
			for i, ev := range listed {
				what := fmt.Sprintf("ListEvents[%d] (%s)", i, steps[i].event)
				sameEvent(t, what, ev, returned[i])
				data, absent := orderData(states[i])
				wantData(t, what, ev.Data, data, absent...)
			}
			after, err := f.s.ListEvents(f.ctx, a.ID, listed[2].ID, 100)
			must(t, "ListEvents after the third", err)
			equal(t, "ListEvents after the third", eventIDs(after), eventIDs(listed[3:]))
			first, err := f.s.ListEvents(f.ctx, a.ID, "", 2)
			must(t, "ListEvents limit 2", err)
			equal(t, "ListEvents limit 2", eventIDs(first), eventIDs(listed[:2]))
			last, err := f.s.ListEvents(f.ctx, a.ID, listed[len(listed)-1].ID, 100)
			must(t, "ListEvents after the last", err)
			equal(t, "ListEvents after the last", last, []*novamed.Event{})
		}
		other := f.events(b.ID)
		if equal(t, "ListEvents of the other clinic: events", len(other), 1) {
			equal(t, "other clinic's event name", other[0].Name, novamed.EventOrderVerified)
			data, absent := orderData(ob)
			wantData(t, "other clinic's event", other[0].Data, data, absent...)
		}
		equal(t, "ListEvents of an unknown clinic", f.events(unknownID), []*novamed.Event{})

		// A delivered order is final.
		for _, to := range append(slices.Clone(forward), novamed.OrderCancelled) {
			_, ev, err := f.s.TransitionOrder(f.ctx, o.ID, to, f.shipment())
			wantCode(t, "TransitionOrder delivered → "+to, err, novamed.CodeInvalidTransition)
			if ev != nil {
				t.Errorf("TransitionOrder delivered → %s: got event %s, want nil", to, ev.Name)
			}
		}
		equal(t, "GetMedicationOrder after refused transitions", f.getOrder(o.ID, a.ID), prev)
		equal(t, "ListEvents after refused transitions", eventIDs(f.events(a.ID)), eventIDs(listed))

		// Rx numbers are distinct across orders.
		more := f.advance(f.order(p, 0, 0, 0), novamed.OrderVerified)
		rx := map[string]string{}
		for _, x := range []*novamed.MedicationOrder{prev, ob, more} {
			for _, it := range x.Items {
				if it.RxNumber == "" {
					t.Errorf("order %s item %s: got no rx number after verification", x.ID, it.ID)
				} else if other, dup := rx[it.RxNumber]; dup {
					t.Errorf("rx number %s: given to item %s and item %s", it.RxNumber, other, it.ID)
				}
				rx[it.RxNumber] = it.ID
			}
		}
	})

	t.Run("Shipment", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		p := f.parties(c.ID)
		ups := "se-11226"
		cases := []struct {
			name             string
			carrier, service string
			in               novamed.Shipment
			provider, url    string
			replaceCatalogue []novamed.Carrier
		}{
			{name: "provider and URL from the catalogue", carrier: fedex, service: "fedex_2day",
				in: novamed.Shipment{ID: "shp_1", TrackingNumber: "111"}, provider: fedexName, url: fedexTracking + "111"},
			{name: "provider given", carrier: fedex, service: "fedex_2day",
				in: novamed.Shipment{ID: "shp_2", Provider: "Own Courier", TrackingNumber: "222"}, provider: "Own Courier", url: fedexTracking + "222"},
			{name: "URL given", carrier: fedex, service: "fedex_2day",
				in: novamed.Shipment{ID: "shp_3", TrackingNumber: "333", TrackingURL: "https://t.example/333"}, provider: fedexName, url: "https://t.example/333"},
			{name: "both given", carrier: fedex, service: "fedex_2day",
				in:       novamed.Shipment{ID: "shp_4", Provider: "Own", TrackingNumber: "444", TrackingURL: "https://t.example/444", LabelURL: "https://l.example/444"},
				provider: "Own", url: "https://t.example/444"},
			{name: "other carrier", carrier: ups, service: "ups_ground",
				in: novamed.Shipment{ID: "shp_5", TrackingNumber: "1Z 555&x", EstimatedDelivery: "2025-03-21"}, provider: "UPS", url: "https://www.ups.com/track?tracknum=1Z 555&x"},
			{name: "after ReplaceCarriers", carrier: fedex, service: "fedex_2day",
				replaceCatalogue: []novamed.Carrier{{ID: fedex, Name: "FedEx Custom", Tracking: "https://track.example/{tracking}/fedex?n={tracking}",
					Services: []novamed.CarrierService{{ID: "fedex_2day", Name: "2Day", Speed: "business-day", BaseCostCents: 1}}}},
				in: novamed.Shipment{ID: "shp_6", TrackingNumber: "666"}, provider: "FedEx Custom", url: "https://track.example/666/fedex?n=666"},
		}
		for _, tc := range cases {
			o := f.minimalOrder(p)
			o.CarrierID, o.ServiceID = tc.carrier, tc.service
			must(t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, o, novamed.Effects{}))
			filled := f.advance(storedOrder(o), novamed.OrderFilled)
			if tc.replaceCatalogue != nil {
				must(t, "ReplaceCarriers", f.s.ReplaceCarriers(f.ctx, tc.replaceCatalogue, false))
			}
			in := tc.in
			got, ev, err := f.s.TransitionOrder(f.ctx, o.ID, novamed.OrderShipped, &in)
			what := "TransitionOrder shipped, " + tc.name
			must(t, what, err)
			want := cloneOrder(filled)
			want.Status, want.UpdatedAt = novamed.OrderShipped, got.UpdatedAt
			sh := tc.in
			sh.Provider, sh.TrackingURL = tc.provider, tc.url
			addShipment(want, shipped(sh, got.UpdatedAt))
			equal(t, what, got, want)
			equal(t, what+": GetMedicationOrder", f.getOrder(o.ID, c.ID), want)
			if ev != nil {
				equal(t, what+": event name", ev.Name, novamed.EventShipmentCreated)
				data, absent := orderData(want)
				wantData(t, what, ev.Data, data, absent...)
			} else {
				t.Errorf("%s: got no event", what)
			}
		}

		// Shipping needs a tracking number.
		filled := f.advance(f.order(p), novamed.OrderFilled)
		before := len(f.events(c.ID))
		for _, tc := range []struct {
			name string
			in   *novamed.Shipment
		}{
			{"no shipment", nil},
			{"empty shipment", &novamed.Shipment{}},
			{"no tracking number", &novamed.Shipment{ID: "shp_x", Provider: "UPS", TrackingURL: "https://t.example/x", LabelURL: "https://l.example/x"}},
		} {
			_, ev, err := f.s.TransitionOrder(f.ctx, filled.ID, novamed.OrderShipped, tc.in)
			wantCode(t, "TransitionOrder shipped, "+tc.name, err, novamed.CodeInvalidTransition)
			if ev != nil {
				t.Errorf("TransitionOrder shipped, %s: got event %s, want nil", tc.name, ev.Name)
			}
		}
		equal(t, "GetMedicationOrder after refused shipments", f.getOrder(filled.ID, c.ID), filled)
		equal(t, "events after refused shipments", len(f.events(c.ID)), before)
	})

	t.Run("Illegal", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		p := f.parties(c.ID)
		targets := append(slices.Clone(forward), novamed.OrderCancelled, "", "bogus", "Verified", " verified")
		for _, from := range append(slices.Clone(forward), novamed.OrderCancelled) {
			o := f.advance(f.order(p), from)
			before := len(f.events(c.ID))
			for _, to := range targets {
				if legalStep(from, to) {
					continue
				}
				what := fmt.Sprintf("TransitionOrder %s → %q", from, to)
				_, ev, err := f.s.TransitionOrder(f.ctx, o.ID, to, f.shipment())
				wantCode(t, what, err, novamed.CodeInvalidTransition)
				if ev != nil {
					t.Errorf("%s: got event %s, want nil", what, ev.Name)
				}
			}
			equal(t, "GetMedicationOrder after refused transitions from "+from, f.getOrder(o.ID, c.ID), o)
			equal(t, "events after refused transitions from "+from, len(f.events(c.ID)), before)
		}
		_, _, err := f.s.TransitionOrder(f.ctx, unknownID, novamed.OrderVerified, nil)
		wantCode(t, "TransitionOrder of an unknown order", err, novamed.CodeNotFound)
	})

	t.Run("Cancel", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		p := f.parties(c.ID)
		for _, from := range forward {
			cur := f.advance(f.order(p, 1), from)
			before := f.events(c.ID)
			got, ev, err := f.s.TransitionOrder(f.ctx, cur.ID, novamed.OrderCancelled, nil)
			what := "TransitionOrder " + from + " → cancelled"
			if !legalStep(from, novamed.OrderCancelled) {
				wantCode(t, what, err, novamed.CodeInvalidTransition)
				if ev != nil {
					t.Errorf("%s: got event %s, want nil", what, ev.Name)
				}
				equal(t, what+": GetMedicationOrder", f.getOrder(cur.ID, c.ID), cur)
				equal(t, what+": events", len(f.events(c.ID)), len(before))
				continue
			}
			must(t, what, err)
			if ev == nil {
				t.Fatalf("%s: got no event", what)
			}
			want := cloneOrder(cur)
			want.Status, want.UpdatedAt = novamed.OrderCancelled, got.UpdatedAt
			equal(t, what, got, want)
			equal(t, what+": GetMedicationOrder", f.getOrder(cur.ID, c.ID), want)
			equal(t, what+": event name", ev.Name, novamed.EventOrderCancelled)
			data, absent := orderData(want)
			wantData(t, what, ev.Data, data, absent...)
			after := f.events(c.ID)
			if equal(t, what+": events", len(after), len(before)+1) {
				sameEvent(t, what+": listed event", after[len(after)-1], ev)
			}
		}
	})

	// Concurrent operators move one order once: one wins, the others see
	// the order already moved.
	t.Run("Concurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		o := f.order(f.parties(c.ID), 1, 2)
		type result struct {
			o   *novamed.MedicationOrder
			ev  *novamed.Event
			err error
		}
		results := make([]result, 10)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				<-start
				got, ev, err := f.s.TransitionOrder(f.ctx, o.ID, novamed.OrderVerified, nil)
				results[i] = result{got, ev, err}
			})
		}
		close(start)
		wg.Wait()
		var won []result
		for i, r := range results {
			if r.err == nil {
				won = append(won, r)
				continue
			}
			what := fmt.Sprintf("TransitionOrder %d", i)
			wantCode(t, what, r.err, novamed.CodeInvalidTransition)
			if r.ev != nil {
				t.Errorf("%s: got event %s with an error", what, r.ev.Name)
			}
		}
		if !equal(t, "successful transitions", len(won), 1) {
			return
		}
		evs := f.events(c.ID)
		if equal(t, "events", len(evs), 1) {
			sameEvent(t, "the event", evs[0], won[0].ev)
		}
		equal(t, "GetMedicationOrder", f.getOrder(o.ID, c.ID), won[0].o)
	})

	t.Run("OrdersToAdvance", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		p, pb := f.parties(a.ID), f.parties(b.ID)
		// The store's clock reads between 2025-03-15 and future: orders
		// created at the suite's times are older than any change.
		future := time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC)
		old, oldOther := f.order(p), f.order(pb)
		verified := f.advance(f.order(p), novamed.OrderVerified)
		shipped := f.advance(f.order(pb), novamed.OrderShipped)
		f.advance(f.order(p), novamed.OrderDelivered)
		f.advance(f.order(p), novamed.OrderCancelled)
		f.advance(f.order(pb), novamed.OrderCancelled)
		atFuture, later := f.minimalOrder(p), f.minimalOrder(pb)
		atFuture.UpdatedAt, later.UpdatedAt = future, future.Add(time.Hour)
		for _, o := range []*novamed.MedicationOrder{atFuture, later} {
			must(t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, o, novamed.Effects{}))
		}
		stripped := func(os ...*novamed.MedicationOrder) []*novamed.MedicationOrder {
			out := []*novamed.MedicationOrder{}
			for _, o := range os {
				w := cloneOrder(o)
				w.Items = nil
				out = append(out, w)
			}
			slices.SortFunc(out, func(x, y *novamed.MedicationOrder) int { return cmp.Compare(x.ID, y.ID) })
			return out
		}
		open := []*novamed.MedicationOrder{old, oldOther, verified, shipped}
		cases := []struct {
			name   string
			before time.Time
			want   []*novamed.MedicationOrder
		}{
			{"before every order", base, nil},
			{"untouched orders", at(time.Hour), []*novamed.MedicationOrder{old, oldOther}},
			{"changed open orders", future, open},
			{"one microsecond later", future.Add(time.Microsecond), append(slices.Clone(open), storedOrder(atFuture))},
			{"after every order", future.Add(2 * time.Hour), append(slices.Clone(open), storedOrder(atFuture), storedOrder(later))},
		}
		for _, tc := range cases {
			got, err := f.s.OrdersToAdvance(f.ctx, tc.before, 100)
			must(t, "OrdersToAdvance "+tc.name, err)
			// Items are not loaded: they are not compared.
			equal(t, "OrdersToAdvance "+tc.name, stripped(got...), stripped(tc.want...))
		}
		got, err := f.s.OrdersToAdvance(f.ctx, future.Add(2*time.Hour), 2)
		must(t, "OrdersToAdvance limit 2", err)
		all := cases[len(cases)-1].want
		if equal(t, "OrdersToAdvance limit 2: orders", len(got), 2) {
			for _, o := range got {
				if !slices.ContainsFunc(all, func(w *novamed.MedicationOrder) bool { return w.ID == o.ID }) {
					t.Errorf("OrdersToAdvance limit 2: got order %s (%s), want one of the open orders", o.ID, o.Status)
				}
			}
			if got[0].ID == got[1].ID {
				t.Errorf("OrdersToAdvance limit 2: got order %s twice", got[0].ID)
			}
		}
	})
}

// eventIDs returns the ids of events.
func eventIDs(evs []*novamed.Event) []string {
	ids := []string{}
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids
}
