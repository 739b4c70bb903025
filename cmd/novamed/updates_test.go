package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// eventsOf lists the demo clinic's recorded events with their data.
func (p *pharmacy) eventsOf(t *testing.T, name string) []map[string]any {
	t.Helper()
	var out struct {
		Events []struct {
			Name string         `json:"event_name"`
			Data map[string]any `json:"event_data"`
		}
	}
	p.mustCLI(&out, "events", "list", "--clinic", demoClinic, "--limit", "1000")
	var data []map[string]any
	for _, e := range out.Events {
		if e.Name == name {
			data = append(data, e.Data)
		}
	}
	return data
}

func (p *pharmacy) patch(path string, body any, hdr ...string) *response {
	return p.req("PATCH", path, p.key, body, append([]string{"Content-Type", "application/merge-patch+json"}, hdr...)...)
}

func auditActions(t *testing.T, p *pharmacy, action string) []exportedRecord {
	t.Helper()
	var out []exportedRecord
	for _, rec := range auditRecords(t, p.testServer) {
		if rec.Action == action {
			out = append(out, rec)
		}
	}
	return out
}

// TestPatchedAddressShipsTheNextOrderOnly: a merge patch moves the
// patient; the next order ships to the new address while the order placed
// before keeps the address it was placed with. The patch keeps every field
// it does not name, is validated like a create, audited, idempotent, and
// sends patient:updated.
func TestPatchedAddressShipsTheNextOrderOnly(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	_, first := p.order(t, nil, nil)
	before := p.getOrder(t, first.OrderID, p.key)
	if before.Address["address_line_1"] != "1 Pharmacy Row" || before.Address["state"] != "TX" {
		t.Fatalf("the first order does not carry the patient's address: %v", before.Address)
	}

	path := "/api/external/patient/" + p.patientID
	r := p.patch(path, map[string]any{"address": map[string]any{"line1": "9 New Street", "city": "Dallas", "zip": "75201"},
		"medication_allergies": []string{"Penicillin", "Latex"}}, "Idempotency-Key", "move-1")
	expectOK(t, r)
	var got struct {
		ID        string         `json:"patient_id"`
		FirstName string         `json:"first_name"`
		DOB       string         `json:"date_of_birth"`
		Address   map[string]any `json:"address"`
		Allergies []string       `json:"medication_allergies"`
	}
	r.data(t, &got)
	if got.ID != p.patientID || got.FirstName != "Pat" || got.DOB != "1980-04-04" || got.Address["address_line_1"] != "9 New Street" ||
		got.Address["city"] != "Dallas" || got.Address["state"] != "TX" || !slices.Equal(got.Allergies, []string{"Penicillin", "Latex"}) {
		t.Fatalf("patched patient: %s", r.Body)
	}
	if r.Env.Message != "Patient updated successfully" {
		t.Errorf("message %q", r.Env.Message)
	}
	// The same key and body again: the remembered answer.
	again := p.patch(path, map[string]any{"address": map[string]any{"line1": "9 New Street", "city": "Dallas", "zip": "75201"},
		"medication_allergies": []string{"Penicillin", "Latex"}}, "Idempotency-Key", "move-1")
	if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(r.Body) {
		t.Errorf("replay: %d %q %s", again.Status, again.Header.Get("Idempotent-Replayed"), again.Body)
	}

	_, second := p.order(t, nil, nil)
	if a := p.getOrder(t, second.OrderID, p.key).Address; a["address_line_1"] != "9 New Street" || a["city"] != "Dallas" {
		t.Errorf("the next order ships to %v, want the patched address", a)
	}
	if a := p.getOrder(t, first.OrderID, p.key).Address; a["address_line_1"] != "1 Pharmacy Row" || a["city"] != "Somewhere" {
		t.Errorf("the earlier order now ships to %v, want the address it was placed with", a)
	}

	// Validation is the create's; a refused patch changes nothing.
	expectError(t, p.patch(path, map[string]any{"dob": "2999-01-01", "first_name": "Zed"}), 400, "VALIDATION_ERROR", "")
	expectError(t, p.patch(path, map[string]any{"clinic_id": "11111111-1111-4111-8111-111111111111"}), 400, "VALIDATION_ERROR", "")
	expectError(t, p.patch(path, `[1]`), 400, "INVALID_JSON", "")
	r = p.req("GET", path, p.key, nil)
	r.data(t, &got)
	if got.FirstName != "Pat" || got.DOB != "1980-04-04" {
		t.Errorf("a refused patch changed the patient: %s", r.Body)
	}
	// null removes a field; application/json is accepted too.
	r = p.req("PATCH", path, p.key, map[string]any{"medication_allergies": nil})
	expectOK(t, r)
	r.data(t, &got)
	if len(got.Allergies) != 0 {
		t.Errorf("allergies after null: %v", got.Allergies)
	}
	expectError(t, p.req("PATCH", path, p.key, `{}`, "Content-Type", "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE", "")
	expectError(t, p.patch("/api/external/patient/01935e1b-1a2b-7c3d-9e4f-5a6b7c8d9e04", map[string]any{"first_name": "Xavier"}), 404, "NOT_FOUND", "Patient not found")

	// The identity (name and date of birth) is re-checked.
	other := p.newPatient(t, "Olive", "TX", demoClinic, p.key)
	r = p.patch("/api/external/patient/"+other, map[string]any{"first_name": "Pat"})
	expectError(t, r, 400, "DUPLICATE", "A patient with the same name and date of birth already exists in this clinic.")
	var dup struct {
		Error struct {
			Details struct {
				ExistingID string `json:"existing_id"`
			} `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &dup); err != nil || dup.Error.Details.ExistingID != p.patientID {
		t.Errorf("duplicate patch: %s, want existing_id %s", r.Body, p.patientID)
	}

	if evs := p.eventsOf(t, "patient:updated"); len(evs) != 2 || evs[0]["patient_id"] != p.patientID {
		t.Errorf("patient:updated events: %v", evs)
	}
	recs := auditActions(t, p, "patient.update")
	if len(recs) == 0 || recs[0].ClinicID != demoClinic || !slices.Equal(recs[0].ResourceIDs, []string{p.patientID}) || recs[0].Status != 200 {
		t.Errorf("patient.update audit records: %+v", recs)
	}
}

// TestPatchPractitioner: a practitioner's phone and address change; the
// NPI is re-checked; status stays NovaMed's.
func TestPatchPractitioner(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	path := "/api/external/practitioner/" + p.practitionerID
	r := p.patch(path, map[string]any{"phone": "+1 512 555 0100", "address_line1": "2 Clinic Road", "city": "Austin", "state_code": "TX", "zip_code": "78701"})
	expectOK(t, r)
	var got struct {
		ID      string         `json:"practitioner_id"`
		Email   string         `json:"email"`
		NPI     string         `json:"npi"`
		Phone   string         `json:"phone"`
		Status  string         `json:"status"`
		Address map[string]any `json:"address"`
	}
	r.data(t, &got)
	if got.ID != p.practitionerID || got.Email != "paula@clinic.test" || got.NPI != "1234567893" || got.Phone == "" ||
		got.Address["address_line_1"] != "2 Clinic Road" || got.Address["state"] != "TX" {
		t.Errorf("patched practitioner: %s", r.Body)
	}
	expectError(t, p.patch(path, map[string]any{"status": "active"}), 400, "VALIDATION_ERROR", "")
	r = p.req("POST", "/api/external/practitioner", p.key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Otto", "last_name": "Other", "email": "otto@clinic.test", "npi": "1245319599"})
	expectOK(t, r)
	var other struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &other)
	expectError(t, p.patch("/api/external/practitioner/"+other.ID, map[string]any{"npi_number": "1234567893"}), 400, "DUPLICATE",
		"A practitioner with this NPI already exists in this clinic.")
	if evs := p.eventsOf(t, "practitioner:updated"); len(evs) != 1 || evs[0]["practitioner_id"] != p.practitionerID {
		t.Errorf("practitioner:updated events: %v", evs)
	}
	if recs := auditActions(t, p, "practitioner.update"); len(recs) == 0 || recs[0].ClinicID != demoClinic {
		t.Errorf("practitioner.update audit records: %+v", recs)
	}
}

// TestPartnerCancelsOrder: a partner cancels a created or verified order
// with a reason; a cancelled refill's order gives its refill back; later
// statuses are refused naming the status.
func TestPartnerCancelsOrder(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	_, o := p.order(t, nil, map[string]any{"refills": 1})
	p.advance(t, o.OrderID, "verified", "submitted", "acknowledged", "filled", "shipped")
	cancel := func(id string, body any) *response {
		return p.req("POST", "/api/external/medication-order/"+id+"/cancel", p.key, body)
	}
	expectError(t, cancel(o.OrderID, map[string]any{"reason": "Changed our mind"}), 400, "ORDER_NOT_CANCELLABLE",
		"Only an order that is created or verified can be cancelled; this order is shipped.")

	r := p.refill(t, o.RequestID)
	expectOK(t, r)
	var rf struct {
		OrderID string `json:"medication_order_id"`
	}
	r.data(t, &rf)
	expectError(t, p.refill(t, o.RequestID), 400, "REFILL_ALREADY_EXISTS", "Refill request already exists")
	if got := p.getOrder(t, o.OrderID, p.key).Items[0].RefillsRemaining; got != 0 {
		t.Fatalf("refills remaining after the refill: %d", got)
	}
	expectError(t, cancel(rf.OrderID, map[string]any{}), 400, "VALIDATION_ERROR", "")
	p.advance(t, rf.OrderID, "verified")
	reason := "Patient switched pharmacy"
	r = cancel(rf.OrderID, map[string]any{"reason": reason})
	expectOK(t, r)
	if got := p.getOrder(t, rf.OrderID, p.key); got.Status != "cancelled" {
		t.Errorf("cancelled order reads as %s", got.Status)
	}
	// The refill is back: the lineage can be refilled again.
	expectOK(t, p.refill(t, o.RequestID))
	expectError(t, cancel(rf.OrderID, map[string]any{"reason": reason}), 400, "ORDER_NOT_CANCELLABLE",
		"Only an order that is created or verified can be cancelled; this order is cancelled.")

	evs := p.eventsOf(t, "medication_order:cancelled")
	if len(evs) != 1 || evs[0]["id"] != rf.OrderID || evs[0]["reason"] != reason || evs[0]["status"] != "cancelled" {
		t.Errorf("medication_order:cancelled events: %v", evs)
	}
	recs := auditActions(t, p, "medication_order.cancel")
	if !slices.ContainsFunc(recs, func(rec exportedRecord) bool {
		return rec.Status == 200 && slices.Equal(rec.ResourceIDs, []string{rf.OrderID}) && rec.ClinicID == demoClinic
	}) {
		t.Errorf("medication_order.cancel audit records: %+v", recs)
	}
}

// TestIgnoredFieldsNamedAndStrictRefuses: fields nothing reads are named
// in NovaMed-Ignored-Fields (sorted, nested as dotted paths) and in
// /me/usage's recent warnings; Prefer: handling=strict refuses them with
// one field entry each and writes nothing.
func TestIgnoredFieldsNamedAndStrictRefuses(t *testing.T) {
	t.Parallel()
	p := newPharmacy(t)
	body := func(first string) map[string]any {
		return map[string]any{"clinic_id": demoClinic, "first_name": first, "frist_name": "Typo", "last_name": "Fields", "dob": "1970-01-01",
			"address":  map[string]any{"line1": "1 Main St", "line_one": "x", "city": "Austin", "state": "TX", "zip": "78701"},
			"contacts": []any{map[string]any{"key": "email", "value": "f@example.test", "kind": "home"}}}
	}
	r := p.req("POST", "/api/external/patient", p.key, body("Frank"))
	expectOK(t, r)
	want := "address.line_one, contacts[0].kind, frist_name"
	if got := r.Header.Get("NovaMed-Ignored-Fields"); got != want {
		t.Errorf("NovaMed-Ignored-Fields = %q, want %q", got, want)
	}
	// A body the API reads whole has no header.
	clean := p.req("POST", "/api/external/patient", p.key, map[string]any{"clinic_id": demoClinic, "first_name": "Clara", "last_name": "Clean", "dob": "1971-01-01"})
	expectOK(t, clean)
	if v, ok := clean.Header["Novamed-Ignored-Fields"]; ok {
		t.Errorf("clean body got NovaMed-Ignored-Fields %q", v)
	}

	r = p.req("GET", "/api/external/me/usage", p.key, nil)
	expectOK(t, r)
	var usage struct {
		Warnings []struct {
			Code   string   `json:"code"`
			Route  string   `json:"route"`
			Fields []string `json:"fields"`
		} `json:"recent_warnings"`
	}
	r.data(t, &usage)
	if len(usage.Warnings) != 1 || usage.Warnings[0].Code != "IGNORED_FIELDS" || usage.Warnings[0].Route != "POST /api/external/patient" ||
		strings.Join(usage.Warnings[0].Fields, ", ") != want {
		t.Errorf("recent warnings: %s", r.Body)
	}

	count := func() int {
		r := p.req("GET", "/api/external/patient?limit=100", p.key, nil)
		var page struct{ Items []any }
		r.data(t, &page)
		return len(page.Items)
	}
	n := count()
	r = p.req("POST", "/api/external/patient", p.key, body("Stella"), "Prefer", "return=minimal, handling=strict")
	expectError(t, r, 400, "VALIDATION_ERROR", "")
	if r.Header.Get("Preference-Applied") != "handling=strict" {
		t.Errorf("Preference-Applied = %q", r.Header.Get("Preference-Applied"))
	}
	var fields []string
	for _, f := range r.Env.Error.Details.Fields {
		fields = append(fields, f.Field)
	}
	if strings.Join(fields, ", ") != want {
		t.Errorf("strict refusal fields %v, want %s", fields, want)
	}
	if count() != n {
		t.Error("the strict refusal wrote a patient")
	}
	// Strict with a body the API reads whole: accepted, preference applied.
	r = p.req("POST", "/api/external/patient", p.key, map[string]any{"clinic_id": demoClinic, "first_name": "Sam", "last_name": "Strict", "dob": "1972-01-01"},
		"Prefer", "handling=strict")
	expectOK(t, r)
	if r.Header.Get("Preference-Applied") != "handling=strict" {
		t.Errorf("Preference-Applied on success = %q", r.Header.Get("Preference-Applied"))
	}
}
