package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/novamed/partner-api/internal/novamed"
)

// CreateClinic stores a new clinic.
func (s *Store) CreateClinic(ctx context.Context, c *novamed.Clinic) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO clinics (id, name, created_at) VALUES (?, ?, ?)`),
			c.ID, c.Name, micros(c.CreatedAt))
		if isUnique(err) {
			return fmt.Errorf("clinic %s: %w", c.ID, novamed.ErrConflict)
		}
		return err
	})
}

// GetClinic returns one clinic, or a "Clinic not found" error.
func (s *Store) GetClinic(ctx context.Context, id string) (*novamed.Clinic, error) {
	var c novamed.Clinic
	var created int64
	var free int
	err := s.readRow(ctx, `SELECT id, name, free_shipping, created_at FROM clinics WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &free, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.ErrClinicNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get clinic: %w", err)
	}
	c.CreatedAt, c.FreeShipping = fromMicros(created), free == 1
	return &c, nil
}

// ListClinics returns every clinic, oldest first.
func (s *Store) ListClinics(ctx context.Context) ([]*novamed.Clinic, error) {
	rows, err := s.readQuery(ctx, `SELECT id, name, free_shipping, created_at FROM clinics ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list clinics: %w", err)
	}
	defer rows.Close()
	out := []*novamed.Clinic{}
	for rows.Next() {
		var c novamed.Clinic
		var created int64
		var free int
		if err := rows.Scan(&c.ID, &c.Name, &free, &created); err != nil {
			return nil, fmt.Errorf("sqlstore: list clinics: %w", err)
		}
		c.CreatedAt, c.FreeShipping = fromMicros(created), free == 1
		out = append(out, &c)
	}
	return out, rows.Err()
}

// SetClinicFreeShipping turns clinic-specific free shipping on or off.
func (s *Store) SetClinicFreeShipping(ctx context.Context, id string, free bool) (*novamed.Clinic, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE clinics SET free_shipping = ? WHERE id = ?`), boolInt(free), id)
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
