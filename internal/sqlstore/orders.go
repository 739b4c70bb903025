package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

const orderColumns = `id, clinic_id, patient_id, practitioner_id, status, carrier_id, service_id, delivery_speed,
	shipping_cost_cents, is_refrigerated, shipment_group_id, refill_request_id, shipment, created_at, updated_at`

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

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// CreateMedicationOrder stores an order and its items with its effects.
// Patient and practitioner must belong to the order's clinic.
func (s *Store) CreateMedicationOrder(ctx context.Context, o *novamed.MedicationOrder, eff novamed.Effects) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		if err := s.insertOrder(ctx, tx, o); err != nil {
			return err
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
}

func (s *Store) insertOrder(ctx context.Context, tx *sql.Tx, o *novamed.MedicationOrder) error {
	for _, chk := range []struct{ table, id, what string }{{"patients", o.PatientID, "Patient"}, {"practitioners", o.PractitionerID, "Practitioner"}} {
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM `+chk.table+` WHERE id = ? AND clinic_id = ?`), chk.id, o.ClinicID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound(chk.what)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: check %s: %w", chk.table, err)
		}
	}
	shipment, err := json.Marshal(o.Shipment)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO medication_orders (`+orderColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		o.ID, o.ClinicID, o.PatientID, o.PractitionerID, o.Status, o.CarrierID, o.ServiceID, o.DeliverySpeed,
		int64(math.Round(o.ShippingCost*100)), boolInt(o.IsRefrigerated), o.ShipmentGroupID, o.RefillRequestID,
		string(shipment), micros(o.CreatedAt), micros(o.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: insert order: %w", err)
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
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO medication_requests (id, order_id, clinic_id, position, root_id,
			refills_authorized, refills_remaining, do_not_refill, rx_number, issue_date, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			it.ID, o.ID, o.ClinicID, i, it.RootID, it.RefillsAuthorized, it.RefillsRemaining, boolInt(it.DoNotRefill),
			it.RxNumber, it.IssueDate, details); err != nil {
			return fmt.Errorf("sqlstore: insert medication request: %w", err)
		}
	}
	return nil
}

func scanOrder(r rowScanner) (*novamed.MedicationOrder, error) {
	var o novamed.MedicationOrder
	var cents int64
	var refrigerated int
	var shipment string
	var created, updated int64
	if err := r.Scan(&o.ID, &o.ClinicID, &o.PatientID, &o.PractitionerID, &o.Status, &o.CarrierID, &o.ServiceID,
		&o.DeliverySpeed, &cents, &refrigerated, &o.ShipmentGroupID, &o.RefillRequestID, &shipment, &created, &updated); err != nil {
		return nil, err
	}
	o.ShippingCost, o.IsRefrigerated = float64(cents)/100, refrigerated == 1
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal([]byte(shipment), &o.Shipment); err != nil {
		return nil, fmt.Errorf("sqlstore: order %s shipment: %w", o.ID, err)
	}
	return &o, nil
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

// loadItems fills the items of orders.
func (s *Store) loadItems(ctx context.Context, q querier, orders ...*novamed.MedicationOrder) error {
	for _, o := range orders {
		rows, err := q.QueryContext(ctx, s.q(`SELECT `+itemColumns+` FROM medication_requests WHERE order_id = ? ORDER BY position`), o.ID)
		if err != nil {
			return fmt.Errorf("sqlstore: items: %w", err)
		}
		o.Items = []*novamed.MedicationRequest{}
		for rows.Next() {
			it, err := s.scanItem(rows)
			if err != nil {
				rows.Close()
				return err
			}
			o.Items = append(o.Items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// GetMedicationOrder returns an order of one of clinics.
func (s *Store) GetMedicationOrder(ctx context.Context, id string, clinics []string) (*novamed.MedicationOrder, error) {
	o, ok, err := getScoped(ctx, s, "medication_orders", orderColumns, id, clinics, scanOrder)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, novamed.NotFound("Medication order")
	}
	return o, s.loadItems(ctx, s.read, o)
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
	items, next, err := listPageWhere(ctx, s, "medication_orders", orderColumns, f.ListFilter, extra, args, scanOrder,
		func(o *novamed.MedicationOrder) string { return o.ID })
	if err != nil {
		return nil, "", err
	}
	return items, next, s.loadItems(ctx, s.read, items...)
}

// lockOrder reads an order for update inside tx.
func (s *Store) lockOrder(ctx context.Context, tx *sql.Tx, id string) (*novamed.MedicationOrder, error) {
	o, err := scanOrder(tx.QueryRowContext(ctx, s.q(`SELECT `+orderColumns+` FROM medication_orders WHERE id = ?`+s.forUpdate()), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Medication order")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: lock order: %w", err)
	}
	return o, s.loadItems(ctx, tx, o)
}

// TransitionOrder applies one lifecycle step under a row lock and records its event.
func (s *Store) TransitionOrder(ctx context.Context, id, to string, shipment *novamed.Shipment) (*novamed.MedicationOrder, *novamed.Event, error) {
	var out *novamed.MedicationOrder
	var ev *novamed.Event
	err := s.inTx(ctx, func(tx *sql.Tx) error {
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
		shipJSON, err := json.Marshal(o.Shipment)
		if err != nil {
			return err
		}
		// The status condition makes the step happen once even if a lock
		// was not taken (SQLite serialises writers; PostgreSQL locks the row).
		res, err := tx.ExecContext(ctx, s.q(`UPDATE medication_orders SET status = ?, shipment = ?, updated_at = ? WHERE id = ? AND status = ?`),
			o.Status, string(shipJSON), micros(now), id, from)
		if err != nil {
			return fmt.Errorf("sqlstore: transition: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return novamed.Errorf(novamed.CodeInvalidTransition, "The order changed concurrently; retry.")
		}
		for _, it := range o.Items {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE medication_requests SET rx_number = ? WHERE id = ?`), it.RxNumber, it.ID); err != nil {
				return fmt.Errorf("sqlstore: rx number: %w", err)
			}
		}
		// A cancelled refill order gives its refill back to the lineage.
		if to == novamed.OrderCancelled && o.RefillRequestID != "" && len(o.Items) > 0 {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE medication_requests SET refills_remaining = refills_remaining + 1
				WHERE id = ? AND refills_remaining < refills_authorized`), o.Items[0].RootID); err != nil {
				return fmt.Errorf("sqlstore: restore refill: %w", err)
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

func (s *Store) nextRxNumber(ctx context.Context, tx *sql.Tx) (string, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'rx_number'`+s.forUpdate()).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlstore: rx counter: %w", err)
	}
	v++
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE counters SET value = ? WHERE name = 'rx_number'`), v); err != nil {
		return "", fmt.Errorf("sqlstore: rx counter: %w", err)
	}
	return "RX" + strconv.FormatInt(v, 10), nil
}

// OrdersToAdvance lists open orders last changed before the cutoff.
func (s *Store) OrdersToAdvance(ctx context.Context, before time.Time, limit int) ([]*novamed.MedicationOrder, error) {
	rows, err := s.readQuery(ctx, `SELECT `+orderColumns+` FROM medication_orders WHERE status NOT IN ('delivered', 'cancelled') AND updated_at < ? ORDER BY updated_at LIMIT ?`,
		micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: orders to advance: %w", err)
	}
	defer rows.Close()
	var out []*novamed.MedicationOrder
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
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
