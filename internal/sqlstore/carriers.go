package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/novamed/partner-api/internal/novamed"
)

// ListCarriers returns the catalogue in its order.
func (s *Store) ListCarriers(ctx context.Context) ([]novamed.Carrier, error) {
	return s.listCarriers(ctx, s.read)
}

// listCarriers reads the catalogue through q (a transaction reads it on its
// own connection rather than waiting for a second one from the pool).
func (s *Store) listCarriers(ctx context.Context, q querier) ([]novamed.Carrier, error) {
	rows, err := q.query(ctx, `SELECT carrier FROM carriers ORDER BY position`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list carriers: %w", err)
	}
	defer rows.Close()
	out := []novamed.Carrier{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var c novamed.Carrier
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("sqlstore: carrier: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ReplaceCarriers swaps the catalogue (or seeds an empty one).
func (s *Store) ReplaceCarriers(ctx context.Context, cs []novamed.Carrier, onlyIfEmpty bool) error {
	if err := novamed.ValidateCatalogue(cs); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		// Replace or seed one at a time (replicas seed on start): a second
		// writer waits, then sees the first one's rows. Readers are not
		// blocked.
		if lock := s.syntax.lockTable("carriers"); lock != "" {
			if _, err := tx.exec(ctx, lock); err != nil {
				return fmt.Errorf("sqlstore: lock carriers: %w", err)
			}
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM carriers`).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: carriers: %w", err)
		}
		if onlyIfEmpty && n > 0 {
			return nil
		}
		if _, err := tx.exec(ctx, `DELETE FROM carriers`); err != nil {
			return fmt.Errorf("sqlstore: carriers: %w", err)
		}
		for i, c := range cs {
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `INSERT INTO carriers (id, position, carrier) VALUES (?, ?, ?)`, c.ID, i, string(b)); err != nil {
				return fmt.Errorf("sqlstore: insert carrier: %w", err)
			}
		}
		return nil
	})
}

// seedCarriers gives a fresh database the published catalogue, and replaces
// the catalogue of a database that still holds exactly the built-in one of
// earlier releases (no operator ever imported a catalogue there). An
// imported catalogue is left alone.
func (s *Store) seedCarriers(ctx context.Context) error {
	if err := s.ReplaceCarriers(ctx, novamed.DefaultCatalogue(), true); err != nil {
		return err
	}
	cs, err := s.ListCarriers(ctx)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(cs, previousDefaultCatalogue()) {
		return nil
	}
	return s.ReplaceCarriers(ctx, novamed.DefaultCatalogue(), false)
}

// previousDefaultCatalogue is the built-in catalogue of releases before the
// published one (its service ids and prices were our own), kept only to
// recognise an untouched database on upgrade.
func previousDefaultCatalogue() []novamed.Carrier {
	farAway := []string{"AK", "HI", "PR", "GU", "VI", "AS", "MP"}
	territories := []string{"GU", "VI", "AS", "MP"}
	return []novamed.Carrier{
		{ID: "ameriship", Name: "Ameriship", Tracking: "https://tracking.ameriship.example/{tracking}", Services: []novamed.CarrierService{
			{ID: "ameriship_ground", Name: "Ameriship Ground", Speed: "business-day", BaseCostCents: 999, RemoteSurchargeCents: 1500, UnavailableStates: territories},
			{ID: "ameriship_overnight", Name: "Ameriship Overnight", Speed: "next-day", BaseCostCents: 2999, UnavailableStates: farAway},
		}},
		{ID: "se-3818360", Name: "FedEx", Tracking: "https://www.fedex.com/fedextrack/?trknbr={tracking}", Services: []novamed.CarrierService{
			{ID: "fedex_2day", Name: "FedEx 2Day", Speed: "business-day", BaseCostCents: 1999, RemoteSurchargeCents: 1500, UnavailableStates: territories},
			{ID: "fedex_priority_overnight", Name: "FedEx Priority Overnight", Speed: "next-day", BaseCostCents: 3999, RemoteSurchargeCents: 2500, UnavailableStates: territories},
		}},
		{ID: "se-11225", Name: "Stamps.com", Tracking: "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking}", Services: []novamed.CarrierService{
			{ID: "usps_priority_mail", Name: "USPS Priority Mail", Speed: "business-day", BaseCostCents: 849, RemoteSurchargeCents: 500},
			{ID: "usps_priority_mail_express", Name: "USPS Priority Mail Express", Speed: "next-day", BaseCostCents: 2635, RemoteSurchargeCents: 1000},
		}},
		{ID: "se-11226", Name: "UPS", Tracking: "https://www.ups.com/track?tracknum={tracking}", Services: []novamed.CarrierService{
			{ID: "ups_ground", Name: "UPS Ground", Speed: "business-day", BaseCostCents: 1249, RemoteSurchargeCents: 2000, UnavailableStates: territories},
			{ID: "ups_next_day_air", Name: "UPS Next Day Air", Speed: "next-day", BaseCostCents: 4499, RemoteSurchargeCents: 3000, UnavailableStates: farAway},
		}},
	}
}
