package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

// pharmacy is a development server with the sandbox off, a practitioner and
// a patient in Texas, so tests drive the lifecycle themselves.
type pharmacy struct {
	*testServer
	key            string
	practitionerID string
	patientID      string
}

func newPharmacy(t *testing.T, extra ...string) *pharmacy {
	t.Helper()
	ts := startServer(t, "development", append([]string{"--sandbox", "off"}, extra...)...)
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "100000")
	p := &pharmacy{testServer: ts, key: k.Key}
	r := ts.req("POST", "/api/external/practitioner", p.key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Paula", "last_name": "Pharmacist", "email": "paula@clinic.test", "npi": "1234567893"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	p.practitionerID = pr.ID
	p.patientID = p.newPatient(t, "Pat", "TX", demoClinic, p.key)
	return p
}

func (p *pharmacy) newPatient(t *testing.T, first, state, clinic, key string) string {
	t.Helper()
	r := p.req("POST", "/api/external/patient", key, map[string]any{
		"clinic_id": clinic, "first_name": first, "last_name": "Orderly" + state, "dob": "1980-04-04",
		"address": map[string]any{"line1": "1 Pharmacy Row", "city": "Somewhere", "state": state, "zip": "00501"}})
	expectOK(t, r)
	var pa struct {
		ID string `json:"patient_id"`
	}
	r.data(t, &pa)
	return pa.ID
}

type orderAnswer struct {
	OrderID   string `json:"medication_order_id"`
	RequestID string `json:"medication_request_id"`
	Status    string
	CarrierID string  `json:"carrier_id"`
	ServiceID string  `json:"service_id"`
	Cost      float64 `json:"shipping_cost"`
	Items     []struct {
		ID                string
		Medication        string
		UnitOfMeasure     string `json:"unit_of_measure"`
		Quantity          string
		RefillsAuthorized int    `json:"refills_authorized"`
		RefillsRemaining  int    `json:"refills_remaining"`
		Sig               string `json:"sig"`
		IssueDate         string `json:"issue_date"`
		RxNumber          string `json:"rx_number"`
	} `json:"medication_requests"`
	Shipment *struct {
		ID          string `json:"shipment_id"`
		Provider    string `json:"shipment_provider"`
		TrackingURL string `json:"tracking_url"`
		Tracking    string `json:"tracking_number"`
	}
}

func (p *pharmacy) order(t *testing.T, mod map[string]any, item map[string]any) (*response, orderAnswer) {
	t.Helper()
	it := map[string]any{"medication": "Semaglutide", "dose": "0.25 mg", "quantity": 4, "direction": "Inject 0.25 mg weekly", "refills": "2"}
	for k, v := range item {
		it[k] = v
	}
	body := map[string]any{"clinic_id": demoClinic, "patient_id": p.patientID, "practitioner_id": p.practitionerID,
		"carrier_id": "se-3818360", "service_id": "fedex_ground", "medication_requests": []any{it}}
	for k, v := range mod {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	r := p.req("POST", "/api/external/medication-order", p.key, body)
	var a orderAnswer
	if r.Status == 200 {
		r.data(t, &a)
		noIgnoredFields(t, r)
	}
	return r, a
}

func (p *pharmacy) advance(t *testing.T, orderID string, to ...string) {
	t.Helper()
	for _, st := range to {
		args := []string{"orders", "advance", orderID, "--to", st}
		if st == "shipped" {
			args = append(args, "--tracking-number", "TRK"+orderID[:8])
		}
		p.mustCLI(nil, args...)
	}
}

func (p *pharmacy) refill(t *testing.T, requestID string) *response {
	t.Helper()
	return p.req("POST", "/api/external/refill-request", p.key, map[string]any{"medication_request_id": requestID})
}

func (p *pharmacy) events(t *testing.T) []string {
	t.Helper()
	var out struct {
		Events []struct {
			Name string         `json:"event_name"`
			Data map[string]any `json:"event_data"`
		}
	}
	p.mustCLI(&out, "events", "list", "--clinic", demoClinic, "--limit", "1000")
	names := make([]string, len(out.Events))
	for i, e := range out.Events {
		names[i] = e.Name
	}
	return names
}

func TestQuickstartJourney(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	r, o := p.order(t, nil, nil)
	expectOK(t, r)
	if r.Env.Message != "Medication request created successfully" || o.OrderID == "" || o.RequestID == "" || o.Status != "created" {
		t.Fatalf("order answer: %s", r.Body)
	}
	it := o.Items[0]
	if it.ID != o.RequestID || it.UnitOfMeasure != "mg" || it.RefillsAuthorized != 2 || it.Sig != "Inject 0.25 mg weekly" || it.IssueDate == "" || it.Quantity != "4" {
		t.Errorf("item: %+v", it)
	}
	if o.Cost != 32.44 {
		t.Errorf("shipping cost %v, want FedEx Ground® to Texas 32.44", o.Cost)
	}
	// Refills are refused while the order is pending.
	expectError(t, p.refill(t, o.RequestID), 400, "REFILL_NOT_ELIGIBLE", "Refills are not possible for pending medication requests")

	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	r = p.req("GET", "/api/external/medication-order/"+o.OrderID, p.key, nil)
	expectOK(t, r)
	var got orderAnswer
	r.data(t, &got)
	if got.Status != "shipped" || got.Items[0].RxNumber == "" || got.Shipment == nil || got.Shipment.Provider != "FedEx" ||
		!strings.Contains(got.Shipment.TrackingURL, "TRK") {
		t.Fatalf("shipped order: %s", r.Body)
	}

	r = p.refill(t, o.RequestID)
	expectOK(t, r)
	if r.Env.Message != "Refill request was created successfully." {
		t.Errorf("message %q", r.Env.Message)
	}
	var rf struct {
		RefillID string `json:"refill_request_id"`
		OrderID  string `json:"medication_order_id"`
	}
	r.data(t, &rf)
	expectError(t, p.refill(t, o.RequestID), 400, "REFILL_ALREADY_EXISTS", "Refill request already exists")

	// The refill's order copies the item with one refill fewer and the same Rx.
	r = p.req("GET", "/api/external/medication-order/"+rf.OrderID, p.key, nil)
	expectOK(t, r)
	var ro orderAnswer
	r.data(t, &ro)
	if ro.Status != "created" || len(ro.Items) != 1 || ro.Items[0].RefillsRemaining != 1 || ro.Items[0].Medication != "Semaglutide" ||
		ro.Items[0].RxNumber != got.Items[0].RxNumber {
		t.Errorf("refill order: %s", r.Body)
	}
	r = p.req("GET", "/api/external/refill-request/"+rf.RefillID, p.key, nil)
	expectOK(t, r)
	if !strings.Contains(string(r.Body), rf.OrderID) {
		t.Errorf("refill read lacks its order: %s", r.Body)
	}
	expectOK(t, p.req("GET", "/api/external/refill-request", p.key, nil))
	// Once the refill's order is delivered, the next refill is possible; then none remain.
	p.advance(t, rf.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped", "delivered")
	expectOK(t, p.refill(t, o.RequestID))
	r = p.req("GET", "/api/external/medication-order?status=created&patient_id="+p.patientID, p.key, nil)
	var created struct{ Items []orderAnswer }
	r.data(t, &created)
	if len(created.Items) != 1 || created.Items[0].Items[0].RefillsRemaining != 0 {
		t.Errorf("created orders for the patient: %s; want the second refill's, with no refills left", r.Body)
	}
}

func TestRefillRules(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	ship := func(item map[string]any) orderAnswer {
		r, o := p.order(t, nil, item)
		expectOK(t, r)
		p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
		return o
	}
	none := ship(map[string]any{"refills": 0})
	expectError(t, p.refill(t, none.RequestID), 400, "REFILL_NOT_ELIGIBLE", "No refills remaining for this medication request")
	dnr := ship(map[string]any{"do_not_refill": true})
	expectError(t, p.refill(t, dnr.RequestID), 400, "REFILL_NOT_ELIGIBLE", "Refills are not allowed for this medication request")
	expectError(t, p.refill(t, "650e8400-e29b-41d4-a716-446655440000"), 400, "MEDICATION_REQUEST_NOT_FOUND", "Medication request not found")
	expectError(t, p.refill(t, "not-a-uuid"), 400, "MEDICATION_REQUEST_NOT_FOUND", "Medication request not found")
	expectError(t, p.req("POST", "/api/external/refill-request", p.key, map[string]any{}), 400, "VALIDATION_ERROR", "medication_request_id is required.")

	// Another clinic's key: the same "not found", also with its own clinic_id.
	clinicB := p.newClinic("Clinic B")
	keyB := p.newKey("--clinic", clinicB)
	ok := ship(nil)
	expectError(t, p.req("POST", "/api/external/refill-request", keyB.Key, map[string]any{"medication_request_id": ok.RequestID}),
		400, "MEDICATION_REQUEST_NOT_FOUND", "Medication request not found")
	expectError(t, p.req("POST", "/api/external/refill-request", keyB.Key, map[string]any{"medication_request_id": ok.RequestID, "clinic_id": clinicB}),
		400, "MEDICATION_REQUEST_NOT_FOUND", "Medication request not found")
	// A mismatching clinic_id of one's own is refused too.
	both := p.newKey("--clinic", demoClinic, "--clinic", clinicB)
	expectError(t, p.req("POST", "/api/external/refill-request", both.Key, map[string]any{"medication_request_id": ok.RequestID, "clinic_id": clinicB}),
		400, "MEDICATION_REQUEST_NOT_FOUND", "Medication request not found")
	// Concurrent refills of one request: exactly one wins.
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func(i int) { defer wg.Done(); statuses[i] = p.refill(t, ok.RequestID).Status }(i)
	}
	wg.Wait()
	wins := 0
	for _, s := range statuses {
		if s == 200 {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent refills succeeded, want 1 (%v)", wins, statuses)
	}
}

func TestOrderLifecycle(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	_, o := p.order(t, nil, nil)
	steps := []string{"verified", "submitted", "acknowledged", "filled", "shipped", "delivered"}
	// Illegal: skipping, going back, unknown, shipping without tracking.
	for _, bad := range [][]string{{"submitted"}, {"delivered"}, {"created"}, {"bogus"}} {
		if err := p.cli(nil, "orders", "advance", o.OrderID, "--to", bad[0]); err == nil {
			t.Errorf("created → %s was allowed", bad[0])
		}
	}
	p.advance(t, o.OrderID, steps[:4]...)
	if err := p.cli(nil, "orders", "advance", o.OrderID, "--to", "shipped"); err == nil {
		t.Errorf("shipping without a tracking number was allowed")
	}
	p.advance(t, o.OrderID, "shipped")
	if err := p.cli(nil, "orders", "cancel", o.OrderID); err == nil {
		t.Errorf("cancelling a shipped order was allowed")
	}
	p.advance(t, o.OrderID, "delivered")
	if err := p.cli(nil, "orders", "advance", o.OrderID, "--to", "verified"); err == nil {
		t.Errorf("delivered → verified was allowed")
	}
	want := []string{"medication_order:verified", "medication_order:submitted", "medication_order:acknowledged",
		"medication_order:filled", "shipment:created", "medication_order:delivered"}
	if got := p.events(t); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", got, want)
	}
	// Cancel from each status before shipped.
	for i := 0; i < 5; i++ {
		_, c := p.order(t, nil, nil)
		p.advance(t, c.OrderID, steps[:i]...)
		p.mustCLI(nil, "orders", "cancel", c.OrderID)
		if err := p.cli(nil, "orders", "cancel", c.OrderID); err == nil {
			t.Errorf("cancelled twice")
		}
	}
	// Concurrent advances of one order: one transition, one event.
	_, c := p.order(t, nil, nil)
	before := len(p.events(t))
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func(i int) { defer wg.Done(); errs[i] = p.cli(nil, "orders", "advance", c.OrderID, "--to", "verified") }(i)
	}
	wg.Wait()
	okN := 0
	for _, err := range errs {
		if err == nil {
			okN++
		}
	}
	if after := len(p.events(t)); okN != 1 || after != before+1 {
		t.Errorf("%d concurrent advances succeeded and %d events were recorded; want 1 and 1", okN, after-before)
	}
}

func TestOrderValidation(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	cases := []struct {
		name      string
		mod, item map[string]any
		status    int
		code, msg string
		field     string
	}{
		{"no items", map[string]any{"medication_requests": []any{}}, nil, 400, "VALIDATION_ERROR", "", "medication_requests"},
		{"21 items", map[string]any{"medication_requests": make([]any, 21)}, nil, 400, "VALIDATION_ERROR", "", "medication_requests"},
		{"no shipping", map[string]any{"carrier_id": nil, "service_id": nil}, nil, 400, "VALIDATION_ERROR", "", "carrier_id"},
		{"carrier without service", map[string]any{"service_id": nil}, nil, 400, "VALIDATION_ERROR", "", "service_id"},
		{"bad speed", map[string]any{"carrier_id": nil, "service_id": nil, "delivery_speed": "warp"}, nil, 400, "VALIDATION_ERROR", "", "delivery_speed"},
		{"unknown carrier", map[string]any{"carrier_id": "pony-express"}, nil, 400, "VALIDATION_ERROR", "", "carrier_id"},
		{"unknown service", map[string]any{"service_id": "teleport"}, nil, 400, "VALIDATION_ERROR", "", "service_id"},
		{"quantity zero", nil, map[string]any{"quantity": 0}, 400, "VALIDATION_ERROR", "", "medication_requests[0].quantity"},
		{"refills 12", nil, map[string]any{"refills": 12}, 400, "VALIDATION_ERROR", "medication_requests[0].refills must be a whole number from 0 to 11.", "medication_requests[0].refills"},
		{"refills text", nil, map[string]any{"refills": "two"}, 400, "VALIDATION_ERROR", "", "medication_requests[0].refills"},
		{"no medication", nil, map[string]any{"medication": ""}, 400, "VALIDATION_ERROR", "medication_requests[0].medication is required.", "medication_requests[0].medication"},
		{"no direction", nil, map[string]any{"direction": nil}, 400, "VALIDATION_ERROR", "", "medication_requests[0].direction"},
		{"patient id", map[string]any{"patient_id": "p1"}, nil, 400, "VALIDATION_ERROR", "patient_id must be a valid UUID.", "patient_id"},
		{"unknown patient", map[string]any{"patient_id": "650e8400-e29b-41d4-a716-446655440000"}, nil, 404, "NOT_FOUND", "Patient not found", ""},
		{"unknown practitioner", map[string]any{"practitioner_id": "650e8400-e29b-41d4-a716-446655440000"}, nil, 404, "NOT_FOUND", "Practitioner not found", ""},
		{"clinic missing", map[string]any{"clinic_id": nil}, nil, 400, "VALIDATION_ERROR", "clinic_id is required.", "clinic_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := p.order(t, c.mod, c.item)
			expectError(t, r, c.status, c.code, c.msg)
			if c.field != "" && !hasField(r, c.field) {
				t.Errorf("no field error for %s: %s", c.field, r.Body)
			}
		})
	}
	// Both shipping shapes; string refills; the unit derived from the dose.
	r, o := p.order(t, map[string]any{"carrier_id": nil, "service_id": nil, "delivery_speed": "next-day"}, map[string]any{"dose": "5mL", "refills": "11"})
	expectOK(t, r)
	// The cheapest next-day service to Texas is Ameriship Overnight (29.99).
	if o.CarrierID != "ameriship" || o.ServiceID != "ameriship_overnight" || o.Cost != 29.99 || o.Items[0].UnitOfMeasure != "mL" || o.Items[0].RefillsAuthorized != 11 {
		t.Errorf("next-day order: carrier %s service %s unit %s refills %d", o.CarrierID, o.ServiceID, o.Items[0].UnitOfMeasure, o.Items[0].RefillsAuthorized)
	}
	// Ameriship Overnight and UPS Ground do not reach Guam.
	guam := p.newPatient(t, "Gus", "GU", demoClinic, p.key)
	r, _ = p.order(t, map[string]any{"patient_id": guam, "carrier_id": "ameriship", "service_id": "ameriship_overnight"}, nil)
	expectError(t, r, 400, "SERVICE_NOT_AVAILABLE", "Service not available")
	r, _ = p.order(t, map[string]any{"patient_id": guam, "carrier_id": "se-11226", "service_id": "ups_ground"}, nil)
	expectError(t, r, 400, "SERVICE_NOT_AVAILABLE", "Service not available")
	// Nothing was written by the refused orders.
	list := p.req("GET", "/api/external/medication-order?limit=100", p.key, nil)
	var stored struct{ Items []orderAnswer }
	list.data(t, &stored)
	if len(stored.Items) != 1 {
		t.Errorf("%d orders stored, want 1", len(stored.Items))
	}
}

func TestShippingQuotes(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	r := p.req("GET", "/api/external/carriers", p.key, nil)
	expectOK(t, r)
	for _, c := range []string{`"ameriship"`, `"Ameriship"`, `"se-3818360"`, `"FedEx"`, `"se-11225"`, `"Stamps.com"`, `"se-11226"`, `"UPS"`} {
		if !strings.Contains(string(r.Body), c) {
			t.Errorf("carriers lack %s: %s", c, r.Body)
		}
	}
	type quotes struct {
		Data []struct {
			ID           string
			TotalCost    float64 `json:"totalCost"`
			OriginalCost float64 `json:"originalCost"`
		}
		IsFree       bool    `json:"isFreeShipment"`
		FreeType     *string `json:"freeShipmentType"`
		PatientState string  `json:"patientState"`
	}
	get := func(carrier, patient, key string) (*response, quotes) {
		r := p.req("GET", "/api/external/carriers/"+carrier+"/services?patientId="+patient, key, nil)
		var q quotes
		if r.Status == 200 {
			if err := jsonUnmarshal(r.Body, &q); err != nil {
				t.Fatal(err)
			}
		}
		return r, q
	}
	r, q := get("se-3818360", p.patientID, p.key)
	expectOK(t, r)
	if q.IsFree || q.FreeType != nil || q.PatientState != "Texas" || len(q.Data) != 3 || q.Data[0].TotalCost != 32.44 || q.Data[0].OriginalCost != 32.44 {
		t.Errorf("paid quote: %s", r.Body)
	}
	alaska := p.newPatient(t, "Alaska", "AK", demoClinic, p.key)
	_, q = get("se-3818360", alaska, p.key)
	if q.PatientState != "Alaska" || q.Data[0].TotalCost != 52.44 {
		t.Errorf("Alaska quote: %+v, want the remote surcharge (52.44)", q)
	}
	p.mustCLI(nil, "clinics", "update", demoClinic, "--free-shipping", "true")
	r, q = get("se-3818360", p.patientID, p.key)
	if !q.IsFree || q.FreeType == nil || *q.FreeType != "clinic_specific" || q.Data[0].TotalCost != 0 || q.Data[0].OriginalCost != 32.44 {
		t.Errorf("free quote: %s", r.Body)
	}
	expectError(t, p.req("GET", "/api/external/carriers/pony/services?patientId="+p.patientID, p.key, nil), 404, "NOT_FOUND", "Carrier not found")
	guam := p.newPatient(t, "Guam", "GU", demoClinic, p.key)
	expectError(t, p.req("GET", "/api/external/carriers/ameriship/services?patientId="+guam, p.key, nil), 400, "SERVICE_NOT_AVAILABLE", "Service not available")
	expectError(t, p.req("GET", "/api/external/carriers/ameriship/services", p.key, nil), 400, "VALIDATION_ERROR", "patientId is required.")
	// Another clinic's key: the patient does not exist for it.
	clinicB := p.newClinic("Clinic B")
	keyB := p.newKey("--clinic", clinicB)
	expectError(t, p.req("GET", "/api/external/carriers/ameriship/services?patientId="+p.patientID, keyB.Key, nil), 404, "NOT_FOUND", "Patient not found")
}

func TestPharmacyIsolation(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	_, o := p.order(t, nil, nil)
	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	r := p.refill(t, o.RequestID)
	expectOK(t, r)
	var rf struct {
		ID string `json:"refill_request_id"`
	}
	r.data(t, &rf)
	clinicB := p.newClinic("Clinic B")
	keyB := p.newKey("--clinic", clinicB)
	for _, path := range []string{"/api/external/medication-order/" + o.OrderID, "/api/external/refill-request/" + rf.ID} {
		r := p.req("GET", path, keyB.Key, nil)
		if r.Status != 404 {
			t.Errorf("B reads %s: %d", path, r.Status)
		}
	}
	for _, path := range []string{"/api/external/medication-order", "/api/external/refill-request"} {
		r := p.req("GET", path, keyB.Key, nil)
		expectOK(t, r)
		if strings.Contains(string(r.Body), o.OrderID) {
			t.Errorf("B's list %s shows A's order", path)
		}
	}
	// B cannot order for A's clinic or with A's patient in its own clinic.
	body := map[string]any{"clinic_id": demoClinic, "patient_id": p.patientID, "practitioner_id": p.practitionerID,
		"delivery_speed": "business-day", "medication_requests": []any{map[string]any{"medication": "Metformin", "dose": "500 mg", "quantity": 1, "direction": "d"}}}
	expectError(t, p.req("POST", "/api/external/medication-order", keyB.Key, body), 400, "CLINIC_NOT_FOUND", "Clinic not found")
	body["clinic_id"] = clinicB
	expectError(t, p.req("POST", "/api/external/medication-order", keyB.Key, body), 404, "NOT_FOUND", "Patient not found")
}

func TestSandboxWalksOrdersToDelivered(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "on", "--sandbox-step", "100ms")
	r := ts.req("POST", "/api/external/practitioner", ts.Key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Sandy", "last_name": "Boxer", "email": "sandy@clinic.test", "npi": "1234567893"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	r = ts.req("POST", "/api/external/patient", ts.Key, map[string]any{"clinic_id": demoClinic, "first_name": "Sam", "last_name": "Box", "dob": "1990-01-01", "state": "NY", "city": "Albany"})
	expectOK(t, r)
	var pa struct {
		ID string `json:"patient_id"`
	}
	r.data(t, &pa)
	r = ts.req("POST", "/api/external/medication-order", ts.Key, map[string]any{"clinic_id": demoClinic, "patient_id": pa.ID, "practitioner_id": pr.ID,
		"delivery_speed": "business-day", "medication_requests": []any{map[string]any{"medication": "Metformin", "dose": "500 mg", "quantity": 60, "direction": "Twice daily"}}})
	expectOK(t, r)
	var o orderAnswer
	r.data(t, &o)
	if !strings.Contains(ts.startLog(), "sandbox pharmacy on") {
		t.Errorf("the sandbox runs but its start is not logged (TestSandboxNeverInProduction relies on it)")
	}
	var got orderAnswer
	var lastOrder, lastPractitioner []byte
	// Polled every few milliseconds: a key of its own with a high rate
	// limit, or the poll itself meets the default limit (a 429 on
	// PostgreSQL, where the sandbox's steps take longer).
	poll := ts.newKey("--clinic", demoClinic, "--name", "poll", "--rate-limit", "100000")
	if !wait.For(15*time.Second, func() bool {
		r := ts.req("GET", "/api/external/medication-order/"+o.OrderID, poll.Key, nil)
		got = orderAnswer{}
		r.data(t, &got)
		p := ts.req("GET", "/api/external/practitioner/"+pr.ID, poll.Key, nil)
		lastOrder, lastPractitioner = r.Body, p.Body
		return got.Status == "delivered" && strings.Contains(string(p.Body), `"status":"active"`)
	}) {
		t.Fatalf("sandbox did not deliver: order %s, practitioner %s", got.Status, lastPractitioner)
	}
	if got.Shipment == nil || got.Shipment.Tracking == "" || got.Items[0].RxNumber == "" {
		t.Errorf("delivered without shipment or rx: %s", lastOrder)
	}
	var ev struct {
		Events []struct {
			Name string `json:"event_name"`
		}
	}
	ts.mustCLI(&ev, "events", "list", "--clinic", demoClinic)
	var names []string
	for _, e := range ev.Events {
		names = append(names, e.Name)
	}
	joined := strings.Join(names, ",")
	for _, want := range []string{"practitioner:activated", "medication_order:verified", "medication_order:filled", "shipment:created", "medication_order:delivered"} {
		if !strings.Contains(joined, want) {
			t.Errorf("events %v lack %s", names, want)
		}
	}
}

func TestSandboxNeverInProduction(t *testing.T) {
	t.Parallel()
	if err := runServe(t, map[string]string{"NOVAMED_MASTER_KEY": testMasterKey()}, "--env", "production", "--data-dir", t.TempDir(),
		"--addr", "127.0.0.1:0", "--sandbox", "on"); err == nil || !strings.Contains(err.Error(), "sandbox") {
		t.Errorf("production with --sandbox on: %v", err)
	}
	prod := startServer(t, "production", "--sandbox-step", "50ms")
	clinic := prod.newClinic("Prod")
	k := prod.newKey("--clinic", clinic)
	r := prod.req("POST", "/api/external/practitioner", k.Key, map[string]any{
		"clinic_id": clinic, "first_name": "Pia", "last_name": "Prod", "email": "pia@clinic.test", "npi": "1234567893"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	// No sandbox was started (a started one says so at start, before the
	// server listens: TestSandboxWalksOrdersToDelivered checks the line),
	// so nothing will ever activate the practitioner.
	if strings.Contains(prod.startLog(), "sandbox pharmacy on") {
		t.Fatalf("a production server started the sandbox")
	}
	r = prod.req("GET", "/api/external/practitioner/"+pr.ID, k.Key, nil)
	if !strings.Contains(string(r.Body), `"status":"pending"`) {
		t.Errorf("a production practitioner was activated without NovaMed: %s", r.Body)
	}
	var out struct {
		Status string
		Event  string
	}
	prod.mustCLI(&out, "practitioners", "activate", pr.ID)
	if out.Status != "active" || out.Event != "practitioner:activated" {
		t.Errorf("operator activation: %+v", out)
	}
}

// TestCancelledRefillGivesItsRefillBack: cancelling a refill's order
// restores the refill it used.
func TestCancelledRefillGivesItsRefillBack(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	_, o := p.order(t, nil, map[string]any{"refills": 1})
	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	r := p.refill(t, o.RequestID)
	expectOK(t, r)
	var rf struct {
		OrderID string `json:"medication_order_id"`
	}
	r.data(t, &rf)
	p.mustCLI(nil, "orders", "cancel", rf.OrderID)
	expectOK(t, p.refill(t, o.RequestID)) // the one refill is available again
	expectError(t, p.refill(t, o.RequestID), 400, "REFILL_ALREADY_EXISTS", "Refill request already exists")
}
