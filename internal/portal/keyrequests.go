package portal

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/partneruser"
)

// Production key requests (issue 24): on a production deployment a
// partner admin asks for a key, or for the roll of a production key; the
// request waits in the staff console's queue; once approved the admin
// collects the key here, once. Partner developers see the requests but
// may not make them.

type keyRequestRow struct {
	*keyrequest.Request
	// KeyPrefix is the prefix of the key a roll request names.
	KeyPrefix string
	// ClinicNames are the requested clinics' names (ids of clinics no
	// longer the partner's stay ids).
	ClinicNames []string
	// Collectable: approved, its key still sealed for the partner.
	Collectable bool
}

type keyRequestsData struct {
	Items       []keyRequestRow
	Clinics     []*novamed.Clinic
	Production  bool
	IsAdmin     bool
	Form        struct{ Name, RateLimit, Expires string }
	Chosen      map[string]bool
	Errors      map[string]string
	Issued      *issued
	MinExpiry   string
	RequestedID string
}

// keyRequests lists the partner's key requests with their status and,
// for an admin on production, the form to request a key.
func (p *Portal) keyRequests(q *req) error {
	return p.keyRequestsView(q, &keyRequestsData{}, http.StatusOK, "")
}

func (p *Portal) keyRequestsView(q *req, d *keyRequestsData, status int, notice string) error {
	ctx := q.r.Context()
	keys, clinics, err := p.partnerKeys(q)
	if err != nil {
		return err
	}
	list, err := p.cfg.KeyRequests.Store.ListKeyRequests(ctx, q.partner.ID, "")
	if err != nil {
		return err
	}
	prefix := map[string]string{}
	for _, k := range keys {
		prefix[k.ID] = k.Prefix
	}
	names := map[string]string{}
	for _, c := range clinics {
		names[c.ID] = c.Name
	}
	d.Clinics, d.Production, d.IsAdmin = clinics, p.cfg.Env == novamed.Production, q.u.Role == partneruser.Admin
	d.MinExpiry = p.now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	if d.Chosen == nil {
		d.Chosen = map[string]bool{}
	}
	for _, r := range list {
		row := keyRequestRow{Request: r, KeyPrefix: prefix[r.KeyID], Collectable: r.Status == keyrequest.Approved && r.Waiting}
		for _, c := range r.Clinics {
			if n, ok := names[c]; ok {
				row.ClinicNames = append(row.ClinicNames, n)
			} else {
				row.ClinicNames = append(row.ClinicNames, c)
			}
		}
		d.Items = append(d.Items, row)
	}
	v := p.newView(q.r, q, "Key requests", d)
	v.Notice = notice
	p.render(q.w, q.r, status, "keyrequests", v)
	return nil
}

// productionAdmin refuses a production key action on a development
// deployment (keys are made there directly) and to an admin without a
// second factor: anyone who can touch production keys has one (setup
// and sign-in require it of partner admins; this holds even if an
// account were changed behind the portal's back).
func (p *Portal) productionAdmin(q *req) error {
	if p.cfg.Env != novamed.Production {
		return &novamed.Error{Code: novamed.CodeForbidden, Message: "This is a development deployment: create and roll keys yourself on the Keys page."}
	}
	if !q.u.HasTOTP() {
		return &novamed.Error{Code: novamed.CodeForbidden, Message: "Production keys need an account with an authenticator: ask your partner admin for a new invitation."}
	}
	return nil
}

func (p *Portal) keyRequestActor(q *req) keyrequest.Actor {
	a := p.actor(q)
	return keyrequest.Actor{ID: a.ID, RequestID: a.RequestID, Addr: a.Addr, Via: a.Via}
}

// requestKey queues a request for a production key for clinics of the
// admin's own partner.
func (p *Portal) requestKey(q *req) error {
	if err := p.productionAdmin(q); err != nil {
		return err
	}
	d := &keyRequestsData{Errors: map[string]string{}, Chosen: map[string]bool{}}
	d.Form.Name = strings.TrimSpace(q.r.PostFormValue("name"))
	d.Form.RateLimit = strings.TrimSpace(q.r.PostFormValue("rate_limit"))
	d.Form.Expires = strings.TrimSpace(q.r.PostFormValue("expires"))
	clinics, err := p.cfg.Store.ListPartnerClinics(q.r.Context(), q.partner.ID)
	if err != nil {
		return err
	}
	in := keyrequest.RequestInput{Kind: keyrequest.Issue, Name: d.Form.Name}
	if d.Form.Name == "" || len(d.Form.Name) > 200 || strings.ContainsAny(d.Form.Name, "\r\n") {
		d.Errors["name"] = "Give the key a name of 1 to 200 characters on one line."
	}
	for _, id := range q.r.PostForm["clinic"] {
		id = strings.ToLower(id)
		// Only the partner's own clinics: another partner's clinic id
		// is refused as one not in the list.
		if !slices.ContainsFunc(clinics, func(c *novamed.Clinic) bool { return c.ID == id }) {
			d.Errors["clinic"] = "Choose clinics from the list."
			break
		}
		if !d.Chosen[id] {
			d.Chosen[id] = true
			in.Clinics = append(in.Clinics, id)
		}
	}
	if len(in.Clinics) == 0 && d.Errors["clinic"] == "" {
		d.Errors["clinic"] = "Choose at least one clinic."
	}
	if d.Form.RateLimit != "" {
		n, err := strconv.Atoi(d.Form.RateLimit)
		if err != nil || n < 0 || n > 1_000_000 {
			d.Errors["rate_limit"] = "Give a whole number of requests per minute from 0 to 1000000, or leave it empty for the default."
		}
		in.RateLimit = n
	}
	if d.Form.Expires != "" {
		day, err := time.Parse(time.DateOnly, d.Form.Expires)
		switch {
		case err != nil:
			d.Errors["expires"] = "Give the expiry as a date, YYYY-MM-DD, or leave it empty."
		case !day.After(p.now()):
			d.Errors["expires"] = "The expiry must be a day in the future."
		default:
			in.ExpiresAt = &day
		}
	}
	if len(d.Errors) > 0 {
		return p.keyRequestsView(q, d, http.StatusUnprocessableEntity, "")
	}
	r, err := p.cfg.KeyRequests.Request(q.r.Context(), p.keyRequestActor(q), q.partner.ID, in)
	var de *novamed.Error
	if errors.As(err, &de) && de.Code == novamed.CodeInvalid {
		d.Errors[fieldOf(de.Message)] = de.Message
		return p.keyRequestsView(q, d, http.StatusUnprocessableEntity, "")
	}
	if errors.As(err, &de) && de.Code == novamed.CodeLimitReached {
		// Too many requests waiting: beside the button, what was typed
		// kept.
		d.Errors["form"] = de.Message
		return p.keyRequestsView(q, d, http.StatusConflict, "")
	}
	if err != nil {
		return err
	}
	return p.keyRequestsView(q, &keyRequestsData{RequestedID: r.ID}, http.StatusOK,
		"Key requested. NovaMed staff review it; once it is approved, collect the key on this page.")
}

// fieldOf names the form field a key request's validation message is
// about.
func fieldOf(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "clinic"):
		return "clinic"
	case strings.Contains(m, "rate limit"):
		return "rate_limit"
	case strings.Contains(m, "expiry"):
		return "expires"
	}
	return "name"
}

// requestRoll queues the roll of one of the partner's production keys;
// the old key keeps working for the grace chosen once staff approve.
func (p *Portal) requestRoll(q *req) error {
	k, err := p.partnerKey(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := p.productionAdmin(q); err != nil {
		return err
	}
	now := p.now()
	if k.Environment != novamed.Production || !k.Usable(now) || k.ReplacedBy != "" {
		return novamed.Errorf(novamed.CodeInvalid, "Only an active production key that was not rolled yet can be rolled.")
	}
	grace, err := time.ParseDuration(q.r.PostFormValue("grace"))
	if err != nil || grace < 0 || grace > p.cfg.MaxGrace {
		d := &keysData{GraceErrorID: k.ID, Errors: map[string]string{"grace": "Choose a grace period from 0s to " + p.cfg.MaxGrace.String() + "."}}
		return p.keysView(q, d, http.StatusUnprocessableEntity, "")
	}
	pending, err := p.cfg.KeyRequests.Store.ListKeyRequests(q.r.Context(), q.partner.ID, keyrequest.Pending)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(pending, func(r *keyrequest.Request) bool { return r.Kind == keyrequest.Roll && r.KeyID == k.ID }) {
		return novamed.Errorf(novamed.CodeInvalidTransition, "A roll of %s is already waiting for NovaMed staff.", k.Prefix)
	}
	r, err := p.cfg.KeyRequests.Request(q.r.Context(), p.keyRequestActor(q), q.partner.ID,
		keyrequest.RequestInput{Kind: keyrequest.Roll, KeyID: k.ID, Name: k.Name, Grace: grace})
	var de *novamed.Error
	if errors.As(err, &de) && de.Code == novamed.CodeLimitReached {
		// Too many requests waiting: beside the key's roll form.
		d := &keysData{GraceErrorID: k.ID, Errors: map[string]string{"grace": de.Message}}
		return p.keysView(q, d, http.StatusConflict, "")
	}
	if err != nil {
		return err
	}
	return p.keyRequestsView(q, &keyRequestsData{RequestedID: r.ID}, http.StatusOK,
		"Roll of "+k.Prefix+" requested. Once NovaMed staff approve it, collect the new key on this page.")
}

// collectKey shows the key issued for an approved request, once: the
// store erases it as it hands it over. Another partner's request, an
// unknown one and one collected already are the same not-found.
func (p *Portal) collectKey(q *req) error {
	r, err := p.partnerKeyRequest(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := p.productionAdmin(q); err != nil {
		return err
	}
	raw, err := p.cfg.KeyRequests.Collect(q.r.Context(), p.keyRequestActor(q), q.partner.ID, r.ID)
	var de *novamed.Error
	if errors.As(err, &de) && de.Code == novamed.CodeNotFound {
		return errNotFound
	}
	if err != nil {
		return err
	}
	note := ""
	if r.Kind == keyrequest.Roll && r.Grace > 0 {
		note = "The key it replaces keeps working for " + r.Grace.String() + " after the approval."
	}
	d := &keyRequestsData{Issued: &issued{Key: raw, Prefix: r.IssuedPrefix, Note: note}}
	return p.keyRequestsView(q, d, http.StatusOK, "Key collected.")
}

// pendingRolls are the partner's keys with a roll request waiting.
func (p *Portal) pendingRolls(q *req) (map[string]bool, error) {
	out := map[string]bool{}
	if p.cfg.Env != novamed.Production {
		return out, nil
	}
	list, err := p.cfg.KeyRequests.Store.ListKeyRequests(q.r.Context(), q.partner.ID, keyrequest.Pending)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		if r.Kind == keyrequest.Roll {
			out[r.KeyID] = true
		}
	}
	return out, nil
}

// partnerKeyRequest reads a key request of the partner: another
// partner's request is the same not-found as one that does not exist.
func (p *Portal) partnerKeyRequest(q *req, id string) (*keyrequest.Request, error) {
	if !novamed.IsUUID(id) {
		return nil, errNotFound
	}
	r, err := p.cfg.KeyRequests.Store.GetKeyRequest(q.r.Context(), strings.ToLower(id))
	var de *novamed.Error
	if errors.As(err, &de) && de.Code == novamed.CodeNotFound {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if r.PartnerID != q.partner.ID {
		return nil, errNotFound
	}
	return r, nil
}
