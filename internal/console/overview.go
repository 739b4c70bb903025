package console

import (
	"net/http"
	"strconv"
	"time"
)

// OverviewStats are the overview's traffic figures.
type OverviewStats struct {
	RequestsPerMinute float64
	ErrorRate         float64 // share of 5xx answers
	RateLimitedRate   float64 // share of 429 answers
}

type overviewData struct {
	RequestsPerMinute, ErrorRate, RateLimitedRate string
	Idle, Absolute                                string
}

func (c *Console) overview(q *req) error {
	d := &overviewData{RequestsPerMinute: "—", ErrorRate: "—", RateLimitedRate: "—",
		Idle: humanDuration(c.cfg.IdleTimeout), Absolute: humanDuration(c.cfg.AbsoluteTimeout)}
	c.render(q.w, q.r, http.StatusOK, "overview", c.newView(q.r, q.s, "Overview", d))
	return nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
