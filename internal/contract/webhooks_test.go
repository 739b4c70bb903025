package contract

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	clientwebhook "github.com/novamed/partner-api/client/webhook"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/testenv/wait"
)

type delivery struct {
	header http.Header
	body   []byte
}

// TestWebhookDeliveriesMatchTheDocument drives every event of the
// lifecycle, lets the real delivery worker send them to a receiver, and
// checks each delivery's headers and body against the document's webhooks
// section and its example.
func TestWebhookDeliveriesMatchTheDocument(t *testing.T) {
	a := newAPIServer(t)
	key := a.newKey("webhooks", 1_000_000)
	var mu sync.Mutex
	var got []delivery
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()

	reg := a.do("POST", "/api/external/webhook", key, mustJSON(t, map[string]any{"clinic_id": demoClinic, "webhook_url": rc.URL + "/novamed"}))
	var wh struct {
		Data struct {
			ID                string `json:"webhook_id"`
			SigningSecret     string `json:"signing_secret"`
			VerificationToken string `json:"verification_token"`
		}
	}
	if err := json.Unmarshal(reg.body, &wh); err != nil || reg.status != 200 {
		t.Fatalf("register: %d %s", reg.status, reg.body)
	}
	create := func(path string, body map[string]any) map[string]any {
		e := a.do("POST", path, key, mustJSON(t, body))
		if e.status != 200 {
			t.Fatalf("POST %s: %d %s", path, e.status, e.body)
		}
		var env struct{ Data map[string]any }
		if err := json.Unmarshal(e.body, &env); err != nil {
			t.Fatal(err)
		}
		return env.Data
	}
	prac := create("/api/external/practitioner", map[string]any{"first_name": "Sarah", "last_name": "Johnson",
		"email": "dr.johnson@clinic.com", "npi_number": "1234567890", "assigned_clinic": demoClinic})
	pat := create("/api/external/patient", map[string]any{"clinic_id": demoClinic, "first_name": "Quinn", "last_name": "Quickstart",
		"dob": "1990-07-04", "addresses": []any{map[string]any{"addressLine1": "100 Quickstart Way", "city": "Austin", "state": "TX", "postalCode": "78701"}}})
	order := func() string {
		o := create("/api/external/medication-order", map[string]any{"clinic_id": demoClinic, "patient_id": pat["patient_id"],
			"practitioner_id": prac["practitioner_id"], "carrier_id": "se-3818360", "service_id": "fedex_ground",
			"medication_requests": []any{map[string]any{"medication": "Semaglutide", "dose": "0.25 mg", "quantity": 4, "direction": "Inject weekly"}}})
		return o["medication_order_id"].(string)
	}
	ctx := context.Background()
	if _, _, err := a.store.ActivatePractitioner(ctx, prac["practitioner_id"].(string)); err != nil {
		t.Fatal(err)
	}
	first := order()
	ship(t, a, first, exampleShipment())
	// The shipment is cancelled and the order ships again before delivery.
	if _, _, err := a.store.CancelShipment(ctx, first, "Returned to sender", novamed.Effects{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.store.TransitionOrder(ctx, first, "shipped", exampleShipment()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.store.TransitionOrder(ctx, first, "delivered", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.store.TransitionOrder(ctx, order(), "cancelled", nil); err != nil {
		t.Fatal(err)
	}
	// NovaMed's additions: the partner's updates and cancellation.
	for path, body := range map[string]map[string]any{
		"/api/external/patient/" + pat["patient_id"].(string):            {"phone": "+1-555-0142"},
		"/api/external/practitioner/" + prac["practitioner_id"].(string): {"phone": "+1-555-0142"},
	} {
		if e := a.do("PATCH", path, key, mustJSON(t, body)); e.status != 200 {
			t.Fatalf("PATCH %s: %d %s", path, e.status, e.body)
		}
	}
	if e := a.do("POST", "/api/external/medication-order/"+order()+"/cancel", key, mustJSON(t, map[string]any{"reason": "Switched medication"})); e.status != 200 {
		t.Fatalf("cancel: %d %s", e.status, e.body)
	}
	if e := a.do("POST", "/api/external/webhook/"+wh.Data.ID+"/test", key, nil); e.status != 200 {
		t.Fatalf("test event: %d %s", e.status, e.body)
	}

	// The server's own delivery worker sends them.
	const events = 14
	wait.Until(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= events
	}, "fewer than %d deliveries arrived", events)
	doc, _ := Document()
	seen := map[string]bool{}
	mu.Lock()
	delivered := slices.Clone(got)
	mu.Unlock()
	for _, d := range delivered {
		var ev struct {
			Name string `json:"event_name"`
			Data any    `json:"event_data"`
		}
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatalf("delivery is not JSON: %s", d.body)
		}
		seen[ev.Name] = true
		if err := ValidateWebhook(ev.Name, d.header, d.body); err != nil {
			t.Errorf("%v", err)
		}
		if err := clientwebhook.Verify(wh.Data.SigningSecret, d.header, d.body, time.Minute); err != nil {
			t.Errorf("%s: the documented signature does not verify: %v", ev.Name, err)
		}
		if k := d.header.Get("x-api-key"); k != wh.Data.VerificationToken || k == wh.Data.SigningSecret {
			t.Errorf("%s: x-api-key is not the verification token", ev.Name)
		}
		ex := doc.Webhooks[ev.Name].Post.RequestBody.Value.Content.Get("application/json").Examples["event"]
		if ex == nil {
			t.Errorf("webhook %s has no example", ev.Name)
			continue
		}
		var body any
		_ = json.Unmarshal(d.body, &body)
		// The delivery must match the "event" example or another of the
		// event's examples (medication_order:cancelled has one for the
		// partner's own cancellation).
		err := (exampleIDs{}).match("", ex.Value.Value, body)
		for name, other := range doc.Webhooks[ev.Name].Post.RequestBody.Value.Content.Get("application/json").Examples {
			if err != nil && name != "event" && (exampleIDs{}).match("", other.Value.Value, body) == nil {
				err = nil
			}
		}
		if err != nil {
			t.Errorf("webhook %s differs from its example: %v\n%s", ev.Name, err, d.body)
		}
	}
	var missing []string
	for name := range doc.Webhooks {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented events never delivered: %v", missing)
	}
}
