package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// AppendAudit chains and stores records in one transaction.
func (s *Store) AppendAudit(ctx context.Context, recs []*novamed.AuditRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.appendAudit(ctx, tx, recs) })
}

const selectAuditHeadSQL = `SELECT seq, hash FROM audit_head WHERE id = 1`

// appendAudit stores recs as part of tx. Inside a SQLite group commit job
// the records are chained and inserted with the rest of the batch's, just
// before its COMMIT (groupCommitter.deferAudit); otherwise at once.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, recs []*novamed.AuditRecord) error {
	if len(recs) == 0 || s.group.deferAudit(tx, recs) {
		return nil
	}
	return s.writeAudit(ctx, tx, recs)
}

// auditChunks are the row counts of the prepared multi-row audit INSERTs,
// largest first; a batch is written as the fewest of them.
var auditChunks = []int{64, 16, 4, 1}

// insertAuditSQL is the INSERT of n audit rows (built per chunk of a batch,
// not per request; the prepared statement is found by this text).
func insertAuditSQL(n int) string {
	return `INSERT INTO audit_log (seq, at, record, prev_hash, hash) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", n), ", ")
}

// writeAudit chains and inserts recs. It locks the chain head, so concurrent
// appenders (other replicas included) serialise and the chain stays linear.
func (s *Store) writeAudit(ctx context.Context, tx *sql.Tx, recs []*novamed.AuditRecord) error {
	var seq int64
	var hash string
	if err := s.txRow(ctx, tx, selectAuditHeadSQL+s.forUpdate()).Scan(&seq, &hash); err != nil {
		return fmt.Errorf("sqlstore: audit head: %w", err)
	}
	// Rows go in prepared multi-row INSERTs of auditChunks rows.
	for start := 0; start < len(recs); {
		n := auditChunks[len(auditChunks)-1]
		for _, c := range auditChunks {
			if c <= len(recs)-start {
				n = c
				break
			}
		}
		chunk := recs[start : start+n]
		start += n
		args := make([]any, 0, 5*len(chunk))
		for _, rec := range chunk {
			seq++
			b, err := audit.Chain(rec, seq, hash)
			if err != nil {
				return err
			}
			args = append(args, seq, micros(rec.Time), string(b), rec.PrevHash, rec.Hash)
			hash = rec.Hash
		}
		if _, err := s.exec(ctx, tx, insertAuditSQL(n), args...); err != nil {
			return fmt.Errorf("sqlstore: insert audit: %w", err)
		}
	}
	if _, err := s.exec(ctx, tx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, seq, hash); err != nil {
		return fmt.Errorf("sqlstore: audit head: %w", err)
	}
	return nil
}

// ScanAudit calls fn for each record in [since, until) in chain order. The
// record's Seq comes from its content, so a moved row shows as out of order.
func (s *Store) ScanAudit(ctx context.Context, since, until time.Time, fn func(*novamed.AuditRecord) error) error {
	query := `SELECT seq, record, prev_hash, hash FROM audit_log WHERE 1 = 1`
	var args []any
	if !since.IsZero() {
		query += ` AND at >= ?`
		args = append(args, micros(since))
	}
	if !until.IsZero() {
		query += ` AND at < ?`
		args = append(args, micros(until))
	}
	rows, err := s.readQuery(ctx, query+` ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: scan audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var raw, prev, hash string
		if err := rows.Scan(&seq, &raw, &prev, &hash); err != nil {
			return fmt.Errorf("sqlstore: scan audit: %w", err)
		}
		var rec novamed.AuditRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return &audit.BrokenError{Seq: seq, Reason: "record is not valid JSON"}
		}
		rec.PrevHash, rec.Hash = prev, hash
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditHead returns the sequence number and hash of the newest record as
// the chain head remembers them.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	if err := s.readRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("sqlstore: audit head: %w", err)
	}
	return seq, hash, nil
}
