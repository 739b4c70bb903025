package ratelimit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is the least number of calls between two sweeps of a Memory's
// expired entries.
const sweepEvery = 1024

// Memory is an in-process GCRA limiter, safe for concurrent use.
//
// It keeps one theoretical arrival time (TAT) per subject, in nanoseconds.
// Its memory is bounded: an entry whose TAT has passed says nothing that a
// missing entry does not, and such entries are dropped by an amortised sweep
// that runs after every max(1024, entries left by the previous sweep) calls,
// so a sweep costs O(1) per call and the map holds at most about twice the
// larger of 1024 and the number of subjects active within one window.
//
// The zero value is not usable; create a Memory with NewMemory.
type Memory struct {
	now  func() time.Time
	base time.Time // times are kept as nanoseconds since base

	mu        sync.Mutex
	tats      map[string]int64
	calls     int // calls since the last sweep
	nextSweep int // calls at which the next sweep runs
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty Memory that reads the time from now, or from
// time.Now if now is nil. Tests inject a fake clock through now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:       now,
		base:      now(),
		tats:      make(map[string]int64),
		nextSweep: sweepEvery,
	}
}

// Allow reports whether one request for subject is allowed under a limit of
// limit requests per window, and consumes it if so. It fails only if the
// limit or window is invalid (ErrInvalidLimit) or ctx is done.
func (m *Memory) Allow(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error) {
	return m.decide(ctx, subject, limit, window, true)
}

// Peek reports what Allow would decide for subject now, without consuming.
func (m *Memory) Peek(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error) {
	return m.decide(ctx, subject, limit, window, false)
}

func (m *Memory) decide(ctx context.Context, subject string, limit int, window time.Duration, consume bool) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	t, tau, err := gcraParams(limit, window, time.Nanosecond)
	if err != nil {
		return Decision{}, err
	}
	// The clock is read under the lock, so decisions see time in the order
	// they are made: a stale reading would make Remaining one lower than the
	// request that came first (stricter, never looser, but inconsistent).
	m.mu.Lock()
	now := int64(m.now().Sub(m.base))
	old, ok := m.tats[subject]
	o := gcra(now, old, t, tau, limit, consume)
	if o.allowed && consume {
		m.tats[subject] = o.tat
	} else if ok && old <= now {
		delete(m.tats, subject) // expired: same as absent
	}
	m.calls++
	if m.calls >= m.nextSweep {
		m.sweepLocked(now)
	}
	m.mu.Unlock()

	d := Decision{
		Allowed:   o.allowed,
		Limit:     limit,
		Remaining: o.remaining,
		ResetAt:   m.base.Add(time.Duration(o.tat)),
	}
	if !o.allowed {
		d.RetryAfter = time.Duration(o.retry)
	}
	return d, nil
}

// sweepLocked drops the entries whose TAT is not after now. m.mu must be held.
func (m *Memory) sweepLocked(now int64) {
	for subject, tat := range m.tats {
		if tat <= now {
			delete(m.tats, subject)
		}
	}
	m.calls = 0
	m.nextSweep = max(sweepEvery, len(m.tats))
}
