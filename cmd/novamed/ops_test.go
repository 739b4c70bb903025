package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/novamed/partner-api/internal/testenv/pgdb"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// cliIn runs one command in-process with vars as its environment.
func cliIn(vars map[string]string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return vars[k] }, &out, &errb)
	return out.String(), err
}

// A mistyped data folder or database fails with "no NovaMed database at"
// and creates nothing: no folder, no database file, no key.
func TestMistypedDataFolderCreatesNothing(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	root := t.TempDir()
	typo := filepath.Join(root, "novamed-dta")
	for _, args := range [][]string{
		{"keys", "list"}, {"clinics", "list"}, {"audit", "verify"}, {"events", "list", "--clinic", demoClinic},
		{"crypto", "status"}, {"migrate"}, {"migrate", "--dry-run"}, {"backup", "--to", filepath.Join(root, "b.db")},
		{"keys", "create", "--clinic", demoClinic}, {"carriers", "list"},
	} {
		_, err := cliIn(nil, append(args, "--data-dir", typo)...)
		if err == nil || !strings.Contains(err.Error(), "no NovaMed database at "+filepath.Join(typo, "novamed.db")) {
			t.Errorf("%v on a mistyped data folder: %v; want no NovaMed database at …", args, err)
		}
		_, err = cliIn(nil, append(args, "--data-dir", root, "--db", "sqlite:"+filepath.Join(root, "typo.db"))...)
		if err == nil || !strings.Contains(err.Error(), "no NovaMed database at") {
			t.Errorf("%v on a mistyped --db: %v", args, err)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Errorf("a refused command created %v", entries)
	}
	// init then creates it, and the command works.
	if _, err := cliIn(nil, "init", "--data-dir", typo); err != nil {
		t.Fatal(err)
	}
	if out, err := cliIn(nil, "keys", "list", "--data-dir", typo, "--json"); err != nil || !strings.Contains(out, `"keys":[]`) {
		t.Errorf("keys list after init: %q %v", out, err)
	}
}

// On PostgreSQL, an operator command against a database without NovaMed's
// schema says so and creates nothing (no schema, no key file).
func TestNoNovaMedDatabaseOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgdb.Empty(t)
	wd := t.TempDir()
	vars := map[string]string{"NOVAMED_MASTER_KEY": testMasterKey()}
	_, err := cliIn(vars, "keys", "list", "--db", dsn, "--data-dir", filepath.Join(wd, "data"))
	if err == nil || !strings.Contains(err.Error(), "no NovaMed database at postgres") {
		t.Fatalf("keys list on an empty PostgreSQL database: %v", err)
	}
	if entries, _ := os.ReadDir(wd); len(entries) != 0 {
		t.Errorf("the refused command created %v", entries)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRow(`SELECT to_regclass('goose_db_version') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Errorf("the refused command created the schema (%v, %v)", exists, err)
	}
}

// The database records its deployment's environment; a command or a
// server of the other environment refuses.
func TestEnvironmentMismatchRefuses(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	dir := t.TempDir()
	vars := map[string]string{"NOVAMED_MASTER_KEY": testMasterKey(), "NOVAMED_CHECKPOINT_KEY_FILE": testCheckpointKeyFile(t)}
	if _, err := cliIn(vars, "init", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	_, err := cliIn(vars, "keys", "create", "--clinic", demoClinic, "--env", "production", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "belongs to a development deployment") {
		t.Errorf("keys create --env production on a development database: %v", err)
	}
	err = runServe(t, vars, "--env", "production", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "belongs to a development deployment") {
		t.Errorf("serve --env production on a development database: %v", err)
	}
	if out, err := cliIn(vars, "keys", "list", "--data-dir", dir, "--json"); err != nil || !strings.Contains(out, `"keys":[]`) {
		t.Errorf("the refused commands changed something: %q %v", out, err)
	}
}

// schemaHead is the newest migration applied to a SQLite database (this
// binary's, right after init).
func schemaHead(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT MAX(version_id) FROM goose_db_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// editSQLite runs statements on a stopped server's SQLite database.
func editSQLite(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// An operator command against a database one migration ahead of the
// binary refuses; serve refuses too unless the newer migration is marked
// backward-compatible.
func TestCommandsRefuseANewerSchema(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	dir := t.TempDir()
	if _, err := cliIn(nil, "init", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "novamed.db")
	head := schemaHead(t, db)
	editSQLite(t, db, fmt.Sprintf(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, 1)`, head+1),
		fmt.Sprintf(`UPDATE deployment_meta SET value = '%d' WHERE name = 'compatible_from'`, head+1))
	for _, args := range [][]string{{"keys", "list"}, {"clinics", "list"}, {"audit", "verify"}, {"migrate"}} {
		_, err := cliIn(nil, append(args, "--data-dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema is at version %d, newer than this binary's %d", head+1, head)) {
			t.Errorf("%v on a newer schema: %v", args, err)
		}
	}
	if err := runServe(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("serve on an incompatible newer schema: %v", err)
	}
	// Marked backward-compatible: serve keeps serving.
	editSQLite(t, db, `UPDATE deployment_meta SET value = '10' WHERE name = 'compatible_from'`)
	ts := &testServer{t: t, DataDir: dir, Env: "development", logs: &syncBuffer{}, stdout: &syncBuffer{}, vars: map[string]string{}}
	ts.start()
	t.Cleanup(ts.stop)
	if r := ts.req("GET", "/readyz", "", nil); r.Status != 200 {
		t.Errorf("/readyz on a compatible newer schema: %d %s", r.Status, r.Body)
	}
}

// An older schema: serve --migrate=false starts not ready ("migrations
// pending", API 503) and becomes ready without a restart once `novamed
// migrate` has run; operator commands refuse until then.
func TestServeWaitsForExplicitMigrations(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	dir := t.TempDir()
	if _, err := cliIn(nil, "init", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	// Back to schema version 10, as a database of the previous release:
	// the tables of the later migrations dropped (add a new migration's).
	head := schemaHead(t, filepath.Join(dir, "novamed.db"))
	editSQLite(t, filepath.Join(dir, "novamed.db"), `DROP TABLE deployment_meta`, `DROP TABLE readiness_probe`,
		`DROP TABLE operator_login_throttle`, `DROP TABLE operator_setup_links`, `DROP TABLE operator_tokens`, `DROP TABLE operators`,
		`DROP TABLE console_sessions`, `DROP TABLE audit_segments`, `DROP TABLE audit_settings`, `DROP TABLE audit_lease`,
		`ALTER TABLE audit_log DROP COLUMN hash_bytes`,
		`DROP INDEX api_keys_partner`, `DROP INDEX clinics_partner`, `ALTER TABLE api_keys DROP COLUMN partner_id`,
		`DROP TABLE portal_sessions`, `DROP TABLE partner_invitations`, `DROP TABLE partner_users`, `DROP TABLE key_requests`,
		`DROP TABLE reencryption_jobs`, `DROP TABLE replica_keyrings`, `DROP INDEX security_events_open`,
		`ALTER TABLE security_events DROP COLUMN acknowledged_by`, `ALTER TABLE security_events DROP COLUMN acknowledged_at`,
		`ALTER TABLE clinics DROP COLUMN partner_id`, `DROP TABLE baas`, `DROP TABLE partners`,
		`DELETE FROM goose_db_version WHERE version_id > 10`)
	if _, err := cliIn(nil, "keys", "list", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "migrations pending") {
		t.Errorf("keys list on an older schema: %v", err)
	}
	if out, err := cliIn(nil, "migrate", "--dry-run", "--data-dir", dir); err != nil || !strings.Contains(out, fmt.Sprintf("schema version 10; this binary's is %d: migrations pending", head)) {
		t.Errorf("migrate --dry-run: %q %v", out, err)
	}
	ts := &testServer{t: t, DataDir: dir, Env: "development", logs: &syncBuffer{}, stdout: &syncBuffer{}, vars: map[string]string{}}
	ts.start("--migrate=false")
	t.Cleanup(ts.stop)
	get := func(path string) (int, string) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "migrations pending") {
		t.Errorf("/readyz with migrations pending: %d %s", code, body)
	}
	if code, body := get("/api/external/me"); code != 503 || !strings.Contains(body, "SERVICE_UNAVAILABLE") ||
		!strings.Contains(body, `"retry_after":5`) || !strings.Contains(body, "waiting for its database to be upgraded") {
		t.Errorf("the API with migrations pending: %d %s", code, body)
	}
	if out, err := cliIn(nil, "migrate", "--data-dir", dir); err != nil || !strings.Contains(out, fmt.Sprintf("schema version %d: up to date", head)) {
		t.Fatalf("migrate: %q %v", out, err)
	}
	var code int
	var body string
	if !wait.For(10*time.Second, func() bool { code, body = get("/readyz"); return code == 200 }) {
		t.Fatalf("/readyz after migrate: %d %s", code, body)
	}
	if code, _ := get("/api/external/me"); code != 401 {
		t.Errorf("the API after migrate answered %d, want 401 for a request without a key", code)
	}
	if _, err := cliIn(nil, "keys", "list", "--data-dir", dir); err != nil {
		t.Errorf("keys list after migrate: %v", err)
	}
}

// A backup taken while 8 clients write restores, without a keyring, into
// an empty data folder whose audit trail verifies and which holds every
// write acknowledged before the backup began.
func TestBackupWhileEightClientsWrite(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	ts := startServer(t, "development", "--sandbox", "off")
	key := ts.newKey("--clinic", demoClinic, "--rate-limit", "1000000").Key
	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
		fails atomic.Int64
		first atomic.Value
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				dob := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
				body := fmt.Sprintf(`{"clinic_id":%q,"first_name":"Backup","last_name":"Writer%c","email":"w%d.%d@example.test","date_of_birth":%q}`, demoClinic, rune('a'+w), w, i, dob)
				req, _ := http.NewRequest("POST", ts.URL+"/api/external/patient", strings.NewReader(body))
				req.Header.Set("x-api-key", key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					first.CompareAndSwap(nil, err.Error())
					fails.Add(1)
					continue
				}
				var out struct{ Data struct{ ID string } }
				raw, _ := io.ReadAll(resp.Body)
				json.Unmarshal(raw, &out) //nolint:errcheck // checked through the id
				resp.Body.Close()
				if (resp.StatusCode != 200 && resp.StatusCode != 201) || out.Data.ID == "" {
					first.CompareAndSwap(nil, fmt.Sprint(resp.StatusCode, " ", string(raw)))
					fails.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, out.Data.ID)
				mu.Unlock()
			}
		}()
	}
	// Let writes flow, then take the backup while they go on.
	wait.Until(t, 60*time.Second, func() bool {
		if fails.Load() > 20 {
			t.Fatalf("writers failing: %v", first.Load())
		}
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 40
	}, "40 acknowledged writes before the backup")
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "novamed-backup.db")
	if _, err := cliIn(nil, "backup", "--to", file, "--data-dir", ts.DataDir); err != nil {
		t.Fatalf("backup: %v", err)
	}
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	stop.Store(true)
	wg.Wait()
	if fails.Load() > 0 {
		t.Errorf("%d writes failed while the backup ran (first: %v)", fails.Load(), first.Load())
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode: %v %v", st, err)
	}
	keyData, _ := os.ReadFile(filepath.Join(ts.DataDir, "master.key"))
	if raw, _ := os.ReadFile(file); len(keyData) > 0 && bytes.Contains(raw, bytes.TrimSpace(keyData)) {
		t.Error("the backup holds the master key")
	}

	// Restore: no keyring needed.
	restored := filepath.Join(t.TempDir(), "restored")
	if _, err := cliIn(nil, "restore", "--from", file, "--data-dir", restored); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if _, err := cliIn(nil, "restore", "--from", file, "--data-dir", restored); err == nil {
		t.Error("restore into a data folder that holds a database succeeded")
	}
	// The operator brings the keyring back, then verifies.
	if err := os.WriteFile(filepath.Join(restored, "master.key"), keyData, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cliIn(nil, "audit", "verify", "--data-dir", restored, "--json")
	var v struct {
		OK      bool
		Checked int
	}
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || !v.OK || v.Checked < len(before) {
		t.Fatalf("audit verify on the restored copy: %q %v", out, err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(restored, "novamed.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	have := map[string]bool{}
	rows, err := db.Query(`SELECT id FROM patients`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id) //nolint:errcheck // an empty id fails below
		have[id] = true
	}
	rows.Close()
	for _, id := range before {
		if !have[id] {
			t.Errorf("patient %s, acknowledged before the backup began, is not in the restored copy", id)
		}
	}
	t.Logf("%d writes acknowledged before the backup, %d while it ran; the copy holds %d patients", len(before), during, len(have))
	if errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

// Unknown ids given to --clinic, --webhook and --after are errors, not
// empty output.
func TestUnknownIDsAreErrors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	unknown := "6f1c2b9e-0d7a-4c1e-9b2f-3a4d5e6f7a8b"
	for _, args := range [][]string{
		{"keys", "list", "--clinic", unknown},
		{"keys", "create", "--clinic", unknown},
		{"events", "list", "--clinic", unknown},
		{"events", "list", "--clinic", demoClinic, "--after", "evt_unknown"},
		{"webhooks", "deliveries", "--webhook", unknown},
		{"formulary", "list", "--clinic", unknown},
	} {
		if err := ts.cli(nil, args...); err == nil || !strings.Contains(err.Error(), "no such") {
			t.Errorf("%v: %v; want an error naming the unknown id", args, err)
		}
	}
	// Known ids still work.
	ts.mustCLI(nil, "keys", "list", "--clinic", demoClinic)
	ts.mustCLI(nil, "events", "list", "--clinic", demoClinic)
}

// A first start that fails (the address is taken) creates nothing, so the
// one-time demo key is not consumed; while that key has never been used,
// each start reminds how to issue a new one.
func TestFailedFirstStartKeepsTheDemoKey(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := filepath.Join(t.TempDir(), "data")
	if err := runServe(t, nil, "--addr", taken.Addr().String(), "--data-dir", dir); err == nil {
		t.Fatal("serve on a taken address started")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed first start created the data folder (%v)", err)
	}
	ts := &testServer{t: t, DataDir: dir, Env: "development", logs: &syncBuffer{}, stdout: &syncBuffer{}, vars: map[string]string{}}
	ts.start()
	t.Cleanup(ts.stop)
	if ts.Key == "" {
		t.Fatalf("the first successful start printed no development key:\n%s", ts.stdout.String())
	}
	ts.restart()
	if !strings.Contains(ts.stdout.String(), "has never been used; it is not shown again. Lost it? Issue a new one: novamed keys create --clinic "+demoClinic) {
		t.Errorf("a restart with the demo key unused does not remind:\n%s", ts.stdout.String())
	}
	if r := ts.req("GET", "/api/external/me", ts.Key, nil); r.Status != 200 {
		t.Fatalf("/me with the demo key: %d", r.Status)
	}
	ts.stop()
	before := len(ts.stdout.String())
	ts.start()
	if strings.Contains(ts.stdout.String()[before:], "has never been used") {
		t.Error("the reminder is printed after the key was used")
	}
}
