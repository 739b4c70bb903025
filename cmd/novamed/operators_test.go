package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
)

// exportActor runs `novamed audit export --actor PREFIX` against ts's
// database and decodes its records.
func exportActor(t *testing.T, ts *testServer, actor string) []novamed.AuditRecord {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := []string{"audit", "export", "--data-dir", ts.DataDir, "--env", ts.Env, "--actor", actor}
	if db := ts.vars["NOVAMED_DB"]; db != "" {
		args = append(args, "--db", db)
	}
	if err := run(context.Background(), args, ts.getenv, &stdout, &stderr); err != nil {
		t.Fatalf("audit export --actor: %v\n%s", err, stderr.String())
	}
	var recs []novamed.AuditRecord
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var r novamed.AuditRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// passwordFile writes a password file for operators create.
func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type createdOperator struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	SetupLink string `json:"setup_link"`
	TOTPURL   string `json:"totp_url"`
	HasTOTP   bool   `json:"has_totp"`
}

// TestOperatorsBootstrap: on the database host an operator bootstraps an
// admin (password file) and a support operator (setup link), issues a
// token, disables an operator; each step is in the audit trail as
// local:<os user>, the chain verifies, and no secret is stored or printed
// twice.
func TestOperatorsBootstrap(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	var admin createdOperator
	ts.mustCLI(&admin, "operators", "create", "--email", "Admin@Example.test", "--role", "admin", "--password-file", passwordFile(t, "a long admin password"))
	if admin.Email != "admin@example.test" || admin.Role != "admin" || admin.SetupLink != "" || admin.HasTOTP {
		t.Fatalf("admin %+v", admin)
	}
	var support createdOperator
	ts.mustCLI(&support, "operators", "create", "--email", "support@example.test", "--role", "support")
	if !strings.HasPrefix(support.SetupLink, "/console/setup/setup_") {
		t.Fatalf("no setup link: %+v", support)
	}
	if err := ts.cli(nil, "operators", "create", "--email", "support@example.test", "--role", "viewer"); err == nil || !strings.Contains(errorLine(err), "exists") {
		t.Fatalf("second operator with one email: %v", err)
	}
	if err := ts.cli(nil, "operators", "create", "--email", "x@example.test", "--role", "root"); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	var tok struct {
		Token, ID, OperatorID, Role string
	}
	ts.mustCLI(&tok, "operators", "token", "--email", "admin@example.test", "--expires-in", "1h")
	if !strings.HasPrefix(tok.Token, "op_") || tok.Role != "admin" {
		t.Fatalf("token %+v", tok)
	}
	ts.addSecret(tok.Token)
	ts.mustCLI(nil, "operators", "disable", "--email", "support@example.test")
	var list struct {
		Operators []struct{ Email, Status string }
	}
	ts.mustCLI(&list, "operators", "list")
	if len(list.Operators) != 2 || list.Operators[1].Status != "disabled" {
		t.Fatalf("list %+v", list)
	}
	if err := ts.cli(nil, "operators", "token", "--email", "support@example.test"); err == nil {
		t.Fatal("a disabled operator got a token")
	}

	// Nothing secret is stored: the token, the setup link and the
	// password are absent from the database file.
	db, err := os.ReadFile(filepath.Join(ts.DataDir, "novamed.db"))
	if err == nil { // SQLite pass (PostgreSQL holds its own files)
		wal, _ := os.ReadFile(filepath.Join(ts.DataDir, "novamed.db-wal"))
		for _, secret := range []string{tok.Token, strings.TrimPrefix(support.SetupLink, "/console/setup/"), "a long admin password"} {
			if bytes.Contains(db, []byte(secret)) || bytes.Contains(wal, []byte(secret)) {
				t.Errorf("the database holds a secret in clear: %.12s…", secret)
			}
		}
	}

	recs := exportActor(t, ts, "local:")
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action)
		if !strings.HasPrefix(r.Actor, "local:") || len(r.Actor) <= len("local:") {
			t.Errorf("actor %q", r.Actor)
		}
	}
	// disable goes through the admin API: it looks the --email up in the
	// operator list (operator.list), then changes it (operator.update);
	// operators list is a read of the same list.
	want := "operator.create operator.create operator.token_issue operator.list operator.update operator.list"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audited operator actions: %s\nwant %s", got, want)
	}
	if n := len(exportActor(t, ts, "operator:")); n != 0 {
		t.Errorf("%d records with actor operator: in direct mode", n)
	}
	if out, err := verifyJSON(t, ts); err != nil || out["ok"] != true {
		t.Fatalf("audit verify: %v %v", out, err)
	}
}
