package httpapi

import (
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

// The admin routes of operators and their tokens (issue 22). Each changes
// one operator through operator.Service, as `novamed operators …` does in
// direct mode, and answers what that command prints with --json.

// operatorByID reads the operator of the path's {id}.
func (s *Server) operatorByID(c *adminCall) (*operator.Operator, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	if !novamed.IsUUID(id) {
		return nil, novamed.NotFound("Operator")
	}
	return s.admin.GetOperator(c.r.Context(), id)
}

// AdminOperatorUpdate is the body of PATCH /api/admin/operators/{id}: a new
// role and/or status ("active" or "disabled"). Either change revokes the
// operator's tokens.
type AdminOperatorUpdate struct {
	Role   *string `json:"role"`
	Status *string `json:"status"`
}

func (s *Server) adminOperatorUpdate(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in AdminOperatorUpdate
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, touched("", id), false, err
	}
	if in.Role == nil && in.Status == nil {
		return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "Nothing to update: give role and/or status (active or disabled).")
	}
	var role operator.Role
	var status operator.Status
	if in.Role != nil {
		r, err := operator.ParseRole(*in.Role)
		if err != nil {
			return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "%s", err.Error())
		}
		role = r
	}
	if in.Status != nil {
		status = operator.Status(*in.Status)
		if status != operator.Active && status != operator.Disabled {
			return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "status must be active or disabled.")
		}
	}
	o, err := s.operatorByID(c)
	if err != nil {
		return nil, touched("", id), false, err
	}
	if err := s.operators.CheckKeepsAdmin(c.r.Context(), c.op.ID, o, role, status); err != nil {
		return nil, touched("", o.ID), false, err
	}
	if err := s.operators.Update(c.r.Context(), o, role, status); err != nil {
		return nil, touched("", o.ID), false, err
	}
	if o, err = s.admin.GetOperator(c.r.Context(), id); err != nil { // as stored (the store's time precision)
		return nil, touched("", id), false, err
	}
	return ToAdminOperator(o), touched("", o.ID), false, nil
}

// adminOperatorTOTPReset removes an operator's second factor and revokes
// their tokens (operator.ResetSecondFactor, as the console's reset does),
// and answers the operator with a one-time setup link (shown once) through
// which they enrol a new authenticator: the new secret never passes
// through the admin.
func (s *Server) adminOperatorTOTPReset(c *adminCall) (any, facts, bool, error) {
	o, err := s.operatorByID(c)
	if err != nil {
		return nil, touched("", strings.ToLower(c.r.PathValue("id"))), false, err
	}
	if o.ID == c.op.ID {
		return nil, touched("", o.ID), false, novamed.Errorf(novamed.CodeInvalid, "You cannot reset your own second factor: you would sign yourself out. Ask another admin.")
	}
	path, exp, err := s.operators.ResetSecondFactor(c.r.Context(), o)
	if err != nil {
		return nil, touched("", o.ID), false, err
	}
	id := o.ID
	if o, err = s.admin.GetOperator(c.r.Context(), id); err != nil {
		return nil, touched("", id), false, err
	}
	out := ToAdminOperator(o)
	out.SetupLink, out.SetupLinkExpiresAt = path, &exp
	return out, touched("", o.ID), false, nil
}

func (s *Server) adminOperatorThrottleReset(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in struct {
		Address string `json:"address"`
	}
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, touched("", id), false, err
	}
	in.Address = strings.TrimSpace(in.Address)
	if len(in.Address) > 64 || strings.ContainsAny(in.Address, " \t\r\n") {
		return nil, touched("", id), false, novamed.Errorf(novamed.CodeInvalid, "address is a client IP address as the sign-in saw it.")
	}
	o, err := s.operatorByID(c)
	if err != nil {
		return nil, touched("", id), false, err
	}
	if err := s.operators.ResetThrottle(c.r.Context(), o.Email, in.Address); err != nil {
		return nil, touched("", o.ID), false, err
	}
	return map[string]any{"id": o.ID, "email": o.Email, "reset": true}, touched("", o.ID), false, nil
}

// AdminOperatorToken is an operator token as the admin API lists it:
// never the token, only its display prefix.
type AdminOperatorToken struct {
	ID         string     `json:"id"`
	OperatorID string     `json:"operator_id"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func toAdminToken(t *operator.Token) AdminOperatorToken {
	return AdminOperatorToken{ID: t.ID, OperatorID: t.OperatorID, Prefix: t.Prefix, Role: string(t.Role), CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

// adminTokensList lists the caller's tokens; an admin may name another
// operator (?operator=ID).
func (s *Server) adminTokensList(c *adminCall) (any, facts, bool, error) {
	whose := c.op.ID
	if v := strings.ToLower(c.r.URL.Query().Get("operator")); v != "" && v != c.op.ID {
		if !c.op.Role.Can(operator.Operators) {
			return nil, touched("", v), false, &novamed.Error{Code: novamed.CodeForbidden,
				Message: "Your role (" + string(c.op.Role) + ") may list only your own tokens."}
		}
		if !novamed.IsUUID(v) {
			return nil, touched("", v), false, novamed.NotFound("Operator")
		}
		if _, err := s.admin.GetOperator(c.r.Context(), v); err != nil {
			return nil, touched("", v), false, err
		}
		whose = v
	}
	ts, err := s.admin.ListOperatorTokens(c.r.Context(), whose)
	if err != nil {
		return nil, touched("", whose), false, err
	}
	out := make([]AdminOperatorToken, len(ts))
	for i, t := range ts {
		out[i] = toAdminToken(t)
	}
	return map[string]any{"tokens": out}, touched("", whose), false, nil
}

// adminTokenRevoke revokes one of the caller's tokens (an admin: anyone's).
// Another operator's token is, to anyone else, a token that does not exist.
func (s *Server) adminTokenRevoke(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	ctx := c.r.Context()
	if !novamed.IsUUID(id) {
		return nil, touched("", id), false, novamed.NotFound("Operator token")
	}
	if !c.op.Role.Can(operator.Operators) {
		own, err := s.admin.ListOperatorTokens(ctx, c.op.ID)
		if err != nil {
			return nil, touched("", id), false, err
		}
		mine := false
		for _, t := range own {
			mine = mine || t.ID == id
		}
		if !mine {
			return nil, touched("", id), false, novamed.NotFound("Operator token")
		}
	}
	t, err := s.admin.RevokeOperatorToken(ctx, id, s.now())
	if err != nil {
		return nil, touched("", id), false, err
	}
	return toAdminToken(t), touched("", t.OperatorID, t.ID), false, nil
}
