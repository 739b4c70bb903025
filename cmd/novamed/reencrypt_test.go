package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/phi"
)

// TestAdminReencryption: POST /api/admin/crypto/reencryptions refuses bad
// input, a version not in this server's keyring, and a version another
// running replica lacks (naming it); once every replica holds the new
// version the job re-seals every PHI value under it, GET …/{id} follows
// it to "succeeded", and each start is audited as crypto.rotation with
// the operator as actor.
func TestAdminReencryption(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts := f.ts
	tok := f.tokens[operator.Security]
	for i := range 5 {
		expectOK(t, ts.req("POST", "/api/external/patient", ts.Key, map[string]any{
			"clinic_id": demoClinic, "first_name": fmt.Sprintf("Reseal%02d", i), "last_name": "Me", "dob": "1970-01-01"}))
	}
	start := func(body any) *response { return adminReq(t, ts, "POST", "/api/admin/crypto/reencryptions", tok, body) }
	for name, body := range map[string]any{"no version": map[string]any{}, "zero": map[string]any{"to_version": 0},
		"a string": map[string]any{"to_version": "2"}, "unknown field": map[string]any{"to_version": 1, "x": 1}, "not in the keyring": map[string]any{"to_version": 9}} {
		if r := start(body); r.Status != 400 && r.Status != 422 {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// Another replica, running with v1 only.
	c := &common{dataDir: ts.DataDir, env: ts.Env, db: ts.vars["NOVAMED_DB"]}
	other, _, err := c.openStore(context.Background(), ts.getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.AdvertiseKeyring(context.Background(), "replica-b", time.Now()); err != nil {
		t.Fatal(err)
	}
	// Add v2 to the server's key file (as crypto rotate does, without
	// re-sealing); the server reloads it within seconds.
	path := filepath.Join(ts.DataDir, "master.key")
	keys, err := phi.LoadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if keys[2], err = phi.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	if err := phi.ReplaceKeyringFile(path, keys); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var r *response
	for {
		r = start(map[string]any{"to_version": 2})
		if !strings.Contains(string(r.Body), "not in this server's keyring") || time.Now().After(deadline) {
			break
		}
	}
	if r.Status != 422 && r.Status != 400 || !strings.Contains(string(r.Body), "replica-b") {
		t.Fatalf("v2 while replica-b lacks it: %d %s", r.Status, r.Body)
	}
	// replica-b reloads its key file too (its store now holds both).
	ring, err := phi.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	other.SetKeyring(ring)
	if err := other.AdvertiseKeyring(context.Background(), "replica-b", time.Now()); err != nil {
		t.Fatal(err)
	}
	r = start(map[string]any{"to_version": 2})
	if r.Status != 200 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	var job novamed.ReencryptionJob
	r.data(t, &job)
	if job.State != novamed.ReencryptRunning || job.ToVersion != 2 || job.StartedBy != "operator:"+f.ids[operator.Security] {
		t.Fatalf("job: %s", r.Body)
	}
	deadline = time.Now().Add(30 * time.Second)
	for job.State == novamed.ReencryptRunning {
		if time.Now().After(deadline) {
			t.Fatalf("the job is still running after 30 s: %+v", job)
		}
		r = adminReq(t, ts, "GET", "/api/admin/crypto/reencryptions/"+job.ID, tok, nil)
		if r.Status != 200 {
			t.Fatalf("progress: %d %s", r.Status, r.Body)
		}
		r.data(t, &job)
	}
	if job.State != novamed.ReencryptSucceeded || job.Changed == 0 || job.Remaining != 0 || job.FinishedAt == nil {
		t.Fatalf("finished job: %+v", job)
	}
	var status struct {
		ValuesByVersion map[string]int `json:"values_by_version"`
	}
	ts.mustCLI(&status, "crypto", "status")
	if status.ValuesByVersion["1"] != 0 || status.ValuesByVersion["2"] == 0 {
		t.Fatalf("after the job: %v, want everything under v2", status.ValuesByVersion)
	}
	if r := adminReq(t, ts, "GET", "/api/admin/crypto/reencryptions/00000000-0000-4000-8000-000000000000", tok, nil); r.Status != 404 {
		t.Errorf("unknown job: %d", r.Status)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/crypto/reencryptions", f.tokens[operator.Support], map[string]any{"to_version": 2}); r.Status != 403 {
		t.Errorf("support starts a re-encryption: %d", r.Status)
	}
	var ok, refused int
	for _, rec := range exportActor(t, ts, "operator:") {
		if rec.Action == "crypto.rotation" {
			if rec.Status == 200 {
				ok++
				if rec.Actor != "operator:"+f.ids[operator.Security] || len(rec.ResourceIDs) != 1 || rec.ResourceIDs[0] != job.ID {
					t.Errorf("audit record: %+v", rec)
				}
			} else {
				refused++
			}
		}
	}
	if ok != 1 || refused < 7 {
		t.Errorf("crypto.rotation audit records: %d successful, %d refused", ok, refused)
	}
}
