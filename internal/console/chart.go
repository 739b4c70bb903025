package console

import (
	"html/template"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/usagechart"
)

// usageDay is one day of a key's use (internal/usagechart, shared with
// the partner portal).
type usageDay = usagechart.Day

func usageDays(counts []novamed.UsageCount, since, until time.Time) []usageDay {
	return usagechart.Days(counts, since, until)
}

func usageChart(days []usageDay) template.HTML {
	return usagechart.SVG(days, "chart", "Requests per day by status class")
}
