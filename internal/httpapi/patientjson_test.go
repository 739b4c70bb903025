package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func fuzzPatient(s1, s2, s3 string, n uint8, at int64) patientJSON {
	p := &novamed.Patient{ID: "0193a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b", ClinicID: "550e8400-e29b-41d4-a716-446655440000", Status: "active",
		FirstName: s1, LastName: s2, DateOfBirth: "1980-01-01", Species: "human", CreatedAt: time.UnixMicro(at).UTC()}
	if n&1 != 0 {
		p.MiddleName, p.Gender, p.Email, p.Notes, p.MedicalHistory = s3, "female", s1+"@example.test", s2, s3
	}
	if n&2 != 0 {
		p.Contacts = []novamed.Contact{{Key: s1, Value: s3}, {Key: "work", Value: ""}}
	} else if n&4 != 0 {
		p.Contacts = []novamed.Contact{}
	}
	if n&8 != 0 {
		p.MedicationAllergies = []string{s3, "none"}
	} else if n&16 != 0 {
		p.MedicationAllergies = []string{}
	}
	if n&32 != 0 {
		p.Address = novamed.Address{Line1: s1, City: "Austin", Zip: s3}
	}
	if n&64 != 0 {
		p.ContactPreferences = &novamed.ContactPreferences{Email: true, Phone: n&128 != 0}
	}
	if n&128 != 0 {
		p.PractitionerID, p.AnimalOwnerName, p.Weight, p.WeightRecordedDate, p.Height, p.Phone = "p", s2, "12", "2024-01-01", "40", "555"
	}
	return patientJSON{p.ID, p}
}

// FuzzPatientJSON holds marshalSuccess's hand-written patient answers
// (one patient, a page of them) to json.Marshal's bytes: an idempotent
// replay returns stored bytes, so a difference would show.
func FuzzPatientJSON(f *testing.F) {
	f.Add("Ada", "Lovelace", "x", uint8(0), int64(1732924800123456), "")
	f.Add("Ana", "Núñez", "<b>&", uint8(255), int64(0), "Patient created successfully")
	f.Add("tab\t", `quo"te`, "\u2028", uint8(170), int64(-62135596800000000), "")
	f.Add("", "", "", uint8(85), int64(253402300800000000), "x")
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, n uint8, at int64, msg string) {
		p := fuzzPatient(s1, s2, s3, n, at)
		next := s3
		for _, data := range []any{p, page([]patientJSON{p, fuzzPatient(s2, s1, s3, ^n, at/3)}, next), page([]patientJSON{}, "")} {
			got, err := marshalSuccess(data, msg)
			want, werr := json.Marshal(successBody{Success: true, Data: data, Message: msg})
			if (err == nil) != (werr == nil) {
				t.Fatalf("errors differ: %v, %v", err, werr)
			}
			if err == nil && !bytes.Equal(got, append(want, '\n')) {
				t.Fatalf("marshalSuccess:\n%s\njson.Marshal:\n%s", got, want)
			}
		}
	})
}

// TestPatientJSONFastPath: a plain patient takes the hand-written path.
func TestPatientJSONFastPath(t *testing.T) {
	if _, ok := marshalPatients(fuzzPatient("Ada", "Lovelace", "x", 255, 1732924800123456), "Patient created successfully"); !ok {
		t.Fatal("a plain patient was not encoded by appendPatientJSON")
	}
	if _, ok := marshalPatients(fuzzPatient("Ada", "<b>", "x", 0, 0), ""); ok {
		t.Fatal("a name json.Marshal escapes took the hand-written path")
	}
}
