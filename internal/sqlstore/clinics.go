package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/novamed/partner-api/internal/novamed"
)

// CreateClinic stores a new clinic, of partner c.PartnerID (which must
// exist) when set.
func (s *Store) CreateClinic(ctx context.Context, c *novamed.Clinic) error {
	return s.createClinic(ctx, c, novamed.Effects{})
}

// CreatePartnerClinic stores a new clinic of partner c.PartnerID with its
// effects (the operator's audit record).
func (s *Store) CreatePartnerClinic(ctx context.Context, c *novamed.Clinic, eff novamed.Effects) error {
	if c.PartnerID == "" {
		return novamed.Errorf(novamed.CodeInvalid, "A clinic needs a partner.")
	}
	return s.createClinic(ctx, c, eff)
}

func (s *Store) createClinic(ctx context.Context, c *novamed.Clinic, eff novamed.Effects) error {
	return s.inTx(ctx, func(tx *txn) error {
		partner := sql.NullString{String: c.PartnerID, Valid: c.PartnerID != ""}
		if partner.Valid {
			if _, err := s.lockPartner(ctx, tx, c.PartnerID); err != nil {
				return err
			}
		}
		_, err := tx.exec(ctx, `INSERT INTO clinics (id, name, created_at, partner_id) VALUES (?, ?, ?, ?)`,
			c.ID, c.Name, micros(c.CreatedAt), partner)
		if s.syntax.isUnique(err) {
			return fmt.Errorf("clinic %s: %w", c.ID, novamed.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: create clinic: %w", err)
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// GetClinic returns one clinic, or a "Clinic not found" error.
func (s *Store) GetClinic(ctx context.Context, id string) (*novamed.Clinic, error) {
	var c novamed.Clinic
	var created int64
	var free int
	var partner sql.NullString
	err := s.read.queryRow(ctx, `SELECT id, name, free_shipping, created_at, partner_id FROM clinics WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &free, &created, &partner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.ErrClinicNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get clinic: %w", err)
	}
	c.CreatedAt, c.FreeShipping, c.PartnerID = fromMicros(created), free == 1, partner.String
	return &c, nil
}

// ListClinics returns every clinic, oldest first.
func (s *Store) ListClinics(ctx context.Context) ([]*novamed.Clinic, error) {
	return s.listClinics(ctx, "")
}

// ListPartnerClinics returns the clinics of one partner, oldest first.
func (s *Store) ListPartnerClinics(ctx context.Context, partnerID string) ([]*novamed.Clinic, error) {
	return s.listClinics(ctx, partnerID)
}

func (s *Store) listClinics(ctx context.Context, partnerID string) ([]*novamed.Clinic, error) {
	query, args := `SELECT id, name, free_shipping, created_at, partner_id FROM clinics ORDER BY created_at, id`, []any{}
	if partnerID != "" {
		query, args = `SELECT id, name, free_shipping, created_at, partner_id FROM clinics WHERE partner_id = ? ORDER BY created_at, id`, []any{partnerID}
	}
	rows, err := s.read.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list clinics: %w", err)
	}
	defer rows.Close()
	out := []*novamed.Clinic{}
	for rows.Next() {
		var c novamed.Clinic
		var created int64
		var free int
		var partner sql.NullString
		if err := rows.Scan(&c.ID, &c.Name, &free, &created, &partner); err != nil {
			return nil, fmt.Errorf("sqlstore: list clinics: %w", err)
		}
		c.CreatedAt, c.FreeShipping, c.PartnerID = fromMicros(created), free == 1, partner.String
		out = append(out, &c)
	}
	return out, rows.Err()
}

// SetClinicFreeShipping turns clinic-specific free shipping on or off.
func (s *Store) SetClinicFreeShipping(ctx context.Context, id string, free bool) (*novamed.Clinic, error) {
	err := s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE clinics SET free_shipping = ? WHERE id = ?`, boolInt(free), id)
		if err != nil {
			return fmt.Errorf("sqlstore: update clinic: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return novamed.ErrClinicNotFound()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetClinic(ctx, id)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
