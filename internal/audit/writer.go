package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// IncrementalStore is an audit store whose appends of the records of reads
// may follow its durability mode (sqlstore: AppendAuditIncremental).
type IncrementalStore interface {
	AppendAuditIncremental(ctx context.Context, recs []*novamed.AuditRecord) error
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: writer closed")

type pending struct {
	rec  *novamed.AuditRecord
	done chan error
}

// Writer group-commits audit records: concurrent callers of Record share one
// transaction, and each returns only once its record is committed: durable,
// or, with a store in the incremental durability mode (IncrementalStore),
// handed to the operating system and made durable within the store's flush
// window.
type Writer struct {
	append func(context.Context, []*novamed.AuditRecord) error
	log    *slog.Logger
	queue  chan pending
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

// NewWriter starts a writer on store.
func NewWriter(store novamed.AuditStore, log *slog.Logger) *Writer {
	w := &Writer{append: store.AppendAudit, log: log, queue: make(chan pending, 1024)}
	if is, ok := store.(IncrementalStore); ok {
		w.append = is.AppendAuditIncremental
	}
	w.wg.Add(1)
	go w.loop()
	return w
}

// appendTimeout bounds one batch's write: a stalled database fails the batch
// (its callers answer 503) instead of holding every later record.
const appendTimeout = 10 * time.Second

// Record stores rec and waits until it is committed, or until ctx ends
// (then it returns ctx's error and the caller must not act as if the record
// were written; it may still be). rec belongs to the writer once passed.
func (w *Writer) Record(ctx context.Context, rec *novamed.AuditRecord) error {
	p := pending{rec: rec, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.queue <- p:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	// Once queued the record is written even if the caller gives up waiting.
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) loop() {
	defer w.wg.Done()
	for first := range w.queue {
		batch := []pending{first}
	fill:
		for len(batch) < 512 {
			select {
			case p, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		recs := make([]*novamed.AuditRecord, len(batch))
		for i, p := range batch {
			recs[i] = p.rec
		}
		ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
		err := w.append(ctx, recs)
		cancel()
		if err != nil {
			w.log.Error("audit write failed", "records", len(recs), "err", err)
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

// Close writes what is queued and stops the writer.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	w.wg.Wait()
}
