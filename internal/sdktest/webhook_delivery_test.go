package sdktest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"

	"github.com/novamed/partner-api/client"
	"github.com/novamed/partner-api/client/webhook"
	"github.com/novamed/partner-api/internal/novamed"
)

// captured is one request the receiver got.
type captured struct {
	header http.Header
	body   []byte
}

// receiver is a partner's webhook endpoint that keeps what arrives.
func receiver(t *testing.T) (*httptest.Server, chan captured) {
	t.Helper()
	got := make(chan captured, 64)
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- captured{r.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rs.Close)
	return rs, got
}

func next(t *testing.T, got chan captured, name string) captured {
	t.Helper()
	select {
	case c := <-got:
		ev, err := webhook.Parse(c.body)
		if err != nil || ev.Name != name {
			t.Fatalf("delivery %s: %v, want %s", c.body, err, name)
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s delivery within 5s", name)
	}
	return captured{}
}

// TestWebhookDeliveriesVerify registers a webhook through the SDK, has the
// real delivery worker send the test event and order and practitioner
// events, and checks VerifyAndParse on what arrived.
func TestWebhookDeliveriesVerify(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	c := env.client()
	rs, got := receiver(t)

	wh, err := c.Webhooks.Create(ctx, &client.CreateWebhookRequest{ClinicID: env.ClinicID, WebhookURL: rs.URL + "/novamed"})
	if err != nil {
		t.Fatal(err)
	}
	if wh.ID == "" || len(wh.SigningSecret) < 20 || len(wh.VerificationToken) < 20 || wh.SigningSecret == wh.VerificationToken || wh.WebhookURL != rs.URL+"/novamed" {
		t.Fatalf("webhook = %+v", wh)
	}
	if g, err := c.Webhooks.Get(ctx, wh.ID); err != nil || g.SigningSecret != "" || g.VerificationToken != "" || g.ClinicID != env.ClinicID {
		t.Fatalf("Get webhook = %+v, %v", g, err)
	}
	if all, err := client.Collect(c.Webhooks.List(ctx, client.ListParams{})); err != nil || len(all) != 1 || all[0].ID != wh.ID {
		t.Fatalf("List webhooks = %v, %v", all, err)
	}

	test, err := c.Webhooks.Test(ctx, wh.ID)
	if err != nil || test.EventName != webhook.EventTest || test.DeliveryID == "" {
		t.Fatalf("Test = %+v, %v", test, err)
	}
	d := next(t, got, webhook.EventTest)

	ev, err := webhook.VerifyAndParse(wh.SigningSecret, d.header, d.body, 5*time.Minute)
	if err != nil {
		t.Fatalf("a real delivery was refused: %v", err)
	}
	if ev.ID != test.DeliveryID || time.Since(ev.Timestamp) > time.Minute || !webhook.VerifyToken(d.header, wh.VerificationToken) {
		t.Fatalf("event %+v, headers %v", ev, d.header)
	}
	data, err := ev.Test()
	if err != nil || data.WebhookID != wh.ID || data.ClinicID != env.ClinicID || data.Message == "" {
		t.Fatalf("test data = %+v, %v", data, err)
	}
	if _, err := ev.Order(); !errors.Is(err, webhook.ErrWrongEvent) {
		t.Fatalf("Order() of a test event: %v", err)
	}

	t.Run("tampered body", func(t *testing.T) {
		tampered := append([]byte(nil), d.body...)
		tampered[len(tampered)-3] ^= 1
		if _, err := webhook.VerifyAndParse(wh.SigningSecret, d.header, tampered, 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("tampered body: %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		other, err := c.Webhooks.Create(ctx, &client.CreateWebhookRequest{ClinicID: env.ClinicID, WebhookURL: rs.URL + "/other"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Webhooks.Delete(ctx, other.ID) //nolint:errcheck
		if _, err := webhook.VerifyAndParse(other.SigningSecret, d.header, d.body, 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("another webhook's secret: %v", err)
		}
		if _, err := webhook.VerifyAndParse("whsec_", d.header, d.body, 5*time.Minute); !errors.Is(err, webhook.ErrBadSecret) {
			t.Fatalf("empty secret: %v", err)
		}
	})
	t.Run("stale timestamp", func(t *testing.T) {
		// The genuine delivery, verified later than a tight tolerance allows
		// (its timestamp is in whole seconds: once more than 2 ms past it).
		sent, err := strconv.ParseInt(d.header.Get(webhook.HeaderTimestamp), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		wait.Until(t, 5*time.Second, func() bool { return time.Since(time.Unix(sent, 0)) > 2*time.Millisecond }, "the delivery's timestamp is still fresh")
		if _, err := webhook.VerifyAndParse(wh.SigningSecret, d.header, d.body, time.Millisecond); !errors.Is(err, webhook.ErrBadTimestamp) {
			t.Fatalf("delayed verify: %v", err)
		}
		// A replay of the body ten minutes old, correctly signed for that time.
		old := time.Now().Add(-10 * time.Minute)
		h := d.header.Clone()
		sig, err := webhook.Sign(wh.SigningSecret, h.Get(webhook.HeaderID), old, d.body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(old.Unix(), 10))
		h.Set(webhook.HeaderSignature, sig)
		if _, err := webhook.VerifyAndParse(wh.SigningSecret, h, d.body, 5*time.Minute); !errors.Is(err, webhook.ErrBadTimestamp) {
			t.Fatalf("old, re-signed: %v", err)
		}
		if _, err := webhook.VerifyAndParse(wh.SigningSecret, h, d.body, 11*time.Minute); err != nil {
			t.Fatalf("old, within a wider tolerance: %v", err)
		}
		// Only the timestamp rewritten: refused too.
		h = d.header.Clone()
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(time.Now().Unix()+1, 10))
		if _, err := webhook.VerifyAndParse(wh.SigningSecret, h, d.body, 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("rewritten timestamp: %v", err)
		}
	})

	// The delivery log shows the success; a retry sends the same webhook-id.
	var dl *client.Delivery
	if !wait.For(5*time.Second, func() bool {
		for x, err := range c.Webhooks.Deliveries(ctx, wh.ID, client.DeliveryListParams{Status: client.DeliverySucceeded}) {
			if err != nil {
				t.Fatal(err)
			}
			dl = x
		}
		return dl != nil && dl.Status == client.DeliverySucceeded
	}) {
		t.Fatalf("delivery log: %+v", dl)
	}
	if dl.ID != test.DeliveryID || dl.AttemptCount != 1 || len(dl.Attempts) != 1 || dl.Attempts[0].StatusCode != http.StatusNoContent {
		t.Fatalf("delivery = %+v", dl)
	}
	if _, err := c.Webhooks.RetryDelivery(ctx, wh.ID, dl.ID); err != nil {
		t.Fatal(err)
	}
	again := next(t, got, webhook.EventTest)
	if ev2, err := webhook.VerifyAndParse(wh.SigningSecret, again.header, again.body, time.Minute); err != nil || ev2.ID != ev.ID {
		t.Fatalf("retried delivery: %+v, %v", ev2, err)
	}

	t.Run("order and practitioner events", func(t *testing.T) {
		pr, err := c.Practitioners.Create(ctx, newPractitioner(env.ClinicID))
		if err != nil {
			t.Fatal(err)
		}
		pa, err := c.Patients.Create(ctx, newPatient(env.ClinicID, "Evented"))
		if err != nil {
			t.Fatal(err)
		}
		o, err := c.MedicationOrders.Create(ctx, &client.CreateMedicationOrderRequest{ClinicID: env.ClinicID, PatientID: pa.ID,
			PractitionerID: pr.ID, CarrierID: "se-3818360", ServiceID: "fedex_ground", MedicationRequests: semaglutide()})
		if err != nil {
			t.Fatal(err)
		}
		// The pharmacy side (operator commands) moves the order along.
		steps := []struct{ to, event string }{
			{novamed.OrderVerified, webhook.EventOrderVerified}, {novamed.OrderSubmitted, webhook.EventOrderSubmitted},
			{novamed.OrderAcknowledged, webhook.EventOrderAcknowledged}, {novamed.OrderFilled, webhook.EventOrderFilled},
			{novamed.OrderShipped, webhook.EventShipmentCreated},
		}
		for _, s := range steps {
			var sh *novamed.Shipment
			if s.to == novamed.OrderShipped {
				sh = &novamed.Shipment{ID: "shp_1", TrackingNumber: "7700112233", LabelURL: "https://labels.example/1.pdf"}
			}
			if _, _, err := env.Store.TransitionOrder(ctx, o.ID, s.to, sh); err != nil {
				t.Fatal(err)
			}
			d := next(t, got, s.event)
			ev, err := webhook.VerifyAndParse(wh.SigningSecret, d.header, d.body, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			oe, err := ev.Order()
			if err != nil || oe.ID != o.ID || oe.ClinicID != env.ClinicID || oe.PatientID != pa.ID || oe.PractitionerID != pr.ID ||
				oe.Status != s.to || oe.RxNumber == "" || len(oe.RxNumbers) != 1 {
				t.Fatalf("%s: %+v, %v", s.event, oe, err)
			}
			if s.to == novamed.OrderShipped && (oe.ShipmentID != "shp_1" || oe.ShipmentProvider != "FedEx" || oe.TrackingNumber != "7700112233" ||
				oe.TrackingURL == "" || oe.ShippingLabel != "https://labels.example/1.pdf") {
				t.Fatalf("shipment event: %+v", oe)
			}
		}
		shipped, err := c.MedicationOrders.Get(ctx, o.ID)
		if err != nil || shipped.Status != client.OrderShipped || shipped.Shipment == nil || shipped.Shipment.TrackingNumber != "7700112233" ||
			shipped.MedicationRequests[0].RxNumber == "" {
			t.Fatalf("shipped order = %+v, %v", shipped, err)
		}

		// A shipped order can be refilled.
		rf, err := c.Refills.Create(ctx, &client.CreateRefillRequest{MedicationRequestID: o.MedicationRequestID, ClinicID: env.ClinicID,
			ShippingAddress: &client.Address{Line1: "5 Elm St", Line3: "Unit 9", City: "Houston", State: "TX", Zip: "77002"}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Refills.Get(ctx, rf.RefillRequestID)
		if err != nil || r.MedicationOrderID != rf.MedicationOrderID || r.OriginalMedicationOrderID != o.ID || r.Status != client.OrderCreated ||
			r.ShippingAddress == nil || r.ShippingAddress.Line3 != "Unit 9" {
			t.Fatalf("refill = %+v, %v", r, err)
		}
		refills, err := client.Collect(c.Refills.List(ctx, client.ListParams{}))
		if err != nil || len(refills) != 1 || refills[0].ID != rf.RefillRequestID {
			t.Fatalf("refills = %v, %v", refills, err)
		}
		if _, err := c.Refills.Create(ctx, &client.CreateRefillRequest{MedicationRequestID: o.MedicationRequestID}); !client.IsValidation(err) {
			t.Fatalf("second open refill: %v", err)
		} else if e := new(client.APIError); errors.As(err, &e) && e.Code != client.CodeRefillAlreadyExists {
			t.Fatalf("second open refill: %+v", e)
		}
		newOrder, err := c.MedicationOrders.Get(ctx, rf.MedicationOrderID)
		if err != nil || newOrder.RefillRequestID != rf.RefillRequestID || newOrder.MedicationRequests[0].RefillsRemaining != 1 {
			t.Fatalf("refill order = %+v, %v", newOrder, err)
		}

		if _, _, err := env.Store.ActivatePractitioner(ctx, pr.ID); err != nil {
			t.Fatal(err)
		}
		d := next(t, got, webhook.EventPractitionerActivated)
		ev, err := webhook.VerifyAndParse(wh.SigningSecret, d.header, d.body, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		pe, err := ev.PractitionerActivated()
		if err != nil || pe.PractitionerID != pr.ID || pe.PractitionerName != "Sarah Johnson" || pe.PractitionerEmail != pr.Email ||
			pe.PractitionerNPI != pr.NPI || pe.PractitionerPhone != pr.Phone || pe.PractitionerStatus != client.PractitionerActive {
			t.Fatalf("practitioner event = %+v, %v", pe, err)
		}
		if _, err := ev.Order(); !errors.Is(err, webhook.ErrWrongEvent) {
			t.Fatalf("Order() of a practitioner event: %v", err)
		}
	})

	del, err := c.Webhooks.Delete(ctx, wh.ID)
	if err != nil || !del.Deleted || del.WebhookID != wh.ID {
		t.Fatalf("Delete = %+v, %v", del, err)
	}
	if _, err := c.Webhooks.Get(ctx, wh.ID); !client.IsNotFound(err) {
		t.Fatalf("Get after delete: %v", err)
	}
}

// TestWebhookRotateThroughSDK: Rotate answers new secrets once; during the
// overlap a real delivery carries the old token and verifies with the old
// and the new signing secret; a rotation without overlap switches at once.
func TestWebhookRotateThroughSDK(t *testing.T) {
	env := startEnv(t)
	ctx := context.Background()
	c := env.client()
	rs, got := receiver(t)
	wh, err := c.Webhooks.Create(ctx, &client.CreateWebhookRequest{ClinicID: env.ClinicID, WebhookURL: rs.URL + "/novamed"})
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Hour
	r1, err := c.Webhooks.Rotate(ctx, wh.ID, &client.RotateWebhookRequest{Overlap: &hour})
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID != wh.ID || r1.SigningSecret == wh.SigningSecret || r1.VerificationToken == wh.VerificationToken || r1.OverlapUntil == nil ||
		r1.OverlapUntil.Before(time.Now().Add(59*time.Minute)) || r1.OverlapUntil.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("rotation = %+v", r1)
	}
	if _, err := c.Webhooks.Test(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}
	d := next(t, got, webhook.EventTest)
	for _, s := range []string{wh.SigningSecret, r1.SigningSecret} {
		if _, err := webhook.VerifyAndParse(s, d.header, d.body, time.Minute); err != nil {
			t.Errorf("during the overlap: %v", err)
		}
	}
	if !webhook.VerifyToken(d.header, wh.VerificationToken) || webhook.VerifyToken(d.header, r1.VerificationToken) {
		t.Errorf("during the overlap x-api-key is not the old token")
	}
	zero := time.Duration(0)
	r2, err := c.Webhooks.Rotate(ctx, wh.ID, &client.RotateWebhookRequest{Overlap: &zero})
	if err != nil || r2.OverlapUntil != nil {
		t.Fatalf("rotation without overlap = %+v, %v", r2, err)
	}
	if _, err := c.Webhooks.Test(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}
	d = next(t, got, webhook.EventTest)
	if _, err := webhook.VerifyAndParse(r2.SigningSecret, d.header, d.body, time.Minute); err != nil || !webhook.VerifyToken(d.header, r2.VerificationToken) {
		t.Errorf("after a rotation without overlap: %v, token %v", err, webhook.VerifyToken(d.header, r2.VerificationToken))
	}
	for _, s := range []string{wh.SigningSecret, r1.SigningSecret} {
		if _, err := webhook.VerifyAndParse(s, d.header, d.body, time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("an old secret still verifies: %v", err)
		}
	}
	if _, err := c.Webhooks.Rotate(ctx, wh.ID, nil); err != nil { // the default overlap
		t.Fatal(err)
	}
}
