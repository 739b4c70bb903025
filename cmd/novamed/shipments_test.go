package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// shipmentJSON is one entry of an order's shipments.
type shipmentJSON struct {
	ID           string  `json:"shipment_id"`
	Status       string  `json:"status"`
	Provider     string  `json:"shipment_provider"`
	Tracking     string  `json:"tracking_number"`
	TrackingURL  string  `json:"tracking_url"`
	CancelledAt  *string `json:"cancelled_at"`
	CancelReason string  `json:"cancel_reason"`
}

// shippedOrder is the part of an order the shipment tests read.
type shippedOrder struct {
	ID        string         `json:"id"`
	Status    string         `json:"status"`
	CarrierID string         `json:"carrier_id"`
	ServiceID string         `json:"service_id"`
	Cost      float64        `json:"shipping_cost"`
	Payment   string         `json:"payment_method_id"`
	Address   map[string]any `json:"shipping_address"`
	Shipment  *shipmentJSON  `json:"shipment"`
	Shipments []shipmentJSON `json:"shipments"`
	Items     []struct {
		RefillsRemaining int `json:"refills_remaining"`
	} `json:"medication_requests"`
}

func (p *pharmacy) getOrder(t *testing.T, id, key string) shippedOrder {
	t.Helper()
	r := p.req("GET", "/api/external/medication-order/"+id, key, nil)
	expectOK(t, r)
	var o shippedOrder
	r.data(t, &o)
	return o
}

// auditRecords exports the audit trail of ts (either backend).
func auditRecords(t *testing.T, ts *testServer) []exportedRecord {
	t.Helper()
	args := []string{"audit", "export", "--data-dir", ts.DataDir}
	if db := ts.vars["NOVAMED_DB"]; db != "" {
		args = append(args, "--db", db)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, ts.getenv, &stdout, &stderr); err != nil {
		t.Fatalf("audit export: %v\n%s", err, stderr.String())
	}
	var recs []exportedRecord
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var rec exportedRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit export: %v\n%s", err, line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestShipmentCancelledThenShippedAgain: the operator cancels a shipped
// order's shipment and ships it again; the partner's receiver gets
// shipment:cancelled (the cancelled shipment's id and the reason) and then
// a new shipment:created with a new shipment id, and order reads show both
// shipments.
func TestShipmentCancelledThenShippedAgain(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t, "--webhook-poll", "20ms")
	var secret string
	rc := newReceiver(t, &secret)
	w := registerWebhook(t, p.testServer, p.key, demoClinic, rc.URL+"/hooks")
	secret = w.SigningSecret
	_, o := p.order(t, nil, nil)
	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	first := p.getOrder(t, o.OrderID, p.key).Shipment
	if first == nil {
		t.Fatal("the shipped order has no shipment")
	}
	isShipment := func(d delivered) bool { return strings.HasPrefix(d.Name, "shipment:") && d.Data["id"] == o.OrderID }
	// No waiting for deliveries between the steps: the three shipment
	// events are queued back to back, and the per-order ordering of the
	// webhook worker must deliver them in the order they happened.

	// Cancelling needs a reason, and only a shipped order has a shipment
	// to cancel.
	if err := p.cli(nil, "orders", "cancel-shipment", o.OrderID); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("cancel-shipment without --reason: %v", err)
	}
	_, created := p.order(t, nil, nil)
	if err := p.cli(nil, "orders", "cancel-shipment", created.OrderID, "--reason", "lost"); err == nil ||
		!strings.Contains(err.Error(), "Only the shipment of a shipped order can be cancelled; this order is created.") {
		t.Errorf("cancel-shipment of a created order: %v", err)
	}
	if got := p.getOrder(t, created.OrderID, p.key); got.Status != "created" || len(got.Shipments) != 0 {
		t.Errorf("the refused cancellation changed the order: %+v", got)
	}

	reason := "Carrier exception: package damaged in transit"
	p.addSecret(reason) // free text about a patient's parcel never reaches the log
	var out struct {
		ID, Status, Event string
		ShipmentID        string `json:"shipment_id"`
	}
	p.mustCLI(&out, "orders", "cancel-shipment", o.OrderID, "--reason", reason)
	if out.Status != "filled" || out.Event != "shipment:cancelled" || out.ShipmentID != first.ID {
		t.Errorf("cancel-shipment answered %+v, want filled, shipment:cancelled, shipment %s", out, first.ID)
	}
	after := p.getOrder(t, o.OrderID, p.key)
	if after.Status != "filled" || after.Shipment != nil || len(after.Shipments) != 1 || after.Shipments[0].Status != "cancelled" ||
		after.Shipments[0].CancelReason != reason || after.Shipments[0].CancelledAt == nil || after.Shipments[0].ID != first.ID {
		t.Errorf("order after the cancellation: %+v", after)
	}

	p.mustCLI(nil, "orders", "advance", o.OrderID, "--to", "shipped", "--tracking-number", "TRK-SECOND-1")
	got := rc.waitFor(t, "the second shipment:created", func(ds []delivered) bool {
		n := 0
		for _, d := range ds {
			if isShipment(d) {
				n++
			}
		}
		return n >= 3
	})
	var seq []delivered
	for _, d := range got {
		if isShipment(d) {
			seq = append(seq, d)
		}
	}
	names := []string{}
	for _, d := range seq {
		names = append(names, d.Name)
	}
	if want := []string{"shipment:created", "shipment:cancelled", "shipment:created"}; !slices.Equal(names, want) {
		t.Fatalf("shipment events at the receiver: %v, want %v", names, want)
	}
	cancelled, again := seq[1].Data, seq[2].Data
	if cancelled["shipment_id"] != first.ID || cancelled["reason"] != reason || cancelled["shipment_provider"] != "FedEx" ||
		cancelled["status"] != "filled" || cancelled["clinic_id"] != demoClinic || cancelled["patient_id"] != p.patientID ||
		cancelled["practitioner_id"] != p.practitionerID || cancelled["rx_number"] == nil {
		t.Errorf("shipment:cancelled data: %v", cancelled)
	}
	if again["shipment_id"] == first.ID || again["shipment_id"] == "" || again["tracking_number"] != "TRK-SECOND-1" || again["status"] != "shipped" {
		t.Errorf("the second shipment:created: %v (first shipment %s)", again, first.ID)
	}

	// Reads show every shipment; the top-level shipment is the active one.
	final := p.getOrder(t, o.OrderID, p.key)
	if final.Status != "shipped" || len(final.Shipments) != 2 || final.Shipments[0].Status != "cancelled" ||
		final.Shipments[1].Status != "active" || final.Shipment == nil || final.Shipment.ID != final.Shipments[1].ID ||
		final.Shipment.ID != again["shipment_id"] || final.Shipments[1].CancelledAt != nil {
		t.Errorf("order after shipping again: %+v", final)
	}
	r := p.req("GET", "/api/external/medication-order?patient_id="+p.patientID+"&status=shipped", p.key, nil)
	expectOK(t, r)
	var list struct{ Items []shippedOrder }
	r.data(t, &list)
	if len(list.Items) != 1 || len(list.Items[0].Shipments) != 2 || list.Items[0].Shipments[0].CancelReason != reason {
		t.Errorf("order list: %s", r.Body)
	}

	// The audit trail records the operator's action on the order and the shipment.
	found := false
	for _, rec := range auditRecords(t, p.testServer) {
		if rec.Action == "medication_order.cancel_shipment" && rec.Status == 200 {
			found = true
			if !slices.Equal(rec.ResourceIDs, []string{o.OrderID, first.ID}) || rec.ClinicID != demoClinic {
				t.Errorf("audit record: %+v", rec)
			}
		}
	}
	if !found {
		t.Error("no audit record of the cancellation")
	}
}

// TestSandboxCancelShipmentRoute: in development a partner cancels a
// shipment of its own order through the sandbox route; in production the
// route does not exist.
func TestSandboxCancelShipmentRoute(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	_, o := p.order(t, nil, nil)
	path := "/api/external/medication-order/" + o.OrderID + "/sandbox/cancel-shipment"
	// Not shipped yet: refused, nothing changes.
	expectError(t, p.req("POST", path, p.key, map[string]any{"reason": "Returned to sender"}), 400, "ORDER_NOT_SHIPPED",
		"Only the shipment of a shipped order can be cancelled; this order is created.")
	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	before := p.getOrder(t, o.OrderID, p.key)
	for _, body := range []map[string]any{{}, {"reason": "  "}, {"reason": 42}, {"reason": strings.Repeat("x", 501)}, {"reason": "two\nlines"}} {
		r := p.req("POST", path, p.key, body)
		expectError(t, r, 400, "VALIDATION_ERROR", "")
		if !hasField(r, "reason") {
			t.Errorf("refusal of %v does not name reason: %s", body, r.Body)
		}
	}
	// Another partner's key gets the "unknown order" answer.
	other := p.newKey("--clinic", p.newClinic("Other"))
	unknown := p.req("POST", "/api/external/medication-order/0190a4e2-0000-7000-8000-000000000000/sandbox/cancel-shipment", p.key,
		map[string]any{"reason": "Returned to sender"})
	notYours := p.req("POST", path, other.Key, map[string]any{"reason": "Returned to sender"})
	expectError(t, notYours, 404, unknown.Env.Error.Code, unknown.Env.Error.Message)
	if got := p.getOrder(t, o.OrderID, p.key); got.Status != "shipped" || len(got.Shipments) != len(before.Shipments) {
		t.Fatalf("refused cancellations changed the order: %+v", got)
	}

	r := p.req("POST", path, p.key, map[string]any{"reason": "Returned to sender"})
	expectOK(t, r)
	var got shippedOrder
	r.data(t, &got)
	if r.Env.Message != "Shipment cancelled" || got.Status != "filled" || got.Shipment != nil || len(got.Shipments) != 1 ||
		got.Shipments[0].Status != "cancelled" || got.Shipments[0].CancelReason != "Returned to sender" || got.Shipments[0].ID != before.Shipment.ID {
		t.Errorf("sandbox cancel-shipment answered %s", r.Body)
	}
	expectError(t, p.req("POST", path, p.key, map[string]any{"reason": "again"}), 400, "ORDER_NOT_SHIPPED",
		"Only the shipment of a shipped order can be cancelled; this order is filled.")
	if ev := p.events(t); ev[len(ev)-1] != "shipment:cancelled" {
		t.Errorf("events %v, want the last to be shipment:cancelled", ev)
	}
	found := false
	for _, rec := range auditRecords(t, p.testServer) {
		if rec.Action == "medication_order.cancel_shipment" && rec.Status == 200 {
			found = slices.Equal(rec.ResourceIDs, []string{o.OrderID, before.Shipment.ID})
		}
	}
	if !found {
		t.Error("no audit record naming the order and the shipment")
	}

	// Production: the route answers exactly as an unknown route does.
	prod := startServer(t, "production")
	clinic := prod.newClinic("Prod")
	k := prod.newKey("--clinic", clinic)
	sandboxRoute := prod.req("POST", path, k.Key, map[string]any{"reason": "Returned to sender"})
	unknownRoute := prod.req("POST", "/api/external/medication-order/"+o.OrderID+"/sandbox/no-such-action", k.Key, map[string]any{"reason": "Returned to sender"})
	expectError(t, sandboxRoute, 404, unknownRoute.Env.Error.Code, unknownRoute.Env.Error.Message)
	if unknownRoute.Status != 404 {
		t.Errorf("an unknown route answered %d", unknownRoute.Status)
	}
}

// TestRefillShippingFields: the API reference's refill body (shipping
// address, usps_priority, payment method id) makes the refill's order ship
// with Stamps.com to that address; an unknown service code is a 400 naming
// it, and nothing is written.
func TestRefillShippingFields(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t) // the default catalogue is the published one (contract §8)
	_, o := p.order(t, nil, nil)
	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")

	// Refused bodies change nothing: no refill, no order, no refill used.
	countOf := func(path string) int {
		r := p.req("GET", path+"?limit=100", p.key, nil)
		expectOK(t, r)
		var page struct{ Items []json.RawMessage }
		r.data(t, &page)
		return len(page.Items)
	}
	orders, refills := countOf("/api/external/medication-order"), countOf("/api/external/refill-request")
	address := map[string]any{"line1": "123 Main Street", "city": "San Francisco", "state": "CA", "zip": "94102", "country": "US"}
	with := func(k string, v any) map[string]any {
		b := map[string]any{"clinic_id": demoClinic, "medication_request_id": o.RequestID, "shipping_address": address,
			"shipment_service_code": "usps_priority", "payment_method_id": "pm_card_visa_1234"}
		b[k] = v
		return b
	}
	for _, tc := range []struct {
		name, field string
		body        map[string]any
		status      int
		code        string
	}{
		{"unknown service code", "shipment_service_code", with("shipment_service_code", "usps_teleport"), 400, "VALIDATION_ERROR"},
		{"a carrier id as service code", "shipment_service_code", with("shipment_service_code", "se-11225"), 400, "VALIDATION_ERROR"},
		{"service code not a string", "shipment_service_code", with("shipment_service_code", 7), 400, "VALIDATION_ERROR"},
		{"address without city", "shipping_address.city", with("shipping_address", map[string]any{"line1": "1 Main St", "state": "CA", "zip": "94102"}), 400, "VALIDATION_ERROR"},
		{"address without line 1", "shipping_address.line1", with("shipping_address", map[string]any{"city": "Fresno", "state": "CA", "zip": "93650"}), 400, "VALIDATION_ERROR"},
		{"address with an unknown state", "shipping_address.state", with("shipping_address", map[string]any{"line1": "1 Main St", "city": "X", "state": "ZZ", "zip": "94102"}), 400, "VALIDATION_ERROR"},
		{"address abroad", "shipping_address.country", with("shipping_address", map[string]any{"line1": "1 Main St", "city": "Toronto", "state": "NY", "zip": "10001", "country": "CA"}), 400, "VALIDATION_ERROR"},
		{"address not an object", "shipping_address", with("shipping_address", "123 Main Street"), 400, "VALIDATION_ERROR"},
		{"payment method id not printable ASCII", "payment_method_id", with("payment_method_id", "pm_✓"), 400, "VALIDATION_ERROR"},
		{"payment method id too long", "payment_method_id", with("payment_method_id", strings.Repeat("p", 129)), 400, "VALIDATION_ERROR"},
		{"service not delivering there", "", with("shipping_address", map[string]any{"line1": "1 Marine Dr", "city": "Hagåtña", "state": "GU", "zip": "96910"}), 400, "SERVICE_NOT_AVAILABLE"},
	} {
		b := tc.body
		if tc.name == "service not delivering there" {
			b["shipment_service_code"] = "fedex_ground" // not to the territories
		}
		r := p.req("POST", "/api/external/refill-request", p.key, b)
		expectError(t, r, tc.status, tc.code, "")
		if tc.field != "" && !hasField(r, tc.field) {
			t.Errorf("%s: the refusal does not name %s: %s", tc.name, tc.field, r.Body)
		}
	}
	if n, m := countOf("/api/external/medication-order"), countOf("/api/external/refill-request"); n != orders || m != refills {
		t.Fatalf("refused refills wrote: %d orders (was %d), %d refills (was %d)", n, orders, m, refills)
	}
	if got := p.getOrder(t, o.OrderID, p.key); got.Items[0].RefillsRemaining != 2 {
		t.Fatalf("refused refills used a refill: %d remaining", got.Items[0].RefillsRemaining)
	}

	// The API reference's body, as published but for the ids.
	r := p.req("POST", "/api/external/refill-request", p.key, with("clinic_id", demoClinic))
	expectOK(t, r)
	noIgnoredFields(t, r)
	var rf struct {
		OrderID string `json:"medication_order_id"`
	}
	r.data(t, &rf)
	n := p.getOrder(t, rf.OrderID, p.key)
	wantAddress := map[string]any{"address_line_1": "123 Main Street", "city": "San Francisco", "state": "CA", "zip_code": "94102"}
	if n.CarrierID != "se-11225" || n.ServiceID != "usps_priority" || n.Cost != 9.85 || n.Payment != "pm_card_visa_1234" ||
		len(n.Address) != len(wantAddress) || n.Address["address_line_1"] != "123 Main Street" || n.Address["state"] != "CA" ||
		n.Address["zip_code"] != "94102" || n.Address["city"] != "San Francisco" {
		t.Errorf("the refill's order: %+v", n)
	}
	p.advance(t, rf.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	sh := p.getOrder(t, rf.OrderID, p.key).Shipment
	if sh == nil || sh.Provider != "Stamps.com" || !strings.HasPrefix(sh.TrackingURL, "https://tools.usps.com/") {
		t.Errorf("the refill's order shipped with %+v, want Stamps.com", sh)
	}
	// The refill read shows what was asked.
	r = p.req("GET", "/api/external/refill-request?limit=1", p.key, nil)
	expectOK(t, r)
	if !strings.Contains(string(r.Body), `"shipment_service_code":"usps_priority"`) || !strings.Contains(string(r.Body), `"payment_method_id":"pm_card_visa_1234"`) {
		t.Errorf("refill read: %s", r.Body)
	}
	// A refill without shipping fields still ships like the original, to
	// the patient's address (which the order keeps).
	p.advance(t, rf.OrderID, "delivered")
	r = p.refill(t, o.RequestID)
	expectOK(t, r)
	r.data(t, &rf)
	if n := p.getOrder(t, rf.OrderID, p.key); n.CarrierID != "se-3818360" || n.ServiceID != "fedex_ground" || n.Address["address_line_1"] != "1 Pharmacy Row" || n.Payment != "" {
		t.Errorf("a plain refill's order: %+v", n)
	}
}

// TestShipmentTextsNotStoredInPlaintext: a refill's shipping address and
// payment method id and a shipment's cancellation reason are sealed at rest
// (found in no file of the data folder) and still read back.
func TestShipmentTextsNotStoredInPlaintext(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	p := newPharmacy(t)
	_, o := p.order(t, nil, nil)
	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	needles := []string{"77 Zorblewhistle Lane", "Zorbleville", "pm_Zorblecard_4242", "Zorbleparcel crushed by forklift"}
	r := p.req("POST", "/api/external/refill-request", p.key, map[string]any{"medication_request_id": o.RequestID,
		"shipping_address": map[string]any{"line1": needles[0], "city": needles[1], "state": "TX", "zip": "73301"}, "payment_method_id": needles[2]})
	expectOK(t, r)
	var rf struct {
		OrderID string `json:"medication_order_id"`
	}
	r.data(t, &rf)
	p.mustCLI(nil, "orders", "cancel-shipment", o.OrderID, "--reason", needles[3])
	files := dataFiles(t, p.DataDir)
	var all []byte
	for _, b := range files {
		all = append(all, b...)
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%q is stored in plaintext", n)
			}
		}
	}
	if !bytes.Contains(all, []byte("TRK"+o.OrderID[:8])) {
		t.Error("the tracking number (not PHI) was not found either: the byte search is not seeing the data")
	}
	n, cancelled := p.getOrder(t, rf.OrderID, p.key), p.getOrder(t, o.OrderID, p.key)
	if n.Address["address_line_1"] != needles[0] || n.Payment != needles[2] || cancelled.Shipments[0].CancelReason != needles[3] {
		t.Errorf("read back: %+v, %+v", n, cancelled.Shipments)
	}
}
