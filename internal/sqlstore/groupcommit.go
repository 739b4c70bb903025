package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// groupCommitter runs the write transactions of concurrent requests together:
// one BEGIN … COMMIT (one fsync, synchronous=FULL) for a batch, each
// request's work inside its own savepoint, so a request that fails rolls back
// alone. Every request returns only after the shared commit, so nothing is
// acknowledged before it is durable. SQLite has one writer anyway; batching
// turns the queue of writers into shared commits instead of one fsync each.
//
// The fsync stays inside COMMIT on purpose. Committing with
// synchronous=NORMAL and fsyncing the WAL from a second goroutine before
// answering (tried) lets the writer run on during the fsync, but SQLite shows
// a NORMAL commit to readers before it is on disk: another request could
// replay a remembered answer, or list a row, that a power loss then takes
// back. With FULL, SQLite syncs the WAL before it publishes the commit.
type groupCommitter struct {
	db       *sql.DB
	jobs     chan *commitJob
	maxBatch int
	done     chan struct{}
	mu       sync.RWMutex // guards closed against sends on a closed channel
	closed   bool
	onCommit func(int, time.Duration)
	// The two statements every job runs, prepared once on the one write
	// connection.
	savepoint, release *sql.Stmt
	// The switches between synchronous=FULL and NORMAL (see setSynchronous).
	full, norm *sql.Stmt
	// Audit records of a batch's jobs are chained and inserted once, after
	// the last job and before COMMIT (one read and one update of the chain
	// head per batch instead of per job): writeAudit does that; cur is the
	// batch's transaction while its jobs run; jobAudit holds the running
	// job's records until the job succeeds (a job rolled back to its
	// savepoint leaves none). Only the committer goroutine touches jobAudit.
	writeAudit func(*sql.Tx, []*novamed.AuditRecord) error
	cur        atomic.Pointer[sql.Tx]
	jobAudit   []*novamed.AuditRecord
	// flusher (the incremental audit durability mode) hears of every
	// commit; normal says the connection is at synchronous=NORMAL. Only
	// the committer goroutine touches normal.
	flusher *flusher
	normal  bool
	// ckpt checkpoints the WAL after a batch is answered, once
	// checkpointJobs jobs have committed since the last time (see
	// maybeCheckpoint); sinceCheckpoint is the committer goroutine's.
	ckpt            *sql.Stmt
	sinceCheckpoint int
}

// checkpointJobs is how many committed jobs the committer lets into the
// WAL before it checkpoints between batches (~4,500 WAL pages of patient
// creates).
const checkpointJobs = 500

type commitJob struct {
	ctx context.Context
	fn  func(*sql.Tx) error
	err chan error
	// relaxed: the job only stores audit records of reads, or deletes
	// audit rows already pruned (inRelaxedTx), which may be committed at
	// synchronous=NORMAL (see AppendAuditIncremental).
	relaxed bool
}

// newGroupCommitter starts a committer on db's single connection.
//
// writeAudit, when set, stores the audit records the batch's jobs deferred
// (see deferAudit) inside the batch's transaction.
func newGroupCommitter(db *sql.DB, maxBatch int, onCommit func(int, time.Duration),
	writeAudit func(*sql.Tx, []*novamed.AuditRecord) error) (*groupCommitter, error) {
	g := &groupCommitter{db: db, jobs: make(chan *commitJob, 4*maxBatch), maxBatch: maxBatch, done: make(chan struct{}), onCommit: onCommit,
		writeAudit: writeAudit}
	var err error
	if g.savepoint, err = db.Prepare(`SAVEPOINT job`); err != nil {
		return nil, err
	}
	if g.release, err = db.Prepare(`RELEASE job`); err != nil {
		g.savepoint.Close()
		return nil, err
	}
	if g.full, err = db.Prepare(`PRAGMA synchronous = FULL`); err == nil {
		if g.norm, err = db.Prepare(`PRAGMA synchronous = NORMAL`); err == nil {
			g.ckpt, err = db.Prepare(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
	if err != nil {
		g.savepoint.Close()
		g.release.Close()
		for _, st := range []*sql.Stmt{g.full, g.norm} {
			if st != nil {
				st.Close()
			}
		}
		return nil, err
	}
	go g.loop()
	return g, nil
}

// run submits fn and waits for the batch holding it to commit.
func (g *groupCommitter) run(ctx context.Context, fn func(*sql.Tx) error) error {
	return g.submit(&commitJob{ctx: ctx, fn: fn, err: make(chan error, 1)})
}

// runRelaxed is run for a job that stores only the audit records of reads
// (or deletes pruned audit rows, inRelaxedTx):
// a batch of nothing but such jobs commits at synchronous=NORMAL, its WAL
// frames written to the OS but not fsynced (the flusher does that).
func (g *groupCommitter) runRelaxed(ctx context.Context, fn func(*sql.Tx) error) error {
	return g.submit(&commitJob{ctx: ctx, fn: fn, err: make(chan error, 1), relaxed: true})
}

func (g *groupCommitter) submit(j *commitJob) error {
	ctx := j.ctx
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return errors.New("sqlstore: store closed")
	}
	select {
	case g.jobs <- j:
	case <-ctx.Done():
		g.mu.RUnlock()
		return ctx.Err()
	}
	g.mu.RUnlock()
	// Once queued, the job's fn may still run, so the caller waits for
	// its result even past its deadline (fn writes into the caller's
	// variables): a SQLite write is bounded by busy_timeout and the disk.
	return <-j.err
}

// close commits what is queued and stops; it may be called more than once.
func (g *groupCommitter) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.jobs)
	}
	g.mu.Unlock()
	<-g.done
	g.savepoint.Close()
	g.release.Close()
	g.full.Close()
	g.norm.Close()
	g.ckpt.Close()
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	for first := range g.jobs {
		batch := takeQueued(g.jobs, []*commitJob{first}, g.maxBatch)
		g.commit(batch)
		g.maybeCheckpoint(len(batch))
	}
}

// maybeCheckpoint copies the WAL's committed pages into the database file
// once checkpointJobs jobs have been through the committer since the last
// time (n more just were). It runs after the batch's requests were
// answered, so they do not wait for it (SQLite's automatic checkpoint runs
// inside the COMMIT that crosses wal_autocheckpoint, before any of the
// batch is answered); writes that arrive meanwhile wait in the queue for
// it (a few milliseconds every 500 jobs) and then commit as one batch. A checkpoint copies each
// page changed since the last one once, however often it changed, so
// checkpointing every few thousand WAL pages rather than every 1,000 copies
// fewer pages per write. A failed or partial checkpoint changes
// nothing that matters: the pages stay in the WAL for the next one, and
// the DSN's wal_autocheckpoint remains the backstop.
func (g *groupCommitter) maybeCheckpoint(n int) {
	if g.sinceCheckpoint += n; g.sinceCheckpoint < checkpointJobs {
		return
	}
	g.ckpt.Exec() //nolint:errcheck // see above: retried after the next jobs
	g.sinceCheckpoint = 0
}

// takeQueued appends to batch what ch holds right now, without waiting,
// up to max items in all.
func takeQueued[T any](ch <-chan T, batch []T, max int) []T {
	for len(batch) < max {
		select {
		case v, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, v)
		default:
			return batch
		}
	}
	return batch
}

// commit runs a batch in one transaction. A job whose work fails is rolled
// back to its savepoint and gets its own error; if the commit itself fails,
// every job that had succeeded gets that error.
func (g *groupCommitter) commit(batch []*commitJob) {
	ctx := context.Background()
	start := time.Now()
	relaxed := g.flusher != nil
	for _, j := range batch {
		relaxed = relaxed && j.relaxed
	}
	if err := g.setSynchronous(ctx, relaxed); err != nil && !relaxed {
		// Still at NORMAL: no write may commit. (A relaxed batch whose
		// switch failed commits at FULL, which is only slower.)
		for _, j := range batch {
			j.err <- fmt.Errorf("sqlstore: synchronous: %w", err)
		}
		return
	}
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		for _, j := range batch {
			j.err <- fmt.Errorf("sqlstore: begin: %w", err)
		}
		return
	}
	results := make([]error, len(batch))
	g.cur.Store(tx)
	defer g.cur.Store(nil)
	var batchAudit []*novamed.AuditRecord
	for i, j := range batch {
		g.jobAudit = nil
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.StmtContext(ctx, g.savepoint).ExecContext(ctx); err != nil {
			results[i] = fmt.Errorf("sqlstore: savepoint: %w", err)
			continue
		}
		results[i] = runJob(j, tx)
		if results[i] == nil {
			_, err := tx.StmtContext(ctx, g.release).ExecContext(ctx)
			if err == nil {
				batchAudit = append(batchAudit, g.jobAudit...)
				continue
			}
			results[i] = fmt.Errorf("sqlstore: release savepoint: %w", err)
		}
		// The job failed (or its savepoint could not be released): undo its
		// writes, so none of them commits without its audit records.
		_, err := tx.ExecContext(ctx, `ROLLBACK TO job`)
		if err == nil {
			_, err = tx.StmtContext(ctx, g.release).ExecContext(ctx)
		}
		if err != nil {
			// The job's writes cannot be separated from the batch (SQLite
			// rolled back the whole transaction because a statement was
			// interrupted, or the savepoint is gone): this job fails, and
			// every other job of the batch runs again in a fresh
			// transaction — none of them was committed.
			tx.Rollback() //nolint:errcheck // failing anyway
			j.err <- results[i]
			rest := make([]*commitJob, 0, len(batch)-1)
			rest = append(rest, batch[:i]...)
			rest = append(rest, batch[i+1:]...)
			if len(rest) > 0 {
				g.commit(rest)
			}
			return
		}
	}
	g.jobAudit = nil
	if len(batchAudit) > 0 {
		if err := g.writeAudit(tx, batchAudit); err != nil {
			// Without its audit records no write of the batch may commit.
			tx.Rollback() //nolint:errcheck // failing anyway
			for i := range results {
				if results[i] == nil {
					results[i] = err
				}
			}
			answer(batch, results)
			return
		}
	}
	commitErr := tx.Commit()
	if commitErr == nil && g.onCommit != nil {
		g.onCommit(len(batch), time.Since(start))
	}
	if commitErr == nil && g.flusher != nil {
		if g.normal {
			g.flusher.written()
		} else {
			g.flusher.synced()
		}
	}
	for i := range batch {
		if results[i] == nil && commitErr != nil {
			results[i] = fmt.Errorf("sqlstore: commit: %w", commitErr)
		}
	}
	answer(batch, results)
}

// setSynchronous puts the write connection at synchronous=NORMAL for a
// relaxed batch and back at FULL for any other. SQLite refuses the change
// inside a transaction, so it is made between batches. A connection that
// database/sql replaced starts at FULL (the DSN's), never less safe than
// normal says.
func (g *groupCommitter) setSynchronous(ctx context.Context, relaxed bool) error {
	if relaxed == g.normal {
		return nil
	}
	st := g.full
	if relaxed {
		st = g.norm
	}
	if _, err := st.ExecContext(ctx); err != nil {
		return err
	}
	g.normal = relaxed
	return nil
}

func answer(jobs []*commitJob, results []error) {
	for i, j := range jobs {
		j.err <- results[i]
	}
}

// deferAudit queues recs, written by the job running in tx, for the batch's
// one audit append, and reports whether it did: false when tx is not the
// transaction of a group commit job (the caller then appends at once).
func (g *groupCommitter) deferAudit(tx *sql.Tx, recs []*novamed.AuditRecord) bool {
	if g == nil || g.writeAudit == nil || g.cur.Load() != tx {
		return false
	}
	g.jobAudit = append(g.jobAudit, recs...)
	return true
}

// runJob runs one job's work, turning a panic into an error so one bad
// request cannot take the batch down.
func runJob(j *commitJob, tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("sqlstore: write panicked: %v", v)
		}
	}()
	return j.fn(tx)
}
