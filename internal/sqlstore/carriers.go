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
	return s.listCarriers(ctx, s.read)
}

// listCarriers reads the catalogue through q (a transaction reads it on its
// own connection rather than waiting for a second one from the pool).
func (s *Store) listCarriers(ctx context.Context, q querier) ([]novamed.Carrier, error) {
	rows, err := q.QueryContext(ctx, `SELECT carrier FROM carriers ORDER BY position`)
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
		if s.dialect == Postgres {
			// Replace or seed one at a time (replicas seed on start): a
			// second writer waits, then sees the first one's rows. Readers
			// are not blocked.
			if _, err := tx.ExecContext(ctx, `LOCK TABLE carriers IN EXCLUSIVE MODE`); err != nil {
				return fmt.Errorf("sqlstore: lock carriers: %w", err)
			}
		}
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
