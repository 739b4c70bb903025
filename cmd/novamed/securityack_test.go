package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

// TestAdminAcknowledgesSecurityEvent: POST
// /api/admin/security-events/{id}/acknowledge marks the event acknowledged
// by the operator once (audited with the operator as actor, in the same
// transaction); again is 409, an unknown id 404, a body with unknown
// fields 400, and none of those change the event.
func TestAdminAcknowledgesSecurityEvent(t *testing.T) {
	t.Parallel()
	f := newAdminFixture(t)
	ts := f.ts
	c := &common{dataDir: ts.DataDir, env: ts.Env, db: ts.vars["NOVAMED_DB"]}
	store, _, err := c.openStore(context.Background(), ts.getenv)
	if err != nil {
		t.Fatal(err)
	}
	ev := &novamed.SecurityEvent{ID: uuid.NewString(), At: time.Now().UTC().Truncate(time.Microsecond), Rule: novamed.RuleRevokedKeyUse,
		KeyID: "k", ClientAddr: "192.0.2.1", Detail: map[string]any{}}
	err = store.RecordSecurityEvent(context.Background(), ev, nil)
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/admin/security-events/" + ev.ID + "/acknowledge"
	if r := adminReq(t, ts, "POST", path, f.tokens[operator.Security], map[string]any{"note": "x"}); r.Status != 400 {
		t.Errorf("unknown body field: %d %s", r.Status, r.Body)
	}
	r := adminReq(t, ts, "POST", path, f.tokens[operator.Security], nil)
	if r.Status != 200 {
		t.Fatalf("acknowledge: %d %s", r.Status, r.Body)
	}
	var got novamed.SecurityEvent
	r.data(t, &got)
	if got.ID != ev.ID || got.AcknowledgedAt == nil || got.AcknowledgedBy != "operator:"+f.ids[operator.Security] {
		t.Fatalf("acknowledged event: %s", r.Body)
	}
	if r := adminReq(t, ts, "POST", path, f.tokens[operator.Admin], nil); r.Status != 409 || r.Env.Error.Code != novamed.CodeInvalidTransition {
		t.Errorf("twice: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", "/api/admin/security-events/"+uuid.NewString()+"/acknowledge", f.tokens[operator.Admin], nil); r.Status != 404 {
		t.Errorf("unknown id: %d %s", r.Status, r.Body)
	}
	if r := adminReq(t, ts, "POST", path, f.tokens[operator.Viewer], nil); r.Status != 403 {
		t.Errorf("viewer: %d %s", r.Status, r.Body)
	}
	var ok, refused int
	for _, rec := range exportActor(t, ts, "operator:") {
		if rec.Action != "security_event.acknowledge" {
			continue
		}
		if rec.Status == 200 {
			ok++
			if rec.Actor != "operator:"+f.ids[operator.Security] || len(rec.ResourceIDs) != 1 || rec.ResourceIDs[0] != ev.ID {
				t.Errorf("audit record: %+v", rec)
			}
		} else {
			refused++
		}
	}
	if ok != 1 || refused != 4 {
		t.Errorf("audit: %d successful and %d refused acknowledgements, want 1 and 4", ok, refused)
	}
	// The listing shows the state.
	r = adminReq(t, ts, "GET", "/api/admin/security-events", f.tokens[operator.Security], nil)
	var list struct{ Events []novamed.SecurityEvent }
	r.data(t, &list)
	if len(list.Events) != 1 || list.Events[0].AcknowledgedAt == nil {
		t.Errorf("listing after acknowledging: %s", r.Body)
	}
}
