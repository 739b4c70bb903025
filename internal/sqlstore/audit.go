package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// AppendAudit stores records in one transaction (see writeAudit for when
// they are chained).
func (s *Store) AppendAudit(ctx context.Context, recs []*novamed.AuditRecord) error {
	return s.inTx(ctx, func(tx *txn) error { return s.appendAudit(ctx, tx, recs) })
}

const selectAuditHeadSQL = `SELECT seq, hash FROM audit_head WHERE id = 1`

// appendAudit stores recs as part of tx. Inside a SQLite group commit job
// the records are chained and inserted with the rest of the batch's, just
// before its COMMIT (groupCommitter.deferAudit); otherwise at once.
func (s *Store) appendAudit(ctx context.Context, tx *txn, recs []*novamed.AuditRecord) error {
	if len(recs) == 0 || s.group.deferAudit(tx.tx, recs) {
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
	return `INSERT INTO audit_log (seq, at, record, prev_hash, hash, hash_bytes) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, '', '', ?), ", n), ", ")
}

// writeAudit stores recs as part of tx.
//
// SQLite (one writer, group commits) chains and inserts them at once.
// PostgreSQL stores them unchained, as one audit_pending row, and a chainer
// (chainPending) links committed batches into audit_log in the order it
// finds them: durable with the write, chained moments later. Chaining in
// the write's own transaction meant holding the chain head's row lock
// through every COMMIT, so the writes of all replicas committed one fsync
// after another (~1k a second; docs/performance.md).
func (s *Store) writeAudit(ctx context.Context, tx *txn, recs []*novamed.AuditRecord) error {
	if s.dialect == Postgres {
		batch, err := pendingBatch(recs)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO audit_pending (records) VALUES (?)`, batch); err != nil {
			return fmt.Errorf("sqlstore: insert audit: %w", err)
		}
		s.chainer.nudge()
		return nil
	}
	var seq int64
	var hash string
	if err := tx.queryRow(ctx, selectAuditHeadSQL+s.syntax.forUpdate()).Scan(&seq, &hash); err != nil {
		return fmt.Errorf("sqlstore: audit head: %w", err)
	}
	return s.insertChained(ctx, tx, recs, seq, hash)
}

// insertChained chains recs after (seq, hash), inserts them and moves the
// head; the caller holds the head (its row lock, or SQLite's one writer).
func (s *Store) insertChained(ctx context.Context, tx *txn, recs []*novamed.AuditRecord, seq int64, hash string) error {
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
		args := make([]any, 0, 4*len(chunk))
		for _, rec := range chunk {
			seq++
			b, err := audit.Chain(rec, seq, hash)
			if err != nil {
				return err
			}
			// Format 2: the hash as its bytes; the previous hash is the
			// previous row's, kept nowhere else.
			sum, err := hex.DecodeString(rec.Hash)
			if err != nil {
				return fmt.Errorf("sqlstore: audit hash: %w", err)
			}
			args = append(args, seq, micros(rec.Time), string(b), sum)
			hash = rec.Hash
		}
		if _, err := tx.exec(ctx, insertAuditSQL(n), args...); err != nil {
			return fmt.Errorf("sqlstore: insert audit: %w", err)
		}
	}
	if _, err := tx.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, seq, hash); err != nil {
		return fmt.Errorf("sqlstore: audit head: %w", err)
	}
	return nil
}

// pendingBatch is recs as an audit_pending row holds them (decodePending
// reads it back).
func pendingBatch(recs []*novamed.AuditRecord) (string, error) {
	b, err := json.Marshal(recs)
	if err != nil {
		return "", fmt.Errorf("sqlstore: encode audit records: %w", err)
	}
	return string(b), nil
}

// chainBatch is how many pending batches one chaining transaction takes.
const chainBatch = 64

// chainPending links every committed pending batch (PostgreSQL) into the
// chain. Chainers of several replicas take turns on the head's row lock;
// each takes what is pending once it holds the lock, so no batch is chained
// twice. A batch's records stay adjacent and in order; batches go in the
// order of their ids, so one writer's batches keep its order.
func (s *Store) chainPending(ctx context.Context) error {
	if s.dialect != Postgres {
		return nil
	}
	for {
		n, err := s.chainPendingOnce(ctx)
		if err != nil || n < chainBatch {
			return err
		}
	}
}

// decodePending reads a pending batch as writeAudit stored it: a JSON array
// of one or more records.
func decodePending(raw string) ([]*novamed.AuditRecord, error) {
	var batch []*novamed.AuditRecord
	if err := json.Unmarshal([]byte(raw), &batch); err != nil {
		return nil, err
	}
	if len(batch) == 0 {
		return nil, errors.New("no records")
	}
	for _, r := range batch {
		if r == nil {
			return nil, errors.New("a null record")
		}
	}
	return batch, nil
}

// unreadableBatch is the record chained in place of a pending batch that
// cannot be read (only a bug or an edit of the database makes one): the
// chain then says where it was and what it held (its SHA-256; the row itself
// is kept in audit_quarantine), and chaining goes on.
func unreadableBatch(id int64, raw string, now time.Time) *novamed.AuditRecord {
	sum := sha256.Sum256([]byte(raw))
	return &novamed.AuditRecord{Time: now, RequestID: fmt.Sprintf("audit_pending:%d", id), Action: "audit.unreadable_batch",
		ResourceType: "audit_pending", ResourceIDs: []string{strconv.FormatInt(id, 10), hex.EncodeToString(sum[:])}, Status: 500}
}

func (s *Store) chainPendingOnce(ctx context.Context) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *txn) error {
		var seq int64
		var hash string
		if err := tx.queryRow(ctx, selectAuditHeadSQL+s.syntax.forUpdate()).Scan(&seq, &hash); err != nil {
			return fmt.Errorf("sqlstore: audit head: %w", err)
		}
		rows, err := tx.query(ctx, `SELECT id, records FROM audit_pending ORDER BY id LIMIT ?`, chainBatch)
		if err != nil {
			return fmt.Errorf("sqlstore: pending audit: %w", err)
		}
		var ids []int64
		var recs []*novamed.AuditRecord
		bad := map[int64]string{}
		for rows.Next() {
			var id int64
			var raw string
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: pending audit: %w", err)
			}
			batch, err := decodePending(raw)
			if err != nil {
				bad[id] = raw
				batch = []*novamed.AuditRecord{unreadableBatch(id, raw, s.now())}
			}
			ids, recs = append(ids, id), append(recs, batch...)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: pending audit: %w", err)
		}
		if n = len(ids); n == 0 {
			return nil
		}
		for id, raw := range bad {
			if _, err := tx.exec(ctx, `INSERT INTO audit_quarantine (id, records, at) VALUES ($1, $2, $3)`, id, raw, micros(s.now())); err != nil {
				return fmt.Errorf("sqlstore: quarantine audit batch %d: %w", id, err)
			}
		}
		if err := s.insertChained(ctx, tx, recs, seq, hash); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM audit_pending WHERE id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("sqlstore: pending audit: %w", err)
		}
		return nil
	})
	return n, err
}

// chainer runs chainPending in the background (PostgreSQL): soon after a
// write is nudged, and every interval in any case (a batch another replica
// left behind, or one this process stored just before it was killed).
type chainer struct {
	wake     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

func startChainer(s *Store, interval time.Duration, onError func(error)) *chainer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &chainer{wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
				// The nudge comes from inside the write's transaction: give
				// it (and the writes right behind it) a moment to commit,
				// so the pass finds them.
				select {
				case <-ctx.Done():
					return
				case <-time.After(chainSettle):
				}
			case <-t.C:
				// A tick with nothing pending costs one indexed read, not
				// the head's lock.
				var pending bool
				if err := s.write.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_pending)`).Scan(&pending); err == nil && !pending {
					continue
				}
			}
			// A failed pass is retried at the next wake or tick; what is
			// pending is durable and is chained by whichever pass succeeds.
			if err := s.chainPending(ctx); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
		}
	}()
	return c
}

// chainSettle is how long a nudged chainer waits before its pass.
const chainSettle = 5 * time.Millisecond

// nudge asks for a chaining pass soon; it never blocks. Safe on nil.
func (c *chainer) nudge() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close stops the background passes, cancelling one in progress. Safe on
// nil and more than once.
func (c *chainer) close() {
	if c == nil {
		return
	}
	c.stopOnce.Do(c.cancel)
	<-c.done
}

// ScanAudit calls fn for each record whose hashed time is in [since,
// until), in chain order, after chaining whatever is pending. The window is
// applied to the time inside the hashed record, not to the at column: an
// edited at must not hide a record from a windowed export (audit verify
// reports such an edit). So every row is read; exports are operator runs.
// The record's Seq and PrevHash come from its content, so a moved row shows
// as out of order.
func (s *Store) ScanAudit(ctx context.Context, since, until time.Time, fn func(*novamed.AuditRecord) error) error {
	return s.ScanAuditRows(ctx, func(row *novamed.AuditRow) error {
		rec, err := audit.Decode(row)
		if err != nil {
			return err
		}
		if (!since.IsZero() && rec.Time.Before(since)) || (!until.IsZero() && !rec.Time.Before(until)) {
			return nil
		}
		return fn(rec)
	})
}

// ScanAuditRows calls fn for every stored audit row in the order of its
// seq column, after chaining whatever is pending. A row stored with its
// hash as bytes (record format 2) is given with that hash in hex and, as
// its PrevHash, the hash of the row before it (of the last pruned segment
// for the first row kept).
func (s *Store) ScanAuditRows(ctx context.Context, fn func(*novamed.AuditRow) error) error {
	if err := s.chainPending(ctx); err != nil {
		return err
	}
	base, prev, err := s.AuditBase(ctx)
	if err != nil {
		return err
	}
	// From after the last pruned record: a prune marks its segment first
	// and deletes its rows after, in batches.
	return s.scanAuditRange(ctx, base+1, 0, prev, fn)
}

// scanAuditRange is ScanAuditRows for the rows with from <= seq <= to (0:
// unbounded), prev being the hash before the first.
func (s *Store) scanAuditRange(ctx context.Context, from, to int64, prev string, fn func(*novamed.AuditRow) error) error {
	q, args := `SELECT seq, at, record, prev_hash, hash, hash_bytes FROM audit_log`, []any{}
	switch {
	case from > 0 && to > 0:
		q, args = q+` WHERE seq >= ? AND seq <= ?`, append(args, from, to)
	case from > 0:
		q, args = q+` WHERE seq >= ?`, append(args, from)
	case to > 0:
		q, args = q+` WHERE seq <= ?`, append(args, to)
	}
	rows, err := s.read.query(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: scan audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row novamed.AuditRow
		var at int64
		var raw string
		var sum []byte
		if err := rows.Scan(&row.Seq, &at, &raw, &row.PrevHash, &row.Hash, &sum); err != nil {
			return fmt.Errorf("sqlstore: scan audit: %w", err)
		}
		row.At, row.Record = fromMicros(at), []byte(raw)
		if sum != nil {
			row.Hash, row.PrevHash = hex.EncodeToString(sum), prev
		}
		prev = row.Hash
		if err := fn(&row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditHead returns the sequence number and hash of the newest record as
// the chain head remembers them, after chaining whatever is pending.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	if err := s.chainPending(ctx); err != nil {
		return 0, "", err
	}
	var seq int64
	var hash string
	if err := s.read.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("sqlstore: audit head: %w", err)
	}
	return seq, hash, nil
}

// RecentAudit calls fn for each record stored at or after since, newest
// first, after chaining whatever is pending, until fn returns false. It
// reads through the at index (the partner portal's request log); the
// record's own time is what it shows. Unlike ScanAudit it is not a
// verification tool: an edited at may hide a record from it.
func (s *Store) RecentAudit(ctx context.Context, since time.Time, fn func(*novamed.AuditRecord) bool) error {
	if err := s.chainPending(ctx); err != nil {
		return err
	}
	rows, err := s.read.query(ctx, `SELECT seq, at, record FROM audit_log WHERE at >= ? ORDER BY seq DESC`, micros(since))
	if err != nil {
		return fmt.Errorf("sqlstore: recent audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row novamed.AuditRow
		var at int64
		var raw string
		if err := rows.Scan(&row.Seq, &at, &raw); err != nil {
			return fmt.Errorf("sqlstore: recent audit: %w", err)
		}
		row.At, row.Record = fromMicros(at), []byte(raw)
		rec, err := audit.Decode(&row)
		if err != nil {
			return err
		}
		if !fn(rec) {
			return nil
		}
	}
	return rows.Err()
}
