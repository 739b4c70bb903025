package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	valid := `{"clinic_id":"` + demoClinic + `","first_name":"Tess","last_name":"Transport","dob":"1980-01-01"}`

	r := ts.req("POST", "/api/external/patient", ts.Key, valid, "Content-Type", "text/plain")
	expectError(t, r, 415, "UNSUPPORTED_MEDIA_TYPE", "")
	r = ts.req("POST", "/api/external/patient", ts.Key, valid, "Content-Type", "")
	expectError(t, r, 415, "UNSUPPORTED_MEDIA_TYPE", "")
	expectOK(t, ts.req("POST", "/api/external/patient", ts.Key, valid, "Content-Type", "application/json; charset=utf-8"))

	r = ts.req("GET", "/api/external/patient", ts.Key, nil, "Accept", "text/html")
	expectError(t, r, 406, "NOT_ACCEPTABLE", "")
	r = ts.req("GET", "/api/external/patient", ts.Key, nil, "Accept", "application/json;q=0, text/html")
	expectError(t, r, 406, "NOT_ACCEPTABLE", "")
	for _, ok := range []string{"", "*/*", "application/*", "text/html, application/json;q=0.5"} {
		expectOK(t, ts.req("GET", "/api/external/patient", ts.Key, nil, "Accept", ok))
	}

	big := `{"clinic_id":"` + demoClinic + `","notes":"` + strings.Repeat("a", 1<<20) + `"}`
	r = ts.req("POST", "/api/external/patient", ts.Key, big)
	expectError(t, r, 413, "REQUEST_TOO_LARGE", "")

	r = ts.req("GET", "/api/external/nothing-here", ts.Key, nil)
	expectError(t, r, 404, "ROUTE_NOT_FOUND", "")
	r = ts.req("GET", "/", "", nil)
	expectError(t, r, 404, "ROUTE_NOT_FOUND", "")
	r = ts.req("PUT", "/api/external/patient", ts.Key, valid)
	expectError(t, r, 405, "METHOD_NOT_ALLOWED", "")
	if !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Errorf("405 Allow = %q", r.Header.Get("Allow"))
	}

	// Request ids: the server answers with its own id, never the client's
	// (contract §8; the client's is kept as client_request_id, see
	// TestServerOwnsRequestIDs).
	r = ts.req("GET", "/api/external/me", ts.Key, nil, "X-Request-Id", "partner-trace-123")
	if got := r.Header.Get("X-Request-Id"); got == "partner-trace-123" || !strings.HasPrefix(got, "req_") {
		t.Errorf("X-Request-Id = %q, want the server's own", got)
	}
	r = ts.req("GET", "/api/external/me", ts.Key, nil, "X-Request-Id", "<script>")
	if got := r.Header.Get("X-Request-Id"); got == "<script>" || !strings.HasPrefix(got, "req_") {
		t.Errorf("X-Request-Id = %q, want a generated one", got)
	}
	// Security headers on every response.
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Cache-Control"} {
		if r.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if r.Header.Get(h) == "" {
			t.Errorf("authenticated response lacks %s", h)
		}
	}
	// Liveness needs no key.
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestValidationRules checks each rule's field and message.
func TestValidationRules(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	patient := func(mod map[string]any) map[string]any {
		b := map[string]any{"clinic_id": demoClinic, "first_name": "Vera", "last_name": "Valid", "dob": "1970-02-03"}
		for k, v := range mod {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	prac := func(mod map[string]any) map[string]any {
		b := map[string]any{"clinic_id": demoClinic, "first_name": "Val", "last_name": "Idator", "email": "val@clinic.test", "npi": "1234567890"}
		for k, v := range mod {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	cases := []struct {
		name, path string
		body       map[string]any
		code       string
		field, msg string
	}{
		{"clinic missing", "patient", patient(map[string]any{"clinic_id": nil}), "VALIDATION_ERROR", "clinic_id", "clinic_id is required."},
		{"clinic not uuid", "patient", patient(map[string]any{"clinic_id": "clinic-1"}), "INVALID_CLINIC_ID", "", "Clinic ID must be a valid UUID."},
		{"clinic unknown", "patient", patient(map[string]any{"clinic_id": "650e8400-e29b-41d4-a716-446655440000"}), "CLINIC_NOT_FOUND", "", "Clinic not found"},
		{"first name missing", "patient", patient(map[string]any{"first_name": nil}), "VALIDATION_ERROR", "first_name", "first_name is required."},
		{"first name short", "patient", patient(map[string]any{"first_name": "V"}), "VALIDATION_ERROR", "first_name", "first_name must be at least 2 characters."},
		{"last name missing", "patient", patient(map[string]any{"last_name": ""}), "VALIDATION_ERROR", "last_name", "last_name is required."},
		{"dob missing", "patient", patient(map[string]any{"dob": nil}), "VALIDATION_ERROR", "date_of_birth", "date_of_birth is required."},
		{"dob bad", "patient", patient(map[string]any{"dob": "03/15/1985"}), "VALIDATION_ERROR", "dob", "dob must be a date (YYYY-MM-DD or RFC 3339)."},
		{"dob future", "patient", patient(map[string]any{"dob": "2999-01-01"}), "VALIDATION_ERROR", "dob", "dob must not be in the future."},
		{"gender", "patient", patient(map[string]any{"gender": "robot"}), "VALIDATION_ERROR", "gender", "gender must be one of: male, female, other, unknown."},
		{"species", "patient", patient(map[string]any{"species": "dragon"}), "VALIDATION_ERROR", "species", ""},
		{"animal owner", "patient", patient(map[string]any{"species": "feline"}), "VALIDATION_ERROR", "animal_owner_name", "animal_owner_name is required when species is not human."},
		{"status", "patient", patient(map[string]any{"status": "deleted"}), "VALIDATION_ERROR", "status", "status must be one of: active, inactive."},
		{"email", "patient", patient(map[string]any{"email": "not-an-email"}), "VALIDATION_ERROR", "email", "email must be a valid email address."},
		{"phone", "patient", patient(map[string]any{"phone": "call me"}), "VALIDATION_ERROR", "phone", "phone must be a phone number."},
		{"contact key", "patient", patient(map[string]any{"contacts": []any{map[string]any{"key": "pager", "value": "1"}}}), "VALIDATION_ERROR", "contacts[0].key", ""},
		{"state", "patient", patient(map[string]any{"state": "XX", "city": "Nowhere"}), "VALIDATION_ERROR", "state", "state must be a US state code."},
		{"zip", "patient", patient(map[string]any{"zip": "1234", "city": "Nowhere"}), "VALIDATION_ERROR", "zip", "zip must be a US ZIP code."},
		{"two address shapes", "patient", patient(map[string]any{"city": "Austin", "address": map[string]any{"line1": "x"}}), "VALIDATION_ERROR", "address", ""},
		{"weight", "patient", patient(map[string]any{"weight": -3}), "VALIDATION_ERROR", "weight", "weight must be a positive number."},
		{"allergies type", "patient", patient(map[string]any{"medication_allergies": "penicillin"}), "VALIDATION_ERROR", "medication_allergies", "medication_allergies must be an array of strings."},
		{"practitioner id", "patient", patient(map[string]any{"practitioner_id": "dr-1"}), "VALIDATION_ERROR", "practitioner_id", "practitioner_id must be a valid UUID."},
		{"practitioner unknown", "patient", patient(map[string]any{"practitioner_id": "650e8400-e29b-41d4-a716-446655440000"}), "VALIDATION_ERROR", "practitioner_id", ""},
		{"npi missing", "practitioner", prac(map[string]any{"npi": nil}), "VALIDATION_ERROR", "npi", "npi is required."},
		{"npi short", "practitioner", prac(map[string]any{"npi": "12345"}), "VALIDATION_ERROR", "npi", "npi must be exactly 10 digits."},
		{"npi letters", "practitioner", prac(map[string]any{"npi": "12345abcde"}), "VALIDATION_ERROR", "npi", "npi must be exactly 10 digits."},
		{"practitioner email", "practitioner", prac(map[string]any{"email": nil}), "VALIDATION_ERROR", "email", "email is required."},
		{"last name short", "practitioner", prac(map[string]any{"last_name": "I"}), "VALIDATION_ERROR", "last_name", "last_name must be at least 2 characters."},
		{"veterinarian type", "practitioner", prac(map[string]any{"is_veterinarian": "yes"}), "VALIDATION_ERROR", "is_veterinarian", "is_veterinarian must be true or false."},
		{"license date", "practitioner", prac(map[string]any{"license_expiration": "soon"}), "VALIDATION_ERROR", "license_expiration", ""},
		{"signature", "practitioner", prac(map[string]any{"signature_image": "not base64!"}), "VALIDATION_ERROR", "signature_image", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.req("POST", "/api/external/"+c.path, ts.Key, c.body)
			status := 400
			expectError(t, r, status, c.code, c.msg)
			if c.field != "" && !hasField(r, c.field) {
				t.Errorf("details.fields lacks %q: %s", c.field, r.Body)
			}
		})
	}
	// Every problem is listed, the first one is the message.
	r := ts.req("POST", "/api/external/practitioner", ts.Key, prac(map[string]any{"first_name": "", "email": "x", "npi": "1"}))
	if len(r.Env.Error.Details.Fields) != 3 || r.Env.Error.Message != r.Env.Error.Details.Fields[0].Message {
		t.Errorf("want three field problems, the first as message: %s", r.Body)
	}
	// Nothing was written by any of the above.
	if ids := ts.createdIDs(t, "/api/external/patient", ts.Key); len(ids) != 0 {
		t.Errorf("a refused request wrote a patient: %v", ids)
	}
}

func TestStrictRulesOnlyInProduction(t *testing.T) {
	t.Parallel()
	bad := map[string]any{
		"first_name": "Stella", "last_name": "Strict", "email": "stella@clinic.test",
		"npi": "1234567890", "dea_number": "AB1234567", "phone": "555-0199",
	}
	prod := startServer(t, "production")
	clinic := prod.newClinic("Strict Clinic")
	key := prod.newKey("--clinic", clinic)
	bad["clinic_id"] = clinic
	r := prod.req("POST", "/api/external/practitioner", key.Key, bad)
	expectError(t, r, 400, "VALIDATION_ERROR", "")
	for _, f := range []string{"npi", "dea_number", "phone"} {
		if !hasField(r, f) {
			t.Errorf("production did not refuse %s: %s", f, r.Body)
		}
	}
	good := map[string]any{"clinic_id": clinic, "first_name": "Stella", "last_name": "Strict", "email": "stella@clinic.test",
		"npi": "1234567893", "dea_number": "AB1234563", "phone": "(212) 555-0199"}
	expectOK(t, prod.req("POST", "/api/external/practitioner", key.Key, good))

	dev := startServer(t, "development")
	bad["clinic_id"] = demoClinic
	expectOK(t, dev.req("POST", "/api/external/practitioner", dev.Key, bad))
}
