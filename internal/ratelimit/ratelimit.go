package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidLimit is returned, wrapped, by Allow and Peek when the limit or
// window is not positive, or when the window is too short to give each of
// the limit's requests a nonzero share of it at the limiter's resolution.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit or window")

// Decision is the outcome of one Allow call.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is N, the number of requests allowed per window.
	Limit int
	// Remaining is how many more requests are allowed right now (>= 0).
	Remaining int
	// ResetAt is when the subject's allowance will be completely full again;
	// it is never before the time of the decision. For an
	// X-RateLimit-Reset header, round it up to whole unix seconds.
	ResetAt time.Time
	// RetryAfter is, when !Allowed, how long until one request will be
	// allowed (> 0); it is zero when Allowed.
	RetryAfter time.Duration
}

// Limiter decides whether one more request for a subject is allowed.
type Limiter interface {
	// Allow reports whether one request for subject is allowed under a limit
	// of limit requests per window, and consumes it if so.
	Allow(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error)
	// Peek reports the state without consuming: Allowed and RetryAfter tell
	// whether a request would be allowed now, and Remaining how many would.
	Peek(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error)
}

// gcraParams returns the emission interval T = window/limit and the tolerance
// tau = T*limit, both in multiples of unit.
func gcraParams(limit int, window, unit time.Duration) (t, tau int64, err error) {
	if limit <= 0 || window <= 0 {
		return 0, 0, fmt.Errorf("%w: limit %d per %v", ErrInvalidLimit, limit, window)
	}
	t = int64(window/time.Duration(limit)) / int64(unit)
	if t <= 0 {
		return 0, 0, fmt.Errorf("%w: limit %d per %v is finer than %v per request", ErrInvalidLimit, limit, window, unit)
	}
	return t, t * int64(limit), nil
}

// outcome is a GCRA decision in the integer time unit of its inputs.
type outcome struct {
	allowed   bool
	tat       int64 // the subject's TAT after the call: when it is full again
	remaining int
	retry     int64 // when !allowed: how long until one request is allowed
}

// gcra decides one request at time now for a subject whose theoretical
// arrival time is tat, with emission interval t and tolerance tau. A tat
// before now means the subject is idle and full. If consume is false, the
// returned TAT is unchanged even when the request would be allowed.
func gcra(now, tat, t, tau int64, limit int, consume bool) outcome {
	tat = max(tat, now)
	newTAT := tat + t
	allowAt := newTAT - tau
	if now < allowAt {
		return outcome{tat: tat, remaining: remaining(now, tat, t, tau, limit), retry: allowAt - now}
	}
	if consume {
		tat = newTAT
	}
	return outcome{allowed: true, tat: tat, remaining: remaining(now, tat, t, tau, limit)}
}

// remaining returns floor((tau - (tat - now)) / t) clamped to [0, limit].
func remaining(now, tat, t, tau int64, limit int) int {
	free := tau - (tat - now)
	if free <= 0 {
		return 0
	}
	return int(min(free/t, int64(limit)))
}
