package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// AdvertiseKeyring records the master key versions this process's keyring
// holds, under replica (a name unique to the process), so that a
// re-encryption started anywhere can check every running replica can
// read its target version.
func (s *Store) AdvertiseKeyring(ctx context.Context, replica string, at time.Time) error {
	vs := s.keys.Load().Versions()
	slices.Sort(vs)
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.FormatUint(uint64(v), 10)
	}
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO replica_keyrings (replica, versions, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (replica) DO UPDATE SET versions = excluded.versions, updated_at = excluded.updated_at`,
			replica, strings.Join(parts, ","), micros(at))
		if err != nil {
			return fmt.Errorf("sqlstore: advertise keyring: %w", err)
		}
		return nil
	})
}

// ReplicaKeyrings returns the key versions of each replica that advertised
// its keyring at or after since.
func (s *Store) ReplicaKeyrings(ctx context.Context, since time.Time) (map[string][]uint32, error) {
	rows, err := s.read.query(ctx, `SELECT replica, versions FROM replica_keyrings WHERE updated_at >= ?`, micros(since))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: replica keyrings: %w", err)
	}
	defer rows.Close()
	out := map[string][]uint32{}
	for rows.Next() {
		var name, list string
		if err := rows.Scan(&name, &list); err != nil {
			return nil, err
		}
		vs := []uint32{}
		for _, p := range strings.Split(list, ",") {
			if v, err := strconv.ParseUint(p, 10, 32); err == nil {
				vs = append(vs, uint32(v))
			}
		}
		out[name] = vs
	}
	return out, rows.Err()
}

const reencryptColumns = `id, to_version, state, changed, remaining, error, started_by, created_at, updated_at, finished_at`

func scanReencryption(r rowScanner) (*novamed.ReencryptionJob, error) {
	var j novamed.ReencryptionJob
	var to, created, updated int64
	var finished sql.NullInt64
	if err := r.Scan(&j.ID, &to, &j.State, &j.Changed, &j.Remaining, &j.Error, &j.StartedBy, &created, &updated, &finished); err != nil {
		return nil, err
	}
	j.ToVersion, j.CreatedAt, j.UpdatedAt = uint32(to), fromMicros(created), fromMicros(updated)
	if finished.Valid {
		t := fromMicros(finished.Int64)
		j.FinishedAt = &t
	}
	return &j, nil
}

// CreateReencryption stores a new running job, unless another is running
// and was updated at or after staleBefore (then INVALID_TRANSITION names
// it); a running job not updated since is taken to have died with its
// replica and is marked failed.
func (s *Store) CreateReencryption(ctx context.Context, j *novamed.ReencryptionJob, staleBefore time.Time) error {
	return s.inTx(ctx, func(tx *txn) error {
		running, err := scanReencryption(tx.queryRow(ctx, `SELECT `+reencryptColumns+` FROM reencryption_jobs WHERE state = ? ORDER BY created_at DESC LIMIT 1`+s.syntax.forUpdate(),
			novamed.ReencryptRunning))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("sqlstore: re-encryption: %w", err)
		case !running.UpdatedAt.Before(staleBefore):
			return novamed.Errorf(novamed.CodeInvalidTransition, "Re-encryption %s to v%d is still running; wait for it to finish.", running.ID, running.ToVersion)
		default:
			if _, err := tx.exec(ctx, `UPDATE reencryption_jobs SET state = ?, error = ?, finished_at = ? WHERE id = ?`,
				novamed.ReencryptFailed, "stopped: the replica running it stopped reporting", micros(j.CreatedAt), running.ID); err != nil {
				return fmt.Errorf("sqlstore: re-encryption: %w", err)
			}
		}
		_, err = tx.exec(ctx, `INSERT INTO reencryption_jobs (`+reencryptColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
			j.ID, int64(j.ToVersion), j.State, j.Changed, j.Remaining, j.Error, j.StartedBy, micros(j.CreatedAt), micros(j.UpdatedAt))
		if err != nil {
			return fmt.Errorf("sqlstore: re-encryption: %w", err)
		}
		return nil
	})
}

// UpdateReencryption saves a job's progress and state.
func (s *Store) UpdateReencryption(ctx context.Context, j *novamed.ReencryptionJob) error {
	var finished any
	if j.FinishedAt != nil {
		finished = micros(*j.FinishedAt)
	}
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `UPDATE reencryption_jobs SET state = ?, changed = ?, remaining = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
			j.State, j.Changed, j.Remaining, j.Error, micros(j.UpdatedAt), finished, j.ID)
		if err != nil {
			return fmt.Errorf("sqlstore: re-encryption: %w", err)
		}
		return nil
	})
}

// GetReencryption returns a job by id (NOT_FOUND when there is none).
func (s *Store) GetReencryption(ctx context.Context, id string) (*novamed.ReencryptionJob, error) {
	j, err := scanReencryption(s.read.queryRow(ctx, `SELECT `+reencryptColumns+` FROM reencryption_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.Errorf(novamed.CodeNotFound, "No re-encryption has this id.")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: re-encryption: %w", err)
	}
	return j, nil
}

// ListReencryptions returns the newest jobs first.
func (s *Store) ListReencryptions(ctx context.Context, limit int) ([]*novamed.ReencryptionJob, error) {
	rows, err := s.read.query(ctx, `SELECT `+reencryptColumns+` FROM reencryption_jobs ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: re-encryptions: %w", err)
	}
	defer rows.Close()
	out := []*novamed.ReencryptionJob{}
	for rows.Next() {
		j, err := scanReencryption(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// KeyVersions returns the versions of this process's keyring and the one
// new values are sealed under.
func (s *Store) KeyVersions() (all []uint32, current uint32) {
	ring := s.keys.Load()
	all = ring.Versions()
	slices.Sort(all)
	return all, ring.CurrentVersion()
}
