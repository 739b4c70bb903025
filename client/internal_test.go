package client

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 2 ":                           2 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:35 GMT": 30 * time.Second,
		"Fri, 02 Jan 2026 03:00:00 GMT": 0, // in the past
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoffIsFullJitterWithinCaps(t *testing.T) {
	c := New("k", WithBackoff(100*time.Millisecond, time.Second))
	for n := range 40 {
		ceiling := min(100*time.Millisecond<<min(n, 20), time.Second)
		var maxSeen time.Duration
		for range 200 {
			d := c.backoff(n)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v outside [0, %v]", n, d, ceiling)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceiling/2 {
			t.Fatalf("backoff(%d) never above %v of %v: not jittered over the whole range", n, maxSeen, ceiling)
		}
	}
}

func TestIdempotencyKeys(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		k := newIdempotencyKey()
		if !re.MatchString(k) || seen[k] {
			t.Fatalf("key %q (repeated: %v)", k, seen[k])
		}
		seen[k] = true
	}
}

func TestParseError(t *testing.T) {
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"9"}, "X-Request-Id": {"req_h"}}}
	e := parseError(resp, []byte(`{"success":false,"error":{"message":"slow","code":"RATE_LIMIT_EXCEEDED","request_id":"req_b",`+
		`"retry_after":4,"details":{"fields":[{"field":"a","message":"b"}],"limit":5}}}`))
	if e.Code != CodeRateLimited || e.Message != "slow" || e.RequestID != "req_b" || e.RetryAfter != 4*time.Second ||
		len(e.Fields) != 1 || e.Fields[0] != (FieldError{"a", "b"}) || e.Details["limit"] != 5.0 {
		t.Fatalf("%+v", e)
	}
	if !strings.Contains(e.Error(), "429 RATE_LIMIT_EXCEEDED: slow (request_id req_b)") {
		t.Fatalf("Error() = %q", e.Error())
	}
	e = parseError(resp, []byte("upstream timeout"))
	if e.Code != "" || e.Message != "upstream timeout" || e.RequestID != "req_h" || e.RetryAfter != 9*time.Second {
		t.Fatalf("%+v", e)
	}
	e = parseError(&http.Response{StatusCode: 503, Header: http.Header{}}, []byte(strings.Repeat("x", 500)))
	if e.Message != "Service Unavailable" {
		t.Fatalf("%+v", e)
	}
}

func TestAPIErrorKinds(t *testing.T) {
	cases := []struct {
		status int
		code   string
		want   []error
	}{
		{401, CodeUnauthorized, []error{ErrUnauthorized}},
		{404, CodeNotFound, []error{ErrNotFound}},
		{400, CodeValidation, []error{ErrValidation}},
		{400, CodeClinicNotFound, []error{ErrValidation}},
		{400, CodeDuplicate, []error{ErrConflict}}, // never both IsValidation and IsConflict
		{409, CodeInvalidTransition, []error{ErrConflict}},
		{422, CodeIdempotencyKeyReused, []error{ErrConflict}},
		{429, CodeRateLimited, []error{ErrRateLimited}},
		{500, CodeInternal, nil},
	}
	all := []error{ErrNotFound, ErrUnauthorized, ErrRateLimited, ErrValidation, ErrConflict}
	for _, c := range cases {
		e := &APIError{StatusCode: c.status, Code: c.code}
		for _, s := range all {
			want := false
			for _, w := range c.want {
				want = want || w == s
			}
			if e.Is(s) != want {
				t.Errorf("%d %s Is(%v) = %v", c.status, c.code, s, !want)
			}
		}
	}
}

func TestRequestBodiesUseCanonicalNames(t *testing.T) {
	b, err := json.Marshal(&CreatePatientRequest{ClinicID: "c", FirstName: "f", LastName: "l", DateOfBirth: "2000-01-01",
		Address: &Address{Line1: "1", Line3: "3", State: "TX", Zip: "75201"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"clinic_id":"c","first_name":"f","last_name":"l","date_of_birth":"2000-01-01",` +
		`"address":{"address_line_1":"1","line3":"3","state":"TX","zip_code":"75201"}}`
	if string(b) != want {
		t.Fatalf("patient body\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(&CreatePractitionerRequest{ClinicID: "c", NPI: "1", StateCode: "TX"})
	if want := `{"clinic_id":"c","first_name":"","last_name":"","email":"","npi":"1","state_code":"TX"}`; string(b) != want {
		t.Fatalf("practitioner body %s", b)
	}
	b, _ = json.Marshal(&CreateRefillRequest{MedicationRequestID: "m"})
	if want := `{"medication_request_id":"m"}`; string(b) != want {
		t.Fatalf("refill body %s", b)
	}
}

func TestURL(t *testing.T) {
	cases := []struct{ base, path, want string }{
		{"http://127.0.0.1:8080", "/api/external/patient/" + pathEscape("a/b c"), "http://127.0.0.1:8080/api/external/patient/a%2Fb%20c"},
		{"https://api.example/novamed/", "/api/external/me", "https://api.example/novamed/api/external/me"},
		{"https://api.example/v%201", "/api/external/me", "https://api.example/v%201/api/external/me"},
	}
	for _, tc := range cases {
		c := New("k", WithBaseURL(tc.base))
		got, err := c.url(call{path: tc.path})
		if err != nil || got != tc.want {
			t.Errorf("url(%s, %s) = %s, %v; want %s", tc.base, tc.path, got, err, tc.want)
		}
	}
	c := New("k")
	got, _ := c.url(call{path: "/x", query: map[string][]string{"patientId": {"a&b"}}})
	if got != "http://127.0.0.1:8080/x?patientId=a%26b" {
		t.Errorf("query: %s", got)
	}
}
