package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// TestAuditNamesEveryRoute walks every partner route of the route table
// with clinic A's key, each to a success, and checks the audit record of
// the answer against what the route declares it names (auditNames): a
// handler that forgets its clinic or resources fails here, never quietly.
func TestAuditNamesEveryRoute(t *testing.T) {
	t.Parallel()
	m := newMatrixFixture(t)
	ctx := context.Background()
	created := func(path, body, field string) string {
		t.Helper()
		st, b, _ := m.do("POST", path, m.keyA, body)
		if st != 200 {
			t.Fatalf("fixture %s: %d %s", path, st, b)
		}
		var env struct{ Data map[string]any }
		json.Unmarshal([]byte(b), &env) //nolint:errcheck // checked below
		id, _ := env.Data[field].(string)
		if id == "" {
			t.Fatalf("fixture %s: no %s in %s", path, field, b)
		}
		return id
	}
	webhookBody := `{"clinic_id":"` + m.clinicA + `","webhook_url":"http://127.0.0.1:9/audit"}`
	// Routes that change what they touch get resources of their own.
	freshOrder := created("/api/external/medication-order", m.orderBody, "medication_order_id")
	shippedOrder := created("/api/external/medication-order", m.orderBody, "medication_order_id")
	for _, st := range []string{"verified", "submitted", "acknowledged", "filled"} {
		if _, _, err := m.store.TransitionOrder(ctx, shippedOrder, st, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := m.store.TransitionOrder(ctx, shippedOrder, "shipped", &novamed.Shipment{TrackingNumber: "T2"}); err != nil {
		t.Fatal(err)
	}
	shipped, err := m.store.GetMedicationOrder(ctx, shippedOrder, []string{m.clinicA})
	if err != nil {
		t.Fatal(err)
	}
	type call struct{ path, body, id string }
	override := map[string]func() call{
		"DELETE /api/external/webhook/{id}": func() call {
			id := created("/api/external/webhook", webhookBody, "webhook_id")
			return call{"/api/external/webhook/" + id, "", id}
		},
		"DELETE /api/external/webhook": func() call {
			id := created("/api/external/webhook", webhookBody, "webhook_id")
			return call{"/api/external/webhook", `{"webhook_id":"` + id + `"}`, id}
		},
		"POST /api/external/medication-order/{id}/cancel": func() call {
			return call{"/api/external/medication-order/" + freshOrder + "/cancel", `{"reason":"Duplicate order"}`, freshOrder}
		},
		"POST /api/external/medication-order/{id}/sandbox/cancel-shipment": func() call {
			return call{"/api/external/medication-order/" + m.orID + "/sandbox/cancel-shipment", `{"reason":"Returned to sender"}`, m.orID}
		},
		"POST /api/external/refill-request": func() call {
			return call{"/api/external/refill-request", `{"medication_request_id":"` + shipped.Items[0].ID + `"}`, ""}
		},
	}
	listedID := map[string]string{"practitioner": m.prID, "patient": m.paID, "medication_order": m.orID, "refill_request": m.rfID, "webhook": m.whID}

	names := m.s.mux.names
	walked := 0
	for _, pattern := range m.s.Routes() {
		n, partner := names[pattern]
		if !partner {
			if strings.Contains(pattern, " /api/") {
				t.Errorf("%s is under /api/ but not a partner route: its audit record names nothing declared", pattern)
			}
			continue
		}
		method, path, body := m.request(pattern)
		want := m.params["{id}"]
		for resource, id := range m.idFor {
			if strings.Contains(pattern, "/"+resource+"/{id}") {
				want = id
			}
		}
		if method == "PATCH" {
			body = `{}`
		}
		if o, ok := override[pattern]; ok {
			c := o()
			path, body, want = c.path, c.body, c.id
		}
		st, resp, requestID := m.do(method, path, m.keyA, body)
		if st != 200 {
			t.Errorf("%s: %d %.300s", pattern, st, resp)
			continue
		}
		rec := auditRecordOf(t, m.store, requestID)
		if rec == nil {
			t.Errorf("%s: no audit record for request %s", pattern, requestID)
			continue
		}
		walked++
		switch n {
		case namesResource:
			if rec.ClinicID != m.clinicA {
				t.Errorf("%s: audit record names clinic %q, want %q", pattern, rec.ClinicID, m.clinicA)
			}
			if len(rec.ResourceIDs) == 0 || (want != "" && !slices.Contains(rec.ResourceIDs, want)) {
				t.Errorf("%s: audit record names resources %v, want them to include %q", pattern, rec.ResourceIDs, want)
			}
		case namesClinic:
			if rec.ClinicID != m.clinicA {
				t.Errorf("%s: audit record names clinic %q, want %q", pattern, rec.ClinicID, m.clinicA)
			}
		case namesListed:
			if id := listedID[rec.ResourceType]; !slices.Contains(rec.ResourceIDs, id) {
				t.Errorf("%s: audit record names resources %v, want the listed %s %q among them", pattern, rec.ResourceIDs, rec.ResourceType, id)
			}
		case namesKey:
			if rec.KeyID == "" {
				t.Errorf("%s: audit record names no key", pattern)
			}
		}
	}
	if walked < 25 {
		t.Errorf("only %d partner routes walked to a success", walked)
	}
}

// auditRecordOf finds the audit record of a request.
func auditRecordOf(t *testing.T, store novamed.Store, requestID string) *novamed.AuditRecord {
	t.Helper()
	var found *novamed.AuditRecord
	err := store.ScanAudit(context.Background(), time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		if r.RequestID == requestID {
			found = r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestIncompleteFactsRefused: a handler whose success does not name what its
// route requires is answered 500 (and logged), never sent with a gap in its
// audit record.
func TestIncompleteFactsRefused(t *testing.T) {
	t.Parallel()
	m := newMatrixFixture(t)
	var logged strings.Builder
	m.s.log = slog.New(slog.NewJSONHandler(&logged, nil))
	forgetful := func(_ http.ResponseWriter, _ *http.Request, _ *reqState) (reply, error) {
		return m.s.ok(touched(m.clinicA), map[string]string{"secret": "Zebulonia"}, "")
	}
	m.s.mux.Handle("GET /api/external/forgetful", m.s.partner("forgetful.read", "patient", namesResource, forgetful))
	st, body, requestID := m.do("GET", "/api/external/forgetful", m.keyA, "")
	if st != 500 || strings.Contains(body, "Zebulonia") {
		t.Fatalf("incomplete facts answered %d %s", st, body)
	}
	if !strings.Contains(logged.String(), "audit facts incomplete") {
		t.Errorf("not logged: %s", logged.String())
	}
	if rec := auditRecordOf(t, m.store, requestID); rec == nil || rec.Status != 500 {
		t.Errorf("audit record of the refused answer: %+v", rec)
	}
}
