package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

// exportWindow runs `novamed audit export --since --until` and returns
// the sequence numbers it printed.
func exportWindow(t *testing.T, ts *testServer, since, until time.Time) []int64 {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := []string{"audit", "export", "--data-dir", ts.DataDir, "--since", since.UTC().Format(time.RFC3339), "--until", until.UTC().Format(time.RFC3339)}
	if err := run(context.Background(), args, ts.getenv, &stdout, &stderr); err != nil {
		t.Fatalf("audit export: %v\n%s", err, stderr.String())
	}
	var seqs []int64
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var rec exportedRecord
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, rec.Seq)
	}
	return seqs
}

// TestAuditTimeColumnEdited: the at column is not hashed; editing it must
// neither hide a record from a windowed export nor pass verify (issue 19,
// finding 3). Likewise the seq column.
func TestAuditTimeColumnEdited(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	t.Run("at", func(t *testing.T) {
		ts, seq, _ := auditFixture(t)
		_, recs := auditExportOf(t, ts)
		when, err := time.Parse(time.RFC3339Nano, recs[seq-1].Time)
		if err != nil {
			t.Fatal(err)
		}
		db := openDB(t, ts)
		if mustExec(t, db, `UPDATE audit_log SET at = at + 10 * 365 * 86400 * 1000000 WHERE seq = ?`, seq) != 1 {
			t.Fatal("edit touched no row")
		}
		db.Close()
		window := exportWindow(t, ts, when.Add(-time.Second), when.Add(time.Second))
		found := false
		for _, s := range window {
			found = found || s == seq
		}
		if !found {
			t.Errorf("export of the window around record %d's hashed time lacks it after its at column was edited: %v", seq, window)
		}
		expectBrokenAt(t, ts, seq)
	})
	t.Run("seq", func(t *testing.T) {
		ts, _, total := auditFixture(t)
		db := openDB(t, ts)
		if mustExec(t, db, `UPDATE audit_log SET seq = seq + 1000 WHERE seq = ?`, total) != 1 {
			t.Fatal("edit touched no row")
		}
		db.Close()
		expectBrokenAt(t, ts, total)
	})
}

// TestAuditRecordReencoded: a stored record whose bytes are not the
// canonical encoding of what they parse to fails verify, even though it
// parses to the same record (issue 19, finding 4).
func TestAuditRecordReencoded(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	edits := map[string]string{
		"extra key":       `replace(record, '"seq":', '"extra":"x","seq":')`,
		"re-cased key":    `replace(record, '"act":', '"ACT":')`,
		"repeated key":    `replace(record, '"act":', '"act":"x","act":')`,
		"added space":     `replace(record, '"seq":', ' "seq":')`,
		"escaped letters": `replace(record, '"patient.read"', '"patient\u002eread"')`,
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			ts, seq, _ := auditFixture(t)
			db := openDB(t, ts)
			var rec, was string
			if err := db.QueryRow(`SELECT record FROM audit_log WHERE seq = ?`, seq).Scan(&was); err != nil {
				t.Fatal(err)
			}
			if mustExec(t, db, `UPDATE audit_log SET record = `+edit+` WHERE seq = ?`, seq) != 1 {
				t.Fatal("edit touched no row")
			}
			if err := db.QueryRow(`SELECT record FROM audit_log WHERE seq = ?`, seq).Scan(&rec); err != nil {
				t.Fatal(err)
			}
			if rec == was {
				t.Fatalf("the edit changed nothing in %s (not this test's case)", was)
			}
			var parsed map[string]any
			if err := json.Unmarshal([]byte(rec), &parsed); err != nil {
				t.Fatalf("the edit made invalid JSON (not this test's case): %v", err)
			}
			db.Close()
			expectBrokenAt(t, ts, seq)
		})
	}
}

// truncateNewest deletes the newest n records and moves the head back to
// the record before them, with its true hash: the chain alone cannot tell.
func truncateNewest(t *testing.T, ts *testServer, total, n int64) {
	t.Helper()
	db := openDB(t, ts)
	var hash string
	if err := db.QueryRow(`SELECT CASE WHEN hash_bytes IS NULL THEN hash ELSE lower(hex(hash_bytes)) END FROM audit_log WHERE seq = ?`, total-n).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if mustExec(t, db, `DELETE FROM audit_log WHERE seq > ?`, total-n) != n {
		t.Fatal("delete touched the wrong rows")
	}
	mustExec(t, db, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, total-n, hash)
	db.Close()
}

// TestAuditCheckpointDetectsTruncation: `audit checkpoint` prints one
// signed checkpoint; with it, verify detects the newest records removed
// and the head moved back, which plain verify cannot (issue 19, finding 5).
func TestAuditCheckpointDetectsTruncation(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	ts, _, _ := auditFixture(t)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"audit", "checkpoint", "--data-dir", ts.DataDir}, ts.getenv, &stdout, &stderr); err != nil {
		t.Fatalf("audit checkpoint: %v\n%s", err, stderr.String())
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	if err := dec.Decode(&obj); err != nil || dec.More() {
		t.Fatalf("audit checkpoint printed %q; want one JSON object", stdout.String())
	}
	for _, k := range []string{"seq", "head", "at", "key_id", "sig"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("checkpoint %v lacks %q", obj, k)
		}
	}
	cpFile := filepath.Join(t.TempDir(), "cp.json")
	if err := os.WriteFile(cpFile, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cpSeq := int64(obj["seq"].(float64))
	if err := ts.cli(nil, "audit", "verify", "--checkpoint", cpFile); err != nil {
		t.Fatalf("verify with the checkpoint of an intact trail: %v", err)
	}
	// The checkpoint itself is audited, after the head it signed.
	_, recs := auditExportOf(t, ts)
	last := recs[len(recs)-1]
	if last.Seq != cpSeq+1 || last.Action != "audit.checkpoint" || last.Status != 200 {
		t.Fatalf("the newest record after audit checkpoint: %d %s %d; want %d audit.checkpoint 200", last.Seq, last.Action, last.Status, cpSeq+1)
	}

	// The two newest records the checkpoint covers go, and the one after.
	truncateNewest(t, ts, last.Seq, 3)
	if err := ts.cli(nil, "audit", "verify"); err != nil {
		t.Fatalf("plain verify of a truncated trail with the head moved back: %v (it cannot see this; the checkpoint must)", err)
	}
	err := ts.cli(nil, "audit", "verify", "--checkpoint", cpFile)
	var broken *audit.BrokenError
	if !errors.As(err, &broken) || !strings.Contains(err.Error(), "newest records were removed") {
		t.Fatalf("verify --checkpoint of a truncated trail = %v; want a BrokenError saying the newest records were removed", err)
	}

	// The signature is checked with the configured key, not trusted.
	var cp audit.Checkpoint
	if err := json.Unmarshal(stdout.Bytes(), &cp); err != nil {
		t.Fatal(err)
	}
	cp.Seq--
	forged, _ := json.Marshal(cp)
	if err := os.WriteFile(cpFile, forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.cli(nil, "audit", "verify", "--checkpoint", cpFile); err == nil || !strings.Contains(err.Error(), "invalid signature") {
		t.Errorf("verify with an edited checkpoint = %v; want an invalid signature", err)
	}
	otherKey := testCheckpointKeyFile(t)
	var pub struct {
		PublicKey string `json:"public_key"`
	}
	if err := ts.cli(&pub, "audit", "checkpoint", "--public-key", "--checkpoint-key-file", otherKey); err != nil || pub.PublicKey == "" {
		t.Fatalf("audit checkpoint --public-key: %v %+v", err, pub)
	}
	if err := os.WriteFile(cpFile, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.cli(nil, "audit", "verify", "--checkpoint", cpFile, "--checkpoint-public-key", pub.PublicKey); err == nil || !strings.Contains(err.Error(), "not the configured checkpoint key") {
		t.Errorf("verify with another public key = %v; want a refusal naming the key", err)
	}
}

// TestServeWritesCheckpoints: serve signs the chain head at start, every
// --checkpoint-interval and at shutdown, into DATA_DIR/checkpoints.jsonl,
// the log and the checkpoint webhook; verify accepts them all.
func TestServeWritesCheckpoints(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var posted []audit.Checkpoint
	hook := newLoopbackServer(t, func(w http.ResponseWriter, r *http.Request) {
		var c audit.Checkpoint
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		posted = append(posted, c)
		mu.Unlock()
	})
	ts := startServer(t, "development", "--checkpoint-interval", "1s", "--checkpoint-webhook", hook)
	expectOK(t, ts.req("GET", "/api/external/me", ts.Key, nil))
	file := filepath.Join(ts.DataDir, checkpointFileName)
	lines := func() int {
		b, _ := os.ReadFile(file)
		return bytes.Count(b, []byte("\n"))
	}
	wait.Until(t, 10*time.Second, func() bool { return lines() >= 2 }, "%s has %d checkpoints after 10 s with a 1 s interval", file, lines())
	ts.stop()
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint file: %v %v; want mode 0600", fi.Mode(), err)
	}
	if err := ts.cli(nil, "audit", "verify", "--checkpoint", file); err != nil {
		t.Errorf("verify against serve's checkpoints: %v", err)
	}
	if !strings.Contains(ts.logs.String(), `"msg":"audit checkpoint"`) {
		t.Errorf("the log has no audit checkpoint line")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posted) < 2 {
		t.Fatalf("the checkpoint webhook got %d checkpoints; want at least 2", len(posted))
	}
	key, err := audit.LoadCheckpointKey(filepath.Join(ts.DataDir, "checkpoint.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(ts.DataDir, "checkpoint.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint.key: %v %v; want mode 0600", fi.Mode(), err)
	}
	if err := posted[len(posted)-1].Check(key.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("a posted checkpoint does not verify: %v", err)
	}
}
