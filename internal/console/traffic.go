package console

import (
	"sync"
	"time"
)

// TrafficTotals are this replica's cumulative partner API counters since
// it started.
type TrafficTotals struct {
	Requests, ServerErrors, RateLimited float64
}

// trafficWindow keeps samples of the cumulative counters so the overview
// can show rates over the last minutes without a background job: each
// look adds a sample (at most every 10 s), and rates are taken between the
// oldest sample in the window and now.
type trafficWindow struct {
	mu      sync.Mutex
	samples []trafficSample
}

type trafficSample struct {
	at time.Time
	t  TrafficTotals
}

const trafficSpan = 10 * time.Minute

func (tw *trafficWindow) observe(now time.Time, t TrafficTotals) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if n := len(tw.samples); n > 0 && now.Sub(tw.samples[n-1].at) < 10*time.Second {
		return
	}
	tw.samples = append(tw.samples, trafficSample{now, t})
	// Keep one sample older than the span, so the window is full.
	for len(tw.samples) > 2 && now.Sub(tw.samples[1].at) > trafficSpan {
		tw.samples = tw.samples[1:]
	}
}

// rates returns requests per minute and the shares of 5xx and 429 answers
// since the oldest kept sample (ok false before there is any span).
func (tw *trafficWindow) rates(now time.Time, cur TrafficTotals) (perMin, errShare, limitedShare float64, ok bool) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if len(tw.samples) == 0 {
		return 0, 0, 0, false
	}
	old := tw.samples[0]
	mins := now.Sub(old.at).Minutes()
	if mins <= 0 {
		return 0, 0, 0, false
	}
	req := cur.Requests - old.t.Requests
	perMin = req / mins
	if req > 0 {
		errShare = (cur.ServerErrors - old.t.ServerErrors) / req
		limitedShare = (cur.RateLimited - old.t.RateLimited) / req
	}
	return perMin, errShare, limitedShare, true
}
