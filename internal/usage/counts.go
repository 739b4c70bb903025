package usage

import (
	"context"
	"strconv"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Per-key usage: counters of requests by key, day, route and status class,
// and each key's last use, kept in memory and written in batches by Flush
// (no write per request).

type countKey struct{ key, day, route, class string }

func statusClass(status int) string { return strconv.Itoa(status/100) + "xx" }

// Request counts an authenticated request of key on route with its status.
func (r *Recorder) Request(keyID, route string, status int, client string) {
	if r == nil {
		return
	}
	now := r.now().UTC()
	r.mu.Lock()
	r.counts[countKey{keyID, now.Format(time.DateOnly), route, statusClass(status)}]++
	r.activity[keyID] = novamed.KeyActivity{KeyID: keyID, LastUsedAt: now, LastClient: client}
	r.mu.Unlock()
}

// RateLimited counts a request of key refused by its limit.
func (r *Recorder) RateLimited(keyID string) {
	if r == nil {
		return
	}
	now := r.now().UTC()
	r.mu.Lock()
	r.counts[countKey{keyID, now.Format(time.DateOnly), novamed.RouteRateLimited, "429"}]++
	r.mu.Unlock()
	r.metrics.RateLimited()
}

// Flush writes the counters gathered since the last flush.
func (r *Recorder) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	counts, activity := r.counts, r.activity
	r.counts, r.activity = map[countKey]int64{}, map[string]novamed.KeyActivity{}
	r.mu.Unlock()
	if len(counts) == 0 && len(activity) == 0 {
		return nil
	}
	cs := make([]novamed.UsageCount, 0, len(counts))
	for k, n := range counts {
		cs = append(cs, novamed.UsageCount{KeyID: k.key, Day: k.day, Route: k.route, StatusClass: k.class, Count: n})
	}
	as := make([]novamed.KeyActivity, 0, len(activity))
	for _, a := range activity {
		as = append(as, a)
	}
	if err := r.store.AddUsage(ctx, cs, as); err != nil {
		// Put them back so the next flush retries them.
		r.mu.Lock()
		for k, n := range counts {
			r.counts[k] += n
		}
		for id, a := range activity {
			if cur, ok := r.activity[id]; !ok || cur.LastUsedAt.Before(a.LastUsedAt) {
				r.activity[id] = a
			}
		}
		r.mu.Unlock()
		if r.metrics != nil {
			r.metrics.usageFlushErrors.Inc()
		}
		return err
	}
	return nil
}
