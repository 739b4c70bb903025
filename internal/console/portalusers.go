package console

import (
	"errors"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/partneruser"
)

// The developer portal's invitations from the staff console (issue 24):
// the partner page lists the partner's portal users and invites one; the
// invitation link is shown once, on the page that answers the form.

type portalUsersData struct {
	PartnerID, PartnerName string
	Users                  []*partneruser.User
	Link                   string
	Expires                time.Time
	Form                   map[string]string
	Errors                 map[string]string
}

func (c *Console) invitePartnerUser(q *req) error {
	if c.cfg.PartnerUsers == nil {
		return novamed.NotFound("Page")
	}
	p, err := c.cfg.Partners.GetPartner(q.r.Context(), q.r.PathValue("id"))
	if err != nil {
		return err
	}
	d := &portalUsersData{PartnerID: p.ID, PartnerName: p.Name, Errors: map[string]string{},
		Form: map[string]string{"email": q.r.PostFormValue("email"), "name": q.r.PostFormValue("name"), "role": q.r.PostFormValue("role")}}
	_, link, exp, err := c.cfg.PartnerUsers.Invite(q.r.Context(), partneruser.Actor{ID: "operator:" + q.s.op.ID, RequestID: newRequestID(),
		Addr: c.clientAddr(q.r), Via: "console"}, partneruser.InviteInput{PartnerID: p.ID, Email: d.Form["email"], Name: d.Form["name"],
		Role: partneruser.Role(d.Form["role"])})
	var fe *partneruser.FieldError
	status := http.StatusOK
	switch {
	case errors.As(err, &fe):
		d.Errors[fe.Field], status = fe.Message, http.StatusUnprocessableEntity
	case err != nil:
		return err
	default:
		d.Link, d.Expires, d.Form = link, exp, map[string]string{}
	}
	if d.Users, err = c.cfg.PartnerUsers.Store.ListPartnerUsers(q.r.Context(), p.ID); err != nil {
		return err
	}
	c.render(q.w, q.r, status, "portal_users", c.newView(q.r, q.s, "Portal users of "+p.Name, d))
	return nil
}
