package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// AuditCheck is the outcome of verifying the audit trail (the facts
// `novamed audit verify` prints).
type AuditCheck struct {
	OK      bool
	Checked int64
	// FirstBadSeq is the first record that fails (0: none named).
	FirstBadSeq int64
	// Problems says what is wrong, each naming its record or segment.
	Problems []string
}

// auditFilter is the audit search form.
type auditFilter struct {
	Actor, Key, Clinic, Resource, Action string
	// From and To are the window as the form shows them (UTC,
	// 2006-01-02T15:04).
	From, To string
}

type auditData struct {
	auditFilter
	Errors map[string]string
	Items  []*novamed.AuditRecord
	Next   string
	Query  string
	// Verify is set after a verification ran; CanVerify and CanCheckpoint
	// say which actions this server offers.
	Verify                   *AuditCheck
	CanVerify, CanCheckpoint bool
}

const formTime = "2006-01-02T15:04"

// parseFormTime reads a window bound: the form's UTC date-time, RFC 3339,
// or a date (midnight UTC).
func parseFormTime(v string) (time.Time, bool) {
	for _, layout := range []string{formTime, time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// matches reports whether rec passes the filter's text fields (actor and
// action by prefix, key and clinic exactly, resource by type or id).
func (f *auditFilter) matches(rec *novamed.AuditRecord) bool {
	if f.Actor != "" && !strings.HasPrefix(rec.Actor, f.Actor) {
		return false
	}
	if f.Action != "" && !strings.HasPrefix(rec.Action, f.Action) {
		return false
	}
	if f.Key != "" && rec.KeyID != f.Key && rec.KeyPrefix != f.Key {
		return false
	}
	if f.Clinic != "" && rec.ClinicID != f.Clinic {
		return false
	}
	if f.Resource != "" && rec.ResourceType != f.Resource && !slices.Contains(rec.ResourceIDs, f.Resource) {
		return false
	}
	return true
}

// auditPage searches the audit trail (oldest first within the window, a
// page at a time; the cursor is the last record shown).
func (c *Console) auditPage(q *req) error {
	d, err := c.auditSearch(q)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	c.render(q.w, q.r, status, "audit", c.newView(q.r, q.s, "Audit trail", d))
	return nil
}

func (c *Console) auditSearch(q *req) (*auditData, error) {
	qs := q.r.URL.Query()
	d := &auditData{Errors: map[string]string{}, CanVerify: c.cfg.VerifyAudit != nil, CanCheckpoint: c.cfg.Checkpoint != nil}
	f := &d.auditFilter
	f.Actor, f.Key, f.Clinic = strings.TrimSpace(qs.Get("actor")), strings.TrimSpace(qs.Get("key")), strings.TrimSpace(strings.ToLower(qs.Get("clinic")))
	f.Resource, f.Action = strings.TrimSpace(qs.Get("resource")), strings.TrimSpace(qs.Get("action"))
	f.From, f.To = strings.TrimSpace(qs.Get("from")), strings.TrimSpace(qs.Get("to"))
	now := c.now().UTC()
	from, to := now.Add(-24*time.Hour), time.Time{}
	if f.From == "" {
		f.From = from.Format(formTime)
	} else if t, ok := parseFormTime(f.From); ok {
		from = t
	} else {
		d.Errors["from"] = "Give a date and time (UTC), such as " + now.Format(formTime) + "."
	}
	if f.To != "" {
		if t, ok := parseFormTime(f.To); !ok {
			d.Errors["to"] = "Give a date and time (UTC), such as " + now.Format(formTime) + "."
		} else if !t.After(from) {
			d.Errors["to"] = "The end of the window must be after its start."
		} else {
			to = t
		}
	}
	for name, v := range map[string]string{"actor": f.Actor, "key": f.Key, "clinic": f.Clinic, "resource": f.Resource, "action": f.Action} {
		if len(v) > 200 {
			d.Errors[name] = "At most 200 characters."
		}
	}
	// The cursor: the time and sequence number of the last record shown.
	var afterSeq int64
	if cur := qs.Get("after"); cur != "" {
		seq, micros, ok := strings.Cut(cur, "-")
		s, err1 := strconv.ParseInt(seq, 10, 64)
		m, err2 := strconv.ParseInt(micros, 10, 64)
		if !ok || err1 != nil || err2 != nil || s < 1 {
			d.Errors["after"] = "The page link is malformed; search again."
		} else {
			afterSeq, from = s, time.UnixMicro(m).UTC()
		}
	}
	v := url.Values{}
	for k, val := range map[string]string{"actor": f.Actor, "key": f.Key, "clinic": f.Clinic, "resource": f.Resource, "action": f.Action, "from": f.From, "to": f.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	d.Query = v.Encode()
	if len(d.Errors) > 0 {
		return d, nil
	}
	err := c.cfg.Store.ScanAudit(q.r.Context(), from, to, func(rec *novamed.AuditRecord) error {
		if rec.Seq <= afterSeq || !f.matches(rec) {
			return nil
		}
		if len(d.Items) == pageSize {
			last := d.Items[len(d.Items)-1]
			d.Next = strconv.FormatInt(last.Seq, 10) + "-" + strconv.FormatInt(last.Time.UnixMicro(), 10)
			return errEnough
		}
		d.Items = append(d.Items, rec)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	if err := c.audit(q.r.Context(), q, "audit.search", "audit", f.Clinic, http.StatusOK); err != nil {
		return nil, err
	}
	return d, nil
}

var errEnough = errors.New("console: page full")

// verifyAudit checks the whole trail and shows the outcome above the
// search (a broken chain names the first bad record).
func (c *Console) verifyAudit(q *req) error {
	if c.cfg.VerifyAudit == nil {
		return novamed.Errorf(novamed.CodeNotFound, "This server does not verify the audit trail from the console; run novamed audit verify.")
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Minute)
	defer cancel()
	res, err := c.cfg.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !res.OK {
		status = http.StatusConflict
	}
	if err := c.audit(q.r.Context(), q, "audit.verify", "audit", "", status); err != nil {
		return err
	}
	q.r.URL.RawQuery = ""
	d, err := c.auditSearch(q)
	if err != nil {
		return err
	}
	d.Verify = &res
	c.render(q.w, q.r, http.StatusOK, "audit", c.newView(q.r, q.s, "Audit trail", d))
	return nil
}

// checkpoint signs the chain head and sends it as a file to keep (the
// JSON of `novamed audit checkpoint`).
func (c *Console) checkpoint(q *req) error {
	if c.cfg.Checkpoint == nil {
		return novamed.Errorf(novamed.CodeNotFound, "This server has no audit checkpoint key; run novamed audit checkpoint.")
	}
	body, seq, err := c.cfg.Checkpoint(q.r.Context())
	if err != nil {
		return err
	}
	if err := c.audit(q.r.Context(), q, "audit.checkpoint", "audit", "", http.StatusOK, strconv.FormatInt(seq, 10)); err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="novamed-checkpoint-`+strconv.FormatInt(seq, 10)+`.json"`)
	q.w.WriteHeader(http.StatusOK)
	q.w.Write(body) //nolint:errcheck // the client went away
	return nil
}
