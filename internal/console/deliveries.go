package console

import (
	"net/http"
	"net/url"

	"github.com/novamed/partner-api/internal/novamed"
)

type deliveriesData struct {
	Status   string
	Statuses []string
	Items    []*novamed.Delivery
	Next     string
	Cursor   string
}

var deliveryStatuses = []string{novamed.DeliveryFailed, novamed.DeliveryPending, novamed.DeliverySucceeded}

// deliveries lists webhook deliveries, failing ones first (the default
// filter), with every attempt's response code.
func (c *Console) deliveries(q *req) error {
	d := &deliveriesData{Status: q.r.URL.Query().Get("status"), Statuses: deliveryStatuses, Cursor: q.r.URL.Query().Get("cursor")}
	if d.Status == "" {
		d.Status = novamed.DeliveryFailed
	}
	f := novamed.DeliveryFilter{Limit: pageSize, Cursor: d.Cursor}
	if d.Status != "all" {
		f.Status = d.Status
	}
	var err error
	if d.Items, d.Next, err = c.cfg.Store.ListDeliveries(q.r.Context(), f); err != nil {
		return err
	}
	v := c.newView(q.r, q.s, "Webhook deliveries", d)
	if id := q.r.URL.Query().Get("retried"); id != "" {
		v.Notice = "Delivery " + id + " is queued for another attempt now."
	}
	c.render(q.w, q.r, http.StatusOK, "deliveries", v)
	return nil
}

// retryDelivery queues one more attempt now (as the admin API's retry),
// audited, and answers the delivery's updated row.
func (c *Console) retryDelivery(q *req) error {
	id := q.r.PathValue("id")
	// Staff may retry any clinic's delivery; the store scopes by clinic,
	// so the form names the delivery's.
	del, err := c.cfg.Store.RetryDelivery(q.r.Context(), id, "", []string{q.r.PostFormValue("clinic_id")})
	status := http.StatusOK
	if err != nil {
		status = statusOf(novamed.ErrorCode(err))
	}
	if aerr := c.audit(q.r.Context(), q, "webhook.delivery_retry", "delivery", clinicOf(del), status, id); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	c.redirect(q.w, q.r, Prefix+"/deliveries?status=all&retried="+url.QueryEscape(del.ID))
	return nil
}

func clinicOf(d *novamed.Delivery) string {
	if d == nil {
		return ""
	}
	return d.ClinicID
}
