package httpapi

import (
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
)

// The admin routes of the production key-request queue (issue 24):
// partner admins request keys and rolls in the developer portal; staff
// list the queue, approve (the key is issued through onboarding.IssueKey
// and kept sealed for the partner, never in this answer) or reject with a
// reason.

// AdminKeyRequestReject is the body of POST /api/admin/key-requests/{id}/reject.
type AdminKeyRequestReject struct {
	Reason string `json:"reason"`
}

func (s *Server) keyRequests() *keyrequest.Service {
	return &keyrequest.Service{Store: s.admin, Env: s.env, Now: s.now}
}

func (s *Server) adminKeyRequests(c *adminCall) (any, facts, bool, error) {
	st := keyrequest.Status(c.r.URL.Query().Get("status"))
	switch st {
	case "", keyrequest.Pending, keyrequest.Approved, keyrequest.Rejected:
	default:
		return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalid, "status is pending, approved or rejected.")
	}
	f := keyrequest.Filter{Status: st, Limit: 100, Cursor: c.r.URL.Query().Get("cursor")}
	if v := c.r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalid, "limit is 1 to 500.")
		}
		f.Limit = n
	}
	if f.Cursor != "" && !keyrequest.ValidCursor(f.Cursor) {
		return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalid, "cursor is the next_cursor of the previous page.")
	}
	l, next, err := s.admin.PageKeyRequests(c.r.Context(), f)
	if err != nil {
		return nil, facts{}, false, err
	}
	return map[string]any{"key_requests": l, "next_cursor": next}, facts{}, false, nil
}

func (s *Server) adminKeyRequestApprove(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	r, err := s.keyRequests().Approve(c.r.Context(), c.actor(), id)
	if err != nil {
		return nil, touched("", id), false, err
	}
	s.keyChanged(c.r.Context())
	return r, touched("", r.ID, r.IssuedKeyID), true, nil
}

func (s *Server) adminKeyRequestReject(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in AdminKeyRequestReject
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, touched("", id), false, err
	}
	r, err := s.keyRequests().Reject(c.r.Context(), c.actor(), id, in.Reason)
	if err != nil {
		return nil, touched("", id), false, err
	}
	return r, touched("", r.ID), true, nil
}
