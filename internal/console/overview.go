package console

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// OverviewStats are the overview's traffic figures.
type OverviewStats struct {
	RequestsPerMinute float64
	ErrorRate         float64 // share of 5xx answers
	RateLimitedRate   float64 // share of 429 answers
}

type overviewData struct {
	RequestsPerMinute, ErrorRate, RateLimitedRate string
	FailedDeliveries, SecurityEvents              string
	Idle, Absolute                                string
	// BAAs lists partners whose BAA has expired or expires within 30
	// days, soonest first.
	BAAs []partnerRow
}

func (c *Console) overview(q *req) error {
	d := &overviewData{RequestsPerMinute: "—", ErrorRate: "—", RateLimitedRate: "—",
		Idle: humanDuration(c.cfg.IdleTimeout), Absolute: humanDuration(c.cfg.AbsoluteTimeout)}
	if c.cfg.Traffic != nil {
		now, cur := c.now(), c.cfg.Traffic()
		if perMin, errs, limited, ok := c.traffic.rates(now, cur); ok {
			d.RequestsPerMinute = strconv.FormatFloat(perMin, 'f', 1, 64)
			d.ErrorRate = strconv.FormatFloat(errs*100, 'f', 2, 64) + " %"
			d.RateLimitedRate = strconv.FormatFloat(limited*100, 'f', 2, 64) + " %"
		}
		c.traffic.observe(now, cur)
	}
	failed, _, err := c.cfg.Store.ListDeliveries(q.r.Context(), novamed.DeliveryFilter{Status: novamed.DeliveryFailed, Limit: 100})
	if err != nil {
		return err
	}
	d.FailedDeliveries = strconv.Itoa(len(failed))
	if len(failed) > 100 {
		d.FailedDeliveries = "100+"
	}
	if c.cfg.Accounts.Can(q.s.op.Role, CapAudit) {
		// Open (unacknowledged) events of the security page's longest
		// period.
		n, err := c.cfg.Store.CountOpenSecurityEvents(q.r.Context(), c.now().Add(-90*24*time.Hour), 1000)
		if err != nil {
			return err
		}
		d.SecurityEvents = strconv.Itoa(min(n, 1000))
		if n > 1000 {
			d.SecurityEvents += "+"
		}
	}
	partners, err := c.cfg.Partners.ListPartners(q.r.Context())
	if err != nil {
		return err
	}
	for _, p := range partners {
		r := c.partnerRow(p)
		if p.BAA != nil && (r.BAAState == "expired" || (r.ExpiresIn >= 0 && r.ExpiresIn <= 30)) {
			d.BAAs = append(d.BAAs, r)
		}
	}
	slices.SortStableFunc(d.BAAs, func(a, b partnerRow) int {
		return cmp.Compare(baaEnd(a), baaEnd(b))
	})
	v := c.newView(q.r, q.s, "Overview", d)
	if q.r.URL.Query().Get("welcome") != "" {
		v.Notice = "Your account is ready. Welcome to the NovaMed console."
	}
	c.render(q.w, q.r, http.StatusOK, "overview", v)
	return nil
}

// baaEnd orders BAA rows: expired ones first, then by days left.
func baaEnd(r partnerRow) int {
	if r.BAAState == "expired" {
		return -1
	}
	return r.ExpiresIn
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
