package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/novamed/partner-api/internal/novamed"
)

// ListCarriers returns the catalogue in its order.
func (s *Store) ListCarriers(ctx context.Context) ([]novamed.Carrier, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT carrier FROM carriers ORDER BY position`)
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
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM carriers`).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: carriers: %w", err)
		}
		if onlyIfEmpty && n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM carriers`); err != nil {
			return fmt.Errorf("sqlstore: carriers: %w", err)
		}
		for i, c := range cs {
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO carriers (id, position, carrier) VALUES (?, ?, ?)`), c.ID, i, string(b)); err != nil {
				return fmt.Errorf("sqlstore: insert carrier: %w", err)
			}
		}
		return nil
	})
}
