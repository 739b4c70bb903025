package auditarchive

import (
	"context"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// pacer keeps a background pass from taking the CPU (and SQLite's one
// writer) that requests need: after each chunk of work it pauses in
// proportion to how long the chunk took, so the pass works at most share
// of the wall time. A nil pacer never pauses (an operator's run, verify
// and export go at full speed).
type pacer struct {
	share float64
	n     int       // units of work since the last pause
	since time.Time // when the work since the last pause began
	// renew, when set, extends the pass's lease; a paced pass may
	// outlast it, so pauses renew it every leaseTTL/4.
	renew   func(context.Context) error
	renewed time.Time
}

// unpacedScan is how many records one query of an unpaced scan reads.
const unpacedScan = 4096

// paceEvery is how many units (records) a chunk holds between pauses: a
// millisecond or so of hashing, decoding or encoding.
const paceEvery = 64

func newPacer(share float64) *pacer {
	now := time.Now()
	return &pacer{share: share, since: now, renewed: now}
}

// step counts one unit of work and pauses after every paceEvery.
func (p *pacer) step(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if p.n++; p.n < paceEvery {
		return nil
	}
	return p.pause(ctx)
}

// pause ends a chunk: it sleeps (1-share)/share times as long as the
// chunk took, or until ctx ends.
func (p *pacer) pause(ctx context.Context) error {
	if p == nil {
		return nil
	}
	worked := time.Since(p.since)
	t := time.NewTimer(time.Duration(float64(worked) * (1 - p.share) / p.share))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	p.n, p.since = 0, time.Now()
	if p.renew != nil && p.since.Sub(p.renewed) > leaseTTL/4 {
		if err := p.renew(ctx); err != nil {
			return err
		}
		p.renewed = p.since
	}
	return nil
}

// between is pause as a callback between batches (nil for a nil pacer).
func (p *pacer) between(ctx context.Context) func() error {
	if p == nil {
		return nil
	}
	return func() error { return p.pause(ctx) }
}

// scanRows is Store.ScanAuditSegmentRows from first to last, paced: in
// chunks of paceEvery records, each its own query, pausing between
// them, so no read transaction stays open across a pause (it would hold
// back SQLite's checkpoint). Unpaced, in queries of unpacedScan records.
func (a *Archiver) scanRows(ctx context.Context, first, last int64, prev string, p *pacer, fn func(*novamed.AuditRow) error) error {
	chunk := int64(paceEvery)
	if p == nil {
		// Unpaced, in larger queries, still bounded: a seal that stops
		// at the size cut must not have asked for the whole backlog
		// (PostgreSQL's driver reads the rest of a result on close).
		chunk = unpacedScan
	}
	for from := first; from <= last; from += chunk {
		to := min(from+chunk-1, last)
		err := a.cfg.Store.ScanAuditSegmentRows(ctx, from, to, prev, func(row *novamed.AuditRow) error {
			prev = row.Hash
			return fn(row)
		})
		if err != nil {
			return err
		}
		if err := p.pause(ctx); err != nil {
			return err
		}
	}
	return nil
}
