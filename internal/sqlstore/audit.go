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

// appendAudit locks the chain head, so concurrent appenders (other replicas
// included) serialise and the chain stays linear.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, recs []*novamed.AuditRecord) error {
	var seq int64
	var hash string
	if err := s.txRow(ctx, tx, selectAuditHeadSQL+s.forUpdate()).Scan(&seq, &hash); err != nil {
		return fmt.Errorf("sqlstore: audit head: %w", err)
	}
	// Rows go in multi-row INSERTs: one statement to prepare per 100
	// records instead of one per record.
	const perStatement = 100
	for start := 0; start < len(recs); start += perStatement {
		chunk := recs[start:min(start+perStatement, len(recs))]
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
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(chunk)), ", ")
		if _, err := s.exec(ctx, tx, `INSERT INTO audit_log (seq, at, record, prev_hash, hash) VALUES `+values, args...); err != nil {
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
