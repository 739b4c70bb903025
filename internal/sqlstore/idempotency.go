package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// GetIdempotency returns the remembered answer for (owner, key), or a NotFound error.
func (s *Store) GetIdempotency(ctx context.Context, owner, key string) (*novamed.IdempotencyRecord, error) {
	var r novamed.IdempotencyRecord
	var body, resources string
	var created int64
	id := idempotencyID(owner, key)
	err := s.read.queryRow(ctx, `SELECT owner, key, fingerprint, status, body, created_at, clinic_id, resource_ids FROM idempotency_keys WHERE id = ?`, id).
		Scan(&r.Owner, &r.Key, &r.Fingerprint, &r.Status, &body, &created, &r.ClinicID, &resources)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Idempotency key")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get idempotency: %w", err)
	}
	if resources != "" {
		if err := json.Unmarshal([]byte(resources), &r.ResourceIDs); err != nil {
			return nil, fmt.Errorf("sqlstore: idempotency resource ids of %s: %w", id, err)
		}
	}
	o := s.opener("idempotency_keys", id)
	r.Body, r.CreatedAt = []byte(o.str("body", body)), fromMicros(created)
	if o.err != nil {
		return nil, o.err
	}
	return &r, nil
}

func (s *Store) insertIdempotency(ctx context.Context, tx *txn, r *novamed.IdempotencyRecord) error {
	args, err := s.idempotencyArgs(r)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, insertIdempotencySQL, args...)
	if s.syntax.isUnique(err) {
		return novamed.ErrIdempotencyConflict
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert idempotency: %w", err)
	}
	return nil
}

// idempotencyArgs are the values of insertIdempotencySQL for r, its
// remembered answer sealed.
func (s *Store) idempotencyArgs(r *novamed.IdempotencyRecord) ([]any, error) {
	// The remembered answer repeats what the request sent: PHI, so sealed.
	id := idempotencyID(r.Owner, r.Key)
	z := s.sealer("idempotency_keys", id)
	body := z.str("body", string(r.Body))
	if z.err != nil {
		return nil, z.err
	}
	resources := ""
	if len(r.ResourceIDs) > 0 {
		b, err := json.Marshal(r.ResourceIDs)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: idempotency resource ids: %w", err)
		}
		resources = string(b)
	}
	return []any{id, r.Owner, r.Key, r.Fingerprint, r.Status, body, micros(r.CreatedAt), r.ClinicID, resources}, nil
}

// SaveIdempotency stores a remembered answer that has no write of its own.
func (s *Store) SaveIdempotency(ctx context.Context, r *novamed.IdempotencyRecord, rec *novamed.AuditRecord) error {
	return s.inTx(ctx, func(tx *txn) error {
		return s.writeEffects(ctx, tx, novamed.Effects{Idempotency: r, Audit: rec})
	})
}

// PurgeIdempotency deletes records created before the cutoff.
func (s *Store) PurgeIdempotency(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, micros(before))
		if err != nil {
			return fmt.Errorf("sqlstore: purge idempotency: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// idempotencyID is the row id of (owner, key): a hash, so that any key text
// (up to 255 printable characters) makes a fixed-size, unambiguous id.
func idempotencyID(owner, key string) string {
	h := sha256.Sum256([]byte(owner + "\x00" + key))
	return hex.EncodeToString(h[:])
}

const insertIdempotencySQL = `INSERT INTO idempotency_keys (id, owner, key, fingerprint, status, body, created_at, clinic_id, resource_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

// IdempotencyFingerprintKey returns the key of the keyed request
// fingerprints that idempotency records carry (see
// phi.Keyring.IdempotencyFingerprintKey).
func (s *Store) IdempotencyFingerprintKey() []byte {
	return s.keys.Load().IdempotencyFingerprintKey()
}
