package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestDevelopmentDataOnFirstStart: a fresh development server holds the
// fictitious Alabama patient of the published carrier-services example (the
// documented curl answers 200 with the documented fields and FedEx's three
// services at the published prices), an active test prescriber and the test
// formulary, so the API reference's order example succeeds with them; it
// prints their ids. A fresh production server holds none of it.
func TestDevelopmentDataOnFirstStart(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development", "--sandbox", "off")
	out := ts.stdout.String()
	for _, want := range []string{"Practitioner id:  " + devPractitionerID, "Patient id:       " + devPatientID, "Demo clinic id:   " + demoClinic} {
		if !strings.Contains(out, want) {
			t.Errorf("first-start output lacks %q:\n%s", want, out)
		}
	}

	// api-reference.md, "Get Carrier Services", but for host and key.
	r := ts.req("GET", "/api/external/carriers/se-3818360/services?patientId=01aabf3a-51cd-4180-be17-8ac9446e9ace", ts.Key, nil, "Accept", "application/json")
	if r.Status != 200 {
		t.Fatalf("documented carrier-services curl: %d %s", r.Status, r.Body)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(body)); strings.Join(keys, ",") != "data,freeShipmentType,isFreeShipment,patientState,success" {
		t.Errorf("answer fields %v", keys)
	}
	var quote struct {
		Data []struct {
			ID           string  `json:"id"`
			Name         string  `json:"name"`
			TotalCost    float64 `json:"totalCost"`
			OriginalCost float64 `json:"originalCost"`
		}
		IsFree       bool    `json:"isFreeShipment"`
		FreeType     *string `json:"freeShipmentType"`
		PatientState string  `json:"patientState"`
	}
	if err := json.Unmarshal(r.Body, &quote); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range quote.Data {
		got = append(got, fmt.Sprintf("%s|%s|%.2f|%.2f", q.ID, q.Name, q.TotalCost, q.OriginalCost))
	}
	want := []string{"fedex_ground|FedEx Ground®|32.44|32.44", "fedex_2day|FedEx 2Day®|56.43|56.43",
		"fedex_priority_overnight|FedEx Priority Overnight®|118.10|118.10"}
	if !slices.Equal(got, want) || quote.IsFree || quote.FreeType != nil || quote.PatientState != "Alabama" {
		t.Errorf("services = %v free=%v type=%v state=%q, want %v to Alabama, paid", got, quote.IsFree, quote.FreeType, quote.PatientState, want)
	}

	// The test prescriber is active, and the reference's order example
	// (its ids replaced by the development data's) is accepted.
	r = ts.req("GET", "/api/external/practitioner/"+devPractitionerID, ts.Key, nil)
	expectOK(t, r)
	if !strings.Contains(string(r.Body), `"status":"active"`) {
		t.Errorf("test prescriber: %s", r.Body)
	}
	r = ts.req("POST", "/api/external/medication-order", ts.Key, map[string]any{
		"patient_id": devPatientID, "practitioner_id": devPractitionerID, "clinic_id": demoClinic,
		"carrier_id": "se-3818360", "service_id": "fedex_ground", "is_refrigerated": true,
		"medication_requests": []any{map[string]any{"medication": "Testosterone Cypionate", "dose": "200mg/ml", "unit_of_measure": "mg",
			"quantity": 1, "refills": "3", "direction": "Inject 0.5ml (100mg) intramuscularly twice weekly", "days_supply": 30}}})
	expectOK(t, r)
	var o orderAnswer
	r.data(t, &o)
	if o.Cost != 32.44 || o.ServiceID != "fedex_ground" {
		t.Errorf("reference order: cost %v service %s", o.Cost, o.ServiceID)
	}

	prod := startServer(t, "production")
	if out := prod.stdout.String(); strings.Contains(out, devPatientID) || strings.Contains(out, "Demo clinic") {
		t.Errorf("production printed development data:\n%s", out)
	}
	var clinics struct{ Clinics []struct{ ID string } }
	prod.mustCLI(&clinics, "clinics", "list")
	if len(clinics.Clinics) != 0 {
		t.Fatalf("a fresh production server has clinics: %+v", clinics)
	}
	// Not even in a clinic named like the demo one: no patient, no
	// practitioner, no formulary.
	clinic := prod.newClinic("Prod")
	k := prod.newKey("--clinic", clinic)
	expectError(t, prod.req("GET", "/api/external/patient/"+devPatientID, k.Key, nil), 404, "NOT_FOUND", "Patient not found")
	for _, path := range []string{"/api/external/practitioner", "/api/external/patient"} {
		if r := prod.req("GET", path, k.Key, nil); !strings.Contains(string(r.Body), `"items":[]`) {
			t.Errorf("GET %s on a fresh production server: %s", path, r.Body)
		}
	}
	r = prod.req("GET", "/api/external/medications?clinic_id="+clinic, k.Key, nil)
	expectOK(t, r)
	if !strings.Contains(string(r.Body), `"items":[]`) {
		t.Errorf("a production clinic has a formulary: %s", r.Body)
	}
}
