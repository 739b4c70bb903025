package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"time"

	"github.com/novamed/partner-api/client/webhook"
)

// A receiver verifies every delivery before trusting it, answers 2xx quickly,
// and de-duplicates by webhook-id (delivery is at least once).
func ExampleVerify() {
	secret := os.Getenv("NOVAMED_WEBHOOK_SECRET") // the signing secret (whsec_…) shown once when the webhook was created
	seen := map[string]bool{}                     // use a database in production
	http.HandleFunc("/novamed/webhooks", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, 5*time.Minute); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(webhook.HeaderID)
		if seen[id] {
			w.WriteHeader(http.StatusOK) // a retry of something already handled
			return
		}
		var ev struct {
			Name string         `json:"event_name"`
			Data map[string]any `json:"event_data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		seen[id] = true
		log.Printf("event %s for order %v", ev.Name, ev.Data["id"])
		w.WriteHeader(http.StatusNoContent)
	})
}

// A receiver built on VerifyAndParse: verify, de-duplicate on the event's
// ID, then switch on the event name and read its typed data. Here it is fed
// one signed delivery, as NovaMed would send it.
func ExampleVerifyAndParse() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // SigningSecret from Webhooks.Create
	handled := map[string]bool{}                       // use your database
	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		ev, err := webhook.VerifyAndParse(secret, r.Header, body, 5*time.Minute)
		if err != nil {
			http.Error(w, "invalid delivery", http.StatusUnauthorized)
			return
		}
		if handled[ev.ID] {
			w.WriteHeader(http.StatusOK) // a retry of something already handled
			return
		}
		switch {
		case ev.IsOrderEvent():
			o, err := ev.Order()
			if err != nil {
				http.Error(w, "bad event", http.StatusBadRequest)
				return
			}
			fmt.Println(ev.Name, o.ID, o.Status, o.ShipmentProvider, o.TrackingURL)
		case ev.Name == webhook.EventPractitionerActivated:
			p, err := ev.PractitionerActivated()
			if err != nil {
				http.Error(w, "bad event", http.StatusBadRequest)
				return
			}
			fmt.Println(ev.Name, p.PractitionerName, p.PractitionerStatus)
		default:
			fmt.Println("ignored", ev.Name)
		}
		handled[ev.ID] = true
		w.WriteHeader(http.StatusNoContent)
	})

	// One delivery, signed as NovaMed signs it, sent twice (a retry).
	body := []byte(`{"event_name":"shipment:created","event_data":{"id":"01a21b0c-0000-7000-8000-000000000001",` +
		`"status":"shipped","shipment_provider":"FedEx","tracking_url":"https://www.fedex.com/fedextrack/?trknbr=7700112233"}}`)
	now := time.Now()
	sig, _ := webhook.Sign(secret, "delivery-1", now, body)
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/novamed/webhooks", bytes.NewReader(body))
		req.Header.Set(webhook.HeaderID, "delivery-1")
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhook.HeaderSignature, sig)
		rec := httptest.NewRecorder()
		receive.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// shipment:created 01a21b0c-0000-7000-8000-000000000001 shipped FedEx https://www.fedex.com/fedextrack/?trknbr=7700112233
	// 204
	// 200
}
