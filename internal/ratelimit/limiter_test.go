package ratelimit

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// harness makes fresh limiters of one implementation for testLimiter.
type harness struct {
	// newLimiter returns a fresh limiter and a function that lets d pass on
	// its clock: a fake clock's advance, or time.Sleep.
	newLimiter func(t *testing.T) (Limiter, func(d time.Duration))
	// newRealClock returns a fresh limiter that runs on the real clock.
	newRealClock func(t *testing.T) Limiter
}

// Limits used by testLimiter. The long window makes refills during a test
// impossible (one request per six minutes), even on a real clock.
const (
	testLimit  = 10
	testWindow = time.Hour
)

// testLimiter checks the behaviour that every Limiter must have.
func testLimiter(t *testing.T, h harness) {
	t.Run("ExactlyNOfNPlusKSequential", func(t *testing.T) {
		l, _ := h.newLimiter(t)
		allowed := 0
		for i := range testLimit + 7 {
			d, err := l.Allow(t.Context(), "key:a", testLimit, testWindow)
			if err != nil {
				t.Fatalf("Allow #%d: %v", i, err)
			}
			if d.Allowed {
				allowed++
			}
			if got, want := d.Allowed, i < testLimit; got != want {
				t.Errorf("Allow #%d: Allowed = %v, want %v", i, got, want)
			}
		}
		if got, want := allowed, testLimit; got != want {
			t.Errorf("allowed %d of %d, want %d", got, testLimit+7, want)
		}
	})

	t.Run("ExactlyNOfNPlusKConcurrent", func(t *testing.T) {
		const (
			limit      = 100
			goroutines = 64
			each       = 4 // 256 requests in all
		)
		l := h.newRealClock(t)
		var (
			mu        sync.Mutex
			remaining []int
			denied    int
			errs      []error
			wg        sync.WaitGroup
			start     = make(chan struct{})
		)
		for range goroutines {
			wg.Go(func() {
				<-start
				for range each {
					d, err := l.Allow(t.Context(), "key:shared", limit, testWindow)
					mu.Lock()
					switch {
					case err != nil:
						errs = append(errs, err)
					case d.Allowed:
						remaining = append(remaining, d.Remaining)
					default:
						denied++
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("Allow failed %d times, first: %v", len(errs), errs[0])
		}
		if got, want := len(remaining), limit; got != want {
			t.Errorf("allowed %d of %d, want %d", got, goroutines*each, want)
		}
		if got, want := denied, goroutines*each-limit; got != want {
			t.Errorf("denied %d, want %d", got, want)
		}
		// Each allowed request saw a distinct Remaining: 0..limit-1.
		slices.Sort(remaining)
		for i, r := range remaining {
			if got, want := r, i; got != want {
				t.Fatalf("sorted Remaining of allowed requests [%d] = %d, want %d (all: %v)", i, got, want, remaining)
			}
		}
	})

	t.Run("RemainingDecreases", func(t *testing.T) {
		l, _ := h.newLimiter(t)
		for i := range testLimit + 2 {
			d, err := l.Allow(t.Context(), "key:a", testLimit, testWindow)
			if err != nil {
				t.Fatalf("Allow #%d: %v", i, err)
			}
			if got, want := d.Remaining, max(testLimit-1-i, 0); got != want {
				t.Errorf("Allow #%d: Remaining = %d, want %d", i, got, want)
			}
			if got, want := d.Limit, testLimit; got != want {
				t.Errorf("Allow #%d: Limit = %d, want %d", i, got, want)
			}
		}
	})

	t.Run("RetryAfterWhenDenied", func(t *testing.T) {
		l, _ := h.newLimiter(t)
		emission := testWindow / testLimit
		// On a new subject, ResetAt is the limiter's own idea of now.
		peek, err := l.Peek(t.Context(), "key:a", testLimit, testWindow)
		if err != nil {
			t.Fatal(err)
		}
		before := peek.ResetAt
		for i := range testLimit + 3 {
			d, err := l.Allow(t.Context(), "key:a", testLimit, testWindow)
			if err != nil {
				t.Fatalf("Allow #%d: %v", i, err)
			}
			if d.Allowed {
				if got, want := d.RetryAfter, time.Duration(0); got != want {
					t.Errorf("Allow #%d allowed: RetryAfter = %v, want %v", i, got, want)
				}
				continue
			}
			if d.RetryAfter <= 0 || d.RetryAfter > emission {
				t.Errorf("Allow #%d denied: RetryAfter = %v, want in (0, %v]", i, d.RetryAfter, emission)
			}
			// The allowance is full again one window after the burst.
			if got, want := d.ResetAt.Sub(before), testWindow; got < want-time.Second || got > want+time.Second {
				t.Errorf("Allow #%d denied: ResetAt - now = %v, want about %v", i, got, want)
			}
		}
	})

	t.Run("IndependentSubjects", func(t *testing.T) {
		l, _ := h.newLimiter(t)
		for range testLimit + 1 {
			if _, err := l.Allow(t.Context(), "key:a", testLimit, testWindow); err != nil {
				t.Fatal(err)
			}
		}
		a, err := l.Allow(t.Context(), "key:a", testLimit, testWindow)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := a.Allowed, false; got != want {
			t.Errorf("exhausted subject: Allowed = %v, want %v", got, want)
		}
		for i := range testLimit {
			b, err := l.Allow(t.Context(), "key:b", testLimit, testWindow)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := b.Allowed, true; got != want {
				t.Errorf("other subject, request %d: Allowed = %v, want %v", i, got, want)
			}
		}
	})

	t.Run("PeekDoesNotConsume", func(t *testing.T) {
		l, _ := h.newLimiter(t)
		d, err := l.Peek(t.Context(), "key:a", testLimit, testWindow)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d, (Decision{Allowed: true, Limit: testLimit, Remaining: testLimit, ResetAt: d.ResetAt}); got != want {
			t.Errorf("Peek on a new subject = %+v, want %+v", got, want)
		}
		for range 3 {
			if _, err := l.Allow(t.Context(), "key:a", testLimit, testWindow); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			d, err := l.Peek(t.Context(), "key:a", testLimit, testWindow)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Remaining, testLimit-3; got != want {
				t.Errorf("Peek after 3 Allows: Remaining = %d, want %d", got, want)
			}
		}
		for range testLimit - 3 {
			if _, err := l.Allow(t.Context(), "key:a", testLimit, testWindow); err != nil {
				t.Fatal(err)
			}
		}
		d, err = l.Peek(t.Context(), "key:a", testLimit, testWindow)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 {
			t.Errorf("Peek when exhausted = %+v, want Allowed false, Remaining 0, RetryAfter > 0", d)
		}
	})

	t.Run("RecoveryAfterEmissionInterval", func(t *testing.T) {
		const (
			limit  = 5
			window = time.Second
		)
		l, wait := h.newLimiter(t)
		var last Decision
		for i := range limit + 1 {
			d, err := l.Allow(t.Context(), "key:a", limit, window)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Allowed, i < limit; got != want {
				t.Fatalf("burst request %d: Allowed = %v, want %v", i, got, want)
			}
			last = d
		}
		if last.RetryAfter <= 0 || last.RetryAfter > window/limit {
			t.Fatalf("denied: RetryAfter = %v, want in (0, %v]", last.RetryAfter, window/limit)
		}
		for round := range 2 {
			wait(last.RetryAfter)
			d, err := l.Allow(t.Context(), "key:a", limit, window)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Allowed, true; got != want {
				t.Fatalf("round %d, after waiting RetryAfter: Allowed = %v, want %v (%+v)", round, got, want, d)
			}
			last, err = l.Allow(t.Context(), "key:a", limit, window)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := last.Allowed, false; got != want {
				t.Fatalf("round %d, second request: Allowed = %v, want %v (%+v)", round, got, want, last)
			}
		}
	})

	t.Run("InvalidLimit", func(t *testing.T) {
		l, _ := h.newLimiter(t)
		for _, c := range []struct {
			limit  int
			window time.Duration
		}{
			{0, time.Minute},
			{-1, time.Minute},
			{10, 0},
			{10, -time.Second},
			{10, 9 * time.Nanosecond},
		} {
			t.Run(fmt.Sprintf("%d_per_%v", c.limit, c.window), func(t *testing.T) {
				_, err := l.Allow(t.Context(), "key:a", c.limit, c.window)
				if got, want := err, ErrInvalidLimit; !errors.Is(got, want) {
					t.Errorf("Allow error = %v, want %v", got, want)
				}
				_, err = l.Peek(t.Context(), "key:a", c.limit, c.window)
				if got, want := err, ErrInvalidLimit; !errors.Is(got, want) {
					t.Errorf("Peek error = %v, want %v", got, want)
				}
			})
		}
	})
}
