package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// minFreeBytes is the free space below which a SQLite store reports itself
// full before a write fails: a create needs a few pages of WAL, and a disk
// with less than this left fills within seconds under load.
const minFreeBytes = 1 << 20

// ErrMigrationsPending is CheckWritable's answer when the database lacks
// migrations this binary carries (another replica is migrating, or the
// migration failed).
var ErrMigrationsPending = errors.New("sqlstore: migrations pending")

// errLowSpace is CheckWritable's answer for a SQLite data folder nearly out
// of space; FaultOf classifies it as Full.
var errLowSpace = fmt.Errorf("sqlstore: less than %d bytes free in the data folder: %w", minFreeBytes, syscall.ENOSPC)

// CheckWritable is the readiness probe: it commits a tiny write (a counter
// in readiness_probe) and checks that every embedded migration is applied
// and, on SQLite, that the data folder has space left. A nil answer means a
// write can commit now. It costs one small transaction: callers cache it.
func (s *Store) CheckWritable(ctx context.Context) error {
	if s.dialect == SQLite && s.path != "" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(s.path), &st); err == nil && st.Bavail*uint64(st.Bsize) < minFreeBytes {
			return errLowSpace
		}
	}
	if err := s.checkMigrations(ctx); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `UPDATE readiness_probe SET checks = checks + 1 WHERE id = 1`)
		return err
	})
}

// checkMigrations reports ErrMigrationsPending when a migration embedded in
// this binary is not applied to the database.
func (s *Store) checkMigrations(ctx context.Context) error {
	want, err := fs.ReadDir(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return err
	}
	rows, err := s.read.query(ctx, `SELECT version_id FROM goose_db_version WHERE is_applied`)
	if err != nil {
		return err
	}
	defer rows.Close()
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return err
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range want {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		if v, err := strconv.ParseInt(num, 10, 64); err == nil && !applied[v] {
			return fmt.Errorf("%w: %s", ErrMigrationsPending, e.Name())
		}
	}
	return nil
}
