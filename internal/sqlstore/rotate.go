package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// sealedColumns lists every table's PHI columns, for key rotation.
var sealedColumns = []struct {
	table   string
	columns []string
}{
	{"practitioners", []string{"first_name", "last_name", "email", "npi", "details"}},
	{"patients", []string{"first_name", "last_name", "date_of_birth", "details"}},
	{"idempotency_keys", []string{"body"}},
	{"medication_orders", []string{"details"}},
	{"medication_requests", []string{"details"}},
	{"shipments", []string{"cancel_reason"}},
	{"refill_requests", []string{"details"}},
	{"events", []string{"data"}},
	{"webhooks", []string{"secret", "verification_token", "prev_secret", "prev_token"}},
	{"operators", []string{"totp_secret"}},
	{"partner_users", []string{"totp_secret"}},
	{"key_requests", []string{"issued_key"}},
}

// RotatePHI re-seals, under the keyring's current version, every PHI column
// sealed with an older one. It works in batches of batchSize rows, each in
// its own transaction, so it is resumable and leaves the server serving; it
// returns how many rows it changed. Run it until it returns 0.
func (s *Store) RotatePHI(ctx context.Context, batchSize int) (int, error) {
	total := 0
	for _, t := range sealedColumns {
		after := ""
		for {
			n, last, err := s.rotateBatch(ctx, t.table, t.columns, after, batchSize)
			if err != nil {
				return total, err
			}
			total += n
			if last == "" {
				break
			}
			after = last
		}
	}
	return total, nil
}

// rotateBatch re-seals up to limit rows with id > after; it returns the
// number changed and the last id seen ("" when the table is done).
func (s *Store) rotateBatch(ctx context.Context, table string, columns []string, after string, limit int) (int, string, error) {
	changed, last := 0, ""
	err := s.inTx(ctx, func(tx *txn) error {
		changed, last = 0, ""
		ring := s.keys.Load()
		rows, err := tx.query(ctx, `SELECT id, `+strings.Join(columns, ", ")+` FROM `+table+
			` WHERE id > ? ORDER BY id LIMIT ?`+s.syntax.forUpdate(), after, limit)
		if err != nil {
			return fmt.Errorf("sqlstore: rotate %s: %w", table, err)
		}
		type row struct {
			id   string
			vals []string
		}
		var batch []row
		for rows.Next() {
			r := row{vals: make([]string, len(columns))}
			dest := []any{&r.id}
			for i := range r.vals {
				dest = append(dest, &r.vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: rotate %s: %w", table, err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range batch {
			last = r.id
			dirty := false
			for i, col := range columns {
				if !ring.NeedsRotation(r.vals[i]) {
					continue
				}
				plain, err := ring.Open(table, col, r.id, r.vals[i])
				if err != nil {
					return fmt.Errorf("sqlstore: rotate %s.%s of row %s: %w", table, col, r.id, err)
				}
				if r.vals[i], err = ring.Seal(table, col, r.id, plain); err != nil {
					return err
				}
				clear(plain)
				dirty = true
			}
			if !dirty {
				continue
			}
			set := make([]string, len(columns))
			args := make([]any, 0, len(columns)+1)
			for i, col := range columns {
				set[i] = col + " = ?"
				args = append(args, r.vals[i])
			}
			if _, err := tx.exec(ctx, `UPDATE `+table+` SET `+strings.Join(set, ", ")+` WHERE id = ?`, append(args, r.id)...); err != nil {
				return fmt.Errorf("sqlstore: rotate %s: %w", table, err)
			}
			changed++
		}
		if len(batch) < limit {
			last = ""
		}
		return nil
	})
	return changed, last, err
}

// SealedVersions counts PHI values per key version, for the operator's
// rotation report and for tests ("no row still under v1").
func (s *Store) SealedVersions(ctx context.Context) (map[uint32]int, error) {
	ring := s.keys.Load()
	out := map[uint32]int{}
	for _, t := range sealedColumns {
		rows, err := s.read.query(ctx, `SELECT `+strings.Join(t.columns, ", ")+` FROM `+t.table)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: count versions: %w", err)
		}
		vals := make([]string, len(t.columns))
		dest := make([]any, len(vals))
		for i := range vals {
			dest[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			for _, v := range vals {
				if v == "" {
					continue
				}
				if ver, err := ring.VersionOf(v); err == nil {
					out[ver]++
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
