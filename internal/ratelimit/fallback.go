package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// Fallback uses a shared limiter (Redis) and, while it fails, a local one:
// limits then hold per process instead of across replicas (degraded, never
// unlimited). After a failure the shared limiter is left alone for
// Cooldown (default 2 s), so an outage does not add a connection timeout to
// every request. Switching is logged once each way.
type Fallback struct {
	Shared, Local Limiter
	Log           *slog.Logger
	Cooldown      time.Duration
	degraded      atomic.Bool
	retryAt       atomic.Int64 // unix nanoseconds before which Shared is skipped
}

var _ Limiter = (*Fallback)(nil)

// Allow decides with the shared limiter, or the local one if it fails.
func (f *Fallback) Allow(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error) {
	return f.decide(ctx, subject, limit, window, Limiter.Allow)
}

// Peek reports with the shared limiter, or the local one if it fails.
func (f *Fallback) Peek(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error) {
	return f.decide(ctx, subject, limit, window, Limiter.Peek)
}

func (f *Fallback) decide(ctx context.Context, subject string, limit int, window time.Duration,
	op func(Limiter, context.Context, string, int, time.Duration) (Decision, error)) (Decision, error) {
	if time.Now().UnixNano() < f.retryAt.Load() {
		return op(f.Local, ctx, subject, limit, window)
	}
	d, err := op(f.Shared, ctx, subject, limit, window)
	if err != nil && (ctx.Err() != nil || errors.Is(err, ErrInvalidLimit)) {
		return d, err // the caller gave up, or asked wrongly: not an outage
	}
	if err == nil {
		if f.degraded.CompareAndSwap(true, false) {
			f.Log.Info("shared rate limiter is back; limits hold across replicas again")
		}
		return d, nil
	}
	cooldown := f.Cooldown
	if cooldown <= 0 {
		cooldown = 2 * time.Second
	}
	f.retryAt.Store(time.Now().Add(cooldown).UnixNano())
	if f.degraded.CompareAndSwap(false, true) {
		f.Log.Warn("shared rate limiter unavailable; limiting per process until it returns", "err", err)
	}
	return op(f.Local, ctx, subject, limit, window)
}

// Degraded reports whether the local limiter is in use.
func (f *Fallback) Degraded() bool { return f.degraded.Load() }
