package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// TestSecurityEventAcknowledgement: the security page lists open events
// with an acknowledge button; acknowledging one (as a security operator)
// moves it to the acknowledged filter, lowers the overview's open count
// and writes an audit record with the operator as actor; acknowledging it
// again or an unknown id is refused and changes nothing.
func TestSecurityEventAcknowledgement(t *testing.T) {
	e := newEnv(t, nil)
	op := e.addOperator("sec@novamed.test", "security")
	ck, csrf := e.signIn(e.c, "sec@novamed.test")
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		ev := &novamed.SecurityEvent{ID: uuid.NewString(), At: e.clock.Now().Add(-time.Duration(i+1) * time.Hour), Rule: novamed.RuleNewNetwork,
			KeyID: "key-" + string(rune('a'+i)), ClientAddr: "192.0.2.7", Detail: map[string]any{"network": "192.0.2.0/24"}}
		if err := e.store.RecordSecurityEvent(ctx, ev, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	overview := do(t, e.c, "GET", "/console/", nil, ck, nil).Body.String()
	if !strings.Contains(overview, `state=open&amp;since=90d">3</a>`) {
		t.Fatalf("overview: want 3 open security events:\n%s", overview)
	}
	page := do(t, e.c, "GET", "/console/security", nil, ck, nil).Body.String()
	if strings.Count(page, ">Acknowledge<") != 3 {
		t.Fatalf("open events page: want 3 acknowledge buttons:\n%s", page)
	}
	back := url.Values{"state": {"open"}, "since": {"7d"}, "key": {""}, "rule": {""}}.Encode()
	w := do(t, e.c, "POST", "/console/security/"+ids[0]+"/acknowledge", url.Values{"csrf_token": {csrf}, "back": {back}}, ck, nil)
	if w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "acknowledged="+ids[0]) {
		t.Fatalf("acknowledge: %d %s", w.Code, w.Header().Get("Location"))
	}
	page = do(t, e.c, "GET", w.Header().Get("Location"), nil, ck, nil).Body.String()
	if strings.Contains(page, `id="event-`+ids[0]) || !strings.Contains(page, "Event "+ids[0]+" acknowledged.") {
		t.Errorf("open list after acknowledging still shows the event or lacks the notice:\n%s", page)
	}
	page = do(t, e.c, "GET", "/console/security?state=acknowledged", nil, ck, nil).Body.String()
	if !strings.Contains(page, `id="event-`+ids[0]) || !strings.Contains(page, "operator:"+op.ID) || strings.Contains(page, `id="event-`+ids[1]) {
		t.Errorf("acknowledged filter:\n%s", page)
	}
	if overview := do(t, e.c, "GET", "/console/", nil, ck, nil).Body.String(); !strings.Contains(overview, `since=90d">2</a>`) {
		t.Errorf("overview after acknowledging: want 2 open")
	}
	count := func() (n int, actor string) {
		err := e.store.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
			if r.Action == "security_event.acknowledge" {
				n++
				actor = r.Actor
				if len(r.ResourceIDs) != 1 || r.ResourceIDs[0] != ids[0] {
					t.Errorf("audit record names %v", r.ResourceIDs)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, actor
	}
	if n, actor := count(); n != 1 || actor != "operator:"+op.ID {
		t.Fatalf("audit: %d records, actor %q", n, actor)
	}
	// Bad input: twice, unknown id, no CSRF token.
	if w := do(t, e.c, "POST", "/console/security/"+ids[0]+"/acknowledge", url.Values{"csrf_token": {csrf}}, ck, nil); w.Code != http.StatusConflict ||
		!strings.Contains(w.Body.String(), "already acknowledged") {
		t.Errorf("acknowledging twice: %d %s", w.Code, w.Body)
	}
	if w := do(t, e.c, "POST", "/console/security/nope/acknowledge", url.Values{"csrf_token": {csrf}}, ck, nil); w.Code != http.StatusNotFound {
		t.Errorf("unknown event: %d", w.Code)
	}
	if w := do(t, e.c, "POST", "/console/security/"+ids[1]+"/acknowledge", url.Values{}, ck, nil); w.Code != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", w.Code)
	}
	if n, _ := count(); n != 1 {
		t.Errorf("refused acknowledgements wrote audit records: %d", n)
	}
	if w := do(t, e.c, "GET", "/console/security?before=nonsense", nil, ck, nil); w.Code != http.StatusBadRequest && w.Code != http.StatusUnprocessableEntity {
		t.Errorf("bad page cursor: %d", w.Code)
	}
}
