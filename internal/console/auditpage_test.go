package console

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the raw connection that breaks the chain

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// auditEnv is a console whose audit page verifies the real trail and signs
// checkpoints with a real key, with its own audit writer.
func auditEnv(t *testing.T) (*testEnv, ed25519.PrivateKey) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var e *testEnv
	e = newEnv(t, func(c *Config) {
		w := audit.NewWriter(c.Store.(novamed.AuditStore), slog.New(slog.DiscardHandler))
		t.Cleanup(w.Close)
		c.Audit = w
		store := c.Store.(novamed.AuditStore)
		c.VerifyAudit = func(ctx context.Context) (AuditCheck, error) {
			n, err := audit.Verify(ctx, store)
			var broken *audit.BrokenError
			if errors.As(err, &broken) {
				return AuditCheck{Checked: n, FirstBadSeq: broken.Seq, Problems: []string{broken.Error()}}, nil
			}
			return AuditCheck{OK: err == nil, Checked: n}, err
		}
		c.Checkpoint = func(ctx context.Context) ([]byte, int64, error) {
			cp, err := audit.NewCheckpoint(ctx, store, key, e.clock.Now())
			if err != nil {
				return nil, 0, err
			}
			b, err := json.Marshal(cp)
			return b, cp.Seq, err
		}
	})
	return e, key
}

// TestAuditPageSearchVerifyCheckpoint: the audit page searches by actor,
// action, key, clinic, resource and window a page at a time; bad input is
// shown beside its field; verifying reports an intact chain and then,
// after a record is edited in the database, the first bad record; a
// checkpoint downloads as the signed JSON that verifies with the public
// key; each action is audited with the operator as actor.
func TestAuditPageSearchVerifyCheckpoint(t *testing.T) {
	e, key := auditEnv(t)
	op := e.addOperator("sec@novamed.test", "security")
	ctx := context.Background()
	now := e.clock.Now()
	var recs []*novamed.AuditRecord
	for i := range 60 {
		rec := &novamed.AuditRecord{Time: now.Add(-time.Duration(120-i) * time.Minute), RequestID: fmt.Sprintf("req-%d", i), Action: "patient.read",
			ResourceType: "patient", ResourceIDs: []string{fmt.Sprintf("pat-%d", i)}, ClinicID: "clinic-a", KeyID: "key-1", Status: 200}
		if i%2 == 1 {
			rec.Action, rec.ClinicID, rec.KeyID, rec.Actor = "partner.create", "", "", "operator:someone"
		}
		recs = append(recs, rec)
	}
	if err := e.store.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	ck, csrf := e.signIn(e.c, "sec@novamed.test")
	get := func(q url.Values) (int, string) {
		w := do(t, e.c, "GET", "/console/audit?"+q.Encode(), nil, ck, nil)
		return w.Code, w.Body.String()
	}
	code, page := get(url.Values{"clinic": {"clinic-a"}, "action": {"patient."}})
	if code != 200 || strings.Count(page, "<td>patient.read</td>") != pageSize || strings.Contains(page, "partner.create") || !strings.Contains(page, "Next page") {
		t.Fatalf("first page: %d, %d rows\n%s", code, strings.Count(page, "<td>patient.read</td>"), page)
	}
	next := regexpFind(t, page, `href="(/console/audit\?[^"]+after=[^"]+)"`)
	page = do(t, e.c, "GET", strings.ReplaceAll(next, "&amp;", "&"), nil, ck, nil).Body.String()
	if n := strings.Count(page, "<td>patient.read</td>"); n != 5 || strings.Contains(page, "Next page") {
		t.Fatalf("second page: %d rows, want 5 (30 matching records)", n)
	}
	if _, page = get(url.Values{"resource": {"pat-7"}}); !strings.Contains(page, "pat-7") || strings.Count(page, "<code>pat-") != 1 {
		t.Errorf("search by resource id:\n%s", page)
	}
	if _, page = get(url.Values{"actor": {"operator:some"}, "from": {now.Add(-90 * time.Minute).Format(formTime)}}); strings.Count(page, "<td>partner.create</td>") != 15 {
		t.Errorf("actor prefix within the last 90 minutes: %d rows, want 15", strings.Count(page, "<td>partner.create</td>"))
	}
	if _, page = get(url.Values{"key": {"key-1"}, "to": {now.Add(-110 * time.Minute).Format(formTime)}}); strings.Count(page, "<td>patient.read</td>") != 5 {
		t.Errorf("key within a window ending 110 minutes ago: %d rows, want 5", strings.Count(page, "<td>patient.read</td>"))
	}
	// Bad input: beside the field, 422, nothing searched.
	for _, bad := range []url.Values{{"from": {"yesterday"}}, {"to": {now.Add(-48 * time.Hour).Format(formTime)}}, {"after": {"x"}}, {"actor": {strings.Repeat("a", 201)}}} {
		code, page := get(bad)
		if code != http.StatusUnprocessableEntity || !strings.Contains(page, `class="field-error"`) || strings.Contains(page, "patient.read") {
			t.Errorf("%v: %d\n%s", bad, code, page)
		}
	}
	// Verify: intact.
	w := do(t, e.c, "POST", "/console/audit/verify", url.Values{"csrf_token": {csrf}}, ck, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "The audit trail is intact") {
		t.Fatalf("verify: %d\n%s", w.Code, w.Body)
	}
	// Checkpoint: a signed file.
	w = do(t, e.c, "POST", "/console/audit/checkpoints", url.Values{"csrf_token": {csrf}}, ck, nil)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Disposition"), "attachment;") {
		t.Fatalf("checkpoint: %d %v", w.Code, w.Header())
	}
	cps, err := audit.ParseCheckpoints(w.Body.Bytes())
	if err != nil || len(cps) != 1 {
		t.Fatalf("checkpoint body %q: %v", w.Body, err)
	}
	if err := cps[0].Check(key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("checkpoint signature: %v", err)
	}
	if _, err := audit.VerifyCheckpoints(ctx, e.store, key.Public().(ed25519.PublicKey), cps); err != nil {
		t.Fatalf("the downloaded checkpoint does not verify against the trail: %v", err)
	}
	// No CSRF token: refused, nothing signed.
	if w := do(t, e.c, "POST", "/console/audit/checkpoints", url.Values{}, ck, nil); w.Code != http.StatusForbidden {
		t.Errorf("checkpoint without the CSRF token: %d", w.Code)
	}
	// Break the chain: edit record 10's action in the database.
	db, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE audit_log SET record = replace(record, 'partner.create', 'partner.delete') WHERE seq = 10`)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("editing record 10: %v", err)
	}
	w = do(t, e.c, "POST", "/console/audit/verify", url.Values{"csrf_token": {csrf}}, ck, nil)
	if body := w.Body.String(); !strings.Contains(body, "The audit trail is broken") || !strings.Contains(body, "The first bad record is number 10.") {
		t.Fatalf("verify after tampering: %d\n%s", w.Code, body)
	}
	// Each action is audited with the operator as actor.
	seen := map[string]int{}
	if err := e.store.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		if r.Actor == "operator:"+op.ID {
			seen[r.Action+fmt.Sprintf(":%d", r.Status)]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen["audit.verify:200"] != 1 || seen["audit.verify:409"] != 1 || seen["audit.checkpoint:200"] != 1 || seen["audit.search:200"] < 5 {
		t.Errorf("audit records by the operator: %v", seen)
	}
}

func regexpFind(t *testing.T, s, expr string) string {
	t.Helper()
	m := regexp.MustCompile(expr).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in\n%s", expr, s)
	}
	return m[1]
}
