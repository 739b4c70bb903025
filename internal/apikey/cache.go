package apikey

import (
	"sync"
	"time"
)

// Cache maps a key hash to a cached value with an expiry. It is safe for
// concurrent use and holds at most a fixed number of entries.
//
// It is meant for the authentication hot path: after [Parse] and [HashKey],
// a hit avoids a database lookup. Because entries live for up to the TTL,
// callers must [Cache.Delete] or [Cache.Purge] when a key is revoked.
type Cache[V any] struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.RWMutex
	entries map[Hash]cacheEntry[V]
	// noExpiryBefore is a lower bound on the expiry of every entry, or the
	// zero time if no bound is known. It lets Put skip scanning for expired
	// entries when none can have expired yet.
	noExpiryBefore time.Time
}

type cacheEntry[V any] struct {
	value   V
	expires time.Time
}

// NewCache returns an empty cache whose entries expire ttl after they are
// put, and which holds at most maxEntries entries (at least 1). The clock now
// is injectable for tests; nil means time.Now. A ttl <= 0 makes every entry
// expire at once, so the cache never hits.
func NewCache[V any](ttl time.Duration, maxEntries int, now func() time.Time) *Cache[V] {
	if maxEntries < 1 {
		maxEntries = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Cache[V]{
		ttl:        ttl,
		maxEntries: maxEntries,
		now:        now,
		entries:    make(map[Hash]cacheEntry[V]),
	}
}

// Get returns the value cached for h. It reports a miss if there is no entry
// or the entry has expired. A hit does not allocate.
func (c *Cache[V]) Get(h Hash) (V, bool) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[h]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put caches v for h, replacing any existing entry and restarting its TTL.
// If the cache is full, Put first drops expired entries and, if it is still
// full, an arbitrary entry.
func (c *Cache[V]) Put(h Hash, v V) {
	now := c.now()
	expires := now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[h]; !ok && len(c.entries) >= c.maxEntries {
		c.makeRoom(now)
	}
	c.entries[h] = cacheEntry[V]{value: v, expires: expires}
	if !c.noExpiryBefore.IsZero() && expires.Before(c.noExpiryBefore) {
		c.noExpiryBefore = expires
	}
}

// makeRoom removes at least one entry. c.mu must be held for writing.
func (c *Cache[V]) makeRoom(now time.Time) {
	if !now.Before(c.noExpiryBefore) {
		// Some entries may have expired: drop them all and recompute the
		// bound from the survivors.
		var earliest time.Time
		for h, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, h)
			} else if earliest.IsZero() || e.expires.Before(earliest) {
				earliest = e.expires
			}
		}
		c.noExpiryBefore = earliest
	}
	if len(c.entries) < c.maxEntries {
		return
	}
	for h := range c.entries {
		delete(c.entries, h)
		break
	}
}

// Delete removes the entry for h, if any.
func (c *Cache[V]) Delete(h Hash) {
	c.mu.Lock()
	delete(c.entries, h)
	c.mu.Unlock()
}

// Purge removes every entry. Call it when a revocation arrives that cannot
// be mapped to a single hash.
func (c *Cache[V]) Purge() {
	c.mu.Lock()
	clear(c.entries)
	c.noExpiryBefore = time.Time{}
	c.mu.Unlock()
}
