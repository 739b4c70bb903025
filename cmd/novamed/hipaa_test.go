package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver internal/sqlstore uses; tests open the file to tamper with it

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// ---------------------------------------------------------------------------
// Encryption at rest
// ---------------------------------------------------------------------------

// phiSignature is a distinctive "image": base64 of a PNG header and a marker.
var phiSignature = base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nQuorbleSignatureInkZq"))

// phiPatients are three patients whose every PHI value is distinctive, so a
// plaintext copy anywhere on disk can be found by a byte search.
func phiPatients() []map[string]any {
	return []map[string]any{
		{
			"clinic_id": demoClinic, "first_name": "Zyxwquorble", "last_name": "Quorblesson", "middle_name": "Xandrupel",
			"email": "zyx.quorble@example.test", "date_of_birth": "1961-07-23", "phone": "512-555-0177",
			"address_line_1": "742 Evergreen Terrace Xq", "address_line_2": "Quorble Suite 9", "city": "Quorbleton", "state": "TX", "zip": "73301",
			"medication_allergies": []any{"Quorblamycin", "Zyxoprofen"},
			"medical_history":      "Chronic Flibbertigout since infancy",
			"notes":                "Prefers Wednesday Snorklewhip appointments",
		},
		{
			"clinic_id": demoClinic, "first_name": "Vexmortine", "last_name": "Plumquistor", "dob": "1955-02-11",
			"contacts": []any{
				map[string]any{"key": "email", "value": "vex.plumquistor@example.test"},
				map[string]any{"key": "phone", "value": "(713) 555-0143"},
			},
			"addresses":            []any{map[string]any{"addressLine1": "19 Gribblewick Lane", "city": "Houston", "state": "TX", "postalCode": "77002"}},
			"medication_allergies": []any{"Plumbazoline"},
			"notes":                "Reacted badly to Frindlewort tea",
		},
		{
			"clinic_id": demoClinic, "first_name": "Jarquellian", "last_name": "Oxtravaine", "dob": "1948-11-30",
			"species": "canine", "animal_owner_name": "Morwennacott Owner",
			"address":              map[string]any{"line1": "8 Wuzzlethorp Court", "city": "Boston", "state": "MA", "zip": "02108"},
			"medication_allergies": []any{"Wuzzlecillin"},
		},
	}
}

func phiPractitioners() []map[string]any {
	return []map[string]any{
		{
			"clinic_id": demoClinic, "first_name": "Quorbalina", "last_name": "Zeffermintz", "email": "dr.zeffermintz@example.test",
			"npi": "1234567893", "phone": "214-555-0186", "credentials": "MD", "specialty": "Quorbleology",
			"license_number": "TX-QX998877", "license_state": "TX", "license_expiration": "2029-03-31",
			"dea_number": "AZ9876543", "signature_image": phiSignature,
			"address_line_1": "55 Snickerdoodle Plaza", "city": "Dallas", "state": "TX", "zip": "75201",
		},
		{
			"assigned_clinic": demoClinic, "first_name": "Brimbleton", "last_name": "Haxworthy", "email": "haxworthy@example.test",
			"npi_number": "1245319599", "specialty": "Gribbleneurology",
		},
	}
}

// phiNeedles are the values that must never be found on disk in plaintext.
var phiNeedles = []string{
	"Zyxwquorble", "Quorblesson", "Xandrupel", "zyx.quorble@example.test", "1961-07-23", "512-555-0177", "5125550177",
	"742 Evergreen Terrace Xq", "Quorble Suite 9", "Quorbleton", "Quorblamycin", "Zyxoprofen", "Flibbertigout", "Snorklewhip",
	"Vexmortine", "Plumquistor", "vex.plumquistor@example.test", "1955-02-11", "(713) 555-0143", "7135550143",
	"Gribblewick", "Plumbazoline", "Frindlewort",
	"Jarquellian", "Oxtravaine", "1948-11-30", "Morwennacott", "Wuzzlethorp", "Wuzzlecillin",
	"Quorbalina", "Zeffermintz", "dr.zeffermintz@example.test", "214-555-0186", "Quorbleology", "TX-QX998877", "AZ9876543",
	phiSignature, "QuorbleSignatureInkZq", "Snickerdoodle Plaza",
	"Brimbleton", "Haxworthy", "haxworthy@example.test", "Gribbleneurology",
}

// dataFiles reads every regular file under dir.
func dataFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			files[rel] = b
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read data folder: %v", err)
	}
	return files
}

// assertNoPlaintext fails for each needle (as sent, and lowercased) found in
// any file; sanity must be found somewhere, proving the search can see text.
func assertNoPlaintext(t *testing.T, when string, files map[string][]byte, sanity string) {
	t.Helper()
	if _, ok := files["novamed.db"]; !ok {
		t.Fatalf("%s: no novamed.db in the data folder (files: %v)", when, mapKeys(files))
	}
	var all [][]byte
	for _, name := range mapKeys(files) {
		b := files[name]
		all = append(all, b)
		var found []string
		for _, n := range phiNeedles {
			for _, form := range []string{n, strings.ToLower(n)} {
				if bytes.Contains(b, []byte(form)) {
					found = append(found, form)
					break
				}
			}
		}
		if len(found) > 0 {
			t.Errorf("%s: %d of %d PHI values are stored in plaintext in %s: %q", when, len(found), len(phiNeedles), name, found)
		}
	}
	if !bytes.Contains(bytes.Join(all, nil), []byte(sanity)) {
		t.Errorf("%s: the plaintext clinic name %q was not found either: the byte search is not seeing the data", when, sanity)
	}
}

func mapKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// locatePlaintext names the table and column of each plaintext PHI value,
// to make a failure precise.
func locatePlaintext(t *testing.T, ts *testServer) {
	t.Helper()
	db := openDB(t, ts)
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n) //nolint:errcheck
		tables = append(tables, n)
	}
	rows.Close()
	where := map[string]bool{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...) //nolint:errcheck
			for i, v := range vals {
				var text string
				switch x := v.(type) {
				case string:
					text = x
				case []byte:
					text = string(x)
				}
				for _, n := range phiNeedles {
					if strings.Contains(text, n) {
						where[table+"."+cols[i]] = true
					}
				}
			}
		}
		rows.Close()
	}
	db.Close()
	t.Errorf("plaintext PHI found in database columns: %v", mapKeys(where))
}

// createPHIRecords creates the fixture records; with idempotent set each
// create carries an Idempotency-Key, as the contract lets partners do.
func createPHIRecords(t *testing.T, ts *testServer, idempotent bool) (patients, practitioners []string) {
	t.Helper()
	for i, body := range phiPractitioners() {
		var hdr []string
		if idempotent {
			hdr = []string{"Idempotency-Key", fmt.Sprintf("hipaa-practitioner-%d", i)}
		}
		r := ts.req("POST", "/api/external/practitioner", ts.Key, body, hdr...)
		expectOK(t, r)
		var p struct {
			ID string `json:"practitioner_id"`
		}
		r.data(t, &p)
		practitioners = append(practitioners, p.ID)
	}
	for i, body := range phiPatients() {
		var hdr []string
		if idempotent {
			hdr = []string{"Idempotency-Key", fmt.Sprintf("hipaa-patient-%d", i)}
		}
		r := ts.req("POST", "/api/external/patient", ts.Key, body, hdr...)
		expectOK(t, r)
		var p struct {
			ID string `json:"patient_id"`
		}
		r.data(t, &p)
		patients = append(patients, p.ID)
	}
	ts.addSecret(phiNeedles...)
	return patients, practitioners
}

// assertPHIReadable proves the API decrypts what it stored.
func assertPHIReadable(t *testing.T, ts *testServer, patients, practitioners []string) {
	t.Helper()
	var body strings.Builder
	for _, id := range patients {
		r := ts.req("GET", "/api/external/patient/"+id, ts.Key, nil)
		expectOK(t, r)
		body.Write(r.Body)
	}
	for _, id := range practitioners {
		r := ts.req("GET", "/api/external/practitioner/"+id, ts.Key, nil)
		expectOK(t, r)
		body.Write(r.Body)
	}
	r := ts.req("GET", "/api/external/patient?limit=100", ts.Key, nil)
	expectOK(t, r)
	list := string(r.Body)
	got := body.String()
	for _, v := range []string{
		"Zyxwquorble", "Quorblesson", "zyx.quorble@example.test", "1961-07-23", "512-555-0177", "742 Evergreen Terrace Xq",
		"Quorblamycin", "Flibbertigout", "Snorklewhip", "Vexmortine", "vex.plumquistor@example.test", "19 Gribblewick Lane",
		"Frindlewort", "Jarquellian", "Morwennacott Owner", "8 Wuzzlethorp Court", "Quorbalina", "Zeffermintz",
		"dr.zeffermintz@example.test", "TX-QX998877", phiSignature, "55 Snickerdoodle Plaza", "Brimbleton", "Gribbleneurology",
	} {
		if !strings.Contains(got, v) {
			t.Errorf("the API does not return the stored value %q", v)
		}
	}
	for _, v := range []string{"Zyxwquorble", "Vexmortine", "Jarquellian"} {
		if !strings.Contains(list, v) {
			t.Errorf("the patient list does not return %q", v)
		}
	}
}

func checkPHIAtRest(t *testing.T, idempotent bool) {
	ts := startServer(t, "development")
	patients, practitioners := createPHIRecords(t, ts, idempotent)
	assertPHIReadable(t, ts, patients, practitioners)

	// While the server runs, recent pages live in the WAL.
	running := dataFiles(t, ts.DataDir)
	if len(running["novamed.db-wal"]) == 0 {
		t.Logf("note: novamed.db-wal is empty or absent while running (files: %v)", mapKeys(running))
	}
	assertNoPlaintext(t, "while running", running, "Demo Clinic")

	ts.stop()
	assertNoPlaintext(t, "after shutdown", dataFiles(t, ts.DataDir), "Demo Clinic")
	if t.Failed() {
		locatePlaintext(t, ts)
	}

	// The data folder's key still opens everything after a restart.
	ts.start()
	assertPHIReadable(t, ts, patients, practitioners)
}

// TestPHINotInDatabaseFiles: no PHI value sent to the API is stored in
// plaintext in any file of the data folder (database, WAL, shared memory),
// while the server runs or after it stops; the API still returns them all.
func TestPHINotInDatabaseFiles(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	checkPHIAtRest(t, false)
}

// TestPHINotInDatabaseFilesIdempotentCreates: the same with every create
// sent with an Idempotency-Key, whose remembered answer is stored too.
func TestPHINotInDatabaseFilesIdempotentCreates(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	checkPHIAtRest(t, true)
}

// ---------------------------------------------------------------------------
// Ciphertext integrity
// ---------------------------------------------------------------------------

// openDB opens the stopped server's database for tampering.
func openDB(t *testing.T, ts *testServer) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(ts.DataDir, "novamed.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	n, _ := res.RowsAffected()
	return n
}

// TestCiphertextSwapDetected: a sealed value moved to another row (or to
// another column of its row) fails authentication: the API answers a bare
// 500, leaks neither value, and logs a security event.
func TestCiphertextSwapDetected(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	ts := startServer(t, "development")
	newPatient := func(first, last, dob string) string {
		r := ts.req("POST", "/api/external/patient", ts.Key, map[string]any{
			"clinic_id": demoClinic, "first_name": first, "last_name": last, "dob": dob})
		expectOK(t, r)
		var p struct {
			ID string `json:"patient_id"`
		}
		r.data(t, &p)
		return p.ID
	}
	a := newPatient("Alphonsiax", "Swapperton", "1970-01-02")
	b := newPatient("Bertramundo", "Swapperton", "1971-03-04")
	c := newPatient("Cordeliaxe", "Crosscolumn", "1972-05-06")
	d := newPatient("Dorotheaxu", "Untouchedly", "1973-07-08")
	names := []string{"Alphonsiax", "Bertramundo", "Cordeliaxe", "Crosscolumn", "Swapperton"}
	ts.stop()

	db := openDB(t, ts)
	var fa, fb string
	if err := db.QueryRow(`SELECT first_name FROM patients WHERE id = ?`, a).Scan(&fa); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT first_name FROM patients WHERE id = ?`, b).Scan(&fb); err != nil {
		t.Fatal(err)
	}
	if fa == fb {
		t.Fatal("two patients' sealed first names are identical")
	}
	if mustExec(t, db, `UPDATE patients SET first_name = ? WHERE id = ?`, fb, a) != 1 ||
		mustExec(t, db, `UPDATE patients SET first_name = ? WHERE id = ?`, fa, b) != 1 {
		t.Fatal("swap touched no row")
	}
	// C: its own first and last name trade places (same row, other column).
	if mustExec(t, db, `UPDATE patients SET first_name = last_name, last_name = first_name WHERE id = ?`, c) != 1 {
		t.Fatal("column swap touched no row")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ts.start()
	check := func(r *response, what string) {
		t.Helper()
		expectError(t, r, 500, "INTERNAL_ERROR", "")
		for _, n := range names {
			if bytes.Contains(r.Body, []byte(n)) {
				t.Errorf("%s: 500 body reveals %q: %s", what, n, r.Body)
			}
		}
	}
	check(ts.req("GET", "/api/external/patient/"+a, ts.Key, nil), "GET patient A")
	check(ts.req("GET", "/api/external/patient/"+b, ts.Key, nil), "GET patient B")
	check(ts.req("GET", "/api/external/patient/"+c, ts.Key, nil), "GET patient C (columns swapped)")
	check(ts.req("GET", "/api/external/patient?limit=100", ts.Key, nil), "GET patient list")

	// The untouched patient is still readable.
	r := ts.req("GET", "/api/external/patient/"+d, ts.Key, nil)
	expectOK(t, r)
	if !bytes.Contains(r.Body, []byte("Dorotheaxu")) {
		t.Errorf("untouched patient D not returned intact: %s", r.Body)
	}

	logs := ts.logs.String()
	events := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "security event") {
			events++
		}
	}
	if events < 4 {
		t.Errorf("log has %d \"security event\" lines, want one per failed read (4)\n%s", events, logs)
	}
	if !strings.Contains(logs, `"security_event":"phi_integrity_failure"`) {
		t.Errorf("no request log line carries security_event phi_integrity_failure\n%s", logs)
	}
	ts.addSecret(names...)
}

// ---------------------------------------------------------------------------
// Audit trail
// ---------------------------------------------------------------------------

type exportedRecord struct {
	Seq          int64    `json:"seq"`
	Time         string   `json:"time"`
	RequestID    string   `json:"request_id"`
	KeyID        string   `json:"key_id"`
	KeyPrefix    string   `json:"key_prefix"`
	ClinicID     string   `json:"clinic_id"`
	Action       string   `json:"action"`
	ResourceType string   `json:"resource_type"`
	ResourceIDs  []string `json:"resource_ids"`
	Status       int      `json:"status"`
	PrevHash     string   `json:"prev_hash"`
	Hash         string   `json:"hash"`
}

// auditExportOf runs `novamed audit export` on a data folder through run().
func auditExportOf(t *testing.T, ts *testServer) (string, []exportedRecord) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"audit", "export", "--data-dir", ts.DataDir}, ts.getenv, &stdout, &stderr); err != nil {
		t.Fatalf("audit export: %v\n%s", err, stderr.String())
	}
	var recs []exportedRecord
	for i, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var rec exportedRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit export line %d is not JSON: %v\n%s", i+1, err, line)
		}
		recs = append(recs, rec)
	}
	return stdout.String(), recs
}

// verifyJSON runs `novamed audit verify --json` and decodes its object.
func verifyJSON(t *testing.T, ts *testServer) (map[string]any, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"audit", "verify", "--data-dir", ts.DataDir, "--env", ts.Env, "--json"}, ts.getenv, &stdout, &stderr)
	var out map[string]any
	if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
		t.Fatalf("audit verify --json printed no JSON object (err %v): %q", err, stdout.String())
	}
	return out, err
}

func meID(t *testing.T, ts *testServer) string {
	t.Helper()
	r := ts.req("GET", "/api/external/me", ts.Key, nil)
	expectOK(t, r)
	var me struct{ ID string }
	r.data(t, &me)
	if me.ID == "" {
		t.Fatalf("/me returned no id: %s", r.Body)
	}
	return me.ID
}

// TestAuditTrail: reads, lists, creates and failed authentications are
// audited with identifiers only; the chain verifies, and editing, deleting
// or reordering a record is reported at that record.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	keyID := meID(t, ts)

	r := ts.req("POST", "/api/external/patient", ts.Key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Auditorinda", "last_name": "Trailblazeq", "dob": "1966-06-06",
		"email": "auditorinda@example.test"})
	expectOK(t, r)
	var p struct {
		ID string `json:"patient_id"`
	}
	r.data(t, &p)
	expectOK(t, ts.req("GET", "/api/external/patient/"+p.ID, ts.Key, nil))
	expectOK(t, ts.req("GET", "/api/external/patient", ts.Key, nil))

	// A well-formed key (valid checksum) that was never issued.
	unknownKey, err := apikey.Generate("development")
	if err != nil {
		t.Fatal(err)
	}
	ts.addSecret(unknownKey)
	expectError(t, ts.req("GET", "/api/external/patient/"+p.ID, unknownKey, nil), 401, "UNAUTHORIZED", "")

	if err := ts.cli(nil, "audit", "verify"); err != nil {
		t.Fatalf("audit verify on an untouched trail: %v", err)
	}
	out, err := verifyJSON(t, ts)
	if err != nil || out["ok"] != true {
		t.Fatalf("audit verify --json = %v, %v; want ok:true", out, err)
	}

	text, recs := auditExportOf(t, ts)
	if len(recs) < 5 {
		t.Fatalf("export has %d records, want at least 5 (me, create, read, list, failed auth):\n%s", len(recs), text)
	}
	if float64(len(recs)) != out["checked"] {
		t.Errorf("verify checked %v records, export has %d", out["checked"], len(recs))
	}
	find := func(pred func(exportedRecord) bool) *exportedRecord {
		for i := range recs {
			if pred(recs[i]) {
				return &recs[i]
			}
		}
		return nil
	}
	for i, rec := range recs {
		if rec.Seq != int64(i+1) || rec.Hash == "" || rec.RequestID == "" {
			t.Errorf("record %d: seq %d, hash %q, request_id %q", i+1, rec.Seq, rec.Hash, rec.RequestID)
		}
	}
	read := find(func(r exportedRecord) bool { return r.Action == "patient.read" })
	switch {
	case read == nil:
		t.Errorf("no patient.read record:\n%s", text)
	case !slices.Contains(read.ResourceIDs, p.ID) || read.KeyID != keyID || read.Status != 200 || read.ClinicID != demoClinic:
		t.Errorf("patient.read record = %+v; want resource %s, key %s, status 200, clinic %s", *read, p.ID, keyID, demoClinic)
	}
	create := find(func(r exportedRecord) bool { return r.Action == "patient.create" })
	if create == nil || !slices.Contains(create.ResourceIDs, p.ID) || create.KeyID != keyID {
		t.Errorf("patient.create record = %+v; want resource %s and key %s", create, p.ID, keyID)
	}
	list := find(func(r exportedRecord) bool { return r.Action == "patient.list" })
	if list == nil || !slices.Contains(list.ResourceIDs, p.ID) || list.KeyID != keyID {
		t.Errorf("patient.list record = %+v; want resource %s and key %s", list, p.ID, keyID)
	}
	failed := find(func(r exportedRecord) bool { return r.Action == "auth.failed" })
	if failed == nil || failed.Status != 401 || failed.KeyID != "" {
		t.Errorf("auth.failed record = %+v; want status 401 and no key id", failed)
	}
	for _, secret := range []string{ts.Key, unknownKey, "Auditorinda", "Trailblazeq", "auditorinda@example.test", "1966-06-06"} {
		if strings.Contains(text, secret) {
			t.Errorf("audit export contains a key or PHI value %q", secret)
		}
	}
}

// auditFixture is a stopped development server whose trail holds at least
// six records, with a patient.read at seq (neither first nor last).
func auditFixture(t *testing.T) (ts *testServer, seq int64, total int64) {
	t.Helper()
	ts = startServer(t, "development")
	r := ts.req("POST", "/api/external/patient", ts.Key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Tamperella", "last_name": "Chainsworth", "dob": "1977-07-07"})
	expectOK(t, r)
	var p struct {
		ID string `json:"patient_id"`
	}
	r.data(t, &p)
	for range 3 {
		expectOK(t, ts.req("GET", "/api/external/patient/"+p.ID, ts.Key, nil))
	}
	expectOK(t, ts.req("GET", "/api/external/patient", ts.Key, nil))
	expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))
	ts.stop()

	_, recs := auditExportOf(t, ts)
	total = int64(len(recs))
	reads := 0
	for _, rec := range recs {
		if rec.Action == "patient.read" {
			reads++
			if reads == 2 {
				seq = rec.Seq
			}
		}
	}
	if total < 6 || seq <= 1 || seq >= total {
		t.Fatalf("fixture trail: %d records, middle patient.read at %d", total, seq)
	}
	if err := ts.cli(nil, "audit", "verify"); err != nil {
		t.Fatalf("audit verify before tampering: %v", err)
	}
	return ts, seq, total
}

// expectBrokenAt asserts that audit verify fails naming record seq, as text
// and as --json.
func expectBrokenAt(t *testing.T, ts *testServer, seq int64) {
	t.Helper()
	err := ts.cli(nil, "audit", "verify")
	if err == nil {
		t.Fatalf("audit verify accepted a tampered trail")
	}
	if !regexp.MustCompile(fmt.Sprintf(`\brecord %d\b`, seq)).MatchString(err.Error()) {
		t.Errorf("audit verify error %q does not name record %d", err, seq)
	}
	var broken *audit.BrokenError
	if !errors.As(err, &broken) || broken.Seq != seq {
		t.Errorf("audit verify error %#v is not a BrokenError at %d", err, seq)
	}
	out, err := verifyJSON(t, ts)
	if err == nil {
		t.Errorf("audit verify --json returned no error on a tampered trail")
	}
	if out["ok"] != false || out["first_bad_seq"] != float64(seq) {
		t.Errorf("audit verify --json = %v; want ok:false and first_bad_seq %d", out, seq)
	}
}

func TestAuditTrailTamperDetected(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	t.Run("edited record", func(t *testing.T) {
		ts, seq, _ := auditFixture(t)
		db := openDB(t, ts)
		if mustExec(t, db, `UPDATE audit_log SET record = replace(record, 'patient.read', 'patient.list') WHERE seq = ?`, seq) != 1 {
			t.Fatal("edit touched no row")
		}
		db.Close()
		expectBrokenAt(t, ts, seq)
	})
	t.Run("deleted record", func(t *testing.T) {
		ts, seq, _ := auditFixture(t)
		db := openDB(t, ts)
		if mustExec(t, db, `DELETE FROM audit_log WHERE seq = ?`, seq) != 1 {
			t.Fatal("delete touched no row")
		}
		db.Close()
		expectBrokenAt(t, ts, seq)
	})
	t.Run("deleted newest record", func(t *testing.T) {
		ts, _, total := auditFixture(t)
		db := openDB(t, ts)
		if mustExec(t, db, `DELETE FROM audit_log WHERE seq = ?`, total) != 1 {
			t.Fatal("delete touched no row")
		}
		db.Close()
		expectBrokenAt(t, ts, total)
	})
	t.Run("swapped adjacent records", func(t *testing.T) {
		ts, seq, _ := auditFixture(t)
		db := openDB(t, ts)
		type row struct {
			record, prev, hash string
			sum                []byte
		}
		get := func(s int64) row {
			var r row
			if err := db.QueryRow(`SELECT record, prev_hash, hash, hash_bytes FROM audit_log WHERE seq = ?`, s).Scan(&r.record, &r.prev, &r.hash, &r.sum); err != nil {
				t.Fatal(err)
			}
			return r
		}
		x, y := get(seq), get(seq+1)
		mustExec(t, db, `UPDATE audit_log SET record = ?, prev_hash = ?, hash = ?, hash_bytes = ? WHERE seq = ?`, y.record, y.prev, y.hash, y.sum, seq)
		mustExec(t, db, `UPDATE audit_log SET record = ?, prev_hash = ?, hash = ?, hash_bytes = ? WHERE seq = ?`, x.record, x.prev, x.hash, x.sum, seq+1)
		db.Close()
		expectBrokenAt(t, ts, seq)
	})
}

// ---------------------------------------------------------------------------
// Unsafe production starts
// ---------------------------------------------------------------------------

// runServe calls run() with serve args; a server that (wrongly) starts is
// stopped after a short while so the test never hangs.
func runServe(t *testing.T, vars map[string]string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, append([]string{"serve"}, args...), func(k string) string { return vars[k] }, &stdout, &stderr)
	if err == nil {
		t.Errorf("serve %v started (and ran until stopped); stdout:\n%s", args, stdout.String())
	}
	return err
}

func TestProductionRefusesUnsafeStart(t *testing.T) {
	t.Parallel()
	t.Run("no master key", func(t *testing.T) {
		dir := t.TempDir()
		err := runServe(t, nil, "--env", "production", "--addr", "127.0.0.1:0", "--data-dir", dir)
		if err == nil || !strings.Contains(err.Error(), "master key") {
			t.Fatalf("err = %v; want a refusal naming the master key", err)
		}
		if _, serr := os.Stat(filepath.Join(dir, "master.key")); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("production created a master.key in the data folder (stat: %v)", serr)
		}
		if _, serr := os.Stat(filepath.Join(dir, "novamed.db")); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("a refused start created the database (stat: %v)", serr)
		}
	})
	t.Run("no master key, NOVAMED_ENV", func(t *testing.T) {
		err := runServe(t, map[string]string{"NOVAMED_ENV": "production"}, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "master key") {
			t.Fatalf("err = %v; want a refusal naming the master key", err)
		}
	})
	t.Run("development key file in the data folder is not enough", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte(testMasterKey()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := runServe(t, nil, "--env", "production", "--addr", "127.0.0.1:0", "--data-dir", dir)
		if err == nil || !strings.Contains(err.Error(), "master key") {
			t.Fatalf("err = %v; want a refusal naming the master key", err)
		}
	})
	withKey := map[string]string{"NOVAMED_MASTER_KEY": testMasterKey(), "NOVAMED_CHECKPOINT_KEY_FILE": testCheckpointKeyFile(t)}
	t.Run("plain HTTP on a public address", func(t *testing.T) {
		err := runServe(t, withKey, "--env", "production", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "TLS") {
			t.Fatalf("err = %v; want a refusal naming TLS", err)
		}
	})
	t.Run("behind a TLS proxy", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		args := []string{"serve", "--env", "production", "--addr", "0.0.0.0:0", "--behind-tls-proxy", "--data-dir", t.TempDir()}
		go func() { done <- run(ctx, args, func(k string) string { return withKey[k] }, &stdout, &stderr) }()
		port := ""
		portRE := regexp.MustCompile(`listening on http://\S*:(\d+) `)
		for deadline := time.Now().Add(15 * time.Second); port == "" && time.Now().Before(deadline); {
			if m := portRE.FindStringSubmatch(stdout.String()); m != nil {
				port = m[1]
				break
			}
			select {
			case err := <-done:
				t.Fatalf("serve --behind-tls-proxy exited: %v\n%s", err, stderr.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		if port == "" {
			t.Fatalf("serve --behind-tls-proxy did not start; stdout:\n%s\nlogs:\n%s", stdout.String(), stderr.String())
		}
		var resp *http.Response
		var err error
		if !wait.For(2*time.Second, func() bool { resp, err = http.Get("http://127.0.0.1:" + port + "/healthz"); return err == nil }) {
			t.Fatalf("healthz: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("healthz = %d", resp.StatusCode)
		}
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("behind a TLS proxy, responses lack Strict-Transport-Security")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after cancel", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not return after cancel")
		}
	})
}

// ---------------------------------------------------------------------------
// Development master key
// ---------------------------------------------------------------------------

func TestDevelopmentMasterKeyFile(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	fi, err := os.Stat(filepath.Join(ts.DataDir, "master.key"))
	if err != nil {
		t.Fatalf("development server left no master.key: %v", err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Errorf("master.key mode = %v, want -rw-------", fi.Mode())
	}
	before, err := os.ReadFile(filepath.Join(ts.DataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(bytes.TrimSpace(before)) == 0 {
		t.Fatal("master.key is empty")
	}
	// A restart reuses the key rather than replacing it.
	ts.restart()
	after, err := os.ReadFile(filepath.Join(ts.DataDir, "master.key"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("master.key changed across a restart (err %v)", err)
	}

	// An operator command on a fresh folder creates nothing, the folder
	// included: only serve and init create a database or a key (issue 19,
	// finding 13; issue 20).
	dir := filepath.Join(t.TempDir(), "fresh")
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"clinics", "list", "--data-dir", dir, "--json"}, func(string) string { return "" }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no NovaMed database at") {
		t.Errorf("clinics list on a fresh folder: %v; want no NovaMed database at …", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an operator command created the data folder (stat: %v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an operator command created master.key (stat: %v)", err)
	}
}
