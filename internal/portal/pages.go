package portal

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/partneruser"
)

type overviewData struct {
	Partner *novamed.Partner
	Clinics []*novamed.Clinic
	Welcome bool
}

func (p *Portal) overview(q *req) error {
	clinics, err := p.cfg.Store.ListPartnerClinics(q.r.Context(), q.partner.ID)
	if err != nil {
		return err
	}
	d := &overviewData{Partner: q.partner, Clinics: clinics, Welcome: q.r.URL.Query().Get("welcome") == "1"}
	p.render(q.w, q.r, http.StatusOK, "overview", p.newView(q.r, q, q.partner.Name, d))
	return nil
}

type usersData struct {
	Items  []*partneruser.User
	Form   struct{ Email, Name, Role string }
	Errors map[string]string
	// Link is a new invitation, shown once.
	Link    string
	Expires time.Time
}

func (p *Portal) usersView(q *req, d *usersData, status int) error {
	items, err := p.cfg.Users.Store.ListPartnerUsers(q.r.Context(), q.partner.ID)
	if err != nil {
		return err
	}
	d.Items = items
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	p.render(q.w, q.r, status, "users", p.newView(q.r, q, "Users", d))
	return nil
}

func (p *Portal) users(q *req) error { return p.usersView(q, &usersData{}, http.StatusOK) }

// inviteUser invites a colleague to the admin's own partner (never
// another: the partner comes from the session).
func (p *Portal) inviteUser(q *req) error {
	d := &usersData{Errors: map[string]string{}}
	d.Form.Email, d.Form.Name, d.Form.Role = q.r.PostFormValue("email"), q.r.PostFormValue("name"), q.r.PostFormValue("role")
	_, link, expires, err := p.cfg.Users.Invite(q.r.Context(), p.actor(q), partneruser.InviteInput{PartnerID: q.partner.ID,
		Email: d.Form.Email, Name: d.Form.Name, Role: partneruser.Role(d.Form.Role)})
	var fe *partneruser.FieldError
	if errors.As(err, &fe) {
		d.Errors[fe.Field] = fe.Message
		return p.usersView(q, d, http.StatusUnprocessableEntity)
	}
	if err != nil {
		return err
	}
	d.Link, d.Expires = link, expires
	d.Form.Email, d.Form.Name, d.Form.Role = "", "", ""
	return p.usersView(q, d, http.StatusOK)
}

func (p *Portal) userStatus(st partneruser.Status) handler {
	return func(q *req) error {
		id := q.r.PathValue("id")
		if id == q.u.ID {
			return novamed.Errorf(novamed.CodeInvalid, "You cannot disable your own account.")
		}
		if _, err := p.cfg.Users.SetStatus(q.r.Context(), p.actor(q), q.partner.ID, id, st); err != nil {
			return err
		}
		http.Redirect(q.w, q.r, Prefix+"/users", http.StatusSeeOther)
		return nil
	}
}

// partnerKeys lists the keys of the partner, oldest first.
func (p *Portal) partnerKeys(q *req) ([]*novamed.APIKey, []*novamed.Clinic, error) {
	ctx := q.r.Context()
	clinics, err := p.cfg.Store.ListPartnerClinics(ctx, q.partner.ID)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	var out []*novamed.APIKey
	for _, c := range clinics {
		keys, err := p.cfg.Store.ListAPIKeys(ctx, c.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range keys {
			if !seen[k.ID] && k.PartnerID == q.partner.ID {
				seen[k.ID] = true
				out = append(out, k)
			}
		}
	}
	slices.SortFunc(out, func(a, b *novamed.APIKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, clinics, nil
}

// partnerKey reads a key of the partner: another partner's key is the
// same not-found as a key that does not exist.
func (p *Portal) partnerKey(q *req, id string) (*novamed.APIKey, error) {
	if !novamed.IsUUID(id) {
		return nil, errNotFound
	}
	k, err := p.cfg.Store.GetAPIKey(q.r.Context(), strings.ToLower(id))
	var de *novamed.Error
	if errors.As(err, &de) && de.Code == novamed.CodeNotFound {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if k.PartnerID != q.partner.ID {
		return nil, errNotFound
	}
	return k, nil
}

type keyRow struct {
	*novamed.APIKey
	State     string
	RateLimit int
	CanRoll   bool
	// CanRequestRoll: an active production key an admin may ask staff to
	// roll; RollPending: such a request is waiting.
	CanRequestRoll, RollPending bool
}

type issued struct{ Key, Prefix, Note string }

type keysData struct {
	Items       []keyRow
	Clinics     []*novamed.Clinic
	Development bool
	IsAdmin     bool
	Form        struct{ Name string }
	Errors      map[string]string
	Issued      *issued
	MaxGrace    string
	// GraceErrorID is the key whose roll form has Errors["grace"].
	GraceErrorID string
}

func (p *Portal) keysView(q *req, d *keysData, status int, notice string) error {
	keys, clinics, err := p.partnerKeys(q)
	if err != nil {
		return err
	}
	now := p.now()
	d.Clinics, d.Development, d.IsAdmin = clinics, p.cfg.Env != novamed.Production, q.u.Role == partneruser.Admin
	d.MaxGrace = p.cfg.MaxGrace.String()
	if d.Errors == nil {
		d.Errors = map[string]string{}
	}
	pendingRoll, err := p.pendingRolls(q)
	if err != nil {
		return err
	}
	for _, k := range keys {
		st := "active"
		switch {
		case k.RevokedAt != nil && !now.Before(*k.RevokedAt):
			st = "revoked"
		case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
			st = "expired"
		case k.ReplacedBy != "" && k.ExpiresAt != nil:
			st = "rolled: works until " + k.ExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC")
		case k.ReplacedBy != "":
			st = "rolled"
		}
		d.Items = append(d.Items, keyRow{APIKey: k, State: st, RateLimit: k.EffectiveRateLimit(),
			CanRoll:        st == "active" && p.mayRoll(q, k),
			CanRequestRoll: st == "active" && d.IsAdmin && k.Environment == novamed.Production && p.cfg.Env == novamed.Production && !pendingRoll[k.ID],
			RollPending:    pendingRoll[k.ID]})
	}
	v := p.newView(q.r, q, "Keys", d)
	v.Notice = notice
	p.render(q.w, q.r, status, "keys", v)
	return nil
}

func (p *Portal) keys(q *req) error { return p.keysView(q, &keysData{}, http.StatusOK, "") }

// mayRoll: a developer rolls development keys only; an admin any key the
// deployment lets partners roll themselves (development).
func (p *Portal) mayRoll(q *req, k *novamed.APIKey) bool {
	return k.Environment != novamed.Production && p.cfg.Env != novamed.Production
}

// createKey issues a development key for the partner's clinics chosen
// (shown once). Production keys are issued by NovaMed staff.
func (p *Portal) createKey(q *req) error {
	if p.cfg.Env == novamed.Production {
		return &novamed.Error{Code: novamed.CodeForbidden, Message: "Production keys are issued by NovaMed staff."}
	}
	d := &keysData{Errors: map[string]string{}}
	d.Form.Name = q.r.PostFormValue("name")
	clinics, err := p.cfg.Store.ListPartnerClinics(q.r.Context(), q.partner.ID)
	if err != nil {
		return err
	}
	var chosen []string
	for _, id := range q.r.PostForm["clinic"] {
		// Only the partner's own clinics count: another partner's
		// clinic id is refused as unknown.
		if !slices.ContainsFunc(clinics, func(c *novamed.Clinic) bool { return c.ID == strings.ToLower(id) }) {
			d.Errors["clinic"] = "Choose clinics from the list."
			return p.keysView(q, d, http.StatusUnprocessableEntity, "")
		}
		chosen = append(chosen, strings.ToLower(id))
	}
	if len(chosen) == 0 {
		d.Errors["clinic"] = "Choose at least one clinic."
		return p.keysView(q, d, http.StatusUnprocessableEntity, "")
	}
	a := p.actor(q)
	k, raw, err := onboarding.IssueKey(q.r.Context(), p.cfg.Store, onboarding.Deps{Env: p.cfg.Env, Now: p.cfg.Now},
		onboarding.Actor{ID: a.ID, RequestID: a.RequestID, Addr: a.Addr, Via: a.Via}, onboarding.KeyInput{Name: d.Form.Name, Clinics: chosen})
	var de *novamed.Error
	if errors.As(err, &de) && de.Code == novamed.CodeInvalid {
		d.Errors["name"] = de.Message
		return p.keysView(q, d, http.StatusUnprocessableEntity, "")
	}
	if err != nil {
		return err
	}
	d.Form.Name = ""
	d.Issued = &issued{Key: raw, Prefix: k.Prefix}
	return p.keysView(q, d, http.StatusOK, "Key created.")
}

// rollKey replaces a development key; the old one works for the grace
// period chosen.
func (p *Portal) rollKey(q *req) error {
	old, err := p.partnerKey(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if !p.mayRoll(q, old) {
		return &novamed.Error{Code: novamed.CodeForbidden, Message: "A production key is rolled by NovaMed staff on request."}
	}
	grace, err := time.ParseDuration(strings.TrimSpace(q.r.PostFormValue("grace")))
	if err != nil || grace < 0 || grace > p.cfg.MaxGrace {
		d := &keysData{GraceErrorID: old.ID, Errors: map[string]string{"grace": "Give a duration from 0s to " + p.cfg.MaxGrace.String() + ", such as 30m or 24h."}}
		return p.keysView(q, d, http.StatusUnprocessableEntity, "")
	}
	now := p.now()
	next, raw, err := onboarding.NewKey(p.cfg.Env, old.Name, old.Clinics, old.ExpiresAt, old.RateLimit, now)
	if err != nil {
		return err
	}
	next.Owner, next.PartnerID = old.Owner, old.PartnerID
	_, err = p.cfg.Store.RollAPIKey(q.r.Context(), old.ID, next, now.Add(grace))
	if aerr := p.auditKey(q, "api_key.roll", old, err, old.ID, next.ID); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	p.keysChanged(q)
	d := &keysData{Issued: &issued{Key: raw, Prefix: next.Prefix, Note: "The previous key " + old.Prefix + " works until " +
		now.Add(grace).UTC().Format("2006-01-02 15:04:05 UTC") + "."}}
	return p.keysView(q, d, http.StatusOK, "Key rolled.")
}

// revokeKey revokes a key of the partner at once (admins; production
// keys too).
func (p *Portal) revokeKey(q *req) error {
	k, err := p.partnerKey(q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if k.Environment == novamed.Production && !q.u.HasTOTP() {
		return &novamed.Error{Code: novamed.CodeForbidden, Message: "Production keys need an account with an authenticator: ask your partner admin for a new invitation."}
	}
	_, err = p.cfg.Store.RevokeAPIKey(q.r.Context(), k.ID, p.now())
	if aerr := p.auditKey(q, "api_key.revoke", k, err, k.ID); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	p.keysChanged(q)
	return p.keysView(q, &keysData{}, http.StatusOK, "Key "+k.Prefix+" revoked.")
}

func (p *Portal) keysChanged(q *req) {
	if p.cfg.OnKeysChanged != nil {
		p.cfg.OnKeysChanged(q.r.Context())
	}
}

func (p *Portal) auditKey(q *req, action string, k *novamed.APIKey, err error, ids ...string) error {
	status := http.StatusOK
	if err != nil {
		status = http.StatusConflict
	}
	clinic := ""
	if len(k.Clinics) == 1 {
		clinic = k.Clinics[0]
	}
	return p.audit(q.r.Context(), q.r, q.u.Actor(), action, "api_key", clinic, k.Prefix, status, ids...)
}
