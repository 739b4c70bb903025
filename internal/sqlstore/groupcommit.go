package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// groupCommitter runs the write transactions of concurrent requests together:
// one BEGIN … COMMIT (one fsync) for a batch, each request's work inside its
// own savepoint, so a request that fails rolls back alone. Every request
// returns only after the shared commit, so nothing is acknowledged before it
// is durable. SQLite has one writer anyway; batching turns the queue of
// writers into shared commits instead of one fsync each.
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
}

type commitJob struct {
	ctx context.Context
	fn  func(*sql.Tx) error
	err chan error
}

func newGroupCommitter(db *sql.DB, maxBatch int, onCommit func(int, time.Duration)) (*groupCommitter, error) {
	g := &groupCommitter{db: db, jobs: make(chan *commitJob, 4*maxBatch), maxBatch: maxBatch, done: make(chan struct{}), onCommit: onCommit}
	var err error
	if g.savepoint, err = db.Prepare(`SAVEPOINT job`); err != nil {
		return nil, err
	}
	if g.release, err = db.Prepare(`RELEASE job`); err != nil {
		g.savepoint.Close()
		return nil, err
	}
	go g.loop()
	return g, nil
}

// run submits fn and waits for the batch holding it to commit.
func (g *groupCommitter) run(ctx context.Context, fn func(*sql.Tx) error) error {
	j := &commitJob{ctx: ctx, fn: fn, err: make(chan error, 1)}
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
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	for first := range g.jobs {
		batch := []*commitJob{first}
	fill:
		for len(batch) < g.maxBatch {
			select {
			case j, ok := <-g.jobs:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		g.commit(batch)
	}
}

// commit runs a batch in one transaction. A job whose work fails is rolled
// back to its savepoint and gets its own error; if the commit itself fails,
// every job that had succeeded gets that error.
func (g *groupCommitter) commit(batch []*commitJob) {
	ctx := context.Background()
	start := time.Now()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		for _, j := range batch {
			j.err <- fmt.Errorf("sqlstore: begin: %w", err)
		}
		return
	}
	results := make([]error, len(batch))
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := tx.StmtContext(ctx, g.savepoint).ExecContext(ctx); err != nil {
			results[i] = fmt.Errorf("sqlstore: savepoint: %w", err)
			continue
		}
		results[i] = runJob(j, tx)
		if results[i] != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO job`); err != nil {
				// SQLite rolled back the whole transaction (a statement was
				// interrupted, e.g. its request was cancelled): this job
				// fails, and every other job of the batch runs again in a
				// fresh transaction — none of them was committed.
				tx.Rollback() //nolint:errcheck // already rolled back
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
		if _, err := tx.StmtContext(ctx, g.release).ExecContext(ctx); err != nil && results[i] == nil {
			results[i] = fmt.Errorf("sqlstore: release savepoint: %w", err)
		}
	}
	commitErr := tx.Commit()
	if commitErr == nil && g.onCommit != nil {
		g.onCommit(len(batch), time.Since(start))
	}
	for i, j := range batch {
		if results[i] == nil && commitErr != nil {
			results[i] = fmt.Errorf("sqlstore: commit: %w", commitErr)
		}
		j.err <- results[i]
	}
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
