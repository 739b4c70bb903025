package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// AuditDurability says when the audit record of a read (a request that
// writes nothing else) must be on stable storage. A write's audit record is
// always committed, fsynced, inside the write's own transaction.
type AuditDurability string

// Audit durability modes (docs/decisions.md, issue 27).
const (
	// DurabilityIncremental (the default, as auditd's incremental_async and
	// PostgreSQL's synchronous_commit=off): a read's record is handed to the
	// operating system before the answer leaves, so a killed process loses
	// nothing, and reaches stable storage within the flush window.
	DurabilityIncremental AuditDurability = "incremental"
	// DurabilityStrict: a read's record is fsynced before the answer leaves.
	DurabilityStrict AuditDurability = "strict"
)

// DefaultAuditFlushWindow bounds, by default, how long an incremental
// record may wait for stable storage.
const DefaultAuditFlushWindow = 50 * time.Millisecond

// ParseAuditDurability reads a --audit-durability value.
func ParseAuditDurability(v string) (AuditDurability, error) {
	switch d := AuditDurability(v); d {
	case DurabilityIncremental, DurabilityStrict:
		return d, nil
	}
	return "", fmt.Errorf("audit durability must be incremental or strict, not %q", v)
}

// ErrAuditFlushFailing is returned for incremental audit appends while the
// last flush of earlier records to stable storage failed: no read is
// answered until a flush succeeds. FaultOf classifies it Unavailable (503).
var ErrAuditFlushFailing = errors.New("sqlstore: audit records could not be flushed to stable storage")

// RuleAuditFlushFailed names the security event stored when a flush of
// incremental audit records fails.
const RuleAuditFlushFailed = "audit_flush_failed"

// AppendAuditIncremental stores the audit records of reads. In the strict
// mode it is AppendAudit. In the incremental mode the records are committed
// without waiting for stable storage: SQLite commits them at
// synchronous=NORMAL (the WAL frames are written to the OS before COMMIT
// returns; only the fsync is left out), PostgreSQL with synchronous_commit
// off (the commit is in the server's WAL buffers); a flusher makes them
// durable within the window. While a flush is failing it refuses with
// ErrAuditFlushFailing.
func (s *Store) AppendAuditIncremental(ctx context.Context, recs []*novamed.AuditRecord) error {
	f := s.flusher
	if f == nil {
		return s.AppendAudit(ctx, recs)
	}
	if err := f.failing(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if s.group != nil {
		return s.group.runRelaxed(ctx, func(tx *sql.Tx) error { return s.appendAudit(ctx, s.newTxn(tx), recs) })
	}
	tx, err := s.writeDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := s.newTxn(tx).exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return fmt.Errorf("sqlstore: synchronous_commit: %w", err)
	}
	if err := s.writeAudit(ctx, s.newTxn(tx), recs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	f.written()
	return nil
}

// AuditFlushErr is nil unless the last flush of incremental audit records
// failed (then reads are refused and /readyz answers 503).
func (s *Store) AuditFlushErr() error {
	if s.flusher == nil {
		return nil
	}
	return s.flusher.failing()
}

// AuditDurability is the store's audit durability mode.
func (s *Store) AuditDurability() AuditDurability {
	if s.flusher == nil {
		return DurabilityStrict
	}
	return DurabilityIncremental
}

// startFlusher starts the incremental mode's flusher (nothing in the strict
// mode). sync makes every commit made before it started durable.
func (s *Store) startFlusher(opts Options, sync func(context.Context) error) error {
	mode := opts.AuditDurability
	if mode == "" {
		mode = DurabilityIncremental
	}
	if _, err := ParseAuditDurability(string(mode)); err != nil {
		return err
	}
	if mode == DurabilityStrict {
		return nil
	}
	window := opts.AuditFlushWindow
	if window == 0 {
		window = DefaultAuditFlushWindow
	}
	if window < 2*time.Millisecond {
		return fmt.Errorf("sqlstore: audit flush window %v is below 2ms", window)
	}
	fault := opts.AuditFlushFault
	s.flusher = newFlusher(window, func(ctx context.Context) error {
		if fault != nil {
			if err := fault(); err != nil {
				return err
			}
		}
		return sync(ctx)
	}, func(err error, since time.Time) { s.flushStateChanged(opts.OnAuditFlush, err, since) })
	if s.group != nil {
		s.group.flusher = s.flusher
	}
	return nil
}

// flushStateChanged reports a flush that failed (err set) or the first that
// succeeded after failures (err nil), and stores a security event for
// each: the failure's may not be storable while the disk fails, the
// recovery's says when the failing began.
func (s *Store) flushStateChanged(notify func(error), err error, since time.Time) {
	if notify != nil {
		notify(err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	detail := map[string]any{"failing_since": since.UTC().Format(time.RFC3339Nano)}
	if err != nil {
		detail["error"] = err.Error()
	} else {
		detail["recovered_at"] = now.Format(time.RFC3339Nano)
	}
	ev := &novamed.SecurityEvent{ID: uuid.Must(uuid.NewV7()).String(), At: now, Rule: RuleAuditFlushFailed, Detail: detail}
	rec := &novamed.AuditRecord{Time: now, RequestID: "security-" + ev.ID, Action: "security." + RuleAuditFlushFailed}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// With the disk failing this write may fail too; the event at the
	// recovery then still says when the failing began.
	s.RecordSecurityEvent(ctx, ev, rec) //nolint:errcheck // see above; notify has logged the failure
}

// syncWAL fsyncs SQLite's write-ahead log: every frame written before the
// call (every commit made at synchronous=NORMAL) is then on stable storage.
// On Linux fsync flushes the file's dirty pages whichever descriptor asks.
func (s *Store) syncWAL(context.Context) error {
	f, err := os.Open(s.path + "-wal")
	if errors.Is(err, os.ErrNotExist) {
		return nil // no log: every commit is in the database file, synced by its checkpoint
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncPostgres makes every asynchronous commit made before it durable. A
// synchronously committed transaction that writes WAL flushes the WAL up to
// its commit record, and so every commit before it; the chaining pass is
// such a transaction (it locks the chain head's row, which is WAL-logged and
// takes a transaction id), and it also chains the records just stored.
func (s *Store) syncPostgres(ctx context.Context) error {
	n, err := s.chainPendingOnce(ctx)
	if err == nil && n == chainBatch {
		err = s.chainPending(ctx)
	}
	return err
}

// flusher makes incremental commits durable within its window: woken by
// the first commit not yet durable, it waits half the window (gathering
// more), then syncs. A record is durable at most window/2 plus two syncs
// after its commit. A failed sync is retried every half window; until one
// succeeds, failing reports the error.
type flusher struct {
	window time.Duration
	sync   func(context.Context) error
	change func(err error, since time.Time)

	mu      sync.Mutex
	commits uint64    // incremental commits made
	durable uint64    // of them, known durable
	err     error     // the last sync's error
	since   time.Time // when the failing began

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func newFlusher(window time.Duration, sync func(context.Context) error, change func(error, time.Time)) *flusher {
	f := &flusher{window: window, sync: sync, change: change, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go f.loop()
	return f
}

// written notes an incremental commit.
func (f *flusher) written() {
	f.mu.Lock()
	f.commits++
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// synced notes a commit that synced the log (SQLite at FULL): every
// incremental commit before it is durable too.
func (f *flusher) synced() {
	f.mu.Lock()
	f.durable = f.commits
	f.mu.Unlock()
}

func (f *flusher) failing() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return fmt.Errorf("%w: %v", ErrAuditFlushFailing, f.err)
	}
	return nil
}

func (f *flusher) pending() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err != nil || f.commits > f.durable
}

func (f *flusher) loop() {
	defer close(f.done)
	for {
		select {
		case <-f.stop:
			return
		case <-f.wake:
		}
		for f.pending() {
			t := time.NewTimer(f.window / 2)
			select {
			case <-f.stop:
				t.Stop()
				return
			case <-t.C:
			}
			f.flush()
		}
	}
}

// flush syncs once and records the outcome.
func (f *flusher) flush() {
	f.mu.Lock()
	target := f.commits
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := f.sync(ctx)
	cancel()
	f.mu.Lock()
	wasFailing, since := f.err != nil, f.since
	if err == nil {
		f.durable = max(f.durable, target)
		f.err = nil
	} else if !wasFailing {
		f.err, f.since = err, time.Now()
		since = f.since
	} else {
		f.err = err
	}
	f.mu.Unlock()
	switch {
	case err != nil && !wasFailing, err == nil && wasFailing:
		f.change(err, since)
	}
}

// stopLoop stops the background flushes.
func (f *flusher) stopLoop() {
	f.stopOnce.Do(func() { close(f.stop) })
	<-f.done
}

// finish syncs, after stopLoop and the last commit, whatever is not yet
// durable.
func (f *flusher) finish() error {
	if !f.pending() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.sync(ctx)
}
