package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"
)

func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

func TestMemory(t *testing.T) {
	testLimiter(t, harness{
		newLimiter: func(t *testing.T) (Limiter, func(time.Duration)) {
			c := newFakeClock()
			return NewMemory(c.Now), c.Add
		},
		newRealClock: func(t *testing.T) Limiter { return NewMemory(nil) },
	})
}

func TestMemoryExactDecisions(t *testing.T) {
	const (
		limit  = 100
		window = time.Minute
		T      = window / limit // 600ms
	)
	c := newFakeClock()
	start := c.Now()
	m := NewMemory(c.Now)
	allow := func() Decision {
		t.Helper()
		d, err := m.Allow(t.Context(), "key:a", limit, window)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	d := allow()
	if got, want := d, (Decision{Allowed: true, Limit: limit, Remaining: limit - 1, ResetAt: start.Add(T)}); got != want {
		t.Errorf("first Allow = %+v, want %+v", got, want)
	}
	for range limit - 1 {
		d = allow()
	}
	if got, want := d, (Decision{Allowed: true, Limit: limit, Remaining: 0, ResetAt: start.Add(window)}); got != want {
		t.Errorf("last Allow of burst = %+v, want %+v", got, want)
	}
	d = allow()
	if got, want := d, (Decision{Allowed: false, Limit: limit, Remaining: 0, ResetAt: start.Add(window), RetryAfter: T}); got != want {
		t.Errorf("first denied Allow = %+v, want %+v", got, want)
	}

	// One nanosecond early is still too early.
	c.Add(T - time.Nanosecond)
	d = allow()
	if got, want := d, (Decision{Allowed: false, Limit: limit, Remaining: 0, ResetAt: start.Add(window), RetryAfter: time.Nanosecond}); got != want {
		t.Errorf("Allow 1ns early = %+v, want %+v", got, want)
	}
	c.Add(time.Nanosecond)
	d = allow()
	if got, want := d, (Decision{Allowed: true, Limit: limit, Remaining: 0, ResetAt: start.Add(window + T)}); got != want {
		t.Errorf("Allow after T = %+v, want %+v", got, want)
	}

	// After a whole idle window the allowance is full again, and no fuller.
	c.Add(10 * window)
	d, err := m.Peek(t.Context(), "key:a", limit, window)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d, (Decision{Allowed: true, Limit: limit, Remaining: limit, ResetAt: c.Now()}); got != want {
		t.Errorf("Peek after idling = %+v, want %+v", got, want)
	}
	allowed := 0
	for range 2 * limit {
		if allow().Allowed {
			allowed++
		}
	}
	if got, want := allowed, limit; got != want {
		t.Errorf("allowed %d of %d after idling, want %d", got, 2*limit, want)
	}
}

// TestMemoryNoDoubleBurstAtWindowEdge checks the flaw of fixed windows is
// absent: a burst just before a window boundary and one just after it
// together get only N.
func TestMemoryNoDoubleBurstAtWindowEdge(t *testing.T) {
	const (
		limit  = 20
		window = time.Minute
	)
	c := newFakeClock()
	m := NewMemory(c.Now)
	c.Add(window - time.Millisecond)
	allowed := 0
	for range 2 {
		for range limit {
			d, err := m.Allow(t.Context(), "authfail:127.0.0.1", limit, window)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed {
				allowed++
			}
		}
		c.Add(2 * time.Millisecond)
	}
	if got, want := allowed, limit; got != want {
		t.Errorf("allowed %d across the window edge, want %d", got, want)
	}
}

// TestMemoryRate checks, over random traffic, that in every interval of
// length d at most N + d/T requests are allowed, and that a subject that
// keeps asking gets exactly one request per T in the long run.
func TestMemoryRate(t *testing.T) {
	const (
		limit  = 7
		window = 10 * time.Second
		T      = window / limit
	)
	rng := rand.New(rand.NewPCG(1, 2))
	c := newFakeClock()
	m := NewMemory(c.Now)
	var times []time.Time
	for range 20000 {
		c.Add(time.Duration(rng.Int64N(int64(T / 2))))
		d, err := m.Allow(t.Context(), "key:a", limit, window)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			times = append(times, c.Now())
		}
	}
	for i := range times {
		for j := i; j < len(times); j++ {
			span := times[j].Sub(times[i])
			if span > 2*window {
				break
			}
			if n, most := j-i+1, limit+int(span/T); n > most {
				t.Fatalf("%d allowed within %v, want at most %d", n, span, most)
			}
		}
	}
	elapsed := times[len(times)-1].Sub(times[0])
	if got, want := len(times), limit+int(elapsed/T); got < want-1 || got > want {
		t.Errorf("allowed %d over %v, want %d", got, elapsed, want)
	}
}

func TestMemorySweep(t *testing.T) {
	c := newFakeClock()
	m := NewMemory(c.Now)
	size := func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.tats)
	}
	const subjects = 5000
	for i := range subjects {
		if _, err := m.Allow(t.Context(), fmt.Sprint("key:", i), 10, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got := size(); got < subjects-sweepEvery || got > subjects {
		t.Fatalf("entries after %d fresh subjects = %d, want all of them, less expired", subjects, got)
	}
	c.Add(time.Minute / 10) // every entry's TAT has now passed
	for range subjects + sweepEvery {
		if _, err := m.Allow(t.Context(), "key:busy", 10, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := size(), 1; got != want {
		t.Errorf("entries after expiry and %d more calls = %d, want %d", subjects+sweepEvery, got, want)
	}

	// Peek and a denied Allow on an idle subject store nothing.
	if _, err := m.Peek(t.Context(), "key:new", 10, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, want := size(), 1; got != want {
		t.Errorf("entries after Peek = %d, want %d", got, want)
	}
}

func TestMemoryMemoryBounded(t *testing.T) {
	c := newFakeClock()
	m := NewMemory(c.Now)
	most := 0
	for i := range 100000 {
		// 100 new subjects per millisecond, each expiring after 1ms.
		if i%100 == 0 {
			c.Add(time.Millisecond)
		}
		if _, err := m.Allow(t.Context(), fmt.Sprint("authfail:", i), 1, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		m.mu.Lock()
		most = max(most, len(m.tats))
		m.mu.Unlock()
	}
	if most > 2*sweepEvery+100 {
		t.Errorf("most entries held = %d, want at most %d", most, 2*sweepEvery+100)
	}
}

func TestMemoryContextDone(t *testing.T) {
	m := NewMemory(nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Allow(ctx, "key:a", 10, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Allow error = %v, want %v", err, context.Canceled)
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	const (
		limit  = 100
		window = time.Minute
	)
	benchSubjects := make([]string, 10000)
	for i := range benchSubjects {
		benchSubjects[i] = fmt.Sprint("key:", i)
	}
	b.Run("OneSubject", func(b *testing.B) {
		m := NewMemory(nil)
		ctx := context.Background()
		for b.Loop() {
			if _, err := m.Allow(ctx, "key:0", limit, window); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ManySubjects", func(b *testing.B) {
		m := NewMemory(nil)
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if _, err := m.Allow(ctx, benchSubjects[i%len(benchSubjects)], limit, window); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		m := NewMemory(nil)
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(benchSubjects))
			for pb.Next() {
				if _, err := m.Allow(ctx, benchSubjects[i%len(benchSubjects)], limit, window); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}
