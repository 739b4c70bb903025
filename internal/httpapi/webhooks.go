package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/webhook"
)

type webhookJSON struct {
	WebhookID string `json:"webhook_id"`
	*novamed.Webhook
	Secret string `json:"secret,omitempty"` // only in the create answer
}

func newSecret() string {
	var b [32]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	in, err := readInput(r)
	if err != nil {
		return err
	}
	clinic, err := clinicOf(in, st.key)
	if err != nil {
		return err
	}
	st.clinicID = clinic
	raw := in.String(2048, false, "webhook_url", "url")
	if raw == "" && !in.Has("webhook_url", "url") {
		in.Add("webhook_url", "webhook_url is required.")
	}
	if err := in.Err(); err != nil {
		return err
	}
	u, perr := s.webhookPolicy.CheckURL(r.Context(), raw)
	if perr != nil {
		msg := "webhook_url is not allowed: " + strings.TrimPrefix(perr.Error(), webhook.ErrForbidden.Error()+": ") + "."
		return novamed.ValidationError([]novamed.FieldError{{Field: "webhook_url", Message: msg}})
	}
	wh := &novamed.Webhook{ID: newID(), ClinicID: clinic, URL: u.String(), Secret: newSecret(), CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	return s.create(w, r, []string{wh.ID}, webhookJSON{WebhookID: wh.ID, Webhook: wh, Secret: wh.Secret}, "Webhook created successfully",
		func(eff novamed.Effects) error { return s.store.CreateWebhook(r.Context(), wh, eff) })
}

// deleteWebhook accepts the three documented forms: /webhook/{id},
// ?id=, and a body {clinic_id, webhook_id}.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	id := r.PathValue("id")
	if id == "" {
		id = r.URL.Query().Get("id")
	}
	clinics := st.key.Clinics
	if id == "" {
		in, err := readInput(r)
		if err != nil {
			return err
		}
		id = in.String(64, false, "webhook_id", "id")
		if in.Has("clinic_id", "assigned_clinic") {
			clinic, err := clinicOf(in, st.key)
			if err != nil {
				return err
			}
			clinics, st.clinicID = []string{clinic}, clinic
		}
		if id == "" && !in.Has("webhook_id", "id") {
			in.Add("webhook_id", "webhook_id is required.")
		}
		if err := in.Err(); err != nil {
			return err
		}
	}
	if !novamed.IsUUID(id) {
		return novamed.NotFound("Webhook")
	}
	id = strings.ToLower(id)
	data := map[string]any{"webhook_id": id, "deleted": true}
	return s.create(w, r, []string{id}, data, "Webhook deleted successfully",
		func(eff novamed.Effects) error { return s.store.DeleteWebhook(r.Context(), id, clinics, eff) })
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	wh, err := s.scopedWebhook(r)
	if err != nil {
		return err
	}
	st.clinicID, st.resourceIDs = wh.ClinicID, []string{wh.ID}
	return s.ok(w, r, webhookJSON{WebhookID: wh.ID, Webhook: wh}, "")
}

func (s *Server) scopedWebhook(r *http.Request) (*novamed.Webhook, error) {
	id, err := pathID(r, "Webhook")
	if err != nil {
		return nil, err
	}
	return s.store.GetWebhook(r.Context(), id, stateOf(r).key.Clinics)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	return listed(s, w, r, func(f novamed.ListFilter) ([]*novamed.Webhook, string, error) {
		return s.store.ListWebhooks(r.Context(), f)
	}, func(wh *novamed.Webhook) (webhookJSON, string) {
		return webhookJSON{WebhookID: wh.ID, Webhook: wh}, wh.ID
	})
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	wh, err := s.scopedWebhook(r)
	if err != nil {
		return err
	}
	st.clinicID, st.resourceIDs = wh.ClinicID, []string{wh.ID}
	lf, err := listFilter(r, st.key)
	if err != nil {
		return err
	}
	if !slices.Contains(lf.Clinics, wh.ClinicID) { // a clinic_id filter naming another of the key's clinics
		return novamed.NotFound("Webhook")
	}
	f := novamed.DeliveryFilter{Clinics: []string{wh.ClinicID}, WebhookID: wh.ID, Limit: lf.Limit, Cursor: lf.Cursor}
	switch v := r.URL.Query().Get("status"); v {
	case "", novamed.DeliveryPending, novamed.DeliverySucceeded, novamed.DeliveryFailed:
		f.Status = v
	default:
		return novamed.ValidationError([]novamed.FieldError{{Field: "status", Message: "status must be one of: pending, succeeded, failed."}})
	}
	items, next, err := s.store.ListDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	return s.ok(w, r, page(items, next), "")
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	wh, err := s.scopedWebhook(r)
	if err != nil {
		return err
	}
	st.clinicID = wh.ClinicID
	did := strings.ToLower(r.PathValue("delivery_id"))
	if !novamed.IsUUID(did) {
		return novamed.NotFound("Delivery")
	}
	st.resourceIDs = []string{wh.ID, did}
	d, err := s.store.RetryDelivery(r.Context(), did, wh.ID, []string{wh.ClinicID})
	if err != nil {
		return err
	}
	return s.ok(w, r, d, "Delivery queued for another attempt")
}

func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	wh, err := s.scopedWebhook(r)
	if err != nil {
		return err
	}
	st.clinicID, st.resourceIDs = wh.ClinicID, []string{wh.ID}
	ev := &novamed.Event{ID: newID(), ClinicID: wh.ClinicID, Name: novamed.EventWebhookTest, CreatedAt: s.now().UTC().Truncate(time.Microsecond),
		Data: map[string]any{"webhook_id": wh.ID, "clinic_id": wh.ClinicID, "message": "This is a test event from NovaMed."}}
	d, err := s.store.SendTestEvent(r.Context(), wh.ID, ev)
	if err != nil {
		return err
	}
	return s.ok(w, r, map[string]any{"delivery_id": d.ID, "event_id": ev.ID, "event_name": ev.Name}, "Test event queued")
}
