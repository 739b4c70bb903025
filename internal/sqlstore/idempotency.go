package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// GetIdempotency returns the remembered answer for (owner, key), or a NotFound error.
func (s *Store) GetIdempotency(ctx context.Context, owner, key string) (*novamed.IdempotencyRecord, error) {
	var r novamed.IdempotencyRecord
	var body string
	var created int64
	err := s.read.QueryRowContext(ctx, s.q(`SELECT owner, key, fingerprint, status, body, created_at FROM idempotency_keys WHERE owner = ? AND key = ?`), owner, key).
		Scan(&r.Owner, &r.Key, &r.Fingerprint, &r.Status, &body, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Idempotency key")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get idempotency: %w", err)
	}
	r.Body, r.CreatedAt = []byte(body), fromMicros(created)
	return &r, nil
}

func (s *Store) insertIdempotency(ctx context.Context, tx *sql.Tx, r *novamed.IdempotencyRecord) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO idempotency_keys (owner, key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		r.Owner, r.Key, r.Fingerprint, r.Status, string(r.Body), micros(r.CreatedAt))
	if isUnique(err) {
		return novamed.ErrIdempotencyConflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert idempotency: %w", err)
	}
	return nil
}

// SaveIdempotency stores a remembered answer that has no write of its own.
func (s *Store) SaveIdempotency(ctx context.Context, r *novamed.IdempotencyRecord, rec *novamed.AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return s.writeEffects(ctx, tx, novamed.Effects{Idempotency: r, Audit: rec})
	})
}

// PurgeIdempotency deletes records created before the cutoff.
func (s *Store) PurgeIdempotency(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM idempotency_keys WHERE created_at < ?`), micros(before))
		if err != nil {
			return fmt.Errorf("sqlstore: purge idempotency: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
