package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

type securityData struct {
	Rule, KeyID, Since, State string
	Rules                     []string
	Items                     []*novamed.SecurityEvent
	// Query is the filter as a query string (without the cursor), for the
	// pager and for coming back after an acknowledgement.
	Query string
	Next  string
}

var securityRules = []string{novamed.RuleNewNetwork, novamed.RuleRateSpike, novamed.RulePrefixFailures, novamed.RuleRolledKeyUse, novamed.RuleRevokedKeyUse}

// securitySpan is the period filter of the security events page.
func securitySpan(since string) (string, time.Duration) {
	switch since {
	case "24h":
		return since, 24 * time.Hour
	case "30d":
		return since, 30 * 24 * time.Hour
	case "90d":
		return since, 90 * 24 * time.Hour
	}
	return "7d", 7 * 24 * time.Hour
}

// securityEvents lists anomaly events, newest first, filtered by state
// (open by default), rule, key and age, a page at a time.
func (c *Console) securityEvents(q *req) error {
	qs := q.r.URL.Query()
	d := &securityData{Rule: qs.Get("rule"), KeyID: strings.TrimSpace(qs.Get("key")), State: qs.Get("state"), Rules: securityRules}
	var span time.Duration
	d.Since, span = securitySpan(qs.Get("since"))
	switch d.State {
	case "open", "acknowledged", "all":
	default:
		d.State = "open"
	}
	state := d.State
	if state == "all" {
		state = ""
	}
	evs, err := c.cfg.Store.FindSecurityEvents(q.r.Context(), novamed.SecurityEventFilter{
		Since: c.now().Add(-span), Rule: d.Rule, KeyID: d.KeyID, State: state, Limit: pageSize + 1, Before: qs.Get("before"),
	})
	if err != nil {
		return err
	}
	if len(evs) > pageSize {
		evs = evs[:pageSize]
		d.Next = evs[len(evs)-1].ID
	}
	d.Items = evs
	v := url.Values{"rule": {d.Rule}, "key": {d.KeyID}, "since": {d.Since}, "state": {d.State}}
	d.Query = v.Encode()
	view := c.newView(q.r, q.s, "Security events", d)
	if qs.Get("acknowledged") != "" {
		view.Notice = "Event " + qs.Get("acknowledged") + " acknowledged."
	}
	c.render(q.w, q.r, http.StatusOK, "security", view)
	return nil
}

// acknowledgeEvent marks a security event acknowledged by the operator
// (audited as security_event.acknowledge in the same transaction) and
// returns to the list the operator came from.
func (c *Console) acknowledgeEvent(q *req) error {
	id := strings.TrimSpace(q.r.PathValue("id"))
	rec := c.auditRecord(q, "security_event.acknowledge", "security_event", "", http.StatusOK, id)
	if _, err := c.cfg.Store.AcknowledgeSecurityEvent(q.r.Context(), id, q.actor(), c.now().UTC(), rec); err != nil {
		return err
	}
	back, err := url.ParseQuery(q.r.PostFormValue("back"))
	if err != nil {
		back = url.Values{}
	}
	keep := url.Values{}
	for _, k := range []string{"rule", "key", "since", "state"} {
		if v := back.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	keep.Set("acknowledged", id)
	c.redirect(q.w, q.r, Prefix+"/security?"+keep.Encode())
	return nil
}
