package novamed

import (
	"testing"
	"time"
)

// BenchmarkDecodeAndValidatePatient is the request-body half of a create:
// decode (with the duplicate-key check) and every validation rule of the
// quickstart patient.
func BenchmarkDecodeAndValidatePatient(b *testing.B) {
	body := []byte(`{"clinic_id":"550e8400-e29b-41d4-a716-446655440000","first_name":"Jane","last_name":"Doe","dob":"1980-01-01",` +
		`"email":"jane@example.test","phone":"512-555-0100","gender":"female",` +
		`"address":{"line1":"1 Main St","city":"Austin","state":"TX","zip":"78701"},"medication_allergies":["none"]}`)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		in, err := DecodeInput(body)
		if err != nil {
			b.Fatal(err)
		}
		ParsePatient(in, true, now)
		if err := in.Err(); err != nil {
			b.Fatal(err)
		}
	}
}
