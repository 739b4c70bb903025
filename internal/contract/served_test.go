package contract

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/novamed/partner-api/api"
)

// TestDocumentIsServed: /openapi.yaml and /openapi.json are the embedded
// document as this server serves it (servers naming the URL it was reached
// at, x-codeSamples added) and the same document; neither needs a key.
func TestDocumentIsServed(t *testing.T) {
	a := newAPIServer(t)
	served, err := api.ServedDocument(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	y := a.do("GET", "/openapi.yaml", "", nil, "Accept", "")
	if y.status != 200 || !strings.HasPrefix(y.header.Get("Content-Type"), "application/yaml") || string(y.body) != string(served.YAML) {
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
	if err := yaml.Unmarshal(y.body, &fromYAML); err != nil {
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
	// The maintained document, but for servers and the samples.
	var maintained map[string]any
	if err := yaml.Unmarshal(api.YAML(), &maintained); err != nil {
		t.Fatal(err)
	}
	doc := fromJSON.(map[string]any)
	if servers := doc["servers"].([]any); len(servers) != 1 || servers[0].(map[string]any)["url"] != a.URL {
		t.Errorf("servers %v, want the URL the server answered on, %s", servers, a.URL)
	}
	if len(doc["paths"].(map[string]any)) != len(maintained["paths"].(map[string]any)) || doc["info"].(map[string]any)["version"] != maintained["info"].(map[string]any)["version"] {
		t.Error("the served document is not the maintained one")
	}
	// Key order follows the YAML file (paths start with /healthz).
	if i, k := strings.Index(string(j.body), `"/healthz"`), strings.Index(string(j.body), `"/api/external/me"`); i < 0 || k < i {
		t.Errorf("/openapi.json does not keep the YAML key order")
	}
}

// TestDocsServedCompressedWithETags: /docs and /docs/ answer the same
// page; with Accept-Encoding: gzip the page, the document and the
// versioned script come compressed with an ETag, a second request naming
// it answers 304, and the versioned script may be kept for a year.
func TestDocsServedCompressedWithETags(t *testing.T) {
	a := newAPIServer(t)
	plain := a.do("GET", "/docs", "", nil, "Accept", "text/html")
	for _, path := range []string{"/docs/", "/docs", "/openapi.json", "/openapi.yaml", "/docs/assets/" + api.AssetVersion() + "/redoc.standalone.js"} {
		r := a.do("GET", path, "", nil, "Accept", "*/*", "Accept-Encoding", "gzip, br")
		if r.status != 200 || r.header.Get("Content-Encoding") != "gzip" || r.header.Get("ETag") == "" || r.header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("%s: %d, Content-Encoding %q, ETag %q, Vary %q", path, r.status, r.header.Get("Content-Encoding"), r.header.Get("ETag"), r.header.Get("Vary"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(r.body) >= len(body) {
			t.Errorf("%s: %d bytes compressed from %d", path, len(r.body), len(body))
		}
		if strings.HasPrefix(path, "/docs") && !strings.Contains(path, "assets") && string(body) != string(plain.body) {
			t.Errorf("%s is not the page of /docs", path)
		}
		again := a.do("GET", path, "", nil, "Accept", "*/*", "Accept-Encoding", "gzip", "If-None-Match", r.header.Get("ETag"))
		if again.status != 304 || len(again.body) != 0 || again.header.Get("ETag") != r.header.Get("ETag") {
			t.Errorf("%s with If-None-Match: %d, %d bytes", path, again.status, len(again.body))
		}
		// The uncompressed form has its own ETag: naming the gzip one
		// does not make it 304.
		if other := a.do("GET", path, "", nil, "Accept", "*/*", "Accept-Encoding", "identity", "If-None-Match", r.header.Get("ETag")); other.status != 200 || other.header.Get("Content-Encoding") != "" {
			t.Errorf("%s identity with the gzip ETag: %d %q", path, other.status, other.header.Get("Content-Encoding"))
		}
	}
	script := a.do("GET", "/docs/assets/"+api.AssetVersion()+"/redoc.standalone.js", "", nil, "Accept", "*/*")
	if cc := script.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("versioned script Cache-Control %q", cc)
	}
	if cc := plain.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("page Cache-Control %q", cc)
	}
	if r := a.do("GET", "/docs/assets/0000000000000000/redoc.standalone.js", "", nil, "Accept", "*/*"); r.status != 404 {
		t.Errorf("an old version: %d", r.status)
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
	if want := `src="/docs/assets/` + api.AssetVersion() + `/docs.js"`; !strings.Contains(html, want) || !strings.Contains(html, `data-spec="/openapi.json"`) {
		t.Errorf("/docs does not load %s with the document /openapi.json:\n%s", want, html)
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
