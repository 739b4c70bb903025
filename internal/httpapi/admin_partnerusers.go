package httpapi

import (
	"errors"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/partneruser"
)

// The admin routes of the developer portal's partner users (issue 24):
// staff list a partner's users and invite one; the invitation link is in
// the answer once (only its hash is kept; no e-mail is sent).

// AdminPartnerUserRequest is the body of POST /api/admin/partners/{id}/users.
type AdminPartnerUserRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

// AdminInvitation is the answer to an invitation: the user, and the
// link's path (on this server) and expiry.
type AdminInvitation struct {
	User      *partneruser.User `json:"user"`
	Path      string            `json:"invitation_path"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func (s *Server) partnerUsers() *partneruser.Service {
	return &partneruser.Service{Store: s.admin, Now: s.now}
}

func (s *Server) adminPartnerUsers(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	if !novamed.IsUUID(id) {
		return nil, touched("", id), false, novamed.NotFound("Partner")
	}
	ctx := c.r.Context()
	if _, err := s.admin.GetPartner(ctx, id); err != nil {
		return nil, touched("", id), false, err
	}
	users, err := s.admin.ListPartnerUsers(ctx, id)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return map[string]any{"users": users}, touched("", id), false, nil
}

func (s *Server) adminPartnerUserInvite(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	if !novamed.IsUUID(id) {
		return nil, touched("", id), false, novamed.NotFound("Partner")
	}
	var in AdminPartnerUserRequest
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, touched("", id), false, err
	}
	a := c.actor()
	u, path, exp, err := s.partnerUsers().Invite(c.r.Context(), partneruser.Actor{ID: a.ID, RequestID: a.RequestID, Addr: a.Addr, Via: a.Via},
		partneruser.InviteInput{PartnerID: id, Email: in.Email, Name: in.Name, Role: partneruser.Role(in.Role)})
	var fe *partneruser.FieldError
	if errors.As(err, &fe) {
		return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "%s: %s", fe.Field, fe.Message)
	}
	if err != nil {
		return nil, touched("", id), false, err
	}
	return AdminInvitation{User: u, Path: path, ExpiresAt: exp}, touched("", id, u.ID), true, nil
}
