package portal

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/partneruser"
)

// The partner's webhooks (issue 24, slice 4): endpoints per clinic,
// through the same store calls as the partner API's webhook routes, each
// scoped to the partner's clinics (another partner's webhook or delivery
// is the same not-found as one that does not exist).

type webhookRow struct {
	*novamed.Webhook
	ClinicName string
	Deliveries []*novamed.Delivery
}

type shownSecrets struct {
	Token, Secret, Note string
}

type webhooksData struct {
	Items   []webhookRow
	Clinics []*novamed.Clinic
	IsAdmin bool
	Form    struct{ Clinic, URL string }
	Errors  map[string]string
	Shown   *shownSecrets
}

// partnerClinicIDs are the ids of the partner's clinics.
func (p *Portal) partnerClinicIDs(ctx context.Context, q *req) ([]*novamed.Clinic, []string, error) {
	clinics, err := p.cfg.Store.ListPartnerClinics(ctx, q.partner.ID)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(clinics))
	for i, c := range clinics {
		ids[i] = c.ID
	}
	return clinics, ids, nil
}

func (p *Portal) webhooksView(q *req, d *webhooksData, status int, notice string) error {
	ctx := q.r.Context()
	clinics, ids, err := p.partnerClinicIDs(ctx, q)
	if err != nil {
		return err
	}
	d.Clinics, d.IsAdmin = clinics, q.u.Role == partneruser.Admin
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	if len(ids) > 0 {
		hooks, _, err := p.cfg.Webhooks.ListWebhooks(ctx, novamed.ListFilter{Clinics: ids, Limit: 100})
		if err != nil {
			return err
		}
		for _, wh := range hooks {
			ds, _, err := p.cfg.Webhooks.ListDeliveries(ctx, novamed.DeliveryFilter{Clinics: ids, WebhookID: wh.ID, Limit: 20})
			if err != nil {
				return err
			}
			row := webhookRow{Webhook: wh, Deliveries: ds}
			if i := slices.IndexFunc(clinics, func(c *novamed.Clinic) bool { return c.ID == wh.ClinicID }); i >= 0 {
				row.ClinicName = clinics[i].Name
			}
			d.Items = append(d.Items, row)
		}
	}
	v := p.newView(q.r, q, "Webhooks", d)
	v.Notice = notice
	p.render(q.w, q.r, status, "webhooks", v)
	return nil
}

func (p *Portal) webhooks(q *req) error { return p.webhooksView(q, &webhooksData{}, http.StatusOK, "") }

// partnerWebhook reads a webhook of the partner's clinics.
func (p *Portal) partnerWebhook(q *req) (*novamed.Webhook, []string, error) {
	id := strings.ToLower(q.r.PathValue("id"))
	if !novamed.IsUUID(id) {
		return nil, nil, errNotFound
	}
	_, ids, err := p.partnerClinicIDs(q.r.Context(), q)
	if err != nil {
		return nil, nil, err
	}
	wh, err := p.cfg.Webhooks.GetWebhook(q.r.Context(), id, ids)
	if isNotFound(err) {
		return nil, nil, errNotFound
	}
	return wh, ids, err
}

func isNotFound(err error) bool {
	var de *novamed.Error
	return errors.As(err, &de) && (de.Code == novamed.CodeNotFound || de.Code == novamed.CodeClinicNotFound)
}

func (p *Portal) record(q *req, action, clinic string, ids ...string) novamed.Effects {
	rec := partneruser.Record(p.actor(q), p.now().UTC(), action, "webhook", ids...)
	rec.ClinicID = clinic
	return novamed.Effects{Audit: rec}
}

// createWebhook registers an endpoint for one of the partner's clinics;
// its verification token and signing secret are shown once.
func (p *Portal) createWebhook(q *req) error {
	d := &webhooksData{Errors: map[string]string{}}
	d.Form.Clinic, d.Form.URL = strings.ToLower(q.r.PostFormValue("clinic")), strings.TrimSpace(q.r.PostFormValue("url"))
	_, ids, err := p.partnerClinicIDs(q.r.Context(), q)
	if err != nil {
		return err
	}
	if !slices.Contains(ids, d.Form.Clinic) {
		d.Errors["clinic"] = "Choose one of your clinics."
	}
	u, uerr := p.cfg.WebhookURL(q.r.Context(), d.Form.URL)
	if uerr != nil {
		d.Errors["url"] = "This URL is not allowed: " + uerr.Error() + "."
	}
	if len(d.Errors) > 0 {
		return p.webhooksView(q, d, http.StatusUnprocessableEntity, "")
	}
	wh := &novamed.Webhook{ID: uuid.NewString(), ClinicID: d.Form.Clinic, URL: u, Secrets: novamed.NewWebhookSecrets(), CreatedAt: p.now().UTC().Truncate(time.Microsecond)}
	if err := p.cfg.Webhooks.CreateWebhook(q.r.Context(), wh, p.record(q, "webhook.create", wh.ClinicID, wh.ID)); err != nil {
		var de *novamed.Error
		if errors.As(err, &de) && de.Code == novamed.CodeLimitReached {
			d.Errors["url"] = de.Message
			return p.webhooksView(q, d, http.StatusUnprocessableEntity, "")
		}
		return err
	}
	d.Form.Clinic, d.Form.URL = "", ""
	d.Shown = &shownSecrets{Token: wh.Secrets.VerificationToken, Secret: wh.Secrets.SigningSecret}
	return p.webhooksView(q, d, http.StatusOK, "Webhook added.")
}

func (p *Portal) deleteWebhook(q *req) error {
	wh, _, err := p.partnerWebhook(q)
	if err != nil {
		return err
	}
	if err := p.cfg.Webhooks.DeleteWebhook(q.r.Context(), wh.ID, []string{wh.ClinicID}, p.record(q, "webhook.delete", wh.ClinicID, wh.ID)); err != nil {
		return err
	}
	return p.webhooksView(q, &webhooksData{}, http.StatusOK, "Webhook deleted.")
}

// testWebhook queues a webhook:test event for one endpoint.
func (p *Portal) testWebhook(q *req) error {
	wh, _, err := p.partnerWebhook(q)
	if err != nil {
		return err
	}
	ev := &novamed.Event{ID: uuid.NewString(), ClinicID: wh.ClinicID, Name: novamed.EventWebhookTest, CreatedAt: p.now().UTC().Truncate(time.Microsecond),
		Data: map[string]any{"webhook_id": wh.ID, "clinic_id": wh.ClinicID, "message": "This is a test event from NovaMed."}}
	d, err := p.cfg.Webhooks.SendTestEvent(q.r.Context(), wh.ID, ev)
	if err != nil {
		return err
	}
	if err := p.audit(q.r.Context(), q.r, q.u.Actor(), "webhook.test", "webhook", wh.ClinicID, "", http.StatusOK, wh.ID, d.ID); err != nil {
		return err
	}
	return p.webhooksView(q, &webhooksData{}, http.StatusOK, "Test event queued.")
}

// rotateWebhook gives an endpoint a new token and secret; the previous
// ones stay in use for the overlap chosen.
func (p *Portal) rotateWebhook(q *req) error {
	wh, _, err := p.partnerWebhook(q)
	if err != nil {
		return err
	}
	overlap, perr := time.ParseDuration(q.r.PostFormValue("overlap"))
	if perr != nil || overlap < 0 || overlap > novamed.MaxWebhookOverlap {
		return p.webhooksView(q, &webhooksData{Errors: map[string]string{"overlap": "Choose an overlap from 0s to 168h."}}, http.StatusUnprocessableEntity, "")
	}
	fresh := novamed.NewWebhookSecrets()
	until := p.now().Add(overlap).UTC().Truncate(time.Microsecond)
	if _, err := p.cfg.Webhooks.RotateWebhookSecrets(q.r.Context(), wh.ID, []string{wh.ClinicID}, fresh, until, p.record(q, "webhook.rotate", wh.ClinicID, wh.ID)); err != nil {
		return err
	}
	note := "The previous token and secret stop now."
	if overlap > 0 {
		note = "The previous token and secret stay in use until " + until.Format("2006-01-02 15:04:05 UTC") + "."
	}
	return p.webhooksView(q, &webhooksData{Shown: &shownSecrets{Token: fresh.VerificationToken, Secret: fresh.SigningSecret, Note: note}}, http.StatusOK, "Secrets rotated.")
}

// replayDelivery queues one more attempt of a delivery.
func (p *Portal) replayDelivery(q *req) error {
	wh, _, err := p.partnerWebhook(q)
	if err != nil {
		return err
	}
	did := strings.ToLower(q.r.PathValue("delivery"))
	if !novamed.IsUUID(did) {
		return errNotFound
	}
	d, err := p.cfg.Webhooks.RetryDelivery(q.r.Context(), did, wh.ID, []string{wh.ClinicID})
	if isNotFound(err) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if err := p.audit(q.r.Context(), q.r, q.u.Actor(), "webhook.delivery_retry", "delivery", wh.ClinicID, "", http.StatusOK, wh.ID, d.ID); err != nil {
		return err
	}
	return p.webhooksView(q, &webhooksData{}, http.StatusOK, "Delivery queued for another attempt.")
}
