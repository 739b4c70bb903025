package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
)

// PharmacyStore is what the order, formulary and carrier pages need: the
// store the admin API and the CLI use, so the lifecycle rules stay in one
// place (novamed.MedicationOrder.Transition under the store's row lock).
type PharmacyStore interface {
	ListClinics(ctx context.Context) ([]*novamed.Clinic, error)
	ListMedicationOrders(ctx context.Context, f novamed.OrderFilter) ([]*novamed.MedicationOrder, string, error)
	GetMedicationOrder(ctx context.Context, id string, clinics []string) (*novamed.MedicationOrder, error)
	TransitionOrder(ctx context.Context, id, to string, shipment *novamed.Shipment) (*novamed.MedicationOrder, *novamed.Event, error)
	CancelShipment(ctx context.Context, id, reason string, eff novamed.Effects) (*novamed.MedicationOrder, *novamed.Event, error)
	ListCarriers(ctx context.Context) ([]novamed.Carrier, error)
	ListFormulary(ctx context.Context, clinicID string) ([]novamed.FormularyEntry, error)
	SetFormularyEntry(ctx context.Context, clinicID string, e novamed.FormularyEntry) error
	RemoveFormularyEntry(ctx context.Context, clinicID, name string) error
}

// orderStatuses are the statuses the order search offers.
var orderStatuses = append(slices.Clone(novamed.OrderLifecycle), novamed.OrderCancelled)

type ordersData struct {
	Query, Status, Clinic string
	Statuses              []string
	Clinics               []*novamed.Clinic
	ClinicNames           map[string]string
	Items                 []*novamed.MedicationOrder
	First, Next           string
	Errors                map[string]string
}

// clinics returns every clinic (an operator's scope) and their names.
func (c *Console) clinics(ctx context.Context) ([]*novamed.Clinic, []string, map[string]string, error) {
	cs, err := c.cfg.Store.ListClinics(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ids := make([]string, len(cs))
	names := make(map[string]string, len(cs))
	for i, cl := range cs {
		ids[i], names[cl.ID] = cl.ID, cl.Name
	}
	return cs, ids, names, nil
}

// orders searches orders by id, status and clinic, newest first, a page at
// a time. The list is a PHI view (order ids of patients' prescriptions):
// it is audited with the ids it shows before it is shown.
func (c *Console) orders(q *req) error {
	ctx := q.r.Context()
	qs := q.r.URL.Query()
	d := &ordersData{Query: strings.TrimSpace(qs.Get("q")), Status: qs.Get("status"), Clinic: strings.ToLower(strings.TrimSpace(qs.Get("clinic"))),
		Statuses: orderStatuses, Errors: map[string]string{}}
	cs, all, names, err := c.clinics(ctx)
	if err != nil {
		return err
	}
	d.Clinics, d.ClinicNames = cs, names
	if d.Status != "" && !slices.Contains(orderStatuses, d.Status) {
		d.Errors["status"] = "Choose a status from the list."
	}
	if d.Clinic != "" && names[d.Clinic] == "" {
		d.Errors["clinic"] = "No clinic has that id."
	}
	if d.Query != "" && !novamed.IsUUID(d.Query) {
		d.Errors["q"] = "An order id looks like 0192f0c8-6b1e-7c4a-9d2e-5f8a1b2c3d4e."
	}
	if len(d.Errors) > 0 {
		c.render(q.w, q.r, http.StatusUnprocessableEntity, "orders", c.newView(q.r, q.s, "Orders", d))
		return nil
	}
	if d.Query != "" {
		// An id goes straight to the order (its page audits the read).
		o, err := c.cfg.Store.GetMedicationOrder(ctx, strings.ToLower(d.Query), all)
		if novamed.ErrorCode(err) == novamed.CodeNotFound {
			d.Errors["q"] = "No order has that id."
			c.render(q.w, q.r, http.StatusNotFound, "orders", c.newView(q.r, q.s, "Orders", d))
			return nil
		}
		if err != nil {
			return err
		}
		c.redirect(q.w, q.r, Prefix+"/orders/"+o.ID)
		return nil
	}
	scope := all
	if d.Clinic != "" {
		scope = []string{d.Clinic}
	}
	cursor := qs.Get("cursor")
	if len(scope) > 0 {
		f := novamed.OrderFilter{ListFilter: novamed.ListFilter{Clinics: scope, Limit: pageSize, Cursor: cursor}, Status: d.Status}
		d.Items, d.Next, err = c.cfg.Store.ListMedicationOrders(ctx, f)
		if novamed.ErrorCode(err) == novamed.CodeInvalid {
			// A cursor that is not one of ours: start again.
			d.Items, d.Next, err = c.cfg.Store.ListMedicationOrders(ctx, novamed.OrderFilter{ListFilter: novamed.ListFilter{Clinics: scope, Limit: pageSize}, Status: d.Status})
			cursor = ""
		}
		if err != nil {
			return err
		}
	}
	page := func(cur string) string {
		v := url.Values{}
		if d.Status != "" {
			v.Set("status", d.Status)
		}
		if d.Clinic != "" {
			v.Set("clinic", d.Clinic)
		}
		if cur != "" {
			v.Set("cursor", cur)
		}
		if len(v) == 0 {
			return Prefix + "/orders"
		}
		return Prefix + "/orders?" + v.Encode()
	}
	if d.Next != "" {
		d.Next = page(d.Next)
	}
	if cursor != "" {
		d.First = page("")
	}
	ids := make([]string, len(d.Items))
	for i, o := range d.Items {
		ids[i] = o.ID
	}
	if err := c.audit(ctx, q, "medication_order.list", "medication_order", d.Clinic, http.StatusOK, ids...); err != nil {
		return err
	}
	c.render(q.w, q.r, http.StatusOK, "orders", c.newView(q.r, q.s, "Orders", d))
	return nil
}

// orderData is the order page: the order, its clinic, and the lifecycle
// actions the operator's role allows in its status.
type orderData struct {
	Order             *novamed.MedicationOrder
	ClinicName        string
	Next              string // the next lifecycle status ("" when none)
	CanAct            bool   // the role has the orders capability
	CanCancel         bool
	CanCancelShipment bool
	Carriers          []novamed.Carrier
	Form              map[string]string
	Errors            map[string]string
}

// loadOrder reads an order of any clinic and audits the read (a PHI view:
// the page is not shown unless its record is written).
func (c *Console) loadOrder(q *req, id string) (*orderData, error) {
	ctx := q.r.Context()
	id = strings.ToLower(id)
	_, all, names, err := c.clinics(ctx)
	if err != nil {
		return nil, err
	}
	o, err := c.cfg.Store.GetMedicationOrder(ctx, id, all)
	status, clinic := http.StatusOK, ""
	if err != nil {
		status = statusOf(novamed.ErrorCode(err))
	} else {
		clinic = o.ClinicID
	}
	if aerr := c.audit(ctx, q, "medication_order.read", "medication_order", clinic, status, id); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	d := &orderData{Order: o, ClinicName: names[o.ClinicID], Next: novamed.NextStatus(o.Status),
		CanAct:    c.cfg.Accounts.Can(q.s.op.Role, CapOrders),
		CanCancel: novamed.CanTransition(o.Status, novamed.OrderCancelled), CanCancelShipment: o.Status == novamed.OrderShipped,
		Form: map[string]string{}, Errors: map[string]string{}}
	if d.Next == novamed.OrderShipped {
		if d.Carriers, err = c.cfg.Store.ListCarriers(ctx); err != nil {
			return nil, err
		}
	}
	return d, nil
}

var orderNotices = map[string]string{
	"cancelled": "Order cancelled: the partner is sent medication_order:cancelled.",
	"shipment":  "Shipment cancelled: the order is filled again and the partner is sent shipment:cancelled.",
}

// shown is field when the page shows that field's form, else "to": the
// message above the lifecycle actions (a stale page's form).
func (d *orderData) shown(field string) string {
	switch field {
	case "tracking_number", "carrier", "label_url":
		if d.Next == novamed.OrderShipped {
			return field
		}
	case "reason":
		if d.CanCancelShipment {
			return field
		}
	case "cancel":
		if d.CanCancel {
			return field
		}
	}
	return "to"
}

func (c *Console) order(q *req) error {
	d, err := c.loadOrder(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	c.showOrder(q, d, http.StatusOK)
	return nil
}

func (c *Console) showOrder(q *req, d *orderData, status int) {
	v := c.newView(q.r, q.s, "Order "+shortID(d.Order.ID), d)
	done := q.r.URL.Query().Get("done")
	if n, ok := orderNotices[done]; ok {
		v.Notice = n
	} else if slices.Contains(novamed.OrderLifecycle, done) {
		v.Notice = "Order moved to " + done + "."
	}
	c.render(q.w, q.r, status, "order", v)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// orderAction runs one lifecycle action, audits it as the operator with its
// outcome, and either goes back to the order page with a notice or shows
// the page again with the error beside the field it concerns.
func (c *Console) orderAction(q *req, action string, done func(*novamed.MedicationOrder) string, fields []string, act func(id string) (*novamed.MedicationOrder, bool, error)) error {
	ctx := q.r.Context()
	id := strings.ToLower(q.r.PathValue("id"))
	o, recorded, err := act(id)
	if !recorded {
		status, clinic := http.StatusOK, ""
		if err != nil {
			status = statusOf(novamed.ErrorCode(err))
		} else {
			clinic = o.ClinicID
		}
		if aerr := c.audit(ctx, q, action, "medication_order", clinic, status, id); aerr != nil {
			return aerr
		}
	}
	if msg, ok := invalid(err); ok {
		d, lerr := c.loadOrder(q, id)
		if lerr != nil {
			return lerr
		}
		d.Errors[d.shown(refill(q.r, d.Form, fields, msg))] = msg
		c.showOrder(q, d, statusOf(novamed.ErrorCode(err)))
		return nil
	}
	if err != nil {
		return err
	}
	c.redirect(q.w, q.r, Prefix+"/orders/"+o.ID+"?done="+url.QueryEscape(done(o)))
	return nil
}

// advanceOrder moves an order one step on (the store refuses anything but
// the next step; shipping needs a tracking number).
func (c *Console) advanceOrder(q *req) error {
	f := func(k string) string { return strings.TrimSpace(q.r.PostFormValue(k)) }
	to := f("to")
	return c.orderAction(q, "medication_order.advance", func(o *novamed.MedicationOrder) string { return o.Status },
		[]string{"to", "tracking_number", "carrier", "label_url"}, func(id string) (*novamed.MedicationOrder, bool, error) {
			if to == "" {
				return nil, false, novamed.Errorf(novamed.CodeInvalid, "Choose the status to move the order to.")
			}
			var shipment *novamed.Shipment
			if to == novamed.OrderShipped {
				if l := f("label_url"); l != "" {
					if u, err := url.Parse(l); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
						return nil, false, novamed.Errorf(novamed.CodeInvalid, "The label URL must be an http or https address.")
					}
				}
				shipment = &novamed.Shipment{TrackingNumber: f("tracking_number"), Provider: f("carrier"), LabelURL: f("label_url")}
				if shipment.TrackingNumber == "" {
					return nil, false, novamed.Errorf(novamed.CodeInvalid, "Shipping an order needs a tracking number.")
				}
			}
			o, _, err := c.cfg.Store.TransitionOrder(q.r.Context(), id, to, shipment)
			return o, false, err
		})
}

// cancelOrder cancels an order that has not shipped (after the page's
// confirmation).
func (c *Console) cancelOrder(q *req) error {
	return c.orderAction(q, "medication_order.cancel", func(*novamed.MedicationOrder) string { return "cancelled" },
		[]string{"cancel"}, func(id string) (*novamed.MedicationOrder, bool, error) {
			o, _, err := c.cfg.Store.TransitionOrder(q.r.Context(), id, novamed.OrderCancelled, nil)
			return o, false, err
		})
}

// cancelShipment cancels a shipped order's shipment with a reason the
// partner is sent; the audit record is written in the store's
// transaction, as the admin API's.
func (c *Console) cancelShipment(q *req) error {
	return c.orderAction(q, "medication_order.cancel_shipment", func(*novamed.MedicationOrder) string { return "shipment" },
		[]string{"reason"}, func(id string) (*novamed.MedicationOrder, bool, error) {
			reason, err := novamed.CheckShipmentReason(q.r.PostFormValue("reason"))
			if err != nil {
				return nil, false, err
			}
			rec := c.auditRecord(q, "medication_order.cancel_shipment", "medication_order", "", http.StatusOK, id)
			if c.cfg.Audit == nil {
				rec = nil
			}
			o, _, err := c.cfg.Store.CancelShipment(q.r.Context(), id, reason, novamed.Effects{Audit: rec})
			return o, err == nil && rec != nil, err
		})
}
