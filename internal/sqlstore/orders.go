package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

const orderColumns = `id, clinic_id, patient_id, practitioner_id, status, carrier_id, service_id, delivery_speed,
	shipping_cost_cents, is_refrigerated, shipment_group_id, refill_request_id, details, created_at, updated_at`

// orderDetails is the sealed part of an order: what a refill named for it.
type orderDetails struct {
	ShippingAddress *novamed.Address `json:"shipping_address,omitempty"`
	PaymentMethodID string           `json:"payment_method_id,omitempty"`
}

// itemDetails is the sealed prescription of a medication request.
type itemDetails struct {
	Medication                            string `json:"medication"`
	Dose                                  string `json:"dose"`
	UnitOfMeasure                         string `json:"unit_of_measure"`
	Quantity                              string `json:"quantity"`
	Direction                             string `json:"direction"`
	DaysSupply                            int    `json:"days_supply,omitempty"`
	Flavor                                string `json:"flavor,omitempty"`
	Notes                                 string `json:"notes,omitempty"`
	DoNotFill                             bool   `json:"do_not_fill"`
	PatientContactRequested               bool   `json:"patient_contact_requested"`
	ReasonForCompounding                  string `json:"reason_for_compounding,omitempty"`
	ReasonForCompoundingAdditionalContext string `json:"reason_for_compounding_additional_context,omitempty"`
}

// CreateMedicationOrder stores an order and its items with its effects.
// Patient and practitioner must belong to the order's clinic.
func (s *Store) CreateMedicationOrder(ctx context.Context, o *novamed.MedicationOrder, eff novamed.Effects) error {
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		if err := s.insertOrder(ctx, tx, o); err != nil {
			return err
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
}

func (s *Store) insertOrder(ctx context.Context, tx *txn, o *novamed.MedicationOrder) error {
	for _, chk := range []struct{ table, id, what string }{{"patients", o.PatientID, "Patient"}, {"practitioners", o.PractitionerID, "Practitioner"}} {
		var one int
		err := tx.queryRow(ctx, `SELECT 1 FROM `+chk.table+` WHERE id = ? AND clinic_id = ?`, chk.id, o.ClinicID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound(chk.what)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: check %s: %w", chk.table, err)
		}
	}
	details := ""
	if o.ShippingAddress != nil || o.PaymentMethodID != "" {
		z := s.sealer("medication_orders", o.ID)
		details = z.json("details", orderDetails{ShippingAddress: o.ShippingAddress, PaymentMethodID: o.PaymentMethodID})
		if z.err != nil {
			return z.err
		}
	}
	_, err := tx.exec(ctx, `INSERT INTO medication_orders (`+orderColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.ClinicID, o.PatientID, o.PractitionerID, o.Status, o.CarrierID, o.ServiceID, o.DeliverySpeed,
		int64(math.Round(o.ShippingCost*100)), boolInt(o.IsRefrigerated), o.ShipmentGroupID, o.RefillRequestID,
		details, micros(o.CreatedAt), micros(o.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert order: %w", err)
	}
	if len(o.Shipments) == 0 && o.Shipment != nil {
		o.Shipments = []*novamed.Shipment{o.Shipment}
	}
	if err := s.saveShipments(ctx, tx, o); err != nil {
		return err
	}
	for i, it := range o.Items {
		if it.RootID == "" {
			it.RootID = it.ID
		}
		it.OrderID = o.ID
		z := s.sealer("medication_requests", it.ID)
		details := z.json("details", itemDetails{
			Medication: it.Medication, Dose: it.Dose, UnitOfMeasure: it.UnitOfMeasure, Quantity: it.Quantity,
			Direction: it.Direction, DaysSupply: it.DaysSupply, Flavor: it.Flavor, Notes: it.Notes, DoNotFill: it.DoNotFill,
			PatientContactRequested: it.PatientContactRequested, ReasonForCompounding: it.ReasonForCompounding,
			ReasonForCompoundingAdditionalContext: it.ReasonForCompoundingAdditionalContext,
		})
		if z.err != nil {
			return z.err
		}
		if _, err := tx.exec(ctx, `INSERT INTO medication_requests (id, order_id, clinic_id, position, root_id,
			refills_authorized, refills_remaining, do_not_refill, rx_number, issue_date, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			it.ID, o.ID, o.ClinicID, i, it.RootID, it.RefillsAuthorized, it.RefillsRemaining, boolInt(it.DoNotRefill),
			it.RxNumber, it.IssueDate, details); err != nil {
			return fmt.Errorf("sqlstore: insert medication request: %w", err)
		}
	}
	return nil
}

// scanOrder reads an order row; its items and shipments are loaded apart.
func (s *Store) scanOrder(r rowScanner) (*novamed.MedicationOrder, error) {
	var o novamed.MedicationOrder
	var cents int64
	var refrigerated int
	var details string
	var created, updated int64
	if err := r.Scan(&o.ID, &o.ClinicID, &o.PatientID, &o.PractitionerID, &o.Status, &o.CarrierID, &o.ServiceID,
		&o.DeliverySpeed, &cents, &refrigerated, &o.ShipmentGroupID, &o.RefillRequestID, &details, &created, &updated); err != nil {
		return nil, err
	}
	o.ShippingCost, o.IsRefrigerated = float64(cents)/100, refrigerated == 1
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	var d orderDetails
	op := s.opener("medication_orders", o.ID)
	op.json("details", details, &d)
	if op.err != nil {
		return nil, op.err
	}
	o.ShippingAddress, o.PaymentMethodID = d.ShippingAddress, d.PaymentMethodID
	return &o, nil
}

// shipmentRowID is the id of an order's shipment row at position i.
func shipmentRowID(orderID string, i int) string { return orderID + "/" + strconv.Itoa(i) }

// saveShipments writes every shipment of o (new ones inserted, changed ones
// updated), in o.Shipments order.
func (s *Store) saveShipments(ctx context.Context, tx *txn, o *novamed.MedicationOrder) error {
	for i, sh := range o.Shipments {
		if sh.Status == "" {
			sh.Status = novamed.ShipmentActive
		}
		plain := *sh
		// The reason is sealed in its own column; status and cancellation
		// time have columns of their own too.
		plain.Status, plain.CancelledAt, plain.CancelReason = "", nil, ""
		data, err := json.Marshal(plain)
		if err != nil {
			return err
		}
		id := shipmentRowID(o.ID, i)
		z := s.sealer("shipments", id)
		reason := z.str("cancel_reason", sh.CancelReason)
		if z.err != nil {
			return z.err
		}
		var cancelled any
		if sh.CancelledAt != nil {
			cancelled = micros(*sh.CancelledAt)
		}
		if _, err := tx.exec(ctx, `INSERT INTO shipments (id, order_id, clinic_id, position, status, data, cancel_reason, cancelled_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data,
			cancel_reason = excluded.cancel_reason, cancelled_at = excluded.cancelled_at`,
			id, o.ID, o.ClinicID, i, sh.Status, string(data), reason, cancelled); err != nil {
			return fmt.Errorf("sqlstore: save shipment: %w", err)
		}
	}
	return nil
}

// loadShipments fills the shipments of orders (one query) and points each
// order's Shipment at its active one.
func (s *Store) loadShipments(ctx context.Context, q querier, orders ...*novamed.MedicationOrder) error {
	if len(orders) == 0 {
		return nil
	}
	byID := make(map[string]*novamed.MedicationOrder, len(orders))
	ids := make([]any, 0, len(orders))
	for _, o := range orders {
		o.Shipment, o.Shipments = nil, []*novamed.Shipment{}
		byID[o.ID] = o
		ids = append(ids, o.ID)
	}
	rows, err := q.query(ctx, `SELECT id, order_id, status, data, cancel_reason, cancelled_at FROM shipments
		WHERE order_id IN (`+placeholders(len(ids))+`) ORDER BY order_id, position`, ids...)
	if err != nil {
		return fmt.Errorf("sqlstore: shipments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, orderID, status, data, reason string
		var cancelled sql.NullInt64
		if err := rows.Scan(&id, &orderID, &status, &data, &reason, &cancelled); err != nil {
			return fmt.Errorf("sqlstore: shipments: %w", err)
		}
		var sh novamed.Shipment
		if err := json.Unmarshal([]byte(data), &sh); err != nil {
			return fmt.Errorf("sqlstore: shipment %s: %w", id, err)
		}
		op := s.opener("shipments", id)
		sh.Status, sh.CancelReason, sh.CancelledAt = status, op.str("cancel_reason", reason), nil
		if op.err != nil {
			return op.err
		}
		if cancelled.Valid {
			t := fromMicros(cancelled.Int64)
			sh.CancelledAt = &t
		}
		o := byID[orderID]
		o.Shipments = append(o.Shipments, &sh)
		if status == novamed.ShipmentActive {
			o.Shipment = &sh
		}
	}
	return rows.Err()
}

// loadOrders fills the items and shipments of orders.
func (s *Store) loadOrders(ctx context.Context, q querier, orders ...*novamed.MedicationOrder) error {
	if err := s.loadItems(ctx, q, orders...); err != nil {
		return err
	}
	return s.loadShipments(ctx, q, orders...)
}

const itemColumns = `id, order_id, root_id, refills_authorized, refills_remaining, do_not_refill, rx_number, issue_date, details`

func (s *Store) scanItem(r rowScanner) (*novamed.MedicationRequest, error) {
	var it novamed.MedicationRequest
	var dnr int
	var details string
	if err := r.Scan(&it.ID, &it.OrderID, &it.RootID, &it.RefillsAuthorized, &it.RefillsRemaining, &dnr, &it.RxNumber, &it.IssueDate, &details); err != nil {
		return nil, err
	}
	it.DoNotRefill = dnr == 1
	var d itemDetails
	o := s.opener("medication_requests", it.ID)
	o.json("details", details, &d)
	if o.err != nil {
		return nil, o.err
	}
	it.Medication, it.Dose, it.UnitOfMeasure, it.Quantity, it.Direction = d.Medication, d.Dose, d.UnitOfMeasure, d.Quantity, d.Direction
	it.DaysSupply, it.Flavor, it.Notes, it.DoNotFill = d.DaysSupply, d.Flavor, d.Notes, d.DoNotFill
	it.PatientContactRequested, it.ReasonForCompounding = d.PatientContactRequested, d.ReasonForCompounding
	it.ReasonForCompoundingAdditionalContext = d.ReasonForCompoundingAdditionalContext
	return &it, nil
}

// loadItems fills the items of orders with one query for all of them (a
// list of 25 orders made 25 queries, each parsed anew: most of a list's
// time in the pure-Go SQLite).
func (s *Store) loadItems(ctx context.Context, q querier, orders ...*novamed.MedicationOrder) error {
	if len(orders) == 0 {
		return nil
	}
	byID := make(map[string]*novamed.MedicationOrder, len(orders))
	ids := make([]any, 0, len(orders))
	for _, o := range orders {
		o.Items = []*novamed.MedicationRequest{}
		byID[o.ID] = o
		ids = append(ids, o.ID)
	}
	rows, err := q.query(ctx, `SELECT `+itemColumns+` FROM medication_requests WHERE order_id IN (`+placeholders(len(ids))+`) ORDER BY order_id, position`, ids...)
	if err != nil {
		return fmt.Errorf("sqlstore: items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		it, err := s.scanItem(rows)
		if err != nil {
			return err
		}
		if o := byID[it.OrderID]; o != nil {
			o.Items = append(o.Items, it)
		}
	}
	return rows.Err()
}

// GetMedicationOrder returns an order of one of clinics.
func (s *Store) GetMedicationOrder(ctx context.Context, id string, clinics []string) (*novamed.MedicationOrder, error) {
	o, ok, err := getScoped(ctx, s, "medication_orders", orderColumns, id, clinics, s.scanOrder)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, novamed.NotFound("Medication order")
	}
	return o, s.loadOrders(ctx, s.read, o)
}

// ListMedicationOrders returns a page of orders, newest first.
func (s *Store) ListMedicationOrders(ctx context.Context, f novamed.OrderFilter) ([]*novamed.MedicationOrder, string, error) {
	var extra string
	var args []any
	if f.PatientID != "" {
		extra += ` AND patient_id = ?`
		args = append(args, f.PatientID)
	}
	if f.Status != "" {
		extra += ` AND status = ?`
		args = append(args, f.Status)
	}
	items, next, err := listPageWhere(ctx, s, "medication_orders", orderColumns, f.ListFilter, extra, args, s.scanOrder,
		func(o *novamed.MedicationOrder) string { return o.ID })
	if err != nil {
		return nil, "", err
	}
	return items, next, s.loadOrders(ctx, s.read, items...)
}

// lockOrder reads an order for update inside tx.
func (s *Store) lockOrder(ctx context.Context, tx *txn, id string) (*novamed.MedicationOrder, error) {
	o, err := s.scanOrder(tx.queryRow(ctx, `SELECT `+orderColumns+` FROM medication_orders WHERE id = ?`+s.syntax.forUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Medication order")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: lock order: %w", err)
	}
	return o, s.loadOrders(ctx, tx, o)
}

// TransitionOrder applies one lifecycle step under a row lock and records its event.
func (s *Store) TransitionOrder(ctx context.Context, id, to string, shipment *novamed.Shipment) (*novamed.MedicationOrder, *novamed.Event, error) {
	var out *novamed.MedicationOrder
	var ev *novamed.Event
	err := s.inTx(ctx, func(tx *txn) error {
		o, err := s.lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		from := o.Status
		now := s.now().UTC().Truncate(time.Microsecond)
		if shipment != nil && (shipment.Provider == "" || shipment.TrackingURL == "") {
			sh := *shipment
			if err := s.completeShipment(ctx, tx, o.CarrierID, &sh); err != nil {
				return err
			}
			shipment = &sh
		}
		ev, err = o.Transition(to, now, shipment, func() (string, error) { return s.nextRxNumber(ctx, tx) })
		if err != nil {
			return err
		}
		if err := s.updateOrderState(ctx, tx, o, from); err != nil {
			return err
		}
		for _, it := range o.Items {
			if _, err := tx.exec(ctx, `UPDATE medication_requests SET rx_number = ? WHERE id = ?`, it.RxNumber, it.ID); err != nil {
				return fmt.Errorf("sqlstore: rx number: %w", err)
			}
		}
		if to == novamed.OrderCancelled {
			if err := s.restoreRefill(ctx, tx, o); err != nil {
				return err
			}
		}
		if err := s.insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ev, nil
}

// restoreRefill gives the refill a cancelled refill order consumed back to
// its lineage (an order that is not a refill's consumed none).
func (s *Store) restoreRefill(ctx context.Context, tx *txn, o *novamed.MedicationOrder) error {
	if o.RefillRequestID == "" || len(o.Items) == 0 {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE medication_requests SET refills_remaining = refills_remaining + 1
		WHERE id = ? AND refills_remaining < refills_authorized`, o.Items[0].RootID); err != nil {
		return fmt.Errorf("sqlstore: restore refill: %w", err)
	}
	return nil
}

// CancelOrder is a partner's cancellation of an order still created or
// verified, with its event, restored refill and effects.
func (s *Store) CancelOrder(ctx context.Context, id, from, reason string, at time.Time, eff novamed.Effects) (*novamed.MedicationOrder, *novamed.Event, error) {
	var out *novamed.MedicationOrder
	var ev *novamed.Event
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		o, err := s.lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		if o.Status != from {
			return novamed.Errorf(novamed.CodeInvalidTransition, "The order changed concurrently (it is now %s); read it and retry.", o.Status)
		}
		if ev, err = o.CancelByPartner(reason, at); err != nil {
			return err
		}
		if err := s.updateOrderState(ctx, tx, o, from); err != nil {
			return err
		}
		if err := s.restoreRefill(ctx, tx, o); err != nil {
			return err
		}
		if err := s.insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		out = o
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ev, nil
}

// updateOrderState stores o's status, change time and shipments. The status
// condition makes a change happen once even if a lock was not taken
// (SQLite serialises writers; PostgreSQL locks the row).
func (s *Store) updateOrderState(ctx context.Context, tx *txn, o *novamed.MedicationOrder, from string) error {
	res, err := tx.exec(ctx, `UPDATE medication_orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		o.Status, micros(o.UpdatedAt), o.ID, from)
	if err != nil {
		return fmt.Errorf("sqlstore: transition: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return novamed.Errorf(novamed.CodeInvalidTransition, "The order changed concurrently; retry.")
	}
	return s.saveShipments(ctx, tx, o)
}

// CancelShipment cancels the active shipment of a shipped order (of any
// clinic: an operator or sandbox action) with its event and effects.
func (s *Store) CancelShipment(ctx context.Context, id, reason string, eff novamed.Effects) (*novamed.MedicationOrder, *novamed.Event, error) {
	var out *novamed.MedicationOrder
	var ev *novamed.Event
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		o, err := s.lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		from := o.Status
		ev, err = o.CancelShipment(reason, s.now().UTC().Truncate(time.Microsecond))
		if err != nil {
			return err
		}
		if err := s.updateOrderState(ctx, tx, o, from); err != nil {
			return err
		}
		if err := s.insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		if eff.Audit != nil {
			eff.Audit.ClinicID = o.ClinicID
			if sid, _ := ev.Data["shipment_id"].(string); !slices.Contains(eff.Audit.ResourceIDs, sid) {
				eff.Audit.ResourceIDs = append(eff.Audit.ResourceIDs, sid)
			}
		}
		out = o
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ev, nil
}

func (s *Store) nextRxNumber(ctx context.Context, tx *txn) (string, error) {
	var v int64
	if err := tx.queryRow(ctx, `SELECT value FROM counters WHERE name = 'rx_number'`+s.syntax.forUpdate()).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlstore: rx counter: %w", err)
	}
	v++
	if _, err := tx.exec(ctx, `UPDATE counters SET value = ? WHERE name = 'rx_number'`, v); err != nil {
		return "", fmt.Errorf("sqlstore: rx counter: %w", err)
	}
	return "RX" + strconv.FormatInt(v, 10), nil
}

// OrdersToAdvance lists open orders last changed before the cutoff.
func (s *Store) OrdersToAdvance(ctx context.Context, before time.Time, limit int) ([]*novamed.MedicationOrder, error) {
	rows, err := s.read.query(ctx, `SELECT `+orderColumns+` FROM medication_orders WHERE status NOT IN ('delivered', 'cancelled') AND updated_at < ? ORDER BY updated_at LIMIT ?`,
		micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: orders to advance: %w", err)
	}
	defer rows.Close()
	var out []*novamed.MedicationOrder
	for rows.Next() {
		o, err := s.scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, s.loadShipments(ctx, s.read, out...)
}

func collectIDs(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func newEventID() string { return uuid.Must(uuid.NewV7()).String() }

// completeShipment fills a shipment's provider and tracking URL from the
// carrier catalogue.
func (s *Store) completeShipment(ctx context.Context, q querier, carrierID string, sh *novamed.Shipment) error {
	carriers, err := s.listCarriers(ctx, q)
	if err != nil {
		return err
	}
	for i := range carriers {
		c := &carriers[i]
		if c.ID != carrierID {
			continue
		}
		if sh.Provider == "" {
			sh.Provider = c.Name
		}
		if sh.TrackingURL == "" {
			sh.TrackingURL = c.TrackingURL(sh.TrackingNumber)
		}
	}
	if sh.ID == "" {
		sh.ID = "shp_" + newEventID()
	}
	return nil
}
