package console

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/reencrypt"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestCryptoPageReauthAndProgress: the crypto page shows values per key
// version; starting a re-encryption after the re-authentication window
// sends the operator to re-authenticate, then starts the job and opens
// its progress page, which polls itself through htmx while running and
// stops when done; a version not in the keyring is refused beside the
// field; each start is audited as crypto.rotation with the operator.
func TestCryptoPageReauthAndProgress(t *testing.T) {
	var svc *reencrypt.Service
	e := newEnv(t, func(c *Config) {
		store := c.Store.(*sqlstore.Store)
		svc = &reencrypt.Service{Store: store, Versions: store.KeyVersions, Replica: "this", Now: time.Now}
		c.Reencrypt = svc
		w := audit.NewWriter(store, slog.New(slog.DiscardHandler))
		t.Cleanup(w.Close)
		c.Audit = w
	})
	t.Cleanup(svc.Close)
	op := e.addOperator("sec@novamed.test", "security")
	ck, csrf := e.signIn(e.c, "sec@novamed.test")
	page := do(t, e.c, "GET", "/console/crypto", nil, ck, nil).Body.String()
	if !strings.Contains(page, "seals new values under v1") || !strings.Contains(page, `<option value="1" selected>v1</option>`) {
		t.Fatalf("crypto page:\n%s", page)
	}
	e.clock.Add(6 * time.Minute) // past the 5-minute re-authentication window
	w := do(t, e.c, "POST", "/console/crypto/reencryptions", url.Values{"csrf_token": {csrf}, "to_version": {"1"}}, ck,
		map[string]string{"Referer": "http://127.0.0.1:8080/console/crypto"})
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/console/reauth") {
		t.Fatalf("start without a recent re-authentication: %d %s", w.Code, w.Header().Get("Location"))
	}
	w = do(t, e.c, "POST", "/console/reauth", url.Values{"csrf_token": {csrf}, "password": {testPassword}, "code": {e.code("sec@novamed.test")}, "next": {"/console/crypto"}}, ck, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("reauth: %d %s", w.Code, w.Body)
	}
	w = do(t, e.c, "POST", "/console/crypto/reencryptions", url.Values{"csrf_token": {csrf}, "to_version": {"7"}}, ck, nil)
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), `id="to_version-error"`) || !strings.Contains(w.Body.String(), "v7 is not in this server") {
		t.Fatalf("unknown version: %d\n%s", w.Code, w.Body)
	}
	w = do(t, e.c, "POST", "/console/crypto/reencryptions", url.Values{"csrf_token": {csrf}, "to_version": {"1"}}, ck, nil)
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/crypto/reencryptions/") {
		t.Fatalf("start: %d %s\n%s", w.Code, loc, w.Body)
	}
	id := strings.TrimPrefix(loc, "/console/crypto/reencryptions/")
	// The job ends (nothing to re-seal); until then the page polls.
	deadline := time.Now().Add(10 * time.Second)
	for {
		page = do(t, e.c, "GET", loc, nil, ck, map[string]string{"HX-Request": "true"}).Body.String()
		if strings.Contains(page, ">succeeded<") {
			break
		}
		if !strings.Contains(page, `hx-trigger="every 1s"`) || time.Now().After(deadline) {
			t.Fatalf("running job page without polling, or not done in 10 s:\n%s", page)
		}
	}
	if strings.Contains(page, "hx-trigger") || strings.Contains(page, "<html") {
		t.Errorf("finished job's htmx answer still polls or is a whole page:\n%s", page)
	}
	j, err := e.store.GetReencryption(t.Context(), id)
	if err != nil || j.StartedBy != "operator:"+op.ID || j.State != novamed.ReencryptSucceeded {
		t.Fatalf("stored job: %+v %v", j, err)
	}
	statuses := map[int]int{}
	if err := e.store.ScanAudit(t.Context(), time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		if r.Action == "crypto.rotation" && r.Actor == "operator:"+op.ID {
			statuses[r.Status]++
			if r.Status == 200 && (len(r.ResourceIDs) != 1 || r.ResourceIDs[0] != id) {
				t.Errorf("audit record names %v", r.ResourceIDs)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if statuses[200] != 1 || statuses[422] != 1 {
		t.Errorf("crypto.rotation audit records by status: %v, want one 200 and one 422", statuses)
	}
}
