package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/novamed/partner-api/internal/novamed"
)

// ListFormulary returns a clinic's own formulary in key order.
func (s *Store) ListFormulary(ctx context.Context, clinicID string) ([]novamed.FormularyEntry, error) {
	if err := s.clinicExists(ctx, s.read, clinicID); err != nil {
		return nil, err
	}
	rows, err := s.read.query(ctx, `SELECT entry FROM formulary_entries WHERE clinic_id = ? ORDER BY name_key`, clinicID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list formulary: %w", err)
	}
	defer rows.Close()
	out := []novamed.FormularyEntry{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("sqlstore: list formulary: %w", err)
		}
		var e novamed.FormularyEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("sqlstore: formulary entry: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReplaceFormulary swaps a clinic's whole formulary in one transaction.
func (s *Store) ReplaceFormulary(ctx context.Context, clinicID string, entries []novamed.FormularyEntry) error {
	norm := make([]novamed.FormularyEntry, len(entries))
	for i, e := range entries {
		norm[i] = e.Normalize()
	}
	if err := novamed.ValidateFormulary(norm); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.clinicExists(ctx, tx, clinicID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM formulary_entries WHERE clinic_id = ?`, clinicID); err != nil {
			return fmt.Errorf("sqlstore: replace formulary: %w", err)
		}
		for _, e := range norm {
			if err := s.putFormularyEntry(ctx, tx, clinicID, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetFormularyEntry adds an entry or replaces the one with the same key.
func (s *Store) SetFormularyEntry(ctx context.Context, clinicID string, e novamed.FormularyEntry) error {
	e = e.Normalize()
	if err := novamed.ValidateFormulary([]novamed.FormularyEntry{e}); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.clinicExists(ctx, tx, clinicID); err != nil {
			return err
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM formulary_entries WHERE clinic_id = ? AND name_key <> ?`,
			clinicID, novamed.FormularyKey(e.Name)).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: set formulary entry: %w", err)
		}
		if n >= novamed.MaxFormularyEntries {
			return novamed.Errorf(novamed.CodeInvalid, "A formulary holds at most %d medications.", novamed.MaxFormularyEntries)
		}
		return s.putFormularyEntry(ctx, tx, clinicID, e)
	})
}

// RemoveFormularyEntry deletes the entry whose key matches name.
func (s *Store) RemoveFormularyEntry(ctx context.Context, clinicID, name string) error {
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.clinicExists(ctx, tx, clinicID); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM formulary_entries WHERE clinic_id = ? AND name_key = ?`,
			clinicID, novamed.FormularyKey(name))
		if err != nil {
			return fmt.Errorf("sqlstore: remove formulary entry: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlstore: remove formulary entry: %w", err)
		} else if n == 0 {
			return novamed.NotFound("Medication")
		}
		return nil
	})
}

func (s *Store) putFormularyEntry(ctx context.Context, tx *txn, clinicID string, e novamed.FormularyEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `INSERT INTO formulary_entries (clinic_id, name_key, entry) VALUES (?, ?, ?)
		ON CONFLICT (clinic_id, name_key) DO UPDATE SET entry = excluded.entry`, clinicID, novamed.FormularyKey(e.Name), string(b)); err != nil {
		return fmt.Errorf("sqlstore: put formulary entry: %w", err)
	}
	return nil
}

// clinicExists answers ErrClinicNotFound for an unknown clinic.
func (s *Store) clinicExists(ctx context.Context, q querier, clinicID string) error {
	var one int
	err := q.queryRow(ctx, `SELECT 1 FROM clinics WHERE id = ?`, clinicID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return novamed.ErrClinicNotFound()
	}
	if err != nil {
		return fmt.Errorf("sqlstore: clinic: %w", err)
	}
	return nil
}
