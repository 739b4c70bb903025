package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// AuditBase names the last record pruned from the live trail (the last
// record of the newest pruned segment) and its hash; 0 and "" when nothing
// was pruned. The live trail continues from there.
func (s *Store) AuditBase(ctx context.Context) (int64, string, error) {
	var seq int64
	var head string
	err := s.read.queryRow(ctx, `SELECT last_seq, head FROM audit_segments WHERE pruned_at IS NOT NULL ORDER BY id DESC LIMIT 1`).Scan(&seq, &head)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("sqlstore: audit base: %w", err)
	}
	return seq, head, nil
}

// AuditSegments lists the sealed segments, oldest first.
func (s *Store) AuditSegments(ctx context.Context) ([]*audit.Segment, error) {
	rows, err := s.read.query(ctx, `SELECT seal, record_bytes, archive_url, archive_object, archive_bytes, archived_at, pruned_at FROM audit_segments ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: audit segments: %w", err)
	}
	defer rows.Close()
	var out []*audit.Segment
	for rows.Next() {
		var seal string
		var url, obj sql.NullString
		var size, archived, pruned sql.NullInt64
		seg := &audit.Segment{}
		if err := rows.Scan(&seal, &seg.RecordBytes, &url, &obj, &size, &archived, &pruned); err != nil {
			return nil, fmt.Errorf("sqlstore: audit segments: %w", err)
		}
		sl, err := audit.ParseSeal([]byte(seal))
		if err != nil {
			return nil, err
		}
		seg.Seal, seg.ArchiveURL, seg.ArchiveObject, seg.ArchiveBytes = *sl, url.String, obj.String, size.Int64
		seg.ArchivedAt, seg.PrunedAt = optTime(archived), optTime(pruned)
		out = append(out, seg)
	}
	return out, rows.Err()
}

// OpenAuditSegment describes the segment being written: its number, its
// first record (after the last sealed one) and the hash it links to.
func (s *Store) OpenAuditSegment(ctx context.Context) (id, firstSeq int64, prevHead string, err error) {
	err = s.read.queryRow(ctx, `SELECT id, last_seq, head FROM audit_segments ORDER BY id DESC LIMIT 1`).Scan(&id, &firstSeq, &prevHead)
	if errors.Is(err, sql.ErrNoRows) {
		return 1, 1, "", nil
	}
	if err != nil {
		return 0, 0, "", fmt.Errorf("sqlstore: open audit segment: %w", err)
	}
	return id + 1, firstSeq + 1, prevHead, nil
}

// AuditRecordStats counts the records with seq > after and their bytes,
// and gives the time of the first of them (zero when none).
func (s *Store) AuditRecordStats(ctx context.Context, after int64) (n, bytes int64, lastSeq int64, err error) {
	err = s.read.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(LENGTH(record)), 0), COALESCE(MAX(seq), 0) FROM audit_log WHERE seq > ?`, after).Scan(&n, &bytes, &lastSeq)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("sqlstore: audit stats: %w", err)
	}
	return n, bytes, lastSeq, nil
}

// AuditRecordBytes is the bytes of the records with after < seq <= through
// (a range of the primary key: it reads only those rows).
func (s *Store) AuditRecordBytes(ctx context.Context, after, through int64) (int64, error) {
	var n int64
	err := s.read.queryRow(ctx, `SELECT COALESCE(SUM(LENGTH(record)), 0) FROM audit_log WHERE seq > ? AND seq <= ?`, after, through).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: audit bytes: %w", err)
	}
	return n, nil
}

// AuditRecordTime is the hashed-time column of record seq (the at column,
// which verify checks against the record); ok false when there is none.
func (s *Store) AuditRecordTime(ctx context.Context, seq int64) (time.Time, bool, error) {
	var at int64
	err := s.read.queryRow(ctx, `SELECT at FROM audit_log WHERE seq = ?`, seq).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlstore: audit time: %w", err)
	}
	return fromMicros(at), true, nil
}

// ScanAuditSegmentRows calls fn for the rows first..last in seq order, as
// ScanAuditRows gives them, prev being the hash record first links to.
func (s *Store) ScanAuditSegmentRows(ctx context.Context, first, last int64, prev string, fn func(*novamed.AuditRow) error) error {
	return s.scanAuditRange(ctx, first, last, prev, fn)
}

// InsertAuditSegment records a sealed segment. It fails if the segment
// does not follow the last one (another process sealed it first).
func (s *Store) InsertAuditSegment(ctx context.Context, seg *audit.Segment) error {
	b, err := json.Marshal(&seg.Seal)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		var n int64
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM audit_segments WHERE id >= ? OR last_seq >= ?`, seg.Segment, seg.FirstSeq).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: seal audit segment: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("sqlstore: audit segment %d: %w", seg.Segment, ErrSegmentTaken)
		}
		_, err := tx.exec(ctx, `INSERT INTO audit_segments (id, first_seq, last_seq, first_at, last_at, records, record_bytes, head, prev_head, sealed_at, seal)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, seg.Segment, seg.FirstSeq, seg.LastSeq, micros(seg.FirstAt), micros(seg.LastAt),
			seg.LastSeq-seg.FirstSeq+1, seg.RecordBytes, seg.Head, seg.PrevHead, micros(seg.SealedAt), string(b))
		if err != nil {
			return fmt.Errorf("sqlstore: seal audit segment: %w", err)
		}
		return nil
	})
}

// ErrSegmentTaken: the segment was sealed by another process.
var ErrSegmentTaken = errors.New("already sealed")

// MarkAuditSegmentArchived records that segment id was written to the
// archive and read back intact.
func (s *Store) MarkAuditSegmentArchived(ctx context.Context, id int64, url, object string, size int64, at time.Time) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `UPDATE audit_segments SET archive_url = ?, archive_object = ?, archive_bytes = ?, archived_at = ? WHERE id = ?`,
			url, object, size, micros(at), id)
		if err != nil {
			return fmt.Errorf("sqlstore: audit segment archived: %w", err)
		}
		return nil
	})
}

// PruneBatch is how many audit rows one prune transaction deletes at
// most: a segment of millions of rows leaves in many short transactions,
// each letting the request path's writes in between, instead of holding
// the writer (SQLite) or a large lock set and WAL burst (PostgreSQL) for
// the whole segment.
const PruneBatch = 200

// PacedPruneBatch is PruneBatch for a paced prune (the background pass,
// with between set): on SQLite every batch is a job of the one writer that
// the request path's commits queue behind, so a shorter job delays them
// less, and the pauses between keep the total share the same.
const PacedPruneBatch = 32

// PruneAuditSegment deletes segment id's records from the live trail. It
// refuses a segment not archived, or not the oldest one still live (the
// live trail must stay one unbroken chain after the pruned ones).
//
// The segment is marked pruned first, in one short transaction: from then
// on the live trail starts after its last record (AuditBase), and readers
// skip its rows. The rows are then deleted PruneBatch at a time
// (PacedPruneBatch when between is set), each batch its own transaction
// (committed without waiting for an fsync where the incremental audit
// durability allows: a lost delete is redone); between, when set, runs
// between them (the background archive pass pauses there). Rows a crash left behind (the mark committed,
// not every batch) are deleted by the next prune, which starts from the
// oldest row still stored.
func (s *Store) PruneAuditSegment(ctx context.Context, id int64, at time.Time, between func() error) error {
	var last int64
	err := s.inTx(ctx, func(tx *txn) error {
		var first int64
		var archived sql.NullInt64
		err := tx.queryRow(ctx, `SELECT first_seq, last_seq, archived_at FROM audit_segments WHERE id = ? AND pruned_at IS NULL`+s.syntax.forUpdate(), id).Scan(&first, &last, &archived)
		if err != nil {
			return fmt.Errorf("sqlstore: prune audit segment %d: %w", id, err)
		}
		if !archived.Valid {
			return fmt.Errorf("sqlstore: prune audit segment %d: not archived", id)
		}
		var older int64
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM audit_segments WHERE id < ? AND pruned_at IS NULL`, id).Scan(&older); err != nil {
			return fmt.Errorf("sqlstore: prune audit segment %d: %w", id, err)
		}
		if older > 0 {
			return fmt.Errorf("sqlstore: prune audit segment %d: an older segment is still live", id)
		}
		if _, err := tx.exec(ctx, `UPDATE audit_segments SET pruned_at = ? WHERE id = ?`, micros(at), id); err != nil {
			return fmt.Errorf("sqlstore: prune audit segment %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.deleteAuditThrough(ctx, last, between)
}

// deleteAuditThrough deletes the stored audit rows with seq <= last,
// PruneBatch rows (by seq, which has no gaps) a transaction.
func (s *Store) deleteAuditThrough(ctx context.Context, last int64, between func() error) error {
	var oldest sql.NullInt64
	if err := s.read.queryRow(ctx, `SELECT MIN(seq) FROM audit_log`).Scan(&oldest); err != nil {
		return fmt.Errorf("sqlstore: prune audit rows: %w", err)
	}
	batch := int64(PruneBatch)
	if between != nil {
		batch = PacedPruneBatch
	}
	for from := oldest.Int64; oldest.Valid && from <= last; from += batch {
		to := min(from+batch-1, last)
		err := s.inRelaxedTx(ctx, func(tx *txn) error {
			_, err := tx.exec(ctx, `DELETE FROM audit_log WHERE seq >= ? AND seq <= ?`, from, to)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlstore: prune audit rows %d–%d: %w", from, to, err)
		}
		if between != nil && to < last {
			if err := between(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ForgetAuditSegment removes segment id's row once the archive no longer
// keeps it (archive retention); only the oldest pruned segment may go.
func (s *Store) ForgetAuditSegment(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `DELETE FROM audit_segments WHERE id = ? AND pruned_at IS NOT NULL AND id = (SELECT MIN(id) FROM audit_segments)`, id)
		if err != nil {
			return fmt.Errorf("sqlstore: forget audit segment %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("sqlstore: forget audit segment %d: not the oldest pruned segment", id)
		}
		return nil
	})
}

// AuditSettings returns what serve recorded (name → value).
func (s *Store) AuditSettings(ctx context.Context) (map[string]string, error) {
	rows, err := s.read.query(ctx, `SELECT name, value FROM audit_settings`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: audit settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("sqlstore: audit settings: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// SetAuditSettings records settings (name → value; "" removes one).
func (s *Store) SetAuditSettings(ctx context.Context, set map[string]string) error {
	return s.inTx(ctx, func(tx *txn) error {
		for k, v := range set {
			if _, err := tx.exec(ctx, `DELETE FROM audit_settings WHERE name = ?`, k); err != nil {
				return fmt.Errorf("sqlstore: audit settings: %w", err)
			}
			if v == "" {
				continue
			}
			if _, err := tx.exec(ctx, `INSERT INTO audit_settings (name, value, updated_at) VALUES (?, ?, ?)`, k, v, micros(s.now())); err != nil {
				return fmt.Errorf("sqlstore: audit settings: %w", err)
			}
		}
		return nil
	})
}

// AcquireAuditLease takes (or renews) the archive pass's lease for holder
// until until, if it is free, expired at now, or already holder's.
func (s *Store) AcquireAuditLease(ctx context.Context, holder string, now, until time.Time) (bool, error) {
	var ok bool
	err := s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE audit_lease SET holder = ?, until = ? WHERE id = 1 AND (holder = ? OR until < ?)`,
			holder, micros(until), holder, micros(now))
		if err != nil {
			return fmt.Errorf("sqlstore: audit lease: %w", err)
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// ReleaseAuditLease gives the lease up if holder has it.
func (s *Store) ReleaseAuditLease(ctx context.Context, holder string) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `UPDATE audit_lease SET holder = '', until = 0 WHERE id = 1 AND holder = ?`, holder)
		return err
	})
}

// Dialect is the store's database dialect.
func (s *Store) Dialect() Dialect { return s.dialect }
