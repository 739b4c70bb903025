package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const demoClinic = "550e8400-e29b-41d4-a716-446655440000"

// TestAuthenticationGuideExamples sends the guide's requests exactly as
// printed (the host and key aside) to a fresh development server.
func TestAuthenticationGuideExamples(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	if ts.Key == "" || !strings.HasPrefix(ts.Key, "dev_") {
		t.Fatalf("first start printed no development key; stdout:\n%s", ts.stdout.String())
	}
	// The guide's first example: GET with its three headers.
	r := ts.req("GET", "/api/external/practitioner", ts.Key, nil, "Content-Type", "application/json")
	expectOK(t, r)

	r = ts.req("POST", "/api/external/practitioner", ts.Key, `{
    "first_name": "Sarah",
    "last_name": "Johnson",
    "email": "dr.johnson@clinic.com",
    "npi_number": "1234567890",
    "assigned_clinic": "550e8400-e29b-41d4-a716-446655440000"
  }`)
	expectOK(t, r)
	noIgnoredFields(t, r)
	if r.Env.Message != "Practitioner created successfully" {
		t.Errorf("message = %q", r.Env.Message)
	}
	var prac struct {
		PractitionerID string `json:"practitioner_id"`
		Status         string
	}
	r.data(t, &prac)
	if prac.PractitionerID == "" || prac.Status != "pending" {
		t.Errorf("practitioner answer = %+v, want an id and status pending", prac)
	}

	r = ts.req("POST", "/api/external/patient", ts.Key, `{
    "clinic_id": "550e8400-e29b-41d4-a716-446655440000",
    "first_name": "John",
    "last_name": "Smith",
    "email": "john.smith@email.com",
    "date_of_birth": "1985-03-15"
  }`)
	expectOK(t, r)
	noIgnoredFields(t, r)
	if r.Env.Message != "Patient created successfully" {
		t.Errorf("message = %q", r.Env.Message)
	}
	var pat struct {
		PatientID   string `json:"patient_id"`
		DateOfBirth string `json:"date_of_birth"`
	}
	r.data(t, &pat)
	if pat.PatientID == "" || pat.DateOfBirth != "1985-03-15" {
		t.Errorf("patient answer = %+v", pat)
	}

	// Both are readable back, and listed.
	r = ts.req("GET", "/api/external/patient/"+pat.PatientID, ts.Key, nil)
	expectOK(t, r)
	r = ts.req("GET", "/api/external/practitioner", ts.Key, nil)
	expectOK(t, r)
	var list struct {
		Items      []struct{ ID string }
		NextCursor *string `json:"next_cursor"`
	}
	r.data(t, &list)
	// The guide's practitioner (newest first) and the development server's
	// test prescriber.
	if len(list.Items) != 2 || list.Items[0].ID != prac.PractitionerID || list.Items[1].ID != devPractitionerID || list.NextCursor != nil {
		t.Errorf("list = %+v, want the guide's practitioner, the test prescriber and no next cursor", list)
	}
}

// quickstartPatient is the quickstart's patient with contacts and addresses arrays.
func quickstartPatient(clinic string) map[string]any {
	return map[string]any{
		"clinic_id":  clinic,
		"first_name": "Quinn",
		"last_name":  "Quickstart",
		"dob":        "1990-07-04",
		"gender":     "female",
		"contacts": []any{
			map[string]any{"key": "email", "value": "quinn.quickstart@example.test"},
			map[string]any{"key": "phone", "value": "+1-555-0199"},
		},
		"addresses": []any{map[string]any{
			"addressLine1": "100 Quickstart Way", "addressLine2": "Suite 5", "city": "Austin", "state": "TX", "postalCode": "78701",
		}},
		"medication_allergies":      []any{"Penicillin"},
		"preferred_contact_methods": map[string]any{"email": true, "sms": false, "phone": true},
	}
}

func TestPatientPayloadVariants(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	variants := map[string]map[string]any{
		"quickstart contacts and addresses arrays": quickstartPatient(demoClinic),
		"api reference flat fields with assigned_clinic": {
			"assigned_clinic": demoClinic, "first_name": "Renata", "last_name": "Reference", "date_of_birth": "1978-01-30T00:00:00Z",
			"email": "renata.reference@example.test", "phone": "(512) 555-0142",
			"address_line_1": "200 Reference Rd", "city": "Dallas", "state": "TX", "zip": "75201",
			"species": "human", "status": "active", "weight": 70.5, "height": "172",
		},
		"nested address object": {
			"clinic_id": demoClinic, "first_name": "Nadia", "last_name": "Nested", "dob": "2001-12-24",
			"address": map[string]any{"line1": "300 Nested Ave", "line2": "Apt 2", "city": "Boston", "state": "MA", "zip": "02108"},
		},
		"animal patient": {
			"clinic_id": demoClinic, "first_name": "Rex", "last_name": "Canine", "dob": "2019-05-01",
			"species": "canine", "animal_owner_name": "Olivia Owner",
		},
	}
	for name, body := range variants {
		t.Run(name, func(t *testing.T) {
			r := ts.req("POST", "/api/external/patient", ts.Key, body)
			expectOK(t, r)
			noIgnoredFields(t, r)
			var p struct {
				PatientID string `json:"patient_id"`
				Address   struct {
					Line1 string `json:"address_line_1"`
					City  string `json:"city"`
				} `json:"address"`
			}
			r.data(t, &p)
			got := ts.req("GET", "/api/external/patient/"+p.PatientID, ts.Key, nil)
			expectOK(t, got)
			if strings.Contains(name, "address") && p.Address.Line1 == "" {
				t.Errorf("address was not kept: %s", r.Body)
			}
		})
	}
	// The quickstart patient's contacts are read back as sent.
	r := ts.req("GET", "/api/external/patient?limit=100", ts.Key, nil)
	if !strings.Contains(string(r.Body), "quinn.quickstart@example.test") || !strings.Contains(string(r.Body), "100 Quickstart Way") {
		t.Errorf("quickstart contact data missing from list: %s", r.Body)
	}
}

func TestPractitionerPayloadVariants(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	full := map[string]any{
		"clinic_id": demoClinic, "first_name": "Priya", "last_name": "Prescriber", "email": "priya@clinic.test",
		"npi": "1234567893", "is_veterinarian": false, "phone": "+1-555-0199", "credentials": "MD",
		"specialty": "Endocrinology", "license_number": "TX-12345", "license_state": "TX", "license_expiration": "2028-01-31",
		"dea_number": "AB1234563", "dea_expiration": "2027-06-30", "signature_image": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
		"address_line1": "1 Clinic Plaza", "address_line_2": "Floor 3", "city": "Houston", "state": "TX", "zip": "77002",
	}
	r := ts.req("POST", "/api/external/practitioner", ts.Key, full)
	expectOK(t, r)
	noIgnoredFields(t, r)
	var p struct {
		PractitionerID string `json:"practitioner_id"`
		Specialty      string
		Address        struct {
			Line1 string `json:"address_line_1"`
			State string
			Zip   string `json:"zip_code"`
		}
	}
	r.data(t, &p)
	if p.Specialty != "Endocrinology" || p.Address.Line1 != "1 Clinic Plaza" || p.Address.State != "TX" || p.Address.Zip != "77002" {
		t.Errorf("fields not kept: %s", r.Body)
	}
	// state_code / zip_code / address_line_1 spellings.
	r = ts.req("POST", "/api/external/practitioner", ts.Key, map[string]any{
		"assigned_clinic": demoClinic, "first_name": "Stan", "last_name": "Spelling", "email": "stan@clinic.test",
		"npi_number": "1245319599", "state_code": "ca", "zip_code": "94105", "address_line_1": "9 Market St",
	})
	expectOK(t, r)
	noIgnoredFields(t, r)
	// Same NPI twice in one clinic is a duplicate.
	r = ts.req("POST", "/api/external/practitioner", ts.Key, full)
	expectError(t, r, 400, "DUPLICATE", "")
	// clinic_id and assigned_clinic must agree when both are sent.
	r = ts.req("POST", "/api/external/practitioner", ts.Key, map[string]any{
		"clinic_id": demoClinic, "assigned_clinic": "650e8400-e29b-41d4-a716-446655440000",
		"first_name": "Ann", "last_name": "Alias", "email": "ann@clinic.test", "npi": "1111111111",
	})
	expectError(t, r, 400, "VALIDATION_ERROR", "")
}

func TestQuickstartPhoneStrictOnlyInProduction(t *testing.T) {
	t.Parallel()
	prod := startServer(t, "production")
	clinic := prod.newClinic("Prod Clinic")
	key := prod.newKey("--clinic", clinic)
	if !strings.HasPrefix(key.Key, "prod_") {
		t.Fatalf("production key %q lacks the prod_ prefix", key.Key)
	}
	r := prod.req("POST", "/api/external/patient", key.Key, quickstartPatient(clinic))
	expectError(t, r, 400, "VALIDATION_ERROR", "contacts[1].value must be a 10-digit US phone number.")

	body := quickstartPatient(clinic)
	body["contacts"] = []any{map[string]any{"key": "phone", "value": "+1 (212) 555-0199"}}
	r = prod.req("POST", "/api/external/patient", key.Key, body)
	expectOK(t, r)

	dev := startServer(t, "development")
	expectOK(t, dev.req("POST", "/api/external/patient", dev.Key, quickstartPatient(demoClinic)))
}

// A duplicate names the record already stored (contract §8), so the
// authentication guide and the quickstart, which use the same NPI, can be
// run one after the other against one clinic.
func TestDuplicatesNameTheExistingRecord(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	clinic := ts.newClinic("Duplicates Clinic")
	key := ts.newKey("--clinic", clinic).Key
	existing := func(path string, body map[string]any, idField string) {
		t.Helper()
		first := ts.req("POST", path, key, body)
		expectOK(t, first)
		var created map[string]any
		first.data(t, &created)
		again := ts.req("POST", path, key, body)
		expectError(t, again, 400, "DUPLICATE", "")
		var env struct {
			Error struct {
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal(again.Body, &env); err != nil {
			t.Fatal(err)
		}
		if got := env.Error.Details["existing_id"]; got == nil || got != created[idField] {
			t.Errorf("%s duplicate: details.existing_id = %v, want %v\n%s", path, got, created[idField], again.Body)
		}
	}
	existing("/api/external/practitioner", map[string]any{
		"clinic_id": clinic, "first_name": "Sarah", "last_name": "Johnson", "email": "dr.johnson@clinic.test",
		"npi_number": "1234567890",
	}, "practitioner_id")
	existing("/api/external/patient", quickstartPatient(clinic), "patient_id")
}
