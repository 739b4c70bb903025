package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Carriers of the default catalogue the suite ships with.
const (
	fedex         = "se-3818360"
	fedexName     = "FedEx"
	fedexTracking = "https://www.fedex.com/fedextrack/?trknbr="
)

// parties are the clinic, patient and practitioner an order is for.
type parties struct {
	clinic, patient, practitioner string
}

// parties creates a patient and a practitioner in clinic.
func (f *fixture) parties(clinic string) parties {
	f.t.Helper()
	pr := f.practitioner(clinic)
	return parties{clinic: clinic, patient: f.patient(clinic).ID, practitioner: pr.ID}
}

// fullItem builds a medication request of order with every field set.
func (f *fixture) fullItem(order string) *novamed.MedicationRequest {
	f.t.Helper()
	f.n++
	id := newV7(f.t)
	return &novamed.MedicationRequest{
		ID: id, OrderID: order, RootID: id,
		Medication: fmt.Sprintf("Carprofen %d mg chewable", 25*f.n), Dose: "0.75 mg/kg", UnitOfMeasure: "mg/kg",
		Quantity: "30.5", Direction: "Give 1 tablet by mouth twice daily;\nwith food ✓", RefillsAuthorized: 11,
		RefillsRemaining: 7, DaysSupply: 365, Flavor: "beef \"bacon\"", Notes: "Owner: Jane Ü. Doe\t— call first",
		DoNotRefill: true, DoNotFill: true, PatientContactRequested: true,
		ReasonForCompounding:                  "Patient cannot swallow tablets",
		ReasonForCompoundingAdditionalContext: "Spits out pills; liquid at 10 mg/ml",
		RxNumber:                              fmt.Sprintf("RX-PRE-%d", f.n), IssueDate: "2025-03-14",
	}
}

// item builds a medication request of order with only the required fields
// and refills refills.
func (f *fixture) item(order string, refills int) *novamed.MedicationRequest {
	f.t.Helper()
	f.n++
	id := newV7(f.t)
	return &novamed.MedicationRequest{
		ID: id, OrderID: order, RootID: id, Medication: fmt.Sprintf("Gabapentin %d", f.n), Dose: "100 mg",
		UnitOfMeasure: "mg", Quantity: "60", Direction: "1 capsule every 12 hours",
		RefillsAuthorized: refills, RefillsRemaining: refills, IssueDate: "2025-03-14",
	}
}

// fullOrder builds an order with every field set and two items with every
// field set (the second one a refill of an earlier lineage).
func (f *fixture) fullOrder(p parties) *novamed.MedicationOrder {
	f.t.Helper()
	id := newV7(f.t)
	first, second := f.fullItem(id), f.fullItem(id)
	second.RootID = newV7(f.t)
	second.DoNotRefill, second.DoNotFill, second.RefillsAuthorized, second.RefillsRemaining = false, false, 2, 0
	created := f.tick()
	shipped := norm(created.Add(36 * time.Hour))
	delivered := shipped.Add(20*time.Hour + 123*time.Microsecond)
	return &novamed.MedicationOrder{
		ID: id, ClinicID: p.clinic, PatientID: p.patient, PractitionerID: p.practitioner, Status: novamed.OrderCreated,
		CarrierID: fedex, ServiceID: "fedex_2day", DeliverySpeed: "business-day", ShippingCost: 19.99,
		IsRefrigerated: true, ShipmentGroupID: fmt.Sprintf("grp-%d", f.n), RefillRequestID: newV7(f.t),
		Items: []*novamed.MedicationRequest{first, second},
		Shipment: &novamed.Shipment{
			ID: "shp_" + id, Provider: "FedEx \"Ground\"", TrackingNumber: "794612345678",
			TrackingURL: fedexTracking + "794612345678", LabelURL: "https://labels.example/794612345678.pdf",
			EstimatedDelivery: "2025-03-17", ShippedAt: shipped, DeliveredAt: &delivered,
		},
		CreatedAt: created, UpdatedAt: created.Add(90*time.Minute + 123456789),
	}
}

// minimalOrder builds an order with only the required fields and one item.
func (f *fixture) minimalOrder(p parties, refills ...int) *novamed.MedicationOrder {
	f.t.Helper()
	id := newV7(f.t)
	o := &novamed.MedicationOrder{
		ID: id, ClinicID: p.clinic, PatientID: p.patient, PractitionerID: p.practitioner, Status: novamed.OrderCreated,
		CarrierID: fedex, ServiceID: "fedex_2day", ShippingCost: 0, Items: []*novamed.MedicationRequest{},
	}
	if len(refills) == 0 {
		refills = []int{0}
	}
	for _, n := range refills {
		o.Items = append(o.Items, f.item(id, n))
	}
	o.CreatedAt = f.tick()
	o.UpdatedAt = o.CreatedAt
	return o
}

// order creates a minimal order of p with one item per refills value (one
// item without refills if none) and returns its stored form.
func (f *fixture) order(p parties, refills ...int) *novamed.MedicationOrder {
	f.t.Helper()
	o := f.minimalOrder(p, refills...)
	want := storedOrder(o)
	must(f.t, "CreateMedicationOrder", f.s.CreateMedicationOrder(f.ctx, o, novamed.Effects{}))
	return want
}

// cloneOrder deep-copies an order.
func cloneOrder(o *novamed.MedicationOrder) *novamed.MedicationOrder {
	if o == nil {
		return nil
	}
	w := *o
	if o.Items != nil {
		w.Items = make([]*novamed.MedicationRequest, len(o.Items))
		for i, it := range o.Items {
			c := *it
			w.Items[i] = &c
		}
	}
	if o.ShippingAddress != nil {
		a := *o.ShippingAddress
		w.ShippingAddress = &a
	}
	// Shipment points into Shipments (the active one): the copy does too.
	cloneShipment := func(sh *novamed.Shipment) *novamed.Shipment {
		c := *sh
		c.DeliveredAt, c.CancelledAt = normPtr(sh.DeliveredAt), normPtr(sh.CancelledAt)
		return &c
	}
	w.Shipment, w.Shipments = nil, nil
	if o.Shipments != nil {
		w.Shipments = make([]*novamed.Shipment, len(o.Shipments))
	}
	for i, sh := range o.Shipments {
		w.Shipments[i] = cloneShipment(sh)
		if sh == o.Shipment {
			w.Shipment = w.Shipments[i]
		}
	}
	if o.Shipment != nil && w.Shipment == nil {
		w.Shipment = cloneShipment(o.Shipment)
	}
	return &w
}

// storedOrder is the form GetMedicationOrder returns o in: times
// normalised, and its shipments listed (a shipment set without a list is
// the order's one active shipment).
func storedOrder(o *novamed.MedicationOrder) *novamed.MedicationOrder {
	w := cloneOrder(o)
	w.CreatedAt, w.UpdatedAt = norm(o.CreatedAt), norm(o.UpdatedAt)
	if len(w.Shipments) == 0 {
		w.Shipments = []*novamed.Shipment{}
		if w.Shipment != nil {
			w.Shipments = []*novamed.Shipment{w.Shipment}
		}
	}
	for _, sh := range w.Shipments {
		sh.ShippedAt = norm(sh.ShippedAt)
		if sh.Status == "" {
			sh.Status = novamed.ShipmentActive
		}
	}
	return w
}

// shipped returns the shipment sh as an order shipped at t holds it.
func shipped(sh novamed.Shipment, t time.Time) *novamed.Shipment {
	sh.ShippedAt, sh.Status = t, novamed.ShipmentActive
	return &sh
}

// addShipment makes sh the active (last) shipment of want.
func addShipment(want *novamed.MedicationOrder, sh *novamed.Shipment) {
	want.Shipment = sh
	want.Shipments = append(want.Shipments, sh)
}

// getOrder reads an order that must exist, in any of clinics.
func (f *fixture) getOrder(id string, clinics ...string) *novamed.MedicationOrder {
	f.t.Helper()
	o, err := f.s.GetMedicationOrder(f.ctx, id, clinics)
	must(f.t, "GetMedicationOrder "+id, err)
	return o
}

// shipment builds a shipment with a tracking number and no provider or
// tracking URL (the store fills them from the catalogue).
func (f *fixture) shipment() *novamed.Shipment {
	f.n++
	number := fmt.Sprintf("7946%08d", f.n)
	return &novamed.Shipment{
		ID: fmt.Sprintf("shp_%d", f.n), TrackingNumber: number,
		LabelURL: "https://labels.example/" + number + ".pdf", EstimatedDelivery: "2025-03-20",
	}
}

// advance moves o one legal step at a time until it reaches to (cancelled:
// in one step) and returns it as TransitionOrder last returned it.
func (f *fixture) advance(o *novamed.MedicationOrder, to string) *novamed.MedicationOrder {
	f.t.Helper()
	for o.Status != to {
		next := novamed.NextStatus(o.Status)
		if to == novamed.OrderCancelled {
			next = to
		}
		if next == "" {
			f.t.Fatalf("advance %s: no step from %s towards %s", o.ID, o.Status, to)
		}
		var sh *novamed.Shipment
		if next == novamed.OrderShipped {
			sh = f.shipment()
		}
		got, _, err := f.s.TransitionOrder(f.ctx, o.ID, next, sh)
		must(f.t, fmt.Sprintf("TransitionOrder %s → %s", o.Status, next), err)
		o = got
	}
	return o
}

// events lists every event of clinic.
func (f *fixture) events(clinic string) []*novamed.Event {
	f.t.Helper()
	evs, err := f.s.ListEvents(f.ctx, clinic, "", 1000)
	must(f.t, "ListEvents", err)
	return evs
}

// shipmentKeys are the event_data keys of a shipped order.
var shipmentKeys = []string{"shipment_id", "shipment_provider", "tracking_number", "tracking_url", "shipping_label"}

// orderData is the event_data an event about o (in its new status) must
// hold, and the keys it must not have.
func orderData(o *novamed.MedicationOrder) (want map[string]any, absent []string) {
	want = map[string]any{"id": o.ID, "clinic_id": o.ClinicID, "patient_id": o.PatientID,
		"practitioner_id": o.PractitionerID, "status": o.Status}
	var rx []string
	for _, it := range o.Items {
		if it.RxNumber != "" {
			rx = append(rx, it.RxNumber)
		}
	}
	if len(rx) > 0 {
		want["rx_number"], want["rx_numbers"] = rx[0], rx
	} else {
		absent = append(absent, "rx_number", "rx_numbers")
	}
	if s := o.Shipment; s != nil {
		want["shipment_id"], want["shipment_provider"], want["tracking_number"] = s.ID, s.Provider, s.TrackingNumber
		want["tracking_url"], want["shipping_label"] = s.TrackingURL, s.LabelURL
	} else {
		absent = append(absent, shipmentKeys...)
	}
	return want, absent
}

// wantData checks that event data holds every key of want (a string or a
// list of strings, in whatever form the store decodes them) and none of absent.
func wantData(t *testing.T, what string, data, want map[string]any, absent ...string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := data[k]
		if !ok {
			t.Errorf("%s: event_data[%q]: missing, want %#v", what, k, want[k])
			continue
		}
		switch w := want[k].(type) {
		case string:
			if s, ok := g.(string); !ok || s != w {
				t.Errorf("%s: event_data[%q]: got %#v, want %q", what, k, g, w)
			}
		case []string:
			if s, ok := strs(g); !ok || !slices.Equal(s, w) {
				t.Errorf("%s: event_data[%q]: got %#v, want %q", what, k, g, w)
			}
		}
	}
	for _, k := range absent {
		if g, ok := data[k]; ok {
			t.Errorf("%s: event_data[%q]: got %#v, want no such key", what, k, g)
		}
	}
}

// strs converts a decoded list of strings.
func strs(v any) ([]string, bool) {
	switch v := v.(type) {
	case []string:
		return v, true
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// sameEvent checks that a listed event is the one a change returned.
func sameEvent(t *testing.T, what string, got, want *novamed.Event) {
	t.Helper()
	if got == nil || want == nil {
		t.Errorf("%s: got %v, want %v", what, got, want)
		return
	}
	equal(t, what+" id", got.ID, want.ID)
	equal(t, what+" clinic", got.ClinicID, want.ClinicID)
	equal(t, what+" name", got.Name, want.Name)
	equal(t, what+" created_at", got.CreatedAt, want.CreatedAt)
}

// wantNormalised checks that a time the store chose is in its stored form.
func wantNormalised(t *testing.T, what string, tm time.Time) {
	t.Helper()
	equal(t, what+" in UTC at microsecond precision", tm, norm(tm))
}

// wantError checks err's domain code and exact message.
func wantError(t *testing.T, what string, err error, code, msg string) bool {
	t.Helper()
	if !wantCode(t, what, err, code) {
		return false
	}
	var e *novamed.Error
	errors.As(err, &e)
	if e.Message != msg {
		t.Errorf("%s: got message %q, want %q", what, e.Message, msg)
		return false
	}
	return true
}
