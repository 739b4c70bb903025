package portal

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/usagechart"
)

// The request log and usage of the partner's keys (issue 24, slice 3),
// read from what the partner API already writes: the audit trail (one
// record per request, with its latency) and the per-day usage counters.
// Never a body, never PHI: the audit record holds neither.

// window is how far back the request log and usage go.
const window = 30 * 24 * time.Hour

// maxLogRows bounds one request-log page.
const maxLogRows = 200

type requestRow struct {
	*novamed.AuditRecord
	Latency string
	// Routes are the method and route template of the action
	// (Config.RoutesOf): usually one, two when routes share an action.
	Routes []string
}

type requestsData struct {
	Query string
	Items []requestRow
	More  bool
}

// keyIndex maps the partner's key ids (every key, revoked and rolled ones
// too) to their keys.
func (p *Portal) keyIndex(q *req) (map[string]*novamed.APIKey, []*novamed.APIKey, error) {
	keys, _, err := p.partnerKeys(q)
	if err != nil {
		return nil, nil, err
	}
	idx := make(map[string]*novamed.APIKey, len(keys))
	for _, k := range keys {
		idx[k.ID] = k
	}
	return idx, keys, nil
}

// requests lists the partner API requests of the partner's keys in the
// last 30 days, newest first; ?q= finds a request by its request id or
// the client's own id.
func (p *Portal) requests(q *req) error {
	idx, _, err := p.keyIndex(q)
	if err != nil {
		return err
	}
	d := &requestsData{Query: strings.TrimSpace(q.r.URL.Query().Get("q"))}
	if len(d.Query) > 200 {
		d.Query = d.Query[:200]
	}
	err = p.cfg.Store.RecentAudit(q.r.Context(), p.now().Add(-window), func(rec *novamed.AuditRecord) bool {
		if rec.KeyID == "" || idx[rec.KeyID] == nil {
			return true
		}
		if d.Query != "" && rec.RequestID != d.Query && rec.ClientRequestID != d.Query {
			return true
		}
		if len(d.Items) == maxLogRows {
			d.More = true
			return false
		}
		row := requestRow{AuditRecord: rec, Latency: strconv.FormatFloat(float64(rec.LatencyUS)/1000, 'f', 1, 64) + " ms"}
		if p.cfg.RoutesOf != nil {
			row.Routes = p.cfg.RoutesOf(rec.Action)
		}
		d.Items = append(d.Items, row)
		return true
	})
	if err != nil {
		return err
	}
	p.render(q.w, q.r, http.StatusOK, "requests", p.newView(q.r, q, "Request log", d))
	return nil
}

// usageRow is one key's requests on one day: by status class, and the
// requests refused by the rate limit.
type usageRow struct {
	Day, KeyPrefix, KeyID     string
	OK, Client, Server, Limit int64
}

// routeRow is one key's requests to one route in the window, by status
// class.
type routeRow struct {
	KeyPrefix, Route             string
	OK, Redirect, Client, Server int64
}

// keyChart is one key's chart of requests per day (internal/usagechart).
type keyChart struct {
	KeyPrefix, Name string
	SVG             template.HTML
}

type usageData struct {
	Rows      []usageRow
	Routes    []novamed.UsageCount
	RouteRows []routeRow
	Charts    []keyChart
	Events    []*novamed.SecurityEvent
	Prefix    map[string]string
}

func (p *Portal) usageOf(q *req) (*usageData, error) {
	idx, keys, err := p.keyIndex(q)
	if err != nil {
		return nil, err
	}
	now := p.now().UTC()
	since := now.Add(-window).Format(time.DateOnly)
	d := &usageData{Prefix: map[string]string{}}
	byDay := map[[2]string]*usageRow{}
	for i, k := range keys {
		d.Prefix[k.ID] = k.Prefix
		counts, err := p.cfg.Store.Usage(q.r.Context(), k.ID, since)
		if err != nil {
			return nil, err
		}
		if len(counts) > 0 {
			days := usagechart.Days(counts, now.Add(-window), now)
			d.Charts = append(d.Charts, keyChart{KeyPrefix: k.Prefix, Name: k.Name,
				SVG: usagechart.SVG(days, "chart-"+strconv.Itoa(i), "Requests per day of key "+k.Prefix+" ("+k.Name+") by status class, with 429s")})
		}
		byRoute := map[string]*routeRow{}
		for _, c := range counts {
			if c.Route == novamed.RouteRateLimited {
				continue
			}
			rr := byRoute[c.Route]
			if rr == nil {
				rr = &routeRow{KeyPrefix: k.Prefix, Route: c.Route}
				byRoute[c.Route] = rr
			}
			switch {
			case strings.HasPrefix(c.StatusClass, "2"):
				rr.OK += c.Count
			case strings.HasPrefix(c.StatusClass, "3"):
				rr.Redirect += c.Count
			case strings.HasPrefix(c.StatusClass, "4"):
				rr.Client += c.Count
			case strings.HasPrefix(c.StatusClass, "5"):
				rr.Server += c.Count
			}
		}
		start := len(d.RouteRows)
		for _, rr := range byRoute {
			d.RouteRows = append(d.RouteRows, *rr)
		}
		slices.SortFunc(d.RouteRows[start:], func(a, b routeRow) int { return strings.Compare(a.Route, b.Route) })
		for _, c := range counts {
			r := byDay[[2]string{c.Day, k.ID}]
			if r == nil {
				r = &usageRow{Day: c.Day, KeyPrefix: k.Prefix, KeyID: k.ID}
				byDay[[2]string{c.Day, k.ID}] = r
			}
			switch {
			case c.Route == novamed.RouteRateLimited:
				r.Limit += c.Count
				continue
			case strings.HasPrefix(c.StatusClass, "2"):
				r.OK += c.Count
			case strings.HasPrefix(c.StatusClass, "4"):
				r.Client += c.Count
			case strings.HasPrefix(c.StatusClass, "5"):
				r.Server += c.Count
			}
			d.Routes = append(d.Routes, c)
		}
	}
	for _, r := range byDay {
		d.Rows = append(d.Rows, *r)
	}
	slices.SortFunc(d.Rows, func(a, b usageRow) int {
		if c := strings.Compare(b.Day, a.Day); c != 0 {
			return c
		}
		return strings.Compare(a.KeyPrefix, b.KeyPrefix)
	})
	evs, err := p.cfg.Store.ListSecurityEvents(q.r.Context(), p.now().Add(-window), 1000)
	if err != nil {
		return nil, err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if idx[evs[i].KeyID] != nil {
			d.Events = append(d.Events, evs[i])
		}
	}
	return d, nil
}

// usage shows requests per day per key by status class, per route, the
// 429s and the anomaly events of the partner's keys.
func (p *Portal) usage(q *req) error {
	d, err := p.usageOf(q)
	if err != nil {
		return err
	}
	p.render(q.w, q.r, http.StatusOK, "usage", p.newView(q.r, q, "Usage", d))
	return nil
}

// usageCSV is the per-day, per-key, per-route counts as CSV.
func (p *Portal) usageCSV(q *req) error {
	d, err := p.usageOf(q)
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	q.w.Header().Set("Content-Disposition", `attachment; filename="usage.csv"`)
	cw := csv.NewWriter(q.w)
	cw.Write([]string{"day", "key_prefix", "route", "status_class", "count"}) //nolint:errcheck // checked by Flush
	for _, c := range d.Routes {
		cw.Write([]string{c.Day, d.Prefix[c.KeyID], c.Route, c.StatusClass, strconv.FormatInt(c.Count, 10)}) //nolint:errcheck // as above
	}
	for _, r := range d.Rows {
		if r.Limit > 0 {
			cw.Write([]string{r.Day, r.KeyPrefix, novamed.RouteRateLimited, "429", strconv.FormatInt(r.Limit, 10)}) //nolint:errcheck // as above
		}
	}
	cw.Flush()
	return cw.Error()
}
