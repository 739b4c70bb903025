package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
)

// The production key-request queue (issue 24): partner admins request
// production keys and rolls in the developer portal; staff who may issue
// keys (the change capability: support, admin) approve them here — after
// a fresh password and code check, and only while the partner is approved
// with a BAA in effect — or reject them with a reason the partner sees.
// The issued key is never shown here: the partner collects it once in the
// portal.

type queueRow struct {
	*keyrequest.Request
	Partner *novamed.Partner
	// BAAState is the partner's BAA: on record, missing or expired.
	BAAState string
	// Refusal says why an approval would be refused now ("" if it would
	// not be).
	Refusal string
	// ClinicNames are the requested clinics' names; KeyPrefix the prefix of
	// the key a roll names.
	ClinicNames []string
	KeyPrefix   string
	// Error is a refused decision's message; TypedReason the rejection
	// reason as typed, shown again with ReasonError.
	Error, ReasonError, TypedReason string
}

type queueData struct {
	Pending []*queueRow
	Decided []*queueRow
	// Conflict is a refused decision's message when its request is no
	// longer pending (another decision got there first), so it has no row
	// of its own to show it beside.
	Conflict string
	// PendingCount is the number of pending requests of every partner;
	// Cursor the page shown ("" the first) and Next the next page's.
	PendingCount int
	Cursor, Next string
}

// queueRefusal is why key requests of partner p cannot be approved now,
// in words for the operator ("" when they can).
func (c *Console) queueRefusal(p *novamed.Partner) string {
	if p.Status != novamed.PartnerApproved {
		return p.Name + " is " + string(p.Status) + ": keys are issued only to an approved partner."
	}
	if c.cfg.Env != novamed.Production {
		return ""
	}
	switch p.BAAState(c.now()) {
	case "missing":
		return p.Name + " has no BAA on record: record the signed BAA on the partner's page before approving."
	case "expired":
		return p.Name + "'s BAA expired on " + p.BAA.ExpiresOn + ": record the renewed BAA on the partner's page before approving."
	}
	return ""
}

func (c *Console) queueRows(ctx context.Context, list []*keyrequest.Request) ([]*queueRow, error) {
	partners := map[string]*novamed.Partner{}
	clinics := map[string]string{}
	var out []*queueRow
	for _, r := range list {
		p, ok := partners[r.PartnerID]
		if !ok {
			var err error
			if p, err = c.cfg.Partners.GetPartner(ctx, r.PartnerID); err != nil {
				return nil, err
			}
			partners[r.PartnerID] = p
			cs, err := c.cfg.Partners.ListPartnerClinics(ctx, p.ID)
			if err != nil {
				return nil, err
			}
			for _, cl := range cs {
				clinics[cl.ID] = cl.Name
			}
		}
		row := &queueRow{Request: r, Partner: p, BAAState: p.BAAState(c.now()), Refusal: c.queueRefusal(p)}
		ids := r.Clinics
		if r.Kind == keyrequest.Roll {
			if k, err := c.cfg.Partners.GetAPIKey(ctx, r.KeyID); err == nil {
				row.KeyPrefix, ids = k.Prefix, k.Clinics
			}
		}
		for _, id := range ids {
			if n, ok := clinics[id]; ok {
				row.ClinicNames = append(row.ClinicNames, n)
			} else {
				row.ClinicNames = append(row.ClinicNames, id)
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// keyRequestsPage lists the pending requests with their partner, BAA and
// clinics, then the last decided ones.
func (c *Console) keyRequestsPage(q *req) error {
	return c.queueView(q, http.StatusOK, nil, queueNotices[q.r.URL.Query().Get("done")])
}

var queueNotices = map[string]string{
	"approved": "Request approved: the key is issued and waits, sealed, until the partner's admin collects it in the developer portal. It is not shown here.",
	"rejected": "Request rejected: the partner sees the reason in the developer portal.",
}

// queueView renders the queue; failed, when not nil, is a request whose
// decision was refused, shown with its error beside it.
func (c *Console) queueView(q *req, status int, failed *queueRow, notice string) error {
	if c.cfg.KeyRequests == nil {
		return novamed.NotFound("Page")
	}
	ctx := q.r.Context()
	d := &queueData{Cursor: q.r.URL.Query().Get("cursor")}
	if d.Cursor != "" && !keyrequest.ValidCursor(d.Cursor) {
		d.Cursor = ""
	}
	// The pending requests a page at a time (the queue is shared by every
	// partner); the last decided ones on the first page only.
	pending, next, err := c.cfg.KeyRequests.Store.PageKeyRequests(ctx, keyrequest.Filter{Status: keyrequest.Pending, Limit: pageSize, Cursor: d.Cursor})
	if err != nil {
		return err
	}
	d.Next = next
	if d.PendingCount, err = c.cfg.KeyRequests.Store.CountKeyRequests(ctx, "", keyrequest.Pending); err != nil {
		return err
	}
	var decided []*keyrequest.Request
	if d.Cursor == "" {
		if decided, _, err = c.cfg.KeyRequests.Store.PageKeyRequests(ctx, keyrequest.Filter{Decided: true, Limit: 20}); err != nil {
			return err
		}
	}
	if d.Pending, err = c.queueRows(ctx, pending); err != nil {
		return err
	}
	if d.Decided, err = c.queueRows(ctx, decided); err != nil {
		return err
	}
	if failed != nil {
		shown := false
		for _, row := range d.Pending {
			if row.ID == failed.ID {
				row.Error, row.ReasonError, row.TypedReason = failed.Error, failed.ReasonError, failed.TypedReason
				shown = true
			}
		}
		if !shown {
			d.Conflict = failed.Error
		}
	}
	v := c.newView(q.r, q.s, "Key requests", d)
	v.Notice = notice
	c.render(q.w, q.r, status, "keyrequests", v)
	return nil
}

// queuedRequest reads a pending request for a decision: an unknown id is
// not found, a decided one a conflict (returned with the request).
func (c *Console) queuedRequest(q *req) (*keyrequest.Request, error) {
	if c.cfg.KeyRequests == nil {
		return nil, novamed.NotFound("Key request")
	}
	id := q.r.PathValue("id")
	if !novamed.IsUUID(id) {
		return nil, novamed.NotFound("Key request")
	}
	r, err := c.cfg.KeyRequests.Store.GetKeyRequest(q.r.Context(), strings.ToLower(id))
	if err != nil {
		return nil, err
	}
	if r.Status != keyrequest.Pending {
		return r, novamed.Errorf(novamed.CodeInvalidTransition, "This request was already %s.", r.Status)
	}
	return r, nil
}

// approveKeyRequest issues the requested key (re-authentication is the
// route's): refused, with the reason beside the request, while the
// partner is not approved or has no BAA in effect.
func (c *Console) approveKeyRequest(q *req) error {
	r, err := c.queuedRequest(q)
	if codeOf(err) == novamed.CodeInvalidTransition {
		return c.queueView(q, http.StatusConflict, &queueRow{Request: r, Error: "Not approved. " + msgOf(err)}, "")
	}
	if err != nil {
		return err
	}
	p, err := c.cfg.Partners.GetPartner(q.r.Context(), r.PartnerID)
	if err != nil {
		return err
	}
	if why := c.queueRefusal(p); why != "" {
		return c.queueView(q, http.StatusConflict, &queueRow{Request: r, Error: "Not approved. " + why}, "")
	}
	done, err := c.cfg.KeyRequests.Approve(q.r.Context(), c.actor(q), r.ID)
	if msg, ok := invalid(err); ok {
		return c.queueView(q, statusOf(codeOf(err)), &queueRow{Request: r, Error: "Not approved. " + msg}, "")
	}
	if err != nil {
		return err
	}
	if done.Kind == keyrequest.Roll && c.cfg.OnKeysChanged != nil {
		// The old key's grace end changed: cached copies are dropped.
		c.cfg.OnKeysChanged(q.r.Context())
	}
	c.redirect(q.w, q.r, Prefix+"/key-requests?done=approved")
	return nil
}

// rejectKeyRequest rejects a request with the reason the partner sees
// (required: the error is shown beside the field).
func (c *Console) rejectKeyRequest(q *req) error {
	r, err := c.queuedRequest(q)
	if codeOf(err) == novamed.CodeInvalidTransition {
		return c.queueView(q, http.StatusConflict, &queueRow{Request: r, Error: "Not rejected. " + msgOf(err)}, "")
	}
	if err != nil {
		return err
	}
	reason := q.r.PostFormValue("reason")
	_, err = c.cfg.KeyRequests.Reject(q.r.Context(), c.actor(q), r.ID, reason)
	if codeOf(err) == novamed.CodeInvalidTransition {
		// Another decision got there first: not the reason's fault.
		return c.queueView(q, http.StatusConflict, &queueRow{Request: r, Error: "Not rejected. " + msgOf(err)}, "")
	}
	if msg, ok := invalid(err); ok {
		return c.queueView(q, http.StatusUnprocessableEntity, &queueRow{Request: r, ReasonError: msg, TypedReason: reason}, "")
	}
	if err != nil {
		return err
	}
	c.redirect(q.w, q.r, Prefix+"/key-requests?done=rejected")
	return nil
}

// msgOf is the message of a *novamed.Error.
func msgOf(err error) string {
	var de *novamed.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return ""
}

func codeOf(err error) string {
	var de *novamed.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// keyRequestsLabel is the menu entry's label: with the number of pending
// requests when there are any.
func (c *Console) keyRequestsLabel(ctx context.Context) string {
	if c.cfg.KeyRequests == nil {
		return "Key requests"
	}
	n, err := c.cfg.KeyRequests.Store.CountKeyRequests(ctx, "", keyrequest.Pending)
	if err != nil || n == 0 {
		return "Key requests"
	}
	return "Key requests (" + strconv.Itoa(n) + " pending)"
}

// refererPath is where re-authentication returns to after a form that
// needed it: the form's return_to field (the console sends no Referer:
// its pages are Referrer-Policy no-referrer), else the path and query of a
// same-host Referer; SafeNext then keeps it inside the console.
func refererPath(r *http.Request) string {
	if to := r.PostFormValue("return_to"); to != "" {
		return to
	}
	u, err := url.Parse(r.Referer())
	if err != nil || (u.Host != "" && u.Host != r.Host) {
		return ""
	}
	return u.RequestURI()
}
