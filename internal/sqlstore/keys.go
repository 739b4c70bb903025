package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

const keyColumns = `id, owner, name, environment, prefix, hash, rate_limit, created_at, expires_at, revoked_at, replaced_by, last_used_at, partner_id`

type rowScanner interface{ Scan(dest ...any) error }

func scanKey(r rowScanner) (*novamed.APIKey, error) {
	var k novamed.APIKey
	var env string
	var created int64
	var expires, revoked, lastUsed sql.NullInt64
	var replaced, partner sql.NullString
	if err := r.Scan(&k.ID, &k.Owner, &k.Name, &env, &k.Prefix, &k.HashHex, &k.RateLimit, &created,
		&expires, &revoked, &replaced, &lastUsed, &partner); err != nil {
		return nil, err
	}
	k.PartnerID = partner.String
	k.Environment = novamed.Environment(env)
	k.CreatedAt = fromMicros(created)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = optTime(expires), optTime(revoked), optTime(lastUsed)
	k.ReplacedBy = replaced.String
	return &k, nil
}

// CreateAPIKey stores a key (its hash) and its clinic grants. Every clinic
// must exist.
func (s *Store) CreateAPIKey(ctx context.Context, k *novamed.APIKey) error {
	return s.inTx(ctx, func(tx *txn) error { return s.insertKey(ctx, tx, k) })
}

func (s *Store) insertKey(ctx context.Context, tx *txn, k *novamed.APIKey) error {
	if len(k.Clinics) == 0 {
		return novamed.Errorf(novamed.CodeInvalid, "A key must be granted at least one clinic.")
	}
	// Each clinic once: a duplicate grant must not reach the INSERT below,
	// since a failed statement aborts a PostgreSQL transaction.
	clinics := make([]string, 0, len(k.Clinics))
	for _, c := range k.Clinics {
		if !slices.Contains(clinics, c) {
			clinics = append(clinics, c)
		}
	}
	// The key belongs to the partner of its clinics (every clinic must
	// exist, and all belong to one partner).
	partner, err := s.clinicsPartner(ctx, tx, clinics)
	if err != nil {
		return err
	}
	k.PartnerID = partner
	_, err = tx.exec(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)`,
		k.ID, k.Owner, k.Name, string(k.Environment), k.Prefix, k.HashHex, k.RateLimit, micros(k.CreatedAt),
		optMicros(k.ExpiresAt), optMicros(k.RevokedAt), sql.NullString{String: partner, Valid: partner != ""})
	if s.syntax.isUnique(err) {
		return fmt.Errorf("api key %s: %w", k.ID, novamed.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert key: %w", err)
	}
	for _, c := range clinics {
		if _, err := tx.exec(ctx, `INSERT INTO api_key_clinics (key_id, clinic_id) VALUES (?, ?)`, k.ID, c); err != nil {
			return fmt.Errorf("sqlstore: grant clinic: %w", err)
		}
	}
	return nil
}

func (s *Store) keyClinics(ctx context.Context, q querier, k *novamed.APIKey) error {
	rows, err := q.query(ctx, `SELECT clinic_id FROM api_key_clinics WHERE key_id = ? ORDER BY clinic_id`, k.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: key clinics: %w", err)
	}
	defer rows.Close()
	k.Clinics = []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return err
		}
		k.Clinics = append(k.Clinics, c)
	}
	return rows.Err()
}

func (s *Store) getKey(ctx context.Context, where string, arg any) (*novamed.APIKey, error) {
	k, err := scanKey(s.read.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE `+where+` = ?`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("API key")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get key: %w", err)
	}
	if err := s.keyClinics(ctx, s.read, k); err != nil {
		return nil, err
	}
	return k, s.keyPartner(ctx, s.read, k)
}

// FindAPIKeyByHash returns the key with that hash.
func (s *Store) FindAPIKeyByHash(ctx context.Context, hashHex string) (*novamed.APIKey, error) {
	return s.getKey(ctx, "hash", hashHex)
}

// GetAPIKey returns the key with that id.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*novamed.APIKey, error) {
	return s.getKey(ctx, "id", id)
}

// ListAPIKeys lists keys, all or those granted clinicID, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, clinicID string) ([]*novamed.APIKey, error) {
	query := `SELECT ` + keyColumns + ` FROM api_keys ORDER BY created_at, id`
	var args []any
	if clinicID != "" {
		query = `SELECT ` + keyColumns + ` FROM api_keys WHERE id IN (SELECT key_id FROM api_key_clinics WHERE clinic_id = ?) ORDER BY created_at, id`
		args = append(args, clinicID)
	}
	rows, err := s.read.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list keys: %w", err)
	}
	var out []*novamed.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: list keys: %w", err)
		}
		out = append(out, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, k := range out {
		if err := s.keyClinics(ctx, s.read, k); err != nil {
			return nil, err
		}
		if err := s.keyPartner(ctx, s.read, k); err != nil {
			return nil, err
		}
	}
	if out == nil {
		out = []*novamed.APIKey{}
	}
	return out, nil
}

// lockKey reads a key inside a write transaction, locking its row.
func (s *Store) lockKey(ctx context.Context, tx *txn, id string) (*novamed.APIKey, error) {
	k, err := scanKey(tx.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`+s.syntax.forUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("API key")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: lock key: %w", err)
	}
	return k, s.keyClinics(ctx, tx, k)
}

// RevokeAPIKey revokes a key at time at (idempotent: a revoked key stays
// revoked at its first revocation time).
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (*novamed.APIKey, error) {
	at = at.UTC().Truncate(time.Microsecond) // answer with the stored form
	var out *novamed.APIKey
	err := s.inTx(ctx, func(tx *txn) error {
		k, err := s.lockKey(ctx, tx, id)
		if err != nil {
			return err
		}
		if k.RevokedAt == nil {
			k.RevokedAt = &at
			if _, err := tx.exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, micros(at), id); err != nil {
				return fmt.Errorf("sqlstore: revoke key: %w", err)
			}
		}
		out = k
		return nil
	})
	return out, err
}

// RollAPIKey stores next as the successor of id; id stays usable until graceUntil.
func (s *Store) RollAPIKey(ctx context.Context, id string, next *novamed.APIKey, graceUntil time.Time) (*novamed.APIKey, error) {
	return s.RollIssuedAPIKey(ctx, id, next, graceUntil, nil, novamed.Effects{})
}

// RollIssuedAPIKey is RollAPIKey after check accepted the partner of the
// key's clinics, read in the same transaction (the issuing rules apply to
// a successor as to a new key), with eff written in that transaction.
// A nil check accepts any partner.
func (s *Store) RollIssuedAPIKey(ctx context.Context, id string, next *novamed.APIKey, graceUntil time.Time, check func(*novamed.Partner) error, eff novamed.Effects) (*novamed.APIKey, error) {
	var out *novamed.APIKey
	err := s.inTx(ctx, func(tx *txn) error {
		k, err := s.rollKey(ctx, tx, id, next, graceUntil, check)
		if err != nil {
			return err
		}
		out = k
		return s.writeEffects(ctx, tx, eff)
	})
	return out, err
}

// rollKey is RollIssuedAPIKey inside the caller's transaction; it returns
// the old key as changed.
func (s *Store) rollKey(ctx context.Context, tx *txn, id string, next *novamed.APIKey, graceUntil time.Time, check func(*novamed.Partner) error) (*novamed.APIKey, error) {
	graceUntil = graceUntil.UTC().Truncate(time.Microsecond)
	k, err := s.lockKey(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if !k.Usable(s.now()) {
		return nil, novamed.Errorf(novamed.CodeInvalid, "API key %s is revoked or expired and cannot be rolled.", id)
	}
	if k.ReplacedBy != "" {
		return nil, novamed.Errorf(novamed.CodeInvalid, "API key %s was already rolled to %s.", id, k.ReplacedBy)
	}
	next.Owner, next.Name, next.Environment, next.RateLimit, next.Clinics = k.Owner, k.Name, k.Environment, k.RateLimit, k.Clinics
	if next.ExpiresAt == nil {
		next.ExpiresAt = k.ExpiresAt
	}
	if check != nil {
		if err := s.checkClinicsPartner(ctx, tx, k.Clinics, check); err != nil {
			return nil, err
		}
	}
	if err := s.insertKey(ctx, tx, next); err != nil {
		return nil, err
	}
	if k.ExpiresAt == nil || graceUntil.Before(*k.ExpiresAt) {
		k.ExpiresAt = &graceUntil
	}
	k.ReplacedBy = next.ID
	if _, err := tx.exec(ctx, `UPDATE api_keys SET expires_at = ?, replaced_by = ? WHERE id = ?`,
		micros(*k.ExpiresAt), next.ID, id); err != nil {
		return nil, fmt.Errorf("sqlstore: roll key: %w", err)
	}
	return k, nil
}

// UpdateAPIKeyRateLimit sets a key's per-minute limit (0: environment default).
func (s *Store) UpdateAPIKeyRateLimit(ctx context.Context, id string, perMinute int) (*novamed.APIKey, error) {
	var out *novamed.APIKey
	err := s.inTx(ctx, func(tx *txn) error {
		k, err := s.lockKey(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE api_keys SET rate_limit = ? WHERE id = ?`, perMinute, id); err != nil {
			return fmt.Errorf("sqlstore: update key: %w", err)
		}
		k.RateLimit = perMinute
		out = k
		return nil
	})
	return out, err
}
