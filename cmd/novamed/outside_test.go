package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

// Tests of the outside black-box test's findings (issue 19) that need the
// whole program: the audit export, the log and the serve flags.

// exportedLines decodes the audit export into generic objects, so a test
// sees every field a record carries.
func exportedLines(t *testing.T, ts *testServer) []map[string]any {
	t.Helper()
	text, _ := auditExportOf(t, ts)
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("export line: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func recordOf(t *testing.T, recs []map[string]any, requestID string) map[string]any {
	t.Helper()
	for _, m := range recs {
		if m["request_id"] == requestID {
			return m
		}
	}
	t.Fatalf("no audit record with request_id %q", requestID)
	return nil
}

// TestServerOwnsRequestIDs (issue 19.11, contract §8 "Request ids"): the
// server always answers with its own id; a valid client id is kept beside it
// as client_request_id in the audit record and the access log, and an
// invalid one is ignored.
func TestServerOwnsRequestIDs(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	seen := map[string]bool{}
	type sent struct{ client, server string }
	var valid []sent
	for _, id := range []string{"partner-trace-123", "a:b.c-d_e", "partner-trace-123"} {
		r := ts.req("GET", "/api/external/me", ts.Key, nil, "X-Request-Id", id)
		got := r.Header.Get("X-Request-Id")
		if got == id || !strings.HasPrefix(got, "req_") || seen[got] {
			t.Errorf("X-Request-Id %q for a client's %q: want a fresh id of the server's own", got, id)
		}
		seen[got] = true
		valid = append(valid, sent{id, got})
	}
	// An error's request_id is the server's id too.
	r := ts.req("GET", "/api/external/patient/00000000-0000-4000-8000-000000000000", ts.Key, nil, "X-Request-Id", "partner-trace-404")
	expectError(t, r, 404, "NOT_FOUND", "")
	if r.Env.Error.RequestID == "partner-trace-404" || r.Env.Error.RequestID != r.Header.Get("X-Request-Id") {
		t.Errorf("error.request_id %q, header %q", r.Env.Error.RequestID, r.Header.Get("X-Request-Id"))
	}
	valid = append(valid, sent{"partner-trace-404", r.Header.Get("X-Request-Id")})
	var invalid []string
	for _, id := range []string{"<script>", strings.Repeat("a", 129), "sp ace", "é"} {
		r := ts.req("GET", "/api/external/me", ts.Key, nil, "X-Request-Id", id)
		invalid = append(invalid, r.Header.Get("X-Request-Id"))
	}
	recs := exportedLines(t, ts)
	for _, s := range valid {
		if got := recordOf(t, recs, s.server)["client_request_id"]; got != s.client {
			t.Errorf("audit record %s: client_request_id %v, want %q", s.server, got, s.client)
		}
	}
	for _, id := range invalid {
		if got, ok := recordOf(t, recs, id)["client_request_id"]; ok {
			t.Errorf("audit record %s keeps an invalid client id %v", id, got)
		}
	}
	waitFor(t, "the access log names the client id", func() bool {
		return strings.Contains(ts.logs.String(), `"request_id":"`+valid[0].server+`"`) &&
			strings.Contains(ts.logs.String(), `"client_request_id":"partner-trace-123"`)
	})
	if strings.Contains(ts.logs.String(), "<script>") {
		t.Errorf("an invalid client id reached the log")
	}
}

// TestIdempotentReplayAuditsItsRecords (issue 19.9): a replay returns the
// original answer, PHI included, so its audit record names the clinic and
// the records, as the original's does.
func TestIdempotentReplayAuditsItsRecords(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	body := map[string]any{"clinic_id": demoClinic, "first_name": "Rena", "last_name": "Replayed", "dob": "1971-04-05"}
	first := ts.req("POST", "/api/external/patient", ts.Key, body, "Idempotency-Key", "replay-audit-1")
	expectOK(t, first)
	var created struct {
		PatientID string `json:"patient_id"`
	}
	first.data(t, &created)
	again := ts.req("POST", "/api/external/patient", ts.Key, body, "Idempotency-Key", "replay-audit-1")
	if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	recs := exportedLines(t, ts)
	orig := recordOf(t, recs, first.Header.Get("X-Request-Id"))
	rep := recordOf(t, recs, again.Header.Get("X-Request-Id"))
	if rep["action"] != "idempotent.replay" {
		t.Fatalf("replay record action %v", rep["action"])
	}
	ids, _ := rep["resource_ids"].([]any)
	if rep["clinic_id"] != demoClinic || len(ids) != 1 || ids[0] != created.PatientID || rep["resource_type"] != "patient" {
		t.Errorf("replay audit record: clinic %v, %v %v; want %s, patient [%s] (the original: clinic %v, %v)",
			rep["clinic_id"], rep["resource_type"], rep["resource_ids"], demoClinic, created.PatientID, orig["clinic_id"], orig["resource_ids"])
	}
}

// TestBehindTLSProxyWithoutTrustedProxyWarns (issue 19.2): behind a proxy
// that is not trusted every client shares the proxy's address (one
// failed-authentication budget for all): serve starts, and warns at every
// start.
func TestBehindTLSProxyWithoutTrustedProxyWarns(t *testing.T) {
	t.Parallel()
	const warning = "--behind-tls-proxy without --trusted-proxy"
	ts := startServer(t, "development", "--behind-tls-proxy")
	waitFor(t, "the warning at the first start", func() bool { return strings.Count(ts.logs.String(), warning) == 1 })
	ts.stop()
	ts.start("--behind-tls-proxy")
	waitFor(t, "the warning at the second start", func() bool { return strings.Count(ts.logs.String(), warning) == 2 })

	quiet := startServer(t, "development", "--behind-tls-proxy", "--trusted-proxy", "10.0.0.0/8")
	expectOK(t, quiet.req("GET", "/api/external/me", quiet.Key, nil))
	if strings.Contains(quiet.logs.String(), warning) {
		t.Errorf("warned although a trusted proxy is named")
	}
}

// waitFor polls cond until it holds or 10 s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 10*time.Second, cond, "timed out waiting for %s", what)
}

// TestInvisibleCharactersDoNotDefeatDuplicates (issue 19.8): a name with an
// invisible character is refused with a 400 naming the field, and a name
// that differs only by compatibility form (full-width letters) is the same
// identity: the second registration is a duplicate.
func TestInvisibleCharactersDoNotDefeatDuplicates(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	clinic := ts.newClinic("Invisible Ink")
	k := ts.newKey("--clinic", clinic)
	person := func(first, last string) map[string]any {
		return map[string]any{"clinic_id": clinic, "first_name": first, "last_name": last, "dob": "1979-09-09"}
	}
	expectOK(t, ts.req("POST", "/api/external/patient", k.Key, person("Ivy", "Inkwell")))
	for name, first := range map[string]string{"zero-width space": "I\u200bvy", "left-to-right mark": "Ivy\u200e\u200e", "right-to-left mark": "I\u200fvy",
		"byte order mark": "\ufeffIvy", "tag characters": "Ivy\U000e0041\U000e0042", "line separator": "I\u2028vy"} {
		r := ts.req("POST", "/api/external/patient", k.Key, person(first, "Inkwell"))
		expectError(t, r, 400, "VALIDATION_ERROR", "")
		if len(r.Env.Error.Details.Fields) == 0 || r.Env.Error.Details.Fields[0].Field != "first_name" {
			t.Errorf("%s: problems %+v, want first_name named", name, r.Env.Error.Details.Fields)
		}
	}
	r := ts.req("POST", "/api/external/patient", k.Key, person("Ｉｖｙ", "Ｉｎｋｗｅｌｌ"))
	expectError(t, r, 400, "DUPLICATE", "")
	var list struct {
		Items []map[string]any `json:"items"`
	}
	ts.req("GET", "/api/external/patient?clinic_id="+clinic, k.Key, nil).data(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("%d patients in the clinic, want 1", len(list.Items))
	}
}
