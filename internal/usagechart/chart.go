// Package usagechart draws a key's requests per day by status class, with
// the requests refused by the rate limit, as server-rendered SVG: no
// script and no inline style, so it passes the console's and the portal's
// CSP. The staff console's key page and the partner portal's usage page
// both use it.
package usagechart

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Day is one day of a key's use, by status class; Limited counts the
// requests refused by the rate limit (429), which are not in Total.
type Day struct {
	Day                               string
	OK, ClientErr, ServerErr, Limited int64
	Total                             int64
}

// Days folds a key's usage counts into one row per day for the days from
// since to until (UTC), days without requests included.
func Days(counts []novamed.UsageCount, since, until time.Time) []Day {
	byDay := map[string]*Day{}
	var days []Day
	for d := since.UTC().Truncate(24 * time.Hour); !d.After(until); d = d.Add(24 * time.Hour) {
		days = append(days, Day{Day: d.Format("2006-01-02")})
	}
	for i := range days {
		byDay[days[i].Day] = &days[i]
	}
	for _, c := range counts {
		d, ok := byDay[c.Day]
		if !ok {
			continue
		}
		switch {
		case c.Route == novamed.RouteRateLimited:
			d.Limited += c.Count
			continue
		case c.Route == novamed.RouteAuthFailure:
			continue
		case c.StatusClass == "2xx" || c.StatusClass == "3xx":
			d.OK += c.Count
		case c.StatusClass == "4xx":
			d.ClientErr += c.Count
		case c.StatusClass == "5xx":
			d.ServerErr += c.Count
		}
		d.Total += c.Count
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Day < days[j].Day })
	return days
}

// SVG draws requests per day as stacked bars (2xx, 4xx, 5xx) with 429s as
// dots: server-rendered SVG with a title and description for screen
// readers (the same figures are in a table beside it). id prefixes the
// title's and description's element ids, so that a page may hold several
// charts; title names the chart (e.g. the key).
func SVG(days []Day, id, title string) template.HTML {
	const w, h, left, bottom, top = 720, 220, 48, 28, 12
	var peak int64 = 1
	for _, d := range days {
		peak = max(peak, d.Total, d.Limited)
	}
	scale := func(v int64) float64 { return float64(v) * float64(h-bottom-top) / float64(peak) }
	n := max(len(days), 1)
	slot := float64(w-left-8) / float64(n)
	bw := max(slot*0.7, 1)
	var b strings.Builder
	var total, limited int64
	for _, d := range days {
		total += d.Total
		limited += d.Limited
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title %s-desc" xmlns="http://www.w3.org/2000/svg">`, w, h, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, id, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<desc id="%s-desc">%d days: %d requests in all, %d refused by the rate limit (429); the highest day had %d. Green bars are 2xx, amber 4xx, red 5xx; purple dots are 429s. The table below lists every figure.</desc>`,
		id, len(days), total, limited, peak)
	base := float64(h - bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#57606a"/>`, left, base, w-4, base)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#1b1f24">%d</text>`, left-6, top+4, peak)
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#1b1f24">0</text>`, left-6, base)
	for i, d := range days {
		x := float64(left) + float64(i)*slot + (slot-bw)/2
		y := base
		for _, part := range []struct {
			v    int64
			fill string
		}{{d.OK, "#1a7f37"}, {d.ClientErr, "#bf8700"}, {d.ServerErr, "#cf222e"}} {
			if part.v == 0 {
				continue
			}
			hgt := scale(part.v)
			y -= hgt
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x, y, bw, hgt, part.fill)
		}
		if d.Limited > 0 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#8250df"/>`, x+bw/2, base-scale(d.Limited))
		}
		if n <= 14 || i%max(n/7, 1) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#1b1f24">%s</text>`, x+bw/2, h-10, d.Day[5:])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from numbers and fixed strings only
}
