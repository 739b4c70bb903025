package ratelimit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

type failing struct{ err error }

func (f failing) Allow(context.Context, string, int, time.Duration) (Decision, error) {
	return Decision{}, f.err
}
func (f failing) Peek(context.Context, string, int, time.Duration) (Decision, error) {
	return Decision{}, f.err
}

// TestFallbackLimitsLocallyWhileSharedFails: a broken shared limiter never
// means unlimited.
func TestFallbackLimitsLocallyWhileSharedFails(t *testing.T) {
	shared := &failing{err: errors.New("redis down")}
	f := &Fallback{Cooldown: time.Hour, Shared: shared, Local: NewMemory(nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	allowed := 0
	for i := 0; i < 10; i++ {
		if d, err := f.Allow(context.Background(), "k", 3, time.Minute); err == nil && d.Allowed {
			allowed++
		}
	}
	if allowed != 3 || !f.Degraded() {
		t.Fatalf("allowed %d (degraded %v), want 3 from the local limiter", allowed, f.Degraded())
	}
	// During the cooldown the shared limiter is not asked at all.
	f.Shared = &failing{err: errors.New("must not be called")}
	if _, err := f.Allow(context.Background(), "k2", 3, time.Minute); err != nil {
		t.Fatalf("shared limiter asked during cooldown: %v", err)
	}
	// Recovery is tried after the cooldown.
	f.Shared = NewMemory(nil)
	f.retryAt.Store(0)
	if d, err := f.Allow(context.Background(), "k", 3, time.Minute); err != nil || !d.Allowed || f.Degraded() {
		t.Fatalf("after recovery: %+v %v degraded=%v", d, err, f.Degraded())
	}
}

// TestFallbackIgnoresCancelledRequests: a caller that gave up is not an
// outage of the shared limiter.
func TestFallbackIgnoresCancelledRequests(t *testing.T) {
	shared := NewMemory(nil)
	f := &Fallback{Shared: ctxAware{shared}, Local: NewMemory(nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Allow(ctx, "k", 3, time.Minute); err == nil {
		t.Fatalf("a cancelled request was decided")
	}
	if f.Degraded() {
		t.Fatalf("a cancelled request degraded the shared limiter")
	}
}

// ctxAware fails like a network client when its context is done.
type ctxAware struct{ Limiter }

func (c ctxAware) Allow(ctx context.Context, s string, l int, w time.Duration) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	return c.Limiter.Allow(ctx, s, l, w)
}
