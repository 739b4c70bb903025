package apikey

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/fakeclock"
)

func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
}

func hashOf(i int) Hash {
	return HashKey(fmt.Sprintf("key-%d", i))
}

func TestCacheGetPut(t *testing.T) {
	c := NewCache[string](time.Minute, 10, newFakeClock().Now)
	h := hashOf(1)
	if v, ok := c.Get(h); ok {
		t.Fatalf("Get on empty cache = %q, true; want miss", v)
	}
	c.Put(h, "one")
	if got, ok := c.Get(h); !ok || got != "one" {
		t.Fatalf("Get = %q, %v; want %q, true", got, ok, "one")
	}
	c.Put(h, "uno")
	if got, ok := c.Get(h); !ok || got != "uno" {
		t.Fatalf("Get after overwrite = %q, %v; want %q, true", got, ok, "uno")
	}
	if v, ok := c.Get(hashOf(2)); ok {
		t.Fatalf("Get(other) = %q, true; want miss", v)
	}
}

func TestCacheExpiry(t *testing.T) {
	clock := newFakeClock()
	c := NewCache[int](time.Minute, 10, clock.Now)
	h := hashOf(1)
	c.Put(h, 1)

	clock.Add(time.Minute - time.Nanosecond)
	if got, ok := c.Get(h); !ok || got != 1 {
		t.Fatalf("Get just before expiry = %d, %v; want 1, true", got, ok)
	}
	clock.Add(time.Nanosecond)
	if got, ok := c.Get(h); ok {
		t.Fatalf("Get at expiry = %d, true; want miss", got)
	}

	// Putting again restarts the TTL.
	c.Put(h, 2)
	clock.Add(30 * time.Second)
	if got, ok := c.Get(h); !ok || got != 2 {
		t.Fatalf("Get after re-Put = %d, %v; want 2, true", got, ok)
	}
}

func TestCacheZeroTTLNeverHits(t *testing.T) {
	c := NewCache[int](0, 10, newFakeClock().Now)
	c.Put(hashOf(1), 1)
	if got, ok := c.Get(hashOf(1)); ok {
		t.Fatalf("Get with zero TTL = %d, true; want miss", got)
	}
}

func TestCacheDelete(t *testing.T) {
	c := NewCache[int](time.Minute, 10, newFakeClock().Now)
	c.Put(hashOf(1), 1)
	c.Put(hashOf(2), 2)
	c.Delete(hashOf(1))
	c.Delete(hashOf(3)) // absent: no-op
	if got, ok := c.Get(hashOf(1)); ok {
		t.Errorf("Get(deleted) = %d, true; want miss", got)
	}
	if got, ok := c.Get(hashOf(2)); !ok || got != 2 {
		t.Errorf("Get(kept) = %d, %v; want 2, true", got, ok)
	}
}

func TestCachePurge(t *testing.T) {
	c := NewCache[int](time.Minute, 10, newFakeClock().Now)
	for i := range 5 {
		c.Put(hashOf(i), i)
	}
	c.Purge()
	for i := range 5 {
		if got, ok := c.Get(hashOf(i)); ok {
			t.Errorf("Get(%d) after Purge = %d, true; want miss", i, got)
		}
	}
	if got, want := len(c.entries), 0; got != want {
		t.Errorf("entries after Purge = %d, want %d", got, want)
	}
	c.Put(hashOf(1), 1)
	if got, ok := c.Get(hashOf(1)); !ok || got != 1 {
		t.Errorf("Get after Purge and Put = %d, %v; want 1, true", got, ok)
	}
}

func TestCacheBound(t *testing.T) {
	const maxN = 8
	c := NewCache[int](time.Minute, maxN, newFakeClock().Now)
	for i := range 100 {
		c.Put(hashOf(i), i)
		if got := len(c.entries); got > maxN {
			t.Fatalf("after %d puts, entries = %d, want <= %d", i+1, got, maxN)
		}
	}
	if got, want := len(c.entries), maxN; got != want {
		t.Errorf("entries = %d, want %d", got, want)
	}
	// The most recent Put is always kept.
	if got, ok := c.Get(hashOf(99)); !ok || got != 99 {
		t.Errorf("Get(last put) = %d, %v; want 99, true", got, ok)
	}
	// Overwriting an existing entry in a full cache evicts nothing.
	before := make(map[Hash]bool)
	for h := range c.entries {
		before[h] = true
	}
	c.Put(hashOf(99), -1)
	for h := range before {
		if _, ok := c.entries[h]; !ok {
			t.Errorf("overwrite in a full cache evicted %x", h[:4])
		}
	}
}

func TestCacheFullDropsExpiredFirst(t *testing.T) {
	clock := newFakeClock()
	c := NewCache[int](time.Minute, 4, clock.Now)
	c.Put(hashOf(0), 0)
	c.Put(hashOf(1), 1)
	clock.Add(2 * time.Minute) // 0 and 1 expire
	c.Put(hashOf(2), 2)
	c.Put(hashOf(3), 3)
	c.Put(hashOf(4), 4) // full: evicts the expired entries, keeps 2 and 3
	if got, want := len(c.entries), 3; got != want {
		t.Errorf("entries = %d, want %d", got, want)
	}
	for i := 2; i <= 4; i++ {
		if got, ok := c.Get(hashOf(i)); !ok || got != i {
			t.Errorf("Get(%d) = %d, %v; want %d, true", i, got, ok, i)
		}
	}
}

func TestCacheMaxEntriesAtLeastOne(t *testing.T) {
	c := NewCache[int](time.Minute, 0, nil)
	c.Put(hashOf(1), 1)
	c.Put(hashOf(2), 2)
	if got, ok := c.Get(hashOf(2)); !ok || got != 2 {
		t.Errorf("Get = %d, %v; want 2, true", got, ok)
	}
	if got, want := len(c.entries), 1; got != want {
		t.Errorf("entries = %d, want %d", got, want)
	}
}

func TestCacheConcurrent(t *testing.T) {
	clock := newFakeClock()
	c := NewCache[int](time.Minute, 16, clock.Now)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				h := hashOf((g*500 + i) % 40)
				switch i % 7 {
				case 0:
					c.Delete(h)
				case 1:
					clock.Add(time.Second)
				case 2:
					if i%70 == 2 {
						c.Purge()
					}
				case 3, 4:
					c.Put(h, i)
				default:
					c.Get(h)
				}
			}
		})
	}
	wg.Wait()
	if got := len(c.entries); got > 16 {
		t.Errorf("entries = %d, want <= 16", got)
	}
}

func TestCacheGetDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	c := NewCache[string](time.Minute, 10, nil)
	h := hashOf(1)
	c.Put(h, "v")
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := c.Get(h); !ok {
			t.Fatal("miss")
		}
	})
	if got, want := allocs, 0.0; got != want {
		t.Errorf("Get allocs = %v, want %v", got, want)
	}
}
