package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// inTx runs fn in a write transaction and commits it; on SQLite the
// transaction may be shared with concurrent writers (group commit), fn then
// running inside its own savepoint.
func (s *Store) inTx(ctx context.Context, fn func(tx *txn) error) error {
	if s.group != nil {
		return s.group.run(ctx, func(tx *sql.Tx) error { return fn(s.newTxn(tx)) })
	}
	start := time.Now()
	tx, err := s.writeDB.BeginTx(ctx, s.syntax.txOptions())
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := fn(s.newTxn(tx)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	if s.onCommit != nil {
		s.onCommit(1, time.Since(start))
	}
	return nil
}

// inRelaxedTx is inTx for a write a power loss may undo without harm
// because it is redone (deleting audit rows already archived and marked
// pruned: the next prune deletes what is left). On SQLite with the
// incremental audit durability it joins the batches of read audit records
// committed without an fsync (the flusher syncs within its window), so it
// does not turn such a batch into a synchronous one.
func (s *Store) inRelaxedTx(ctx context.Context, fn func(tx *txn) error) error {
	if s.group != nil {
		return s.group.runRelaxed(ctx, func(tx *sql.Tx) error { return fn(s.newTxn(tx)) })
	}
	return s.inTx(ctx, fn)
}

// writeEffects stores the idempotent response and the audit record of a
// write inside its transaction.
func (s *Store) writeEffects(ctx context.Context, tx *txn, eff novamed.Effects) error {
	if eff.Idempotency != nil {
		if err := s.insertIdempotency(ctx, tx, eff.Idempotency); err != nil {
			return err
		}
	}
	if eff.Audit != nil {
		if err := s.appendAudit(ctx, tx, []*novamed.AuditRecord{eff.Audit}); err != nil {
			return err
		}
	}
	return nil
}

// withExistingID fills the ExistingID of a create's *novamed.DuplicateError
// by reading the committed record that holds the unique value (query selects
// its id). It reads after the write's transaction has ended: on PostgreSQL
// the failed insert has aborted that transaction. Any other err is returned
// as it is; a record not yet visible leaves ExistingID empty.
func (s *Store) withExistingID(ctx context.Context, err error, query string, args ...any) error {
	var dup *novamed.DuplicateError
	if !errors.As(err, &dup) {
		return err
	}
	var id string
	if s.read.queryRow(ctx, query, args...).Scan(&id) == nil {
		dup.ExistingID = id
	}
	return err
}
