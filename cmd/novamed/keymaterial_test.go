package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novamed/partner-api/internal/phi"
)

func expectMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
		return
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s mode = %04o, want %04o", filepath.Base(path), fi.Mode().Perm(), want)
	}
}

// TestDataFilesPrivate: the data folder is 0700 and everything in it 0600,
// the SQLite -wal and -shm files included; a start tightens a folder and
// files left open to others, with a warning; a start that cannot tighten
// them refuses (issue 19, finding 10).
func TestDataFilesPrivate(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	ts := startServer(t, "development")
	expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))
	check := func() {
		t.Helper()
		expectMode(t, ts.DataDir, 0o700)
		for _, f := range []string{"novamed.db", "novamed.db-wal", "novamed.db-shm", "master.key", "checkpoint.key"} {
			expectMode(t, filepath.Join(ts.DataDir, f), 0o600)
		}
	}
	check()
	ts.stop()
	for _, f := range []string{"", "novamed.db", "master.key"} {
		if err := os.Chmod(filepath.Join(ts.DataDir, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Files that are not novamed's keep their modes.
	other := filepath.Join(ts.DataDir, "operator-notes.sh")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(other, 0o755); err != nil {
		t.Fatal(err)
	}
	ts.start()
	check()
	expectMode(t, other, 0o755)
	if !strings.Contains(ts.logs.String(), `tightened to 0600`) || !strings.Contains(ts.logs.String(), `tightened to 0700`) {
		t.Errorf("no warning about the tightened modes in the log")
	}

	dir := filepath.Join(t.TempDir(), "d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	refuse := func(string, fs.FileMode) error { return errors.New("operation not permitted") }
	err := secureDataDir(dir, nil, refuse)
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Errorf("secureDataDir when chmod fails = %v; want a refusal", err)
	}
}

// TestSecondDevServerWithItsOwnKeyRefused: two development servers on one
// PostgreSQL database, each with its own data folder: the second would
// generate a master key of its own; it refuses to start, names the
// version, and leaves no stray key behind. An operator command never
// generates a key (issue 19, finding 13).
func TestSecondDevServerWithItsOwnKeyRefused(t *testing.T) {
	t.Parallel()
	sqliteOnly(t) // picks its own PostgreSQL database
	dsn := freshPostgres(t)
	first := startServer(t, "development", "--db", dsn)
	expectOK(t, first.req("POST", "/api/external/patient", first.Key, map[string]any{
		"clinic_id": demoClinic, "first_name": "Keyla", "last_name": "Check", "dob": "1990-09-09"}))

	second := t.TempDir()
	err := runServe(t, nil, "--db", dsn, "--data-dir", second, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "master key v1") || !strings.Contains(err.Error(), "generated a new development master key") {
		t.Errorf("second server = %v; want a refusal naming master key v1 and the generated key", err)
	}
	if _, err := os.Stat(filepath.Join(second, "master.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused server left its generated master.key (stat: %v)", err)
	}

	// Operator commands neither generate a key nor open with a wrong one.
	cmdDir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"keys", "list", "--db", dsn, "--data-dir", cmdDir}, func(string) string { return "" }, &stdout, &stderr)
	if err == nil {
		t.Errorf("keys list without a master key ran")
	}
	if _, err := os.Stat(filepath.Join(cmdDir, "master.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an operator command generated master.key (stat: %v)", err)
	}
	other := base64.StdEncoding.EncodeToString([]byte("another key of exactly 32 bytes!"))
	err = run(context.Background(), []string{"clinics", "list", "--db", dsn, "--data-dir", cmdDir}, func(k string) string {
		return map[string]string{"NOVAMED_MASTER_KEY": other}[k]
	}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "master key v1") {
		t.Errorf("clinics list with another key = %v; want a refusal naming v1", err)
	}
	// The first server's own key still works for commands.
	first.mustCLI(nil, "clinics", "list", "--db", dsn)
}

// TestBlindIndexSurvivesKeyRetirement: after crypto rotate says an old
// version may be removed, a server without it starts and still refuses a
// duplicate patient (with the lowest-version index key it accepted one),
// and a server without the version the indexes need refuses to start
// (issue 19, finding 14).
func TestBlindIndexSurvivesKeyRetirement(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	patient := map[string]any{"clinic_id": demoClinic, "first_name": "Retira", "last_name": "Index", "dob": "1966-06-06"}
	expectOK(t, ts.req("POST", "/api/external/patient", ts.Key, patient))
	newKey := filepath.Join(t.TempDir(), "v2.key")
	if err := os.WriteFile(newKey, []byte(base64.StdEncoding.EncodeToString([]byte("fedcba9876543210FEDCBA9876543210"))), 0o600); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Retired []int `json:"retired_versions"`
	}
	ts.mustCLI(&res, "crypto", "rotate", "--new-key-file", newKey)
	if len(res.Retired) != 1 || res.Retired[0] != 1 {
		t.Errorf("crypto rotate retired %v; want [1]", res.Retired)
	}
	ts.stop()

	keyFile := filepath.Join(ts.DataDir, "master.key")
	keys, err := phi.LoadKeyringFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := keys[1], keys[2]
	if err := phi.ReplaceKeyringFile(keyFile, map[uint32][]byte{2: v2}); err != nil {
		t.Fatal(err)
	}
	ts.start()
	r := ts.req("POST", "/api/external/patient", ts.Key, patient)
	if r.Status != 400 || r.Env.Error.Code != "DUPLICATE" {
		t.Errorf("duplicate patient after v1 was removed: %d %s; want 400 DUPLICATE", r.Status, r.Body)
	}
	ts.stop()

	// Without v2 (which seals the data and keys the indexes) no start.
	if err := phi.ReplaceKeyringFile(keyFile, map[uint32][]byte{1: v1}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"NOVAMED_DB": ts.vars["NOVAMED_DB"]}
	err = runServe(t, vars, "--data-dir", ts.DataDir, "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "v2") {
		t.Errorf("a server without v2 = %v; want a refusal naming v2", err)
	}
	if err := phi.ReplaceKeyringFile(keyFile, map[uint32][]byte{2: v2}); err != nil {
		t.Fatal(err)
	}
	ts.start()
}
