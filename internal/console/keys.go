package console

import (
	"context"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

type keyData struct {
	Key                  *novamed.APIKey
	Usable               bool
	Days                 []usageDay
	Chart                any
	NoUsage              bool // no request counted in the window: the chart is empty
	Networks             []string
	Issued               *issuedKey
	Graces               []string
	CanChange, CanRevoke bool
}

var graces = []string{"1h", "24h", "72h", "168h"}

func (c *Console) loadKey(q *req, id string) (*keyData, error) {
	ctx := q.r.Context()
	k, err := c.cfg.Partners.GetAPIKey(ctx, id)
	if err != nil {
		return nil, err
	}
	now := c.now()
	since := now.Add(-29 * 24 * time.Hour)
	counts, err := c.cfg.Store.Usage(ctx, k.Owner, since.Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	d := &keyData{Key: k, Usable: k.Usable(now), Days: usageDays(counts, since, now), Graces: graces,
		CanChange: c.cfg.Accounts.Can(q.s.op.Role, CapChange), CanRevoke: c.cfg.Accounts.Can(q.s.op.Role, CapRevoke)}
	d.Chart = usageChart(d.Days)
	d.NoUsage = true
	for _, day := range d.Days {
		if day.Total > 0 {
			d.NoUsage = false
			break
		}
	}
	if d.Networks, err = c.cfg.Store.KeyNetworks(ctx, k.Owner); err != nil {
		return nil, err
	}
	return d, nil
}

var keyNotices = map[string]string{"revoked": "Key revoked: it is refused on every replica within two seconds."}

// key shows one key: its settings (never its secret), usage per day by
// status class, 429s and the networks it was used from.
func (c *Console) key(q *req) error {
	d, err := c.loadKey(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	v := c.newView(q.r, q.s, "Key "+d.Key.Prefix, d)
	v.Notice = keyNotices[q.r.URL.Query().Get("done")]
	c.render(q.w, q.r, http.StatusOK, "key", v)
	return nil
}

// revokeKey revokes a key now (after the page's confirmation), audited,
// and tells every replica to forget it.
func (c *Console) revokeKey(q *req) error {
	id := q.r.PathValue("id")
	k, err := c.cfg.Partners.RevokeAPIKey(q.r.Context(), id, c.now())
	status := http.StatusOK
	if err != nil {
		status = statusOf(novamed.ErrorCode(err))
	}
	if aerr := c.auditKey(q.r.Context(), q, "api_key.revoke", k, status, id); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	if c.cfg.OnKeysChanged != nil {
		c.cfg.OnKeysChanged(q.r.Context())
	}
	c.redirect(q.w, q.r, Prefix+"/keys/"+id+"?done=revoked")
	return nil
}

// rollKey issues a successor (shown once); the old key keeps working for
// the chosen grace period.
func (c *Console) rollKey(q *req) error {
	id := q.r.PathValue("id")
	grace, err := time.ParseDuration(q.r.PostFormValue("grace"))
	if err != nil || grace <= 0 || grace > 30*24*time.Hour {
		return novamed.Errorf(novamed.CodeInvalid, "Choose a grace period.")
	}
	old, err := c.cfg.Partners.GetAPIKey(q.r.Context(), id)
	if err != nil {
		return err
	}
	now := c.now()
	// The successor is issued by onboarding.IssueKey, the one key-issuing
	// function: the partner and BAA rules apply, and the roll is audited
	// in the transaction that stores it.
	next, raw, err := onboarding.IssueKey(q.r.Context(), c.cfg.Partners, c.deps(), c.actor(q), onboarding.KeyInput{Replaces: id, Grace: grace})
	if err != nil {
		if aerr := c.auditKey(q.r.Context(), q, "api_key.roll", old, statusOf(novamed.ErrorCode(err)), id); aerr != nil {
			return aerr
		}
		return err
	}
	if c.cfg.OnKeysChanged != nil {
		c.cfg.OnKeysChanged(q.r.Context())
	}
	d, err := c.loadKey(q, next.ID)
	if err != nil {
		return err
	}
	d.Issued = &issuedKey{Key: raw, Prefix: next.Prefix, ID: next.ID}
	v := c.newView(q.r, q.s, "Key "+next.Prefix, d)
	v.Notice = "Key rolled: the previous key works until " + now.Add(grace).UTC().Format("2006-01-02 15:04 UTC") + "."
	c.render(q.w, q.r, http.StatusOK, "key", v)
	return nil
}

func (c *Console) auditKey(ctx context.Context, q *req, action string, k *novamed.APIKey, status int, ids ...string) error {
	clinic := ""
	if k != nil && len(k.Clinics) == 1 {
		clinic = k.Clinics[0]
	}
	return c.audit(ctx, q, action, "api_key", clinic, status, ids...)
}
