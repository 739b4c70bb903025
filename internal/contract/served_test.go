package contract

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/novamed/partner-api/api"
)

// TestDocumentIsServed: /openapi.yaml is the embedded file, /openapi.json
// the same document, and neither needs a key.
func TestDocumentIsServed(t *testing.T) {
	a := newAPIServer(t)
	y := a.do("GET", "/openapi.yaml", "", nil, "Accept", "")
	if y.status != 200 || !strings.HasPrefix(y.header.Get("Content-Type"), "application/yaml") || string(y.body) != string(api.YAML()) {
		t.Fatalf("/openapi.yaml: %d %s, %d bytes", y.status, y.header.Get("Content-Type"), len(y.body))
	}
	j := a.do("GET", "/openapi.json", "", nil)
	if j.status != 200 || !strings.HasPrefix(j.header.Get("Content-Type"), "application/json") {
		t.Fatalf("/openapi.json: %d %s", j.status, j.header.Get("Content-Type"))
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j.body, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(api.YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Compare through JSON so that both sides have the same Go types.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var normalised any
	if err := json.Unmarshal(b, &normalised); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, normalised) {
		t.Errorf("/openapi.json is not the YAML document")
	}
	// Key order follows the YAML file (paths start with /healthz).
	if i, k := strings.Index(string(j.body), `"/healthz"`), strings.Index(string(j.body), `"/api/external/me"`); i < 0 || k < i {
		t.Errorf("/openapi.json does not keep the YAML key order")
	}
}

// TestDocsPageWorksOffline: /docs is an HTML page whose scripts come from
// this server only, under a CSP that allows nothing else.
func TestDocsPageWorksOffline(t *testing.T) {
	a := newAPIServer(t)
	p := a.do("GET", "/docs", "", nil, "Accept", "text/html")
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %s", p.status, p.header.Get("Content-Type"))
	}
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("/docs CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") || strings.Contains(csp, "http") {
		t.Errorf("/docs CSP is too open: %q", csp)
	}
	html := string(p.body)
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "<script>") {
		t.Errorf("/docs loads something from elsewhere or inline:\n%s", html)
	}
	if !strings.Contains(html, `src="docs/docs.js"`) {
		t.Errorf("/docs does not load docs/docs.js:\n%s", html)
	}
	for _, asset := range []string{"docs.js", "redoc.standalone.js"} {
		r := a.do("GET", "/docs/"+asset, "", nil, "Accept", "*/*")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") || len(r.body) == 0 {
			t.Errorf("/docs/%s: %d %s", asset, r.status, r.header.Get("Content-Type"))
		}
	}
	js := a.do("GET", "/docs/docs.js", "", nil, "Accept", "*/*")
	if !strings.Contains(string(js.body), `"./redoc.standalone.js"`) || !strings.Contains(string(js.body), "disableTelemetry: true") {
		t.Errorf("docs.js: %s", js.body)
	}
	// The API's own answers keep the strict default policy.
	h := a.do("GET", "/healthz", "", nil)
	if got := h.header.Get("Content-Security-Policy"); !strings.HasPrefix(got, "default-src 'none'") || strings.Contains(got, "script-src") {
		t.Errorf("API CSP changed: %q", got)
	}
}

// TestValidatorRejectsWhatTheDocumentDoesNot proves the checks bite: an
// undocumented field, an undocumented status, a missing header and a
// wrong error code are all failures.
func TestValidatorRejectsWhatTheDocumentDoesNot(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://127.0.0.1/api/external/carriers", nil)
	req.Header.Set("x-api-key", "dev_x")
	ok := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Request-Id": {"req_1"},
		"X-Ratelimit-Limit": {"100"}, "X-Ratelimit-Remaining": {"99"}, "X-Ratelimit-Reset": {"1768496460"}}
	good := `{"success":true,"data":{"carriers":[{"id":"ameriship","name":"Ameriship"}]}}`
	if err := ValidateResponse(req, 200, ok, []byte(good)); err != nil {
		t.Fatalf("a documented answer was refused: %v", err)
	}
	cases := map[string]struct {
		status int
		header http.Header
		body   string
	}{
		"undocumented field":        {200, ok, `{"success":true,"data":{"carriers":[{"id":"ameriship","name":"Ameriship","internal_cost":3}]}}`},
		"undocumented status":       {201, ok, good},
		"missing rate-limit header": {200, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_1"}}, good},
		"wrong code for 401":        {401, ok, `{"success":false,"error":{"message":"Unauthorized. This can happen if the access token is invalid, expired or has been revoked","code":"NOT_FOUND","request_id":"req_1"}}`},
		"request id differs":        {401, ok, `{"success":false,"error":{"message":"Unauthorized. This can happen if the access token is invalid, expired or has been revoked","code":"UNAUTHORIZED","request_id":"req_2"}}`},
	}
	for name, c := range cases {
		if err := ValidateResponse(req, c.status, c.header, []byte(c.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Requests: a missing key, a bad parameter and a bad body are refused.
	noKey, _ := http.NewRequest("GET", "http://127.0.0.1/api/external/carriers", nil)
	if err := ValidateRequest(noKey, nil); err == nil {
		t.Errorf("a request without x-api-key was accepted")
	}
	badLimit, _ := http.NewRequest("GET", "http://127.0.0.1/api/external/patient?limit=0", nil)
	badLimit.Header.Set("x-api-key", "dev_x")
	if err := ValidateRequest(badLimit, nil); err == nil {
		t.Errorf("limit=0 was accepted")
	}
	post, _ := http.NewRequest("POST", "http://127.0.0.1/api/external/patient", nil)
	post.Header.Set("x-api-key", "dev_x")
	post.Header.Set("Content-Type", "application/json")
	if err := ValidateRequest(post, []byte(`{"clinic_id":"`+demoClinic+`","first_name":"Jo","last_name":"X"}`)); err == nil {
		t.Errorf("a patient without a date of birth was accepted")
	}
	if err := ValidateRequest(post, []byte(`{"assigned_clinic":"`+demoClinic+`","first_name":"Jo","last_name":"X","date_of_birth":"1990-01-01"}`)); err != nil {
		t.Errorf("a valid patient was refused: %v", err)
	}
	// Undocumented routes answer only 404/405 envelopes.
	unknown, _ := http.NewRequest("GET", "http://127.0.0.1/nothing", nil)
	if err := ValidateRequest(unknown, nil); err == nil || !strings.Contains(err.Error(), "no documented operation") {
		t.Errorf("unknown route: %v", err)
	}
	if err := ValidateResponse(unknown, 200, ok, []byte(good)); err == nil {
		t.Errorf("a 200 to an unknown route was accepted")
	}
}
