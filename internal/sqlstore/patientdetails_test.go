package sqlstore

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
)

var detailsSamples = []patientDetails{
	{Species: "human", Contacts: []novamed.Contact{}, MedicationAllergies: []string{}},
	{Species: "human", Email: "load12@example.test", Phone: "+1-555-0100", Contacts: []novamed.Contact{},
		Address: novamed.Address{Line1: "1 Bench St", City: "Austin", State: "TX", Zip: "78701"}, MedicationAllergies: []string{"none"}},
	{MiddleName: "Q", Gender: "female", Species: "canine", AnimalOwnerName: "Ana Núñez", Weight: "12 kg", WeightRecordedDate: "2024-01-02",
		Height: "40 cm", Email: "a@b.test", Phone: "555", Contacts: []novamed.Contact{{Key: "mobile", Value: "555-1"}, {Key: "work", Value: "555-2"}},
		Address:             novamed.Address{Line1: "1", Line2: "2", Line3: "3", City: "Zürich", State: "ZH", Zip: "8000"},
		MedicationAllergies: []string{"penicillin", "latex"}, MedicalHistory: "asthma", ContactPreferences: &novamed.ContactPreferences{Email: true, Phone: true},
		Notes: "prefers mornings"},
	{Species: "human"}, // nil slices: written as null
	{Species: `quote " and \ backslash`, Notes: "<b>&</b>", Contacts: []novamed.Contact{}, MedicationAllergies: []string{"tab\there"}},
}

// TestPatientDetailsFastPath: details as json.Marshal writes them (plain
// strings) are read without json.Unmarshal, to the same value; those it
// cannot read plainly (escapes) still decode, through json.Unmarshal.
func TestPatientDetailsFastPath(t *testing.T) {
	for i, want := range detailsSamples {
		b, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var fast patientDetails
		plain := (&detailsReader{b: b}).patient(&fast)
		if escaped := i == len(detailsSamples)-1; plain == escaped {
			t.Errorf("sample %d: fast path taken = %v for %s", i, plain, b)
		}
		var got patientDetails
		if err := decodePatientDetails(b, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("sample %d: decodePatientDetails(%s) = %+v, %v; want %+v", i, b, got, err, want)
		}
	}
}

// FuzzPatientDetails holds decodePatientDetails to json.Unmarshal's
// answer for any input: the same value, or an error from both.
func FuzzPatientDetails(f *testing.F) {
	for _, d := range detailsSamples {
		b, _ := json.Marshal(d)
		f.Add(b)
	}
	f.Add([]byte(`{"species":"a","species":"b"}`))
	f.Add([]byte(`{"address":{"city":"a"},"address":{"zip_code":"b"}}`))
	f.Add([]byte(`{"preferred_contact_methods":null,"contacts":null,"medication_allergies":null}`))
	f.Add([]byte(`{"Species":"x", "notes":"y"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var want, got patientDetails
		errWant := json.Unmarshal(b, &want)
		errGot := decodePatientDetails(b, &got)
		if (errWant == nil) != (errGot == nil) {
			t.Fatalf("%q: json.Unmarshal error %v, decodePatientDetails error %v", b, errWant, errGot)
		}
		if errWant == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodePatientDetails = %+v; json.Unmarshal = %+v", b, got, want)
		}
	})
}

func BenchmarkDecodePatientDetails(b *testing.B) {
	raw, _ := json.Marshal(detailsSamples[1])
	b.ReportAllocs()
	for b.Loop() {
		var d patientDetails
		if err := decodePatientDetails(raw, &d); err != nil {
			b.Fatal(err)
		}
	}
}
