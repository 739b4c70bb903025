package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

type securityData struct {
	Rule, KeyID, Since string
	Rules              []string
	Items              []*novamed.SecurityEvent
	More               bool
}

var securityRules = []string{novamed.RuleNewNetwork, novamed.RuleRateSpike, novamed.RulePrefixFailures, novamed.RuleRolledKeyUse, novamed.RuleRevokedKeyUse}

// securityEvents lists anomaly events, newest first, filtered by rule, key
// and age.
func (c *Console) securityEvents(q *req) error {
	qs := q.r.URL.Query()
	d := &securityData{Rule: qs.Get("rule"), KeyID: strings.TrimSpace(qs.Get("key")), Since: qs.Get("since"), Rules: securityRules}
	span := 7 * 24 * time.Hour
	switch d.Since {
	case "24h":
		span = 24 * time.Hour
	case "30d":
		span = 30 * 24 * time.Hour
	default:
		d.Since = "7d"
	}
	const limit = 1000
	evs, err := c.cfg.Store.ListSecurityEvents(q.r.Context(), c.now().Add(-span), limit)
	if err != nil {
		return err
	}
	d.More = len(evs) == limit
	slices.Reverse(evs)
	for _, ev := range evs {
		if (d.Rule == "" || ev.Rule == d.Rule) && (d.KeyID == "" || ev.KeyID == d.KeyID) {
			d.Items = append(d.Items, ev)
		}
		if len(d.Items) == 200 {
			d.More = true
			break
		}
	}
	c.render(q.w, q.r, http.StatusOK, "security", c.newView(q.r, q.s, "Security events", d))
	return nil
}
