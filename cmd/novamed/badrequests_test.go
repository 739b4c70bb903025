package main

import (
	"strings"
	"testing"
)

// TestBadRequestsChangeNothing sends a table of hostile or broken requests:
// each gets a 4xx envelope, nothing is written and the server stays up.
func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	c := demoClinic
	huge := strings.Repeat("x", 100_000)
	cases := []struct {
		name, path, body string
	}{
		{"empty body", "patient", ``},
		{"whitespace body", "patient", `   `},
		{"broken json", "patient", `{"clinic_id": "` + c + `",`},
		{"json array", "patient", `[{"clinic_id":"` + c + `"}]`},
		{"json string", "patient", `"patient"`},
		{"json number", "patient", `42`},
		{"json null", "patient", `null`},
		{"two objects", "patient", `{"clinic_id":"` + c + `"}{"a":1}`},
		{"trailing garbage", "patient", `{"clinic_id":"` + c + `"} xyz`},
		{"clinic number", "patient", `{"clinic_id":12345,"first_name":"Ab","last_name":"Cd","dob":"1990-01-01"}`},
		{"clinic object", "patient", `{"clinic_id":{"$ne":null},"first_name":"Ab","last_name":"Cd","dob":"1990-01-01"}`},
		{"clinic sql injection", "patient", `{"clinic_id":"' OR '1'='1","first_name":"Ab","last_name":"Cd","dob":"1990-01-01"}`},
		{"clinic null", "patient", `{"clinic_id":null,"first_name":"Ab","last_name":"Cd","dob":"1990-01-01"}`},
		{"first name number", "patient", `{"clinic_id":"` + c + `","first_name":7,"last_name":"Cd","dob":"1990-01-01"}`},
		{"first name array", "patient", `{"clinic_id":"` + c + `","first_name":["Ab"],"last_name":"Cd","dob":"1990-01-01"}`},
		{"first name null", "patient", `{"clinic_id":"` + c + `","first_name":null,"last_name":"Cd","dob":"1990-01-01"}`},
		{"first name huge", "patient", `{"clinic_id":"` + c + `","first_name":"` + huge + `","last_name":"Cd","dob":"1990-01-01"}`},
		{"first name NUL", "patient", `{"clinic_id":"` + c + `","first_name":"Ab\u0000cd","last_name":"Cd","dob":"1990-01-01"}`},
		{"first name control", "patient", `{"clinic_id":"` + c + `","first_name":"Ab\u0007","last_name":"Cd","dob":"1990-01-01"}`},
		{"bidi override", "patient", `{"clinic_id":"` + c + `","first_name":"Ab\u202Ecd","last_name":"Cd","dob":"1990-01-01"}`},
		{"invalid utf8", "patient", "{\"clinic_id\":\"" + c + "\",\"first_name\":\"Ab\xff\xfe\",\"last_name\":\"Cd\",\"dob\":\"1990-01-01\"}"},
		{"lone surrogate escape", "patient", `{"clinic_id":"` + c + `","first_name":"Ab\ud800","last_name":"Cd","dob":"1990-01-01"}`},
		{"dob 13th month", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-13-01"}`},
		{"dob feb 30", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-02-30"}`},
		{"dob number", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":19900101}`},
		{"dob year 1800", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1800-01-01"}`},
		{"dob sql", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01'; DROP TABLE patients;--"}`},
		{"dob and date_of_birth disagree", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","date_of_birth":"1991-01-01"}`},
		{"contacts not array", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","contacts":"a@b.test"}`},
		{"contacts item not object", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","contacts":["a@b.test"]}`},
		{"contacts too many", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","contacts":[` + strings.TrimSuffix(strings.Repeat(`{"key":"url","value":"x"},`, 21), ",") + `]}`},
		{"addresses two", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","addresses":[{"city":"A"},{"city":"B"}]}`},
		{"address not object", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","address":"1 Main St"}`},
		{"prefs not bool", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","preferred_contact_methods":{"email":"yes"}}`},
		{"weight huge", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","weight":1e308}`},
		{"weight NaN string", "patient", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","dob":"1990-01-01","weight":"NaN"}`},
		{"deep nesting", "patient", strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000)},
		{"mass assignment only", "patient", `{"id":"650e8400-e29b-41d4-a716-446655440000","status":"active","created_at":"2000-01-01"}`},
		{"other partner clinic", "patient", `{"clinic_id":"650e8400-e29b-41d4-a716-446655440000","first_name":"Ab","last_name":"Cd","dob":"1990-01-01"}`},
		{"npi injection", "practitioner", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","email":"a@b.test","npi":"1' OR 1=1--"}`},
		{"npi number type", "practitioner", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","email":"a@b.test","npi":1234567890}`},
		{"email with name", "practitioner", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","email":"Ab <a@b.test>","npi":"1234567890"}`},
		{"email header injection", "practitioner", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","email":"a@b.test\r\nBcc: x@y.test","npi":"1234567890"}`},
		{"assigned clinic disagrees", "practitioner", `{"clinic_id":"` + c + `","assigned_clinic":"650e8400-e29b-41d4-a716-446655440000","first_name":"Ab","last_name":"Cd","email":"a@b.test","npi":"1234567890"}`},
		{"signature huge", "practitioner", `{"clinic_id":"` + c + `","first_name":"Ab","last_name":"Cd","email":"a@b.test","npi":"1234567890","signature_image":"` + strings.Repeat("QUJD", 180_000) + `"}`},
		{"emoji only name", "practitioner", `{"clinic_id":"` + c + `","first_name":"😀","last_name":"Cd","email":"a@b.test","npi":"1234567890"}`},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.req("POST", "/api/external/"+tc.path, ts.Key, tc.body)
			if r.Status < 400 || r.Status >= 500 || r.Env.Success || r.Env.Error.Code == "" || r.Env.Error.Message == "" {
				t.Fatalf("got %d %s, want a 4xx envelope: %.300s", r.Status, r.Env.Error.Code, r.Body)
			}
			if strings.Contains(string(r.Body), "sql") || strings.Contains(string(r.Body), ".go") {
				t.Errorf("error leaks internals: %s", r.Body)
			}
		})
	}
	for _, path := range []string{"patient", "practitioner"} {
		if ids := ts.createdIDs(t, "/api/external/"+path, ts.Key); len(ids) != 0 {
			t.Errorf("a bad request wrote a %s: %v", path, ids)
		}
	}
	expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))
}
