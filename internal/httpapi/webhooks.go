package httpapi

import (
	"bytes"
	"errors"
	"io"
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
	// Only in the creation and rotation answers, once.
	VerificationToken string     `json:"verification_token,omitempty"`
	SigningSecret     string     `json:"signing_secret,omitempty"`
	OverlapUntil      *time.Time `json:"overlap_until,omitempty"` // rotation: the previous secrets are used until then
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	in, err := readInput(r)
	if err != nil {
		return reply{}, err
	}
	clinic, err := clinicOf(in, st.key)
	if err != nil {
		return reply{}, err
	}
	f := touched(clinic)
	raw := in.String(2048, false, "webhook_url", "url")
	if raw == "" && !in.Has("webhook_url", "url") {
		in.Add("webhook_url", "webhook_url is required.")
	}
	if err := in.Err(); err != nil {
		return f.fail(err)
	}
	u, perr := s.webhookPolicy.CheckURL(r.Context(), raw)
	if perr != nil {
		msg := "webhook_url is not allowed: " + strings.TrimPrefix(perr.Error(), webhook.ErrForbidden.Error()+": ") + "."
		return f.fail(novamed.ValidationError([]novamed.FieldError{{Field: "webhook_url", Message: msg}}))
	}
	wh := &novamed.Webhook{ID: newID(), ClinicID: clinic, URL: u.String(), Secrets: novamed.NewWebhookSecrets(), CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	answer := webhookJSON{WebhookID: wh.ID, Webhook: wh, VerificationToken: wh.Secrets.VerificationToken, SigningSecret: wh.Secrets.SigningSecret}
	return s.create(w, r, st, touched(clinic, wh.ID), answer, "Webhook created successfully",
		func(eff novamed.Effects) error { return s.store.CreateWebhook(r.Context(), wh, eff) })
}

// rotateWebhook gives a webhook a new verification token and signing
// secret, keeping the old ones in use for the overlap ({"overlap":"24h"},
// the default; "0s" switches at once).
func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	wh, err := s.scopedWebhook(r, st)
	if err != nil {
		return reply{}, err
	}
	f := touched(wh.ClinicID, wh.ID)
	overlap, err := readOverlap(r)
	if err != nil {
		return touched(wh.ClinicID).fail(err)
	}
	fresh := novamed.NewWebhookSecrets()
	answer := webhookJSON{WebhookID: wh.ID, Webhook: wh, VerificationToken: fresh.VerificationToken, SigningSecret: fresh.SigningSecret}
	// The answer is built before the write (it is what an idempotent
	// replay returns), so the overlap's end is fixed here.
	until := s.now().Add(overlap).UTC().Truncate(time.Microsecond)
	if overlap > 0 {
		answer.OverlapUntil = &until
	}
	return s.create(w, r, st, f, answer, "Webhook secrets rotated",
		func(eff novamed.Effects) error {
			_, err := s.store.RotateWebhookSecrets(r.Context(), wh.ID, []string{wh.ClinicID}, fresh, until, eff)
			return err
		})
}

// readOverlap reads a rotation's optional body {"overlap": "24h"}.
func readOverlap(r *http.Request) (time.Duration, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return 0, errTooLarge
		}
		return 0, &novamed.Error{Code: novamed.CodeInvalidJSON, Message: "The request body could not be read."}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return novamed.DefaultWebhookOverlap, nil
	}
	in, err := novamed.DecodeInput(body)
	if err != nil {
		return 0, err
	}
	raw := in.String(32, false, "overlap")
	if err := in.Err(); err != nil {
		return 0, err
	}
	if !in.Has("overlap") {
		return novamed.DefaultWebhookOverlap, nil
	}
	d, perr := time.ParseDuration(raw)
	if perr != nil || d < 0 || d > novamed.MaxWebhookOverlap {
		return 0, novamed.ValidationError([]novamed.FieldError{{Field: "overlap", Message: "overlap must be a duration from 0s to 168h, such as 24h."}})
	}
	return d, nil
}

// deleteWebhook accepts the three documented forms: /webhook/{id},
// ?id=, and a body {clinic_id, webhook_id}. The webhook is looked up first,
// so that the audit record names its clinic whichever form was used.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	id := r.PathValue("id")
	if id == "" {
		id = r.URL.Query().Get("id")
	}
	clinics := st.key.Clinics
	var f facts
	if id == "" {
		in, err := readInput(r)
		if err != nil {
			return reply{}, err
		}
		id = in.String(64, false, "webhook_id", "id")
		if in.Has("clinic_id", "assigned_clinic") {
			clinic, err := clinicOf(in, st.key)
			if err != nil {
				return reply{}, err
			}
			clinics, f = []string{clinic}, touched(clinic)
		}
		if id == "" && !in.Has("webhook_id", "id") {
			in.Add("webhook_id", "webhook_id is required.")
		}
		if err := in.Err(); err != nil {
			return f.fail(err)
		}
	}
	if !novamed.IsUUID(id) {
		return f.fail(novamed.NotFound("Webhook"))
	}
	id = strings.ToLower(id)
	f.resourceIDs = []string{id}
	wh, err := s.store.GetWebhook(r.Context(), id, clinics)
	if err != nil {
		return f.fail(err)
	}
	f.clinicID = wh.ClinicID
	data := map[string]any{"webhook_id": id, "deleted": true}
	return s.create(w, r, st, f, data, "Webhook deleted successfully",
		func(eff novamed.Effects) error {
			return s.store.DeleteWebhook(r.Context(), id, []string{wh.ClinicID}, eff)
		})
}

func (s *Server) getWebhook(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	wh, err := s.scopedWebhook(r, st)
	if err != nil {
		return reply{}, err
	}
	return s.ok(touched(wh.ClinicID, wh.ID), webhookJSON{WebhookID: wh.ID, Webhook: wh}, "")
}

func (s *Server) scopedWebhook(r *http.Request, st *reqState) (*novamed.Webhook, error) {
	id, err := pathID(r, "Webhook")
	if err != nil {
		return nil, err
	}
	return s.store.GetWebhook(r.Context(), id, st.key.Clinics)
}

func (s *Server) listWebhooks(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return listed(s, st, r, func(f novamed.ListFilter) ([]*novamed.Webhook, string, error) {
		return s.store.ListWebhooks(r.Context(), f)
	}, func(wh *novamed.Webhook) (webhookJSON, string) {
		return webhookJSON{WebhookID: wh.ID, Webhook: wh}, wh.ID
	})
}

func (s *Server) listDeliveries(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	wh, err := s.scopedWebhook(r, st)
	if err != nil {
		return reply{}, err
	}
	f := touched(wh.ClinicID, wh.ID)
	lf, err := listFilter(r, st.key)
	if err != nil {
		return f.fail(err)
	}
	if !slices.Contains(lf.Clinics, wh.ClinicID) { // a clinic_id filter naming another of the key's clinics
		return f.fail(novamed.NotFound("Webhook"))
	}
	df := novamed.DeliveryFilter{Clinics: []string{wh.ClinicID}, WebhookID: wh.ID, Limit: lf.Limit, Cursor: lf.Cursor}
	switch v := r.URL.Query().Get("status"); v {
	case "", novamed.DeliveryPending, novamed.DeliverySucceeded, novamed.DeliveryFailed:
		df.Status = v
	default:
		return f.fail(novamed.ValidationError([]novamed.FieldError{{Field: "status", Message: "status must be one of: pending, succeeded, failed."}}))
	}
	items, next, err := s.store.ListDeliveries(r.Context(), df)
	if err != nil {
		return f.fail(err)
	}
	return s.ok(f, page(items, next), "")
}

func (s *Server) retryDelivery(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	wh, err := s.scopedWebhook(r, st)
	if err != nil {
		return reply{}, err
	}
	did := strings.ToLower(r.PathValue("delivery_id"))
	if !novamed.IsUUID(did) {
		return touched(wh.ClinicID).fail(novamed.NotFound("Delivery"))
	}
	f := touched(wh.ClinicID, wh.ID, did)
	d, err := s.store.RetryDelivery(r.Context(), did, wh.ID, []string{wh.ClinicID})
	if err != nil {
		return f.fail(err)
	}
	return s.ok(f, d, "Delivery queued for another attempt")
}

func (s *Server) testWebhook(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	wh, err := s.scopedWebhook(r, st)
	if err != nil {
		return reply{}, err
	}
	f := touched(wh.ClinicID, wh.ID)
	ev := &novamed.Event{ID: newID(), ClinicID: wh.ClinicID, Name: novamed.EventWebhookTest, CreatedAt: s.now().UTC().Truncate(time.Microsecond),
		Data: map[string]any{"webhook_id": wh.ID, "clinic_id": wh.ClinicID, "message": "This is a test event from NovaMed."}}
	d, err := s.store.SendTestEvent(r.Context(), wh.ID, ev)
	if err != nil {
		return f.fail(err)
	}
	return s.ok(f, map[string]any{"delivery_id": d.ID, "event_id": ev.ID, "event_name": ev.Name}, "Test event queued")
}
