package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// startServerOn starts a development server on backend ("sqlite" or
// "postgres", whatever the suite's pass): the PostgreSQL run skips, and
// says so, when no PostgreSQL answers on 127.0.0.1:5432.
func startServerOn(t *testing.T, backend string, extra ...string) *testServer {
	t.Helper()
	ts := &testServer{t: t, DataDir: t.TempDir(), Env: "development", logs: &syncBuffer{}, stdout: &syncBuffer{},
		vars: map[string]string{}, done: make(chan error, 1), resolver: newHostResolver()}
	if backend == "postgres" {
		ts.vars["NOVAMED_DB"] = freshPostgres(t)
	}
	ts.start(extra...)
	t.Cleanup(func() { ts.stop(); ts.checkLogs() })
	return ts
}

// operatorCLI runs operator commands against a server with --server and
// an operator token, from a folder that holds no database and no key.
type operatorCLI struct {
	t    *testing.T
	ts   *testServer
	vars map[string]string
}

func (o *operatorCLI) getenv(name string) string { return o.vars[name] }

// run runs one command with --server; it returns stdout, stderr and the
// error run returned (main exits 1 on it).
func (o *operatorCLI) run(args ...string) (string, string, error) {
	o.t.Helper()
	var stdout, stderr bytes.Buffer
	args = append(slices.Clone(args), "--server", o.ts.URL, "--data-dir", filepath.Join(o.t.TempDir(), "nothing-here"))
	err := run(context.Background(), args, o.getenv, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// must runs a --json command and decodes its output into out.
func (o *operatorCLI) must(out any, args ...string) string {
	o.t.Helper()
	stdout, stderr, err := o.run(append(args, "--json")...)
	if err != nil {
		o.t.Fatalf("--server %v: %v\nstderr: %s", args, err, stderr)
	}
	if strings.Contains(stderr, "direct database mode") {
		o.t.Fatalf("--server %v announced direct database mode: %s", args, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			o.t.Fatalf("--server %v: output is not one JSON object: %v\n%s", args, err, stdout)
		}
	}
	return stdout
}

// direct runs a command in direct database mode on the server's database
// and returns stdout and stderr.
func direct(t *testing.T, ts *testServer, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append(slices.Clone(args), "--data-dir", ts.DataDir, "--env", ts.Env)
	if db := ts.vars["NOVAMED_DB"]; db != "" {
		args = append(args, "--db", db)
	}
	if err := run(context.Background(), args, ts.getenv, &stdout, &stderr); err != nil {
		t.Fatalf("direct %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// jsonShape is the sorted field names of a JSON object, and of the first
// element of each array of objects in it (one level down).
func jsonShape(t *testing.T, raw string) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, raw)
	}
	var out []string
	for k, v := range m {
		out = append(out, k)
		if list, ok := v.([]any); ok && len(list) > 0 {
			if obj, ok := list[0].(map[string]any); ok {
				for f := range obj {
					out = append(out, k+"[]."+f)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// comparable drops the element fields of an array that is empty on one
// side only: a list can gain its first element between the two calls (usage
// counts arrive in batches), and an empty list says nothing of its
// elements' shape. Top-level fields and the element fields of lists that
// have elements on both sides are still compared.
func comparable(a, b []string) ([]string, []string) {
	lists := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, f := range s {
			if k, _, ok := strings.Cut(f, "[]."); ok {
				m[k] = true
			}
		}
		return m
	}
	la, lb := lists(a), lists(b)
	keep := func(s []string) []string {
		var out []string
		for _, f := range s {
			if k, _, ok := strings.Cut(f, "[]."); ok && la[k] != lb[k] {
				continue
			}
			out = append(out, f)
		}
		return out
	}
	return keep(a), keep(b)
}

// TestCLIThroughServer is the operator flow through the CLI with --server
// on SQLite and on PostgreSQL: an admin bootstrapped in direct mode (the
// only step on the database host) then, with only the server's URL and an
// operator token, creates a partner, records its BAA, approves it, creates
// a clinic, issues, lists, rolls and revokes keys, suspends and reinstates
// the partner, reads carriers and the formulary, advances an order placed
// with the issued key, and exports the audit trail: every action is there
// as operator:<id>, and the chain verifies. Direct and --server print the
// same output shapes; a bad, revoked or missing token is a clear error.
func TestCLIThroughServer(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { cliThroughServer(t, backend) })
	}
}

func cliThroughServer(t *testing.T, backend string) {
	ts := startServerOn(t, backend, "--sandbox", "off")

	// Bootstrap on the database host: the admin and a token.
	var admin createdOperator
	ts.mustCLI(&admin, "operators", "create", "--email", "admin@novamed.test", "--role", "admin", "--password-file", passwordFile(t, "a long admin password"))
	var tok struct{ Token string }
	ts.mustCLI(&tok, "operators", "token", "--email", "admin@novamed.test")
	ts.addSecret(tok.Token)
	if !strings.HasPrefix(tok.Token, "op_") {
		t.Fatalf("token %q", tok.Token)
	}
	op := &operatorCLI{t: t, ts: ts, vars: map[string]string{"NOVAMED_OPERATOR_TOKEN": tok.Token, "HOME": t.TempDir()}}

	var partner struct {
		ID     string
		Status string
		Flags  []string
	}
	op.must(&partner, "partners", "create", "--name", "Client Mode Health", "--contact", "Ops <ops@client.test>")
	if partner.ID == "" || partner.Status != "onboarding" {
		t.Fatalf("partner %+v", partner)
	}
	op.must(&partner, "partners", "baa", partner.ID, "--signed-on", "2026-01-15", "--signer", "Dana Signer", "--document", "sha256:client-mode")
	op.must(&partner, "partners", "approve", partner.ID)
	if partner.Status != "approved" {
		t.Fatalf("approved partner %+v", partner)
	}
	var clinic struct {
		ID        string
		PartnerID string `json:"partner_id"`
	}
	op.must(&clinic, "clinics", "create", "--name", "Client Mode Clinic", "--partner", partner.ID)
	if clinic.PartnerID != partner.ID {
		t.Fatalf("clinic %+v", clinic)
	}
	var key issuedKey
	op.must(&key, "keys", "create", "--clinic", clinic.ID, "--name", "via --server")
	ts.addSecret(key.Key)
	if !strings.HasPrefix(key.Key, "dev_") || key.Environment != "development" {
		t.Fatalf("key %+v", key)
	}
	var keys struct {
		Keys []struct {
			ID, Prefix string
			PartnerID  string `json:"partner_id"`
		}
	}
	if out := op.must(&keys, "keys", "list", "--clinic", clinic.ID); strings.Contains(out, key.Key) {
		t.Fatalf("keys list shows the key itself: %s", out)
	}
	if len(keys.Keys) != 1 || keys.Keys[0].ID != key.ID || keys.Keys[0].PartnerID != partner.ID {
		t.Fatalf("keys list %+v", keys)
	}

	// Roll: the successor works at once, the old key during the grace.
	var rolled struct {
		ID, Key, Replaces string
	}
	op.must(&rolled, "keys", "roll", key.ID, "--grace", "1h")
	ts.addSecret(rolled.Key)
	if rolled.Replaces != key.ID || !strings.HasPrefix(rolled.Key, "dev_") {
		t.Fatalf("roll %+v", rolled)
	}
	for _, k := range []string{key.Key, rolled.Key} {
		if r := ts.req("GET", "/api/external/me", k, nil); r.Status != 200 {
			t.Fatalf("key after the roll: %d %s", r.Status, r.Body)
		}
	}
	// Revoke the old key: refused at once by this server.
	op.must(nil, "keys", "revoke", key.ID)
	if r := ts.req("GET", "/api/external/me", key.Key, nil); r.Status != 401 {
		t.Fatalf("revoked key: %d", r.Status)
	}

	// Suspend and reinstate the partner: its key is refused, then works.
	op.must(&partner, "partners", "suspend", partner.ID)
	if r := ts.req("GET", "/api/external/me", rolled.Key, nil); r.Status != 401 {
		t.Fatalf("key of a suspended partner: %d %s", r.Status, r.Body)
	}
	op.must(&partner, "partners", "reinstate", partner.ID)
	if r := ts.req("GET", "/api/external/me", rolled.Key, nil); r.Status != 200 {
		t.Fatalf("key of a reinstated partner: %d %s", r.Status, r.Body)
	}

	var carriers struct {
		Carriers []struct{ ID string }
	}
	op.must(&carriers, "carriers", "list")
	if len(carriers.Carriers) == 0 {
		t.Fatal("carriers list --server: no carriers")
	}
	var formulary struct {
		Medications []struct{ Name string }
	}
	op.must(&formulary, "formulary", "list", "--clinic", clinic.ID)

	// An order placed with the issued key, advanced through --server.
	ph := &pharmacy{testServer: ts, key: rolled.Key}
	r := ts.req("POST", "/api/external/practitioner", rolled.Key, map[string]any{
		"clinic_id": clinic.ID, "first_name": "Paula", "last_name": "Pharmacist", "email": "paula@clinic.test", "npi": "1234567893"})
	expectOK(t, r)
	var pr struct {
		ID string `json:"practitioner_id"`
	}
	r.data(t, &pr)
	ph.practitionerID = pr.ID
	ph.patientID = ph.newPatient(t, "Cleo", "TX", clinic.ID, rolled.Key)
	r, order := ph.order(t, map[string]any{"clinic_id": clinic.ID}, nil)
	expectOK(t, r)
	var advanced struct{ ID, Status, Event string }
	op.must(&advanced, "orders", "advance", order.OrderID, "--to", "verified")
	if advanced.ID != order.OrderID || advanced.Status != "verified" {
		t.Fatalf("advance %+v", advanced)
	}

	// Read-only views through --server.
	var usage struct {
		KeyID string `json:"key_id"`
	}
	op.must(&usage, "keys", "usage", rolled.ID, "--days", "7")
	if usage.KeyID != rolled.ID {
		t.Fatalf("keys usage --server: %+v", usage)
	}
	op.must(nil, "security", "events", "--since", "1h")
	op.must(nil, "webhooks", "deliveries", "--limit", "5")

	// The formulary and the carrier catalogue, changed through --server.
	op.must(nil, "formulary", "set", "--clinic", clinic.ID, "--name", "Client Mode Tablet", "--strength", "5 mg", "--unit", "mg")
	op.must(&formulary, "formulary", "list", "--clinic", clinic.ID)
	if len(formulary.Medications) != 1 || formulary.Medications[0].Name != "Client Mode Tablet" {
		t.Fatalf("formulary after set --server: %+v", formulary)
	}
	var removed struct{ Removed string }
	op.must(&removed, "formulary", "remove", "--clinic", clinic.ID, "--name", "client mode tablet")
	op.must(&formulary, "formulary", "list", "--clinic", clinic.ID)
	if removed.Removed != "client mode tablet" || slices.ContainsFunc(formulary.Medications, func(m struct{ Name string }) bool { return m.Name == "Client Mode Tablet" }) {
		t.Fatalf("formulary after remove --server: %+v %+v", removed, formulary)
	}
	if _, _, err := op.run("formulary", "remove", "--clinic", clinic.ID, "--name", "client mode tablet"); err == nil || !strings.Contains(errorLine(err), "not found") {
		t.Errorf("removing a medication twice --server: %v", err)
	}
	if _, _, err := op.run("formulary", "set", "--clinic", "6f1c2b9e-0d7a-4c1e-9b2f-3a4d5e6f7a8b", "--name", "X"); err == nil || !strings.Contains(err.Error(), "no such clinic") {
		t.Errorf("formulary set --server of an unknown clinic: %v", err)
	}
	formularyFile := filepath.Join(t.TempDir(), "formulary.json")
	writeFile(t, formularyFile, `{"medications":[{"name":"Semaglutide","strengths":["0.25 mg"],"unit_of_measure":"mg","is_refrigerated":true}]}`)
	var imported struct{ Medications int }
	op.must(&imported, "formulary", "import", "--clinic", clinic.ID, "--file", formularyFile)
	if imported.Medications != 1 {
		t.Fatalf("formulary import --server: %+v", imported)
	}
	catalogue := filepath.Join(t.TempDir(), "carriers.json")
	writeFile(t, catalogue, op.must(nil, "carriers", "list"))
	var carriersImported struct{ Carriers int }
	op.must(&carriersImported, "carriers", "import", "--file", catalogue)
	if carriersImported.Carriers != len(carriers.Carriers) {
		t.Fatalf("carriers import --server of carriers list --json: %+v, want %d", carriersImported, len(carriers.Carriers))
	}

	// A webhook's secrets rotated through --server: the new ones only in
	// the answer, the old ones during the overlap.
	r = ts.req("POST", "/api/external/webhook", rolled.Key, map[string]any{"clinic_id": clinic.ID, "webhook_url": "http://127.0.0.1:9/client-mode"})
	expectOK(t, r)
	var hook struct {
		ID string `json:"webhook_id"`
	}
	r.data(t, &hook)
	var rotation struct {
		WebhookID         string  `json:"webhook_id"`
		ClinicID          string  `json:"clinic_id"`
		VerificationToken string  `json:"verification_token"`
		SigningSecret     string  `json:"signing_secret"`
		OverlapUntil      *string `json:"overlap_until"`
	}
	op.must(&rotation, "webhooks", "rotate", hook.ID, "--overlap", "2h")
	ts.addSecret(rotation.VerificationToken, rotation.SigningSecret)
	if rotation.WebhookID != hook.ID || rotation.ClinicID != clinic.ID || !strings.HasPrefix(rotation.SigningSecret, "whsec_") || rotation.OverlapUntil == nil {
		t.Fatalf("webhooks rotate --server: %+v", rotation)
	}
	if text, _, err := op.run("webhooks", "rotate", hook.ID, "--overlap", "0s"); err != nil || !strings.Contains(text, "deliveries use the new secrets from now on") {
		t.Fatalf("webhooks rotate --server --overlap 0s: %v\n%s", err, text)
	} else {
		for _, line := range strings.Split(text, "\n") {
			if f := strings.Fields(line); len(f) == 2 && (f[0] == "verification_token" || f[0] == "signing_secret") {
				ts.addSecret(f[1])
			}
		}
	}
	if _, _, err := op.run("webhooks", "rotate", "00000000-0000-4000-8000-000000000000"); err == nil || !strings.Contains(errorLine(err), "not found") {
		t.Errorf("webhooks rotate --server of an unknown webhook: %v", err)
	}

	// Operators, managed through --server by the admin (only the new
	// operator's bootstrap is on the database host).
	ts.mustCLI(nil, "operators", "create", "--email", "staff@novamed.test", "--role", "support", "--password-file", passwordFile(t, "a long staff password"))
	var staff struct{ ID, Role, Status string }
	op.must(&staff, "operators", "role", "--email", "STAFF@novamed.test", "--role", "viewer")
	if staff.Role != "viewer" || staff.Status != "active" {
		t.Fatalf("operators role --server: %+v", staff)
	}
	var throttled struct {
		Email string
		Reset bool
	}
	op.must(&throttled, "operators", "reset-throttle", "--email", "staff@novamed.test", "--address", "127.0.0.1")
	if !throttled.Reset || throttled.Email != "staff@novamed.test" {
		t.Fatalf("operators reset-throttle --server: %+v", throttled)
	}
	var reset struct {
		SetupLink string `json:"setup_link"`
		HasTOTP   bool   `json:"has_totp"`
	}
	op.must(&reset, "operators", "totp-reset", "--email", "staff@novamed.test")
	ts.addSecret(reset.SetupLink)
	if !strings.HasPrefix(reset.SetupLink, "/console/setup/") || reset.HasTOTP {
		t.Fatalf("operators totp-reset --server: %+v", reset)
	}
	if _, _, err := op.run("operators", "disable", "--email", "admin@novamed.test"); err == nil || !strings.Contains(errorLine(err), "your own account") {
		t.Errorf("the admin disables themselves --server: %v", err)
	}
	if _, _, err := op.run("operators", "role", "--email", "nobody@novamed.test", "--role", "viewer"); err == nil || !strings.Contains(err.Error(), "no such operator") {
		t.Errorf("operators role --server of an unknown email: %v", err)
	}
	if _, _, err := op.run("operators", "totp", "--email", "staff@novamed.test"); err == nil || !strings.Contains(err.Error(), "only on the database host") {
		t.Errorf("operators totp --server: %v", err)
	}

	// Direct and --server print the same shapes (once the server has
	// flushed the key's usage counts, so both read the same rows).
	waitFor(t, "the order's request in keys usage", func() bool {
		out, _, err := op.run("keys", "usage", rolled.ID)
		return err == nil && strings.Contains(out, "POST /api/external/medication-order")
	})
	for _, args := range [][]string{{"partners", "list"}, {"partners", "show", partner.ID}, {"clinics", "list"}, {"keys", "list"},
		{"carriers", "list"}, {"formulary", "list", "--clinic", clinic.ID}, {"keys", "usage", rolled.ID},
		{"operators", "list"}, {"events", "list", "--clinic", clinic.ID}} {
		remote := op.must(nil, args...)
		local, notice := direct(t, ts, append(args, "--json")...)
		if got, want := comparable(jsonShape(t, remote), jsonShape(t, local)); !slices.Equal(got, want) {
			t.Errorf("%v --json: --server shape %v, direct %v", args, got, want)
		}
		if !strings.Contains(notice, "direct database mode (bootstrap/break-glass), acting as local:") {
			t.Errorf("%v in direct mode: no notice on stderr: %q", args, notice)
		}
		remoteText, _, err := op.run(args...)
		if err != nil {
			t.Fatal(err)
		}
		localText, _ := direct(t, ts, args...)
		if firstFields(remoteText) != firstFields(localText) {
			t.Errorf("%v text: --server\n%s\ndirect\n%s", args, remoteText, localText)
		}
	}

	// The crypto status, checkpoints, a seal and the audit archive
	// through --server (no longer direct-only), as direct mode prints them.
	cliAuditAndCrypto(t, ts, op)

	// The audit trail: each action above with the operator's id.
	stdout, stderr, err := op.run("audit", "export", "--actor", "operator:"+admin.ID)
	if err != nil {
		t.Fatalf("audit export --server: %v\n%s", err, stderr)
	}
	actions := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var rec struct {
			Actor, Action string
			Status        int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit export line %q: %v", line, err)
		}
		if rec.Actor != "operator:"+admin.ID {
			t.Fatalf("audit export --actor operator:%s gave %q", admin.ID, rec.Actor)
		}
		if rec.Status == 200 {
			actions[rec.Action]++
		}
	}
	for _, want := range []string{"partner.create", "partner.baa_record", "partner.approve", "clinic.create", "api_key.issue", "api_key.list",
		"api_key.roll", "api_key.revoke", "partner.suspend", "partner.reinstate", "carrier.list", "formulary.list", "medication_order.advance",
		"formulary.set", "formulary.remove", "formulary.import", "carrier.import", "operator.list", "operator.update", "operator.totp_enrol",
		"operator.reset_throttle", "event.list", "webhook.rotate", "crypto.status", "audit.checkpoint", "audit.checkpoint_key",
		"audit.seal", "audit.archive_run", "audit.archive_status"} {
		if actions[want] == 0 {
			t.Errorf("audit export --actor operator:%s: no %s (got %v)", admin.ID, want, actions)
		}
	}
	// The chain verifies through --server, and prints what direct mode does.
	var verified struct {
		OK      bool
		Checked int
	}
	remoteVerify := op.must(&verified, "audit", "verify")
	if !verified.OK || verified.Checked == 0 {
		t.Fatalf("audit verify --server: %s", remoteVerify)
	}
	if text, _, err := op.run("audit", "verify"); err != nil || !strings.HasPrefix(text, "audit trail intact: ") {
		t.Fatalf("audit verify --server: %v %s", err, text)
	}
	localVerify, _ := direct(t, ts, "audit", "verify", "--json")
	if got, want := jsonShape(t, remoteVerify), jsonShape(t, localVerify); !slices.Equal(got, want) {
		t.Errorf("audit verify --json: --server shape %v, direct %v", got, want)
	}
	verify, notice := direct(t, ts, "audit", "verify")
	if !strings.Contains(verify, "audit trail intact") {
		t.Fatalf("audit verify: %s", verify)
	}
	if strings.Count(notice, "direct database mode") != 1 {
		t.Errorf("audit verify in direct mode: stderr %q, want the notice once", notice)
	}

	// Token errors: clear, one line, exit code 1 (run returns an error).
	disabled := &operatorCLI{t: t, ts: ts, vars: map[string]string{"HOME": t.TempDir()}}
	ts.mustCLI(nil, "operators", "create", "--email", "leaver@novamed.test", "--role", "support", "--password-file", passwordFile(t, "another long password"))
	var leaver struct{ Token string }
	ts.mustCLI(&leaver, "operators", "token", "--email", "leaver@novamed.test")
	ts.addSecret(leaver.Token)
	op.must(nil, "operators", "disable", "--email", "leaver@novamed.test") // revokes its tokens
	for name, token := range map[string]string{"revoked": leaver.Token, "malformed": "op_not-a-token"} {
		disabled.vars["NOVAMED_OPERATOR_TOKEN"] = token
		_, stderr, err := disabled.run("partners", "list")
		if err == nil {
			t.Fatalf("%s token: partners list succeeded", name)
		}
		if line := errorLine(err); !strings.Contains(line, "Unauthorized") || strings.Contains(line, "\n") || strings.Contains(line, token) {
			t.Errorf("%s token: error %q", name, line)
		}
		if strings.Contains(stderr, "goroutine") {
			t.Errorf("%s token: a stack on stderr: %s", name, stderr)
		}
	}
	delete(disabled.vars, "NOVAMED_OPERATOR_TOKEN")
	if _, _, err := disabled.run("partners", "list"); err == nil || !strings.Contains(err.Error(), "NOVAMED_OPERATOR_TOKEN") {
		t.Errorf("no token: %v", err)
	}
}

// cliAuditAndCrypto runs crypto status, audit checkpoint (and
// --public-key), audit seal and audit archive run|status with --server and
// in direct mode on the same database: deterministic outputs are equal
// byte for byte, the others have the same shape and text lines; a
// checkpoint the server signed verifies both ways; a seal through the
// server and one in direct mode continue one another; direct mode's
// archive and key flags are refused with --server.
func cliAuditAndCrypto(t *testing.T, ts *testServer, op *operatorCLI) {
	t.Helper()
	for _, name := range []string{"crypto status", "audit checkpoint", "audit seal", "audit archive run", "audit archive status"} {
		if reason := directOnlyReasons[name]; reason != "" {
			t.Errorf("%s is still listed as direct-only: %s", name, reason)
		}
	}
	same := func(args ...string) {
		t.Helper()
		remote := op.must(nil, args...)
		local, _ := direct(t, ts, append(args, "--json")...)
		if remote != local {
			t.Errorf("%v --json: --server\n%s\ndirect\n%s", args, remote, local)
		}
		remoteText, _, err := op.run(args...)
		if err != nil {
			t.Fatalf("--server %v: %v", args, err)
		}
		if localText, _ := direct(t, ts, args...); remoteText != localText {
			t.Errorf("%v text: --server\n%s\ndirect\n%s", args, remoteText, localText)
		}
	}
	same("crypto", "status")
	var crypto struct {
		ValuesByVersion   map[string]int `json:"values_by_version"`
		BlindIndexVersion int            `json:"blind_index_version"`
	}
	op.must(&crypto, "crypto", "status")
	if crypto.ValuesByVersion["1"] == 0 || crypto.BlindIndexVersion != 1 {
		t.Errorf("crypto status --server: %+v; want the PHI written above under v1", crypto)
	}
	same("audit", "checkpoint", "--public-key")

	// A checkpoint signed by the server verifies through it and directly.
	var cp struct {
		Seq   int64  `json:"seq"`
		KeyID string `json:"key_id"`
		Sig   string `json:"sig"`
	}
	remoteCP := op.must(&cp, "audit", "checkpoint")
	localCP, _ := direct(t, ts, "audit", "checkpoint")
	if got, want := jsonShape(t, remoteCP), jsonShape(t, localCP); !slices.Equal(got, want) || cp.Seq == 0 || cp.Sig == "" {
		t.Errorf("audit checkpoint: --server %s, direct %s", remoteCP, localCP)
	}
	cpFile := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	writeFile(t, cpFile, remoteCP+localCP)
	if text, _, err := op.run("audit", "verify", "--checkpoint", cpFile); err != nil || !strings.Contains(text, "2 signed checkpoints matched") {
		t.Errorf("audit verify --server --checkpoint (one signed by the server, one directly): %v %s", err, text)
	}
	if text, _ := direct(t, ts, "audit", "verify", "--checkpoint", cpFile); !strings.Contains(text, "2 signed checkpoints matched") {
		t.Errorf("audit verify --checkpoint in direct mode: %s", text)
	}

	// Seal through the server, then directly: two consecutive segments.
	type sealed struct {
		Sealed bool `json:"sealed"`
		Seal   struct {
			Segment  int64 `json:"segment"`
			FirstSeq int64 `json:"first_seq"`
			LastSeq  int64 `json:"last_seq"`
		} `json:"seal"`
	}
	var first, second sealed
	remoteSeal := op.must(&first, "audit", "seal")
	localSeal, _ := direct(t, ts, "audit", "seal", "--json")
	if err := json.Unmarshal([]byte(localSeal), &second); err != nil {
		t.Fatal(err)
	}
	if !first.Sealed || !second.Sealed || second.Seal.Segment != first.Seal.Segment+1 || second.Seal.FirstSeq != first.Seal.LastSeq+1 ||
		!slices.Equal(jsonShape(t, remoteSeal), jsonShape(t, localSeal)) {
		t.Errorf("audit seal: --server %s, then direct %s; want consecutive segments of one shape", remoteSeal, localSeal)
	}
	if text, _, err := op.run("audit", "seal"); err != nil || !strings.HasPrefix(text, "sealed segment ") {
		t.Errorf("audit seal --server text: %v %q", err, text)
	}

	// The archive pass: the server's archive (SQLite: DATA_DIR/audit-archive;
	// PostgreSQL: off), the same report and status either way.
	var run struct {
		Archived int  `json:"archived"`
		Skipped  bool `json:"skipped"`
	}
	remoteRun := op.must(&run, "audit", "archive", "run")
	localRun, _ := direct(t, ts, "audit", "archive", "run", "--json")
	if !slices.Equal(jsonShape(t, remoteRun), jsonShape(t, localRun)) || run.Skipped {
		t.Errorf("audit archive run: --server %s, direct %s", remoteRun, localRun)
	}
	if text, _, err := op.run("audit", "archive", "run"); err != nil || !strings.HasPrefix(text, "audit archive: ") {
		t.Errorf("audit archive run --server text: %v %q", err, text)
	}
	var remoteStatus, localStatus struct {
		ArchiveURL string `json:"archive_url"`
		Segments   []struct {
			Segment    int64   `json:"segment"`
			ArchivedAt *string `json:"archived_at"`
			InArchive  *bool   `json:"in_archive"`
		} `json:"segments"`
		Gaps []string `json:"gaps"`
	}
	op.must(&remoteStatus, "audit", "archive", "status")
	out, _ := direct(t, ts, "audit", "archive", "status", "--json")
	if err := json.Unmarshal([]byte(out), &localStatus); err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, remoteStatus, localStatus) || len(remoteStatus.Segments) < 3 || len(remoteStatus.Gaps) != 0 {
		t.Errorf("audit archive status: --server %+v, direct %+v; want the same segments (at least the three sealed here), no gap", remoteStatus, localStatus)
	}
	if ts.vars["NOVAMED_DB"] == "" { // SQLite archives by default
		for _, seg := range remoteStatus.Segments {
			if seg.InArchive == nil || !*seg.InArchive {
				t.Errorf("segment %d not in the archive after audit archive run --server", seg.Segment)
			}
		}
	}
	remoteText, _, err := op.run("audit", "archive", "status")
	if err != nil {
		t.Fatal(err)
	}
	if localText, _ := direct(t, ts, "audit", "archive", "status"); firstFields(remoteText) != firstFields(localText) {
		t.Errorf("audit archive status text: --server\n%s\ndirect\n%s", remoteText, localText)
	}

	// Direct mode's archive and key settings do not travel with --server.
	for _, args := range [][]string{{"audit", "archive", "run", "--audit-retain-live", "0s"}, {"audit", "seal", "--checkpoint-key-file", "/nonexistent"},
		{"audit", "checkpoint", "--checkpoint-key-file", "/nonexistent"}} {
		if _, _, err := op.run(args...); err == nil || !strings.Contains(err.Error(), "direct database mode") {
			t.Errorf("%v --server: %v; want a refusal", args, err)
		}
	}
	if _, _, err := op.run("crypto", "rotate", "--new-key-file", "/nonexistent"); !errors.Is(err, errServerUnsupported) {
		t.Errorf("crypto rotate --server: %v; want it refused as direct-only", err)
	}
}

// firstFields is a text output with every line cut to its first field
// (ids, and the line count): what direct and --server must share.
func firstFields(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			b.WriteString(f[0] + "\n")
		}
	}
	return b.String()
}

// TestCLICredentialsFile: the token may come from a credentials file
// (--credentials or $XDG_CONFIG_HOME/novamed/credentials), which must be
// private; the token is never printed.
func TestCLICredentialsFile(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	ts.mustCLI(nil, "operators", "create", "--email", "viewer@novamed.test", "--role", "viewer", "--password-file", passwordFile(t, "a long viewer password"))
	var tok struct{ Token string }
	ts.mustCLI(&tok, "operators", "token", "--email", "viewer@novamed.test")
	ts.addSecret(tok.Token)
	config := t.TempDir()
	file := filepath.Join(config, "novamed", "credentials")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(tok.Token+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	op := &operatorCLI{t: t, ts: ts, vars: map[string]string{"XDG_CONFIG_HOME": config}}
	_, _, err := op.run("partners", "list")
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), tok.Token) {
		t.Fatalf("a world-readable credentials file: %v", err)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	out := op.must(nil, "partners", "list")
	if strings.Contains(out, tok.Token) {
		t.Fatal("the token was printed")
	}
	// --credentials names another file; a viewer may not create partners.
	other := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(other, []byte(tok.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	op.vars = map[string]string{}
	op.must(nil, "partners", "list", "--credentials", other)
	if _, _, err := op.run("partners", "create", "--name", "Not Allowed", "--credentials", other); err == nil || !strings.Contains(errorLine(err), "role (viewer)") {
		t.Fatalf("viewer creates a partner: %v", err)
	}
}

// TestProductionRollFollowsTheBAARules: a roll issues a new key, so it is
// refused, with the reason, while the partner's BAA on record has expired,
// and leaves the old key as it was; with a BAA in effect again it goes
// through (onboarding.IssueKey decides both).
func TestProductionRollFollowsTheBAARules(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "production")
	clinic := ts.newClinic("Roll clinic")
	k := ts.newKey("--clinic", clinic)
	partner := ts.prodPartner()
	ts.mustCLI(nil, "partners", "baa", partner, "--signed-on", "2025-06-01", "--signer", "Short Signer", "--expires-on", "2025-12-01")
	err := ts.cli(nil, "keys", "roll", k.ID)
	if err == nil || !strings.Contains(errorLine(err), "BAA") {
		t.Fatalf("roll with an expired BAA: %v", err)
	}
	var keys struct {
		Keys []struct {
			ID         string
			ReplacedBy string `json:"replaced_by"`
		}
	}
	ts.mustCLI(&keys, "keys", "list", "--clinic", clinic)
	if len(keys.Keys) != 1 || keys.Keys[0].ReplacedBy != "" {
		t.Fatalf("a refused roll changed the keys: %+v", keys)
	}
	ts.mustCLI(nil, "partners", "baa", partner, "--signed-on", "2026-01-15", "--signer", "New Signer")
	var rolled issuedKey
	ts.mustCLI(&rolled, "keys", "roll", k.ID)
	ts.addSecret(rolled.Key)
	if !strings.HasPrefix(rolled.Key, "prod_") && !strings.HasPrefix(rolled.Key, "live_") {
		t.Fatalf("rolled production key %+v", rolled)
	}
	if r := ts.req("GET", "/api/external/me", rolled.Key, nil); r.Status != 200 {
		t.Fatalf("the rolled key: %d %s", r.Status, r.Body)
	}
}

// writeFile writes content to a private file.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
