package main

import (
	"bytes"
	"testing"
)

// TestClinicIsolation: a key for clinic A gets "Clinic not found" for
// clinic B and 404 for B's records, byte-identical to unknown ones.
func TestClinicIsolation(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	clinicB := ts.newClinic("Clinic B")
	keyB := ts.newKey("--clinic", clinicB)
	keyA := ts.Key // demo clinic only

	// B's records.
	r := ts.req("POST", "/api/external/practitioner", keyB.Key, map[string]any{
		"clinic_id": clinicB, "first_name": "Bella", "last_name": "Bravo", "email": "bella@b.test", "npi": "1234567890"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	r = ts.req("POST", "/api/external/patient", keyB.Key, map[string]any{
		"clinic_id": clinicB, "first_name": "Bruno", "last_name": "Bravo", "dob": "1991-09-09", "practitioner_id": pr.ID})
	expectOK(t, r)
	var pa struct {
		ID string `json:"patient_id"`
	}
	r.data(t, &pa)

	// Creates for B with A's key: the same answer as an unknown clinic.
	unknown := "650e8400-e29b-41d4-a716-446655440000"
	for _, path := range []string{"patient", "practitioner"} {
		body := map[string]any{"first_name": "Eve", "last_name": "Intruder", "email": "eve@a.test", "npi": "1234567890", "dob": "1990-01-01"}
		body["clinic_id"] = clinicB
		rb := ts.req("POST", "/api/external/"+path, keyA, body)
		expectError(t, rb, 400, "CLINIC_NOT_FOUND", "Clinic not found")
		body["clinic_id"] = unknown
		ru := ts.req("POST", "/api/external/"+path, keyA, body)
		expectError(t, ru, 400, "CLINIC_NOT_FOUND", "Clinic not found")
		if !sameErrorBody(rb, ru) {
			t.Errorf("%s: not-yours and unknown differ:\n%s\n%s", path, rb.Body, ru.Body)
		}
		// Listing with B's clinic filter.
		rl := ts.req("GET", "/api/external/"+path+"?clinic_id="+clinicB, keyA, nil)
		expectError(t, rl, 400, "CLINIC_NOT_FOUND", "Clinic not found")
		// A's lists hold nothing of B.
		rl = ts.req("GET", "/api/external/"+path, keyA, nil)
		expectOK(t, rl)
		if bytes.Contains(rl.Body, []byte(clinicB)) || bytes.Contains(rl.Body, []byte("Bravo")) {
			t.Errorf("%s list leaks clinic B: %s", path, rl.Body)
		}
	}
	// Reads of B's records with A's key: 404, identical to an unknown id.
	for path, id := range map[string]string{"patient": pa.ID, "practitioner": pr.ID} {
		rb := ts.req("GET", "/api/external/"+path+"/"+id, keyA, nil)
		ru := ts.req("GET", "/api/external/"+path+"/"+unknown, keyA, nil)
		rn := ts.req("GET", "/api/external/"+path+"/..%2f..%2fetc", keyA, nil)
		for _, r := range []*response{rb, ru} {
			if r.Status != 404 || r.Env.Error.Code != "NOT_FOUND" {
				t.Fatalf("%s: got %d %s, want 404: %s", path, r.Status, r.Env.Error.Code, r.Body)
			}
		}
		if rn.Status != 404 { // a traversal path is no route at all
			t.Fatalf("%s traversal: got %d: %s", path, rn.Status, rn.Body)
		}
		if !sameErrorBody(rb, ru) {
			t.Errorf("%s: not-yours and unknown differ:\n%s\n%s", path, rb.Body, ru.Body)
		}
		// B reads its own.
		expectOK(t, ts.req("GET", "/api/external/"+path+"/"+id, keyB.Key, nil))
	}
	// A practitioner of B cannot be attached to a patient of A.
	r = ts.req("POST", "/api/external/patient", keyA, map[string]any{
		"clinic_id": demoClinic, "first_name": "Alan", "last_name": "Alpha", "dob": "1980-01-01", "practitioner_id": pr.ID})
	expectError(t, r, 400, "VALIDATION_ERROR", "")

	// A key granted both clinics sees both.
	both := ts.newKey("--clinic", demoClinic, "--clinic", clinicB)
	expectOK(t, ts.req("GET", "/api/external/patient/"+pa.ID, both.Key, nil))
}

// sameErrorBody compares two error envelopes but for their request ids.
func sameErrorBody(a, b *response) bool {
	ra := bytes.ReplaceAll(a.Body, []byte(a.Env.Error.RequestID), []byte("ID"))
	rb := bytes.ReplaceAll(b.Body, []byte(b.Env.Error.RequestID), []byte("ID"))
	return a.Status == b.Status && bytes.Equal(ra, rb)
}
