package novamed

import (
	"strings"
	"testing"
	"time"
)

var fuzzNow = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// FuzzParsePatient: any body decodes to a validation result without
// panicking, and an accepted patient has every required field.
func FuzzParsePatient(f *testing.F) {
	f.Add([]byte(`{"clinic_id":"550e8400-e29b-41d4-a716-446655440000","first_name":"John","last_name":"Smith","date_of_birth":"1985-03-15"}`))
	f.Add([]byte(`{"first_name":"Jo","last_name":"S","dob":"1985-03-15T00:00:00Z","contacts":[{"key":"email","value":"a@b.test"}],"addresses":[{"addressLine1":"1 A St","state":"TX","postalCode":"78701"}]}`))
	f.Add([]byte(`{"first_name":"Rex","last_name":"Dog","dob":"2019-01-01","species":"canine","animal_owner_name":"Olivia","weight":"12.5"}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"first_name":"Jo\u200bhn","last_name":"Smith\ufeff","middle_name":"\u2028A","dob":"1985-03-15"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeInput(body)
		if err != nil {
			return
		}
		for _, strict := range []bool{false, true} {
			p := ParsePatient(in, strict, fuzzNow)
			if in.Err() == nil && (runeLen(p.FirstName) < 2 || p.LastName == "" || p.DateOfBirth == "" || p.Species == "") {
				t.Fatalf("accepted a patient without a required field: %+v", p)
			}
			if in.Err() == nil && strings.ContainsFunc(p.FirstName+p.LastName+p.MiddleName+p.AnimalOwnerName, invisibleInName) {
				t.Fatalf("accepted a name with an invisible character: %+q", []string{p.FirstName, p.LastName, p.MiddleName, p.AnimalOwnerName})
			}
		}
	})
}

// FuzzParsePractitioner: likewise for practitioners, strict and basic.
func FuzzParsePractitioner(f *testing.F) {
	f.Add([]byte(`{"first_name":"Sarah","last_name":"Johnson","email":"dr.johnson@clinic.com","npi_number":"1234567890"}`))
	f.Add([]byte(`{"first_name":"Sa","last_name":"Jo","email":"a@b.test","npi":"1234567893","dea_number":"AB1234563","phone":"(212) 555-0199","state":"ca","zip":"94105-1234"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeInput(body)
		if err != nil {
			return
		}
		for _, strict := range []bool{false, true} {
			p := ParsePractitioner(in, strict)
			if in.Err() == nil && (!ValidNPI(p.NPI, strict) || !ValidEmail(p.Email)) {
				t.Fatalf("accepted an invalid practitioner: %+v", p)
			}
		}
	})
}

// FuzzParseOrder: likewise for medication orders.
func FuzzParseOrder(f *testing.F) {
	f.Add([]byte(`{"patient_id":"550e8400-e29b-41d4-a716-446655440000","practitioner_id":"550e8400-e29b-41d4-a716-446655440001","delivery_speed":"next-day","medication_requests":[{"medication":"X","dose":"0.25 mg","quantity":4,"direction":"d","refills":"2"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := DecodeInput(body)
		if err != nil {
			return
		}
		o := ParseOrder(in, fuzzNow)
		if in.Err() != nil {
			return
		}
		if len(o.Items) == 0 || len(o.Items) > 20 || !IsUUID(o.PatientID) {
			t.Fatalf("accepted an invalid order: %+v", o)
		}
		for _, it := range o.Items {
			if it.Medication == "" || it.Quantity == "" || it.RefillsAuthorized < 0 || it.RefillsAuthorized > 11 || it.UnitOfMeasure == "" {
				t.Fatalf("accepted an invalid item: %+v", it)
			}
		}
	})
}

func TestRulesExamples(t *testing.T) {
	for s, want := range map[string]bool{"1234567893": true, "1234567890": false, "1245319599": true} {
		if ValidNPI(s, true) != want {
			t.Errorf("ValidNPI(%s, strict) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"AB1234563": true, "AB1234567": false, "A91234563": true, "1B1234563": false} {
		if ValidDEA(s) != want {
			t.Errorf("ValidDEA(%s) = %v", s, !want)
		}
	}
	for dose, want := range map[string]string{"0.25 mg": "mg", "5mL": "mL", "1 tablet": "tablet", "two": "each", "10 mcg/mL": "mcg/mL"} {
		if got := UnitFromDose(dose); got != want {
			t.Errorf("UnitFromDose(%q) = %q, want %q", dose, got, want)
		}
	}
}

func TestDuplicateKeys(t *testing.T) {
	cases := map[string]bool{
		`{"a":1,"b":2}`:                       false,
		`{"a":1,"a":2}`:                       true,
		`{"a":{"b":1,"b":2}}`:                 true,
		`{"a":[{"b":1},{"b":2}]}`:             false,
		`{"a":{"b":1},"c":{"b":2}}`:           false,
		`{"a":"a","b":"a"}`:                   false,
		`{"x":[1,"x",{"x":1}],"y":{"x":"x"}}`: false,
		`{"k":[],"k":{}}`:                     true,
	}
	for body, want := range cases {
		if _, got := duplicateKey([]byte(body)); got != want {
			t.Errorf("duplicateKey(%s) = %v, want %v", body, got, want)
		}
	}
}
