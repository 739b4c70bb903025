package main

import (
	"encoding/json"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

// The behaviour of the admin routes of issue 22's second round (one test
// per route group): each answers what its CLI command prints with --json,
// refuses bad input with the envelope and changes nothing, and is audited
// with the operator and what it touched.

// lastRecord is the newest audit record of actor with action.
func lastRecord(t *testing.T, ts *testServer, actor, action string) novamed.AuditRecord {
	t.Helper()
	recs := exportActor(t, ts, actor)
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Action == action {
			return recs[i]
		}
	}
	t.Fatalf("no %s record of %s among %d", action, actor, len(recs))
	return novamed.AuditRecord{}
}

// sameJSON reports whether a and b encode the same JSON value.
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	norm := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(x)
		return string(out)
	}
	return norm(a) == norm(b)
}

// TestAdminOperatorsAndTokens: an admin changes an operator's role (their
// tokens stop working), enrols a new TOTP, resets a sign-in delay; bad
// input changes nothing; an admin cannot demote themselves; an operator
// lists and revokes only their own tokens, and a revoked token is 401.
func TestAdminOperatorsAndTokens(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts, admin := f.ts, f.tokens[operator.Admin]
	supportID := f.ids[operator.Support]

	for _, body := range []map[string]any{{}, {"role": "owner"}, {"status": "asleep"}, {"role": 3}, {"colour": "red"}} {
		if r := adminReq(t, ts, "PATCH", "/api/admin/operators/"+supportID, admin, body); r.Status != 400 {
			t.Errorf("PATCH %v: %d %s", body, r.Status, r.Body)
		}
	}
	if r := adminReq(t, ts, "GET", "/api/admin/me", f.tokens[operator.Support], nil); r.Status != 200 {
		t.Fatalf("refused updates changed the support operator: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "PATCH", "/api/admin/operators/"+f.ids[operator.Admin], admin, map[string]any{"role": "viewer"}); r.Status != 400 {
		t.Errorf("an admin demotes themselves: %d %s", r.Status, r.Body)
	}
	r := adminReq(t, ts, "PATCH", "/api/admin/operators/"+supportID, admin, map[string]any{"role": "viewer"})
	if r.Status != 200 {
		t.Fatalf("PATCH role: %d %s", r.Status, r.Body)
	}
	var changed operatorJSON
	r.data(t, &changed)
	var listed struct{ Operators []operatorJSON }
	ts.mustCLI(&listed, "operators", "list")
	i := slices.IndexFunc(listed.Operators, func(o operatorJSON) bool { return o.ID == supportID })
	if changed.Role != "viewer" || i < 0 || !sameJSON(t, changed, listed.Operators[i]) {
		t.Errorf("PATCH answered %+v; operators list --json shows %+v", changed, listed.Operators)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/me", f.tokens[operator.Support], nil); r.Status != 401 {
		t.Errorf("a token of the role before the change: %d", r.Status)
	}
	if rec := lastRecord(t, ts, "operator:"+f.ids[operator.Admin], "operator.update"); rec.Status != 200 || !slices.Contains(rec.ResourceIDs, supportID) {
		t.Errorf("operator.update record %+v", rec)
	}

	// A second-factor reset: the TOTP goes, the tokens are revoked, a
	// one-time setup link (shown once) lets the operator enrol again.
	pharmID := f.ids[operator.Pharmacy]
	r = adminReq(t, ts, "POST", "/api/admin/operators/"+pharmID+"/totp-reset", admin, nil)
	var reset operatorJSON
	r.data(t, &reset)
	if r.Status != 200 || !strings.HasPrefix(reset.SetupLink, operator.SetupLinkPath) || reset.HasTOTP || reset.SetupLinkExpiresAt == nil {
		t.Errorf("totp-reset: %d %s", r.Status, r.Body)
	}
	ts.addSecret(reset.SetupLink)
	if r := adminReq(t, ts, "GET", "/api/admin/me", f.tokens[operator.Pharmacy], nil); r.Status != 401 {
		t.Errorf("a token from before the second-factor reset: %d", r.Status)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/operators/"+f.ids[operator.Viewer]+"/throttle-reset", admin, map[string]any{"address": "bad address"}); r.Status != 400 {
		t.Errorf("throttle-reset with a bad address: %d %s", r.Status, r.Body)
	}
	r = adminReq(t, ts, "POST", "/api/admin/operators/"+f.ids[operator.Viewer]+"/throttle-reset", admin, map[string]any{"address": "127.0.0.1"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"reset":true`) {
		t.Errorf("throttle-reset: %d %s", r.Status, r.Body)
	}

	// Tokens: the viewer's own, never the token itself.
	viewer := f.tokens[operator.Viewer]
	r = adminReq(t, ts, "GET", "/api/admin/operator-tokens", viewer, nil)
	var toks struct {
		Tokens []struct {
			ID, OperatorID, Prefix string
			RevokedAt              *string `json:"revoked_at"`
		}
	}
	r.data(t, &toks)
	if r.Status != 200 || len(toks.Tokens) != 1 || strings.Contains(string(r.Body), viewer) || !strings.HasPrefix(viewer, toks.Tokens[0].Prefix) {
		t.Fatalf("viewer's tokens: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/operator-tokens?operator="+f.ids[operator.Admin], viewer, nil); r.Status != 403 {
		t.Errorf("a viewer lists the admin's tokens: %d %s", r.Status, r.Body)
	}
	r = adminReq(t, ts, "GET", "/api/admin/operator-tokens?operator="+f.ids[operator.Admin], admin, nil)
	var adminToks struct{ Tokens []struct{ ID string } }
	r.data(t, &adminToks)
	if r.Status != 200 || len(adminToks.Tokens) < 2 {
		t.Fatalf("admin's tokens: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/operator-tokens/"+adminToks.Tokens[0].ID+"/revoke", viewer, nil); r.Status != 404 {
		t.Errorf("a viewer revokes the admin's token: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/me", admin, nil); r.Status != 200 {
		t.Fatalf("the admin's token after a refused revoke: %d", r.Status)
	}
	r = adminReq(t, ts, "POST", "/api/admin/operator-tokens/"+toks.Tokens[0].ID+"/revoke", viewer, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"revoked_at":"`) {
		t.Fatalf("the viewer revokes their token: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/me", viewer, nil); r.Status != 401 {
		t.Errorf("a revoked token: %d", r.Status)
	}
	if rec := lastRecord(t, ts, "operator:"+f.ids[operator.Viewer], "operator.token_revoke"); rec.Status != 200 || !slices.Contains(rec.ResourceIDs, toks.Tokens[0].ID) {
		t.Errorf("operator.token_revoke record %+v", rec)
	}
}

// TestAdminCatalogueRoutes: the formulary and carrier imports take what
// `formulary list --json` and `carriers list --json` print, replace, are
// audited with the operator (and the clinic), and refuse bad input
// without changing anything; events and webhook rotation answer what their
// commands print.
func TestAdminCatalogueRoutes(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts, support := f.ts, f.tokens[operator.Support]
	actor := "operator:" + f.ids[operator.Support]
	clinic := ts.newClinic("Formulary clinic")
	base := "/api/admin/clinics/" + clinic + "/formulary"

	var cliList formularyDoc
	ts.mustCLI(&cliList, "formulary", "list", "--clinic", clinic)
	r := adminReq(t, ts, "GET", base, f.tokens[operator.Viewer], nil)
	var apiList formularyDoc
	r.data(t, &apiList)
	if r.Status != 200 || !sameJSON(t, cliList, apiList) || apiList.Source != "development default" {
		t.Fatalf("GET formulary %s, formulary list --json %+v", r.Body, cliList)
	}
	// The CLI's output is the import's body.
	cliList.Medications = cliList.Medications[:1]
	r = adminReq(t, ts, "PUT", base, support, cliList)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"medications":1`) {
		t.Fatalf("PUT formulary: %d %s", r.Status, r.Body)
	}
	if rec := lastRecord(t, ts, actor, "formulary.import"); rec.ClinicID != clinic || rec.Status != 200 || rec.ResourceType != "formulary" {
		t.Errorf("formulary.import record %+v", rec)
	}
	var after formularyDoc
	ts.mustCLI(&after, "formulary", "list", "--clinic", clinic)
	if after.Source != "clinic" || len(after.Medications) != 1 || after.Medications[0].Name != cliList.Medications[0].Name {
		t.Fatalf("after PUT: %+v", after)
	}
	for name, body := range map[string]any{
		"no list":       map[string]any{"clinic_id": clinic},
		"unnamed entry": map[string]any{"medications": []any{map[string]any{"name": " "}}},
		"unknown field": map[string]any{"medications": []any{}, "colour": "red"},
		"wrong type":    map[string]any{"medications": "all"},
	} {
		if r := adminReq(t, ts, "PUT", base, support, body); r.Status != 400 {
			t.Errorf("PUT formulary, %s: %d %s", name, r.Status, r.Body)
		}
	}
	if r := adminReq(t, ts, "POST", base+"/medications", support, map[string]any{"strengths": []string{"1 mg"}}); r.Status != 400 {
		t.Errorf("POST a medication without a name: %d %s", r.Status, r.Body)
	}
	var still formularyDoc
	ts.mustCLI(&still, "formulary", "list", "--clinic", clinic)
	if !sameJSON(t, still, after) {
		t.Errorf("refused changes changed the formulary: %+v", still)
	}
	r = adminReq(t, ts, "POST", base+"/medications", support, map[string]any{"name": "Ibuprofen", "strengths": []string{"200 mg"}, "unit_of_measure": "mg"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"name":"Ibuprofen"`) {
		t.Fatalf("POST a medication: %d %s", r.Status, r.Body)
	}
	r = adminReq(t, ts, "DELETE", base+"/medications/"+url.PathEscape("ibuprofen"), support, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"removed":"ibuprofen"`) {
		t.Fatalf("DELETE a medication: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "DELETE", base+"/medications/Ibuprofen", support, nil); r.Status != 404 {
		t.Errorf("DELETE it again: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "PUT", "/api/admin/clinics/650e8400-e29b-41d4-a716-446655440000/formulary", support, cliList); r.Status != 404 {
		t.Errorf("PUT the formulary of no clinic: %d %s", r.Status, r.Body)
	}

	// Carriers: the list's output is the import's body.
	var carriers struct {
		Carriers []map[string]any `json:"carriers"`
	}
	ts.mustCLI(&carriers, "carriers", "list")
	if len(carriers.Carriers) < 2 {
		t.Fatalf("carriers: %+v", carriers)
	}
	if r := adminReq(t, ts, "PUT", "/api/admin/carriers", support, map[string]any{"carriers": []any{map[string]any{"id": ""}}}); r.Status != 400 {
		t.Errorf("PUT a bad catalogue: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "PUT", "/api/admin/carriers", f.tokens[operator.Pharmacy], carriers); r.Status != 403 {
		t.Errorf("PUT carriers as pharmacy: %d %s", r.Status, r.Body)
	}
	fewer := map[string]any{"carriers": carriers.Carriers[1:]}
	r = adminReq(t, ts, "PUT", "/api/admin/carriers", support, fewer)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"carriers":`) {
		t.Fatalf("PUT carriers: %d %s", r.Status, r.Body)
	}
	var now struct {
		Carriers []map[string]any `json:"carriers"`
	}
	ts.mustCLI(&now, "carriers", "list")
	if !sameJSON(t, now, fewer) {
		t.Errorf("after PUT carriers: %+v", now)
	}
	if rec := lastRecord(t, ts, actor, "carrier.import"); rec.Status != 200 || len(rec.ResourceIDs) != len(carriers.Carriers)-1 {
		t.Errorf("carrier.import record %+v", rec)
	}

	// Events, as `events list --json`.
	var cliEvents map[string]any
	ts.mustCLI(&cliEvents, "events", "list", "--clinic", demoClinic)
	r = adminReq(t, ts, "GET", "/api/admin/clinics/"+demoClinic+"/events", f.tokens[operator.Viewer], nil)
	var apiEvents map[string]any
	r.data(t, &apiEvents)
	if r.Status != 200 || !sameJSON(t, cliEvents, apiEvents) {
		t.Errorf("events: API %s, CLI %v", r.Body, cliEvents)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/clinics/"+demoClinic+"/events?after=nonsense", f.tokens[operator.Viewer], nil); r.Status != 400 {
		t.Errorf("events after an unknown event: %d %s", r.Status, r.Body)
	}

	// Webhook rotation, as `webhooks rotate --json`.
	wr := ts.req("POST", "/api/external/webhook", ts.Key, map[string]any{"clinic_id": demoClinic, "webhook_url": "http://127.0.0.1:9/rotate"})
	expectOK(t, wr)
	var wh struct {
		ID string `json:"webhook_id"`
	}
	wr.data(t, &wh)
	if r := adminReq(t, ts, "POST", "/api/admin/webhooks/"+wh.ID+"/rotate", support, map[string]any{"overlap": "9999h"}); r.Status != 400 {
		t.Errorf("rotate with a too long overlap: %d %s", r.Status, r.Body)
	}
	r = adminReq(t, ts, "POST", "/api/admin/webhooks/"+wh.ID+"/rotate", support, map[string]any{"overlap": "1h"})
	var rot webhookRotation
	r.data(t, &rot)
	if r.Status != 200 || rot.WebhookID != wh.ID || rot.ClinicID != demoClinic || !strings.HasPrefix(rot.SigningSecret, "whsec_") || rot.OverlapUntil == nil {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	ts.addSecret(rot.SigningSecret, rot.VerificationToken)
	if rec := lastRecord(t, ts, actor, "webhook.rotate"); rec.ClinicID != demoClinic || !slices.Contains(rec.ResourceIDs, wh.ID) {
		t.Errorf("webhook.rotate record %+v", rec)
	}
}

// TestAdminOrderSearchIsAPHIRead: the order search lists orders of every
// clinic (or one, of one status), pages, refuses bad filters with 400,
// and each answer is audited as a PHI read by the operator naming every
// order listed.
func TestAdminOrderSearchIsAPHIRead(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts := f.ts
	p := &pharmacy{testServer: ts, key: ts.Key}
	r := ts.req("POST", "/api/external/practitioner", p.key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Sally", "last_name": "Search", "email": "sally@clinic.test", "npi": "1234567893"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	p.practitionerID = pr.ID
	p.patientID = p.newPatient(t, "Searchable", "TX", demoClinic, p.key)
	var ids []string
	for range 3 {
		r, a := p.order(t, nil, nil)
		expectOK(t, r)
		ids = append(ids, a.OrderID)
	}
	pharm := f.tokens[operator.Pharmacy]
	var got []string
	cursor := ""
	for page := 0; page < 5; page++ {
		r := adminReq(t, ts, "GET", "/api/admin/orders?limit=2&clinic="+demoClinic+"&cursor="+cursor, pharm, nil)
		var out struct {
			Orders []struct {
				ID string `json:"medication_order_id"`
			}
			NextCursor *string `json:"next_cursor"`
		}
		r.data(t, &out)
		if r.Status != 200 {
			t.Fatalf("search: %d %s", r.Status, r.Body)
		}
		for _, o := range out.Orders {
			got = append(got, o.ID)
		}
		if out.NextCursor == nil {
			break
		}
		cursor = *out.NextCursor
	}
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("paged search found %v, want %v", got, ids)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/orders", f.tokens[operator.Support], nil); r.Status != 403 {
		t.Errorf("support searches orders (no PHI): %d", r.Status)
	}
	for _, q := range []string{"status=lost", "limit=0", "limit=x", "cursor=nope", "clinic=nope"} {
		if r := adminReq(t, ts, "GET", "/api/admin/orders?"+q, pharm, nil); r.Status != 400 || r.Env.Error.Code != "VALIDATION_ERROR" {
			t.Errorf("search ?%s: %d %s", q, r.Status, r.Body)
		}
	}
	r = adminReq(t, ts, "GET", "/api/admin/orders?status=cancelled", pharm, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"orders":[]`) {
		t.Errorf("no cancelled order: %d %s", r.Status, r.Body)
	}
	rec := lastRecord(t, ts, "operator:"+f.ids[operator.Pharmacy], "medication_order.list")
	if rec.Status != 200 || rec.ResourceType != "medication_order" {
		t.Errorf("search record %+v", rec)
	}
	var named []string
	for _, rc := range exportActor(t, ts, "operator:"+f.ids[operator.Pharmacy]) {
		if rc.Action == "medication_order.list" && rc.Status == 200 {
			if rc.ClinicID != demoClinic && len(rc.ResourceIDs) > 0 {
				t.Errorf("a clinic's search record names clinic %q", rc.ClinicID)
			}
			named = append(named, rc.ResourceIDs...)
		}
	}
	for _, id := range ids {
		if !slices.Contains(named, id) {
			t.Errorf("order %s was listed but no record names it", id)
		}
	}
}

// TestAdminAuditRoutes: the audit routes answer what `audit verify`,
// `audit checkpoint` and `audit checkpoint --public-key` print; a
// checkpoint from the API verifies with the CLI and through the API; the
// search filters and pages; bad input is a 400; and a tampered trail is
// reported broken at the tampered record.
func TestAdminAuditRoutes(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts, sec := f.ts, f.tokens[operator.Security]
	actor := "operator:" + f.ids[operator.Security]

	r := adminReq(t, ts, "POST", "/api/admin/audit/verify", sec, nil)
	var v map[string]any
	r.data(t, &v)
	cli, err := verifyJSON(t, ts)
	if r.Status != 200 || v["ok"] != true || err != nil || !slices.Equal(slices.Sorted(maps.Keys(v)), slices.Sorted(maps.Keys(cli))) {
		t.Fatalf("verify: %d %s; audit verify --json %v (%v)", r.Status, r.Body, cli, err)
	}
	var cliKey, apiKey map[string]any
	ts.mustCLI(&cliKey, "audit", "checkpoint", "--public-key")
	r = adminReq(t, ts, "GET", "/api/admin/audit/checkpoint-key", sec, nil)
	r.data(t, &apiKey)
	if r.Status != 200 || !sameJSON(t, cliKey, apiKey) {
		t.Fatalf("checkpoint-key %s, CLI %v", r.Body, cliKey)
	}
	r = adminReq(t, ts, "POST", "/api/admin/audit/checkpoints", sec, nil)
	var cp map[string]any
	r.data(t, &cp)
	if r.Status != 200 || cp["sig"] == nil || cp["key_id"] != apiKey["key_id"] {
		t.Fatalf("checkpoint: %d %s", r.Status, r.Body)
	}
	file := t.TempDir() + "/cp.json"
	if err := writeJSONFile(file, cp); err != nil {
		t.Fatal(err)
	}
	ts.mustCLI(nil, "audit", "verify", "--checkpoint", file)
	r = adminReq(t, ts, "POST", "/api/admin/audit/verify", sec, map[string]any{"checkpoints": []any{cp}})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"checkpoints":1`) || !strings.Contains(string(r.Body), `"ok":true`) {
		t.Errorf("verify with the checkpoint: %d %s", r.Status, r.Body)
	}
	forged := map[string]any{}
	for k, val := range cp {
		forged[k] = val
	}
	forged["seq"] = cp["seq"].(float64) + 1000
	if r := adminReq(t, ts, "POST", "/api/admin/audit/verify", sec, map[string]any{"checkpoints": []any{forged}}); r.Status != 400 {
		t.Errorf("verify with a forged checkpoint: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/audit/verify", f.tokens[operator.Support], nil); r.Status != 403 {
		t.Errorf("support verifies: %d", r.Status)
	}

	// Search: the security operator's own audit actions, a page at a time.
	var seen []int64
	cursor := ""
	for page := 0; page < 10; page++ {
		r := adminReq(t, ts, "GET", "/api/admin/audit?limit=2&action=audit.&actor="+url.QueryEscape(actor)+"&cursor="+cursor, sec, nil)
		var out struct {
			Records    []novamed.AuditRecord
			Truncated  bool
			NextCursor *string `json:"next_cursor"`
		}
		r.data(t, &out)
		if r.Status != 200 || len(out.Records) > 2 {
			t.Fatalf("search: %d %s", r.Status, r.Body)
		}
		for _, rec := range out.Records {
			if rec.Actor != actor || !strings.HasPrefix(rec.Action, "audit.") {
				t.Errorf("search answered %+v", rec)
			}
			seen = append(seen, rec.Seq)
		}
		if out.NextCursor == nil {
			break
		}
		cursor = *out.NextCursor
	}
	// verify, checkpoint-key, checkpoints, verify, verify(400), and the
	// searches before the last page: at least the first five.
	if len(seen) < 5 || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != len(seen) {
		t.Errorf("paged search: %v", seen)
	}
	for _, q := range []string{"since=yesterday", "limit=0", "limit=10001", "cursor=abc"} {
		if r := adminReq(t, ts, "GET", "/api/admin/audit?"+q, sec, nil); r.Status != 400 || r.Env.Error.Code != "VALIDATION_ERROR" {
			t.Errorf("search ?%s: %d %s", q, r.Status, r.Body)
		}
	}
	if onPostgres() {
		return // the tampering below edits the SQLite file
	}
	db := openDB(t, ts)
	if mustExec(t, db, `UPDATE audit_log SET record = replace(record, '"seq":', '"extra":"x","seq":') WHERE seq = 3`) != 1 {
		t.Fatal("the edit touched no row")
	}
	db.Close()
	r = adminReq(t, ts, "POST", "/api/admin/audit/verify", sec, nil)
	r.data(t, &v)
	if r.Status != 200 || v["ok"] != false || v["first_bad_seq"] != float64(3) || v["reason"] == "" {
		t.Errorf("verify of a tampered trail: %d %s", r.Status, r.Body)
	}
}

func writeJSONFile(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
