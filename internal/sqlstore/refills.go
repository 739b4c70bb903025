package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// refillDetails is the sealed part of a refill (a shipping address is PHI).
type refillDetails struct {
	ShipmentGroupID     string           `json:"shipment_group_id,omitempty"`
	ShippingAddress     *novamed.Address `json:"shipping_address,omitempty"`
	ShipmentServiceCode string           `json:"shipment_service_code,omitempty"`
	PaymentMethodID     string           `json:"payment_method_id,omitempty"`
}

// CreateRefill locks the refilled lineage, applies the refill rules and
// stores the refill with its new order, all in one transaction, so two
// concurrent refills of one request cannot both pass the checks.
func (s *Store) CreateRefill(ctx context.Context, r *novamed.RefillRequest, clinics []string, eff novamed.Effects) (*novamed.MedicationOrder, error) {
	var order *novamed.MedicationOrder
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		notFound := &novamed.Error{Code: novamed.CodeMedRequestUnknown, Message: novamed.MsgMedicationRequestNotFound}
		var orderID, rootID, clinicID string
		err := tx.queryRow(ctx, `SELECT order_id, root_id, clinic_id FROM medication_requests WHERE id = ?`, r.MedicationRequestID).
			Scan(&orderID, &rootID, &clinicID)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !contains(clinics, clinicID)) || (err == nil && r.ClinicID != "" && r.ClinicID != clinicID) {
			return notFound
		}
		if err != nil {
			return fmt.Errorf("sqlstore: refill lookup: %w", err)
		}
		orig, err := s.lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		root, err := s.scanItem(tx.queryRow(ctx, `SELECT `+itemColumns+` FROM medication_requests WHERE id = ?`+s.syntax.forUpdate(), rootID))
		if err != nil {
			return fmt.Errorf("sqlstore: refill root: %w", err)
		}
		var item *novamed.MedicationRequest
		for _, it := range orig.Items {
			if it.ID == r.MedicationRequestID {
				item = it
			}
		}
		var open int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM refill_requests r JOIN medication_orders o ON o.id = r.new_order_id
			WHERE r.root_request_id = ? AND o.status NOT IN ('delivered', 'cancelled')`, rootID).Scan(&open); err != nil {
			return fmt.Errorf("sqlstore: open refills: %w", err)
		}
		eligibility := *root
		eligibility.DoNotRefill = root.DoNotRefill || item.DoNotRefill
		if err := novamed.RefillEligibility(&eligibility, orig.Status, open > 0); err != nil {
			return err
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		root.RefillsRemaining--
		if _, err := tx.exec(ctx, `UPDATE medication_requests SET refills_remaining = ? WHERE id = ?`, root.RefillsRemaining, root.ID); err != nil {
			return fmt.Errorf("sqlstore: decrement refills: %w", err)
		}
		order = novamed.RefillOrder(orig, item, root.RefillsRemaining, r, now)
		if order.ShippingAddress == nil {
			// Without an address of its own, the refill ships to the
			// patient's address of today, and keeps it.
			p, err := s.scanPatient(tx.queryRow(ctx, `SELECT `+patientColumns+` FROM patients WHERE id = ?`, order.PatientID))
			if err != nil {
				return fmt.Errorf("sqlstore: refill patient: %w", err)
			}
			if !p.Address.IsZero() {
				a := p.Address
				order.ShippingAddress = &a
			}
		}
		if r.ShipmentServiceCode != "" || r.ShippingAddress != nil {
			if err := s.shipRefill(ctx, tx, order, r); err != nil {
				return err
			}
		}
		if err := s.insertOrder(ctx, tx, order); err != nil {
			return err
		}
		r.ClinicID, r.RootRequestID, r.OriginalOrderID, r.Status, r.CreatedAt = orig.ClinicID, rootID, orig.ID, order.Status, now
		z := s.sealer("refill_requests", r.ID)
		details := z.json("details", refillDetails{ShipmentGroupID: r.ShipmentGroupID, ShippingAddress: r.ShippingAddress,
			ShipmentServiceCode: r.ShipmentServiceCode, PaymentMethodID: r.PaymentMethodID})
		if z.err != nil {
			return z.err
		}
		if _, err := tx.exec(ctx, `INSERT INTO refill_requests (id, clinic_id, medication_request_id, root_request_id,
			original_order_id, new_order_id, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.ClinicID, r.MedicationRequestID, rootID, orig.ID, order.ID, details, micros(now)); err != nil {
			return fmt.Errorf("sqlstore: insert refill: %w", err)
		}
		if eff.Audit != nil {
			eff.Audit.ClinicID = r.ClinicID
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	return order, err
}

// shipRefill prices a refill's new order for the service and address the
// refill names: the destination is the refill's shipping address, else the
// patient's; the clinic's free shipping applies.
func (s *Store) shipRefill(ctx context.Context, tx *txn, o *novamed.MedicationOrder, r *novamed.RefillRequest) error {
	var state string
	if r.ShippingAddress != nil {
		state = r.ShippingAddress.State
	} else {
		p, err := s.scanPatient(tx.queryRow(ctx, `SELECT `+patientColumns+` FROM patients WHERE id = ?`, o.PatientID))
		if err != nil {
			return fmt.Errorf("sqlstore: refill patient: %w", err)
		}
		state = p.Address.State
	}
	var free int
	if err := tx.queryRow(ctx, `SELECT free_shipping FROM clinics WHERE id = ?`, o.ClinicID).Scan(&free); err != nil {
		return fmt.Errorf("sqlstore: refill clinic: %w", err)
	}
	carriers, err := s.listCarriers(ctx, tx)
	if err != nil {
		return err
	}
	return novamed.ShipRefill(o, carriers, r.ShipmentServiceCode, state, free == 1)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

const refillColumns = `r.id, r.clinic_id, r.medication_request_id, r.root_request_id, r.original_order_id, r.new_order_id, r.details, r.created_at, o.status`

func (s *Store) scanRefill(row rowScanner) (*novamed.RefillRequest, error) {
	var r novamed.RefillRequest
	var details string
	var created int64
	if err := row.Scan(&r.ID, &r.ClinicID, &r.MedicationRequestID, &r.RootRequestID, &r.OriginalOrderID, &r.NewOrderID,
		&details, &created, &r.Status); err != nil {
		return nil, err
	}
	var d refillDetails
	o := s.opener("refill_requests", r.ID)
	o.json("details", details, &d)
	if o.err != nil {
		return nil, o.err
	}
	r.ShipmentGroupID, r.ShippingAddress, r.ShipmentServiceCode, r.PaymentMethodID = d.ShipmentGroupID, d.ShippingAddress, d.ShipmentServiceCode, d.PaymentMethodID
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// GetRefill returns a refill of one of clinics.
func (s *Store) GetRefill(ctx context.Context, id string, clinics []string) (*novamed.RefillRequest, error) {
	if len(clinics) == 0 {
		return nil, novamed.NotFound("Refill request")
	}
	args := append([]any{id}, anySlice(clinics)...)
	r, err := s.scanRefill(s.read.queryRow(ctx, `SELECT `+refillColumns+` FROM refill_requests r JOIN medication_orders o ON o.id = r.new_order_id
		WHERE r.id = ? AND r.clinic_id IN (`+placeholders(len(clinics))+`)`, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Refill request")
	}
	return r, err
}

// ListRefills returns a page of refills, newest first.
func (s *Store) ListRefills(ctx context.Context, f novamed.ListFilter) ([]*novamed.RefillRequest, string, error) {
	items := []*novamed.RefillRequest{}
	if len(f.Clinics) == 0 {
		return items, "", nil
	}
	args := anySlice(f.Clinics)
	query := `SELECT ` + refillColumns + ` FROM refill_requests r JOIN medication_orders o ON o.id = r.new_order_id WHERE r.clinic_id IN (` + placeholders(len(f.Clinics)) + `)`
	if f.Cursor != "" {
		query += ` AND r.id < ?`
		args = append(args, f.Cursor)
	}
	rows, err := s.read.query(ctx, query+` ORDER BY r.id DESC LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list refills: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := s.scanRefill(rows)
		if err != nil {
			return nil, "", err
		}
		items = append(items, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(items) > f.Limit {
		items = items[:f.Limit]
		next = items[len(items)-1].ID
	}
	return items, next, nil
}
