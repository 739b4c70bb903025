package usagechart

import (
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func TestChart(t *testing.T) {
	since := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	counts := []novamed.UsageCount{
		{Day: "2026-11-20", Route: "GET /api/external/patient", StatusClass: "2xx", Count: 90},
		{Day: "2026-11-20", Route: "GET /api/external/patient", StatusClass: "4xx", Count: 8},
		{Day: "2026-11-20", Route: "GET /api/external/patient", StatusClass: "5xx", Count: 2},
		{Day: "2026-11-20", Route: novamed.RouteRateLimited, StatusClass: "4xx", Count: 5},
		{Day: "2026-11-22", Route: "POST /api/external/patient", StatusClass: "2xx", Count: 40},
		{Day: "2026-10-01", Route: "POST /api/external/patient", StatusClass: "2xx", Count: 999}, // outside the range
	}
	days := Days(counts, since, since.Add(6*24*time.Hour))
	if len(days) != 7 {
		t.Fatalf("%d days, want 7", len(days))
	}
	if d := days[0]; d.OK != 90 || d.ClientErr != 8 || d.ServerErr != 2 || d.Limited != 5 || d.Total != 100 {
		t.Errorf("day 1 = %+v", d)
	}
	if days[1].Total != 0 || days[2].Total != 40 {
		t.Errorf("days 2 and 3 = %+v %+v", days[1], days[2])
	}
	svg := string(SVG(days, "k1", "Requests of <key>"))
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, `role="img"`) || strings.Count(svg, "<rect") != 4 || strings.Count(svg, "<circle") != 1 {
		t.Errorf("chart: %s", svg)
	}
	if !strings.Contains(svg, `aria-labelledby="k1-title k1-desc"`) || !strings.Contains(svg, `<title id="k1-title">Requests of &lt;key&gt;</title>`) ||
		!strings.Contains(svg, "140 requests in all, 5 refused by the rate limit") {
		t.Errorf("chart's text alternative: %s", svg)
	}
	if strings.Contains(svg, "style=") || strings.Contains(svg, "<script") {
		t.Error("the chart must need no inline style or script (CSP)")
	}
}
