package webhook_test

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/novamed/partner-api/client/webhook"
)

// A receiver verifies every delivery before trusting it, answers 2xx quickly,
// and de-duplicates by webhook-id (delivery is at least once).
func ExampleVerify() {
	secret := os.Getenv("NOVAMED_WEBHOOK_SECRET") // whsec_… shown once when the webhook was created
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
