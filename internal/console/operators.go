package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
)

type operatorsData struct {
	Items  []*operator.Operator
	Roles  []operator.Role
	Self   string
	Total  int
	Prev   string
	Next   string
	Link   *setupLinkShown
	Form   map[string]string
	Errors map[string]string
	// RowError is a refused change of one operator, shown in its row.
	RowError   string
	RowErrorID string
}

// setupLinkShown is a one-time setup link, shown once after an invitation
// or a second-factor reset.
type setupLinkShown struct {
	Email, URL, Expires string
	Reset               bool
}

func (c *Console) loadOperators(q *req) (*operatorsData, error) {
	all, err := c.cfg.Staff.Store.ListOperators(q.r.Context())
	if err != nil {
		return nil, err
	}
	d := &operatorsData{Roles: operator.Roles, Self: q.s.op.ID, Total: len(all), Form: map[string]string{}, Errors: map[string]string{}}
	offset, _ := strconv.Atoi(q.r.URL.Query().Get("offset"))
	offset = max(0, min(offset, len(all)))
	end := min(offset+pageSize, len(all))
	d.Items = all[offset:end]
	if offset > 0 {
		d.Prev = Prefix + "/operators?offset=" + strconv.Itoa(max(0, offset-pageSize))
	}
	if end < len(all) {
		d.Next = Prefix + "/operators?offset=" + strconv.Itoa(end)
	}
	return d, nil
}

var operatorNotices = map[string]string{
	"role":    "Role changed: the operator's tokens are revoked; their console follows the new role at once.",
	"disable": "Operator disabled: their sessions and tokens end now.",
	"enable":  "Operator enabled.",
}

// operators lists the staff (admin only), with the invite form and each
// operator's role, status and second factor.
func (c *Console) operators(q *req) error {
	if c.cfg.Staff == nil {
		return novamed.NotFound("page")
	}
	d, err := c.loadOperators(q)
	if err != nil {
		return err
	}
	v := c.newView(q.r, q.s, "Operators", d)
	v.Notice = operatorNotices[q.r.URL.Query().Get("done")]
	c.render(q.w, q.r, http.StatusOK, "operators", v)
	return nil
}

// showOperators renders the page after an action: with the one-time link,
// or with an error beside its field or in the operator's row.
func (c *Console) showOperators(q *req, status int, mod func(*operatorsData)) error {
	d, err := c.loadOperators(q)
	if err != nil {
		return err
	}
	mod(d)
	c.render(q.w, q.r, status, "operators", c.newView(q.r, q.s, "Operators", d))
	return nil
}

// absoluteURL is a path of this console as the browser reached it.
func absoluteURL(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host, Path: path}).String()
}

// inviteOperator creates an operator through the operator service (the
// CLI's and the admin API's) and shows their one-time setup link once.
func (c *Console) inviteOperator(q *req) error {
	if c.cfg.Staff == nil {
		return novamed.NotFound("page")
	}
	ctx := q.r.Context()
	f := func(k string) string { return strings.TrimSpace(q.r.PostFormValue(k)) }
	fields := []string{"email", "name", "role"}
	role, err := operator.ParseRole(f("role"))
	var o *operator.Operator
	if err != nil {
		err = novamed.Errorf(novamed.CodeInvalid, "Choose a role: viewer, support, pharmacy, security or admin.")
	} else {
		o, err = c.cfg.Staff.Create(ctx, f("email"), f("name"), role, "")
	}
	var link, expires string
	if err == nil {
		path, exp, lerr := c.cfg.Staff.NewSetupLink(ctx, o)
		if lerr != nil {
			return lerr
		}
		link, expires = absoluteURL(q.r, path), exp.UTC().Format("2006-01-02 15:04 UTC")
	}
	status, ids := http.StatusOK, []string(nil)
	if err != nil {
		status = statusOf(novamed.ErrorCode(err))
	} else {
		ids = []string{o.ID}
	}
	if aerr := c.audit(ctx, q, "operator.create", "operator", "", status, ids...); aerr != nil {
		return aerr
	}
	if msg, ok := invalid(err); ok {
		return c.showOperators(q, status, func(d *operatorsData) {
			for _, k := range fields {
				d.Form[k] = f(k)
			}
			d.Errors[fieldOf(msg, "email", "email", "role", "role", "name", "name")] = msg
		})
	}
	if err != nil {
		return err
	}
	return c.showOperators(q, http.StatusOK, func(d *operatorsData) {
		d.Link = &setupLinkShown{Email: o.Email, URL: link, Expires: expires}
	})
}

// operatorChange changes one operator's role or status, refusing a
// change that would leave no active admin (or disable yourself); audited
// with its outcome.
func (c *Console) operatorChange(action string) handler {
	return func(q *req) error {
		if c.cfg.Staff == nil {
			return novamed.NotFound("page")
		}
		ctx := q.r.Context()
		id := strings.ToLower(q.r.PathValue("id"))
		o, err := c.cfg.Staff.Store.GetOperator(ctx, id)
		if err == nil {
			var role operator.Role
			var st operator.Status
			switch action {
			case "role":
				if role, err = operator.ParseRole(q.r.PostFormValue("role")); err != nil {
					err = novamed.Errorf(novamed.CodeInvalid, "Choose a role from the list.")
				}
			case "disable":
				st = operator.Disabled
			case "enable":
				st = operator.Active
			}
			if err == nil {
				err = c.cfg.Staff.CheckKeepsAdmin(ctx, q.s.op.ID, o, role, st)
			}
			if err == nil {
				err = c.cfg.Staff.Update(ctx, o, role, st)
			}
			if err == nil && st == operator.Disabled {
				_, err = c.cfg.Sessions.DeleteSubjectSessions(ctx, o.ID)
			}
		}
		status := http.StatusOK
		if err != nil {
			status = statusOf(novamed.ErrorCode(err))
		}
		if aerr := c.audit(ctx, q, "operator."+action, "operator", "", status, id); aerr != nil {
			return aerr
		}
		if msg, ok := invalid(err); ok {
			return c.showOperators(q, status, func(d *operatorsData) { d.RowError, d.RowErrorID = msg, id })
		}
		if err != nil {
			return err
		}
		if id == q.s.op.ID && !c.cfg.Accounts.Can(string(o.Role), CapOperators) {
			// You demoted yourself: this page is no longer yours.
			c.redirect(q.w, q.r, Prefix+"/")
			return nil
		}
		c.redirect(q.w, q.r, Prefix+"/operators?done="+action)
		return nil
	}
}

// resetSecondFactor removes an operator's second factor, ends their
// sessions and tokens, and shows a new one-time setup link (once) through
// which they set a password and enrol a new authenticator.
func (c *Console) resetSecondFactor(q *req) error {
	if c.cfg.Staff == nil {
		return novamed.NotFound("page")
	}
	ctx := q.r.Context()
	id := strings.ToLower(q.r.PathValue("id"))
	var link, expires string
	o, err := c.cfg.Staff.Store.GetOperator(ctx, id)
	if err == nil && o.ID == q.s.op.ID {
		err = novamed.Errorf(novamed.CodeInvalid, "You cannot reset your own second factor here: ask another admin.")
	}
	if err == nil {
		path, exp, rerr := c.cfg.Staff.ResetSecondFactor(ctx, o)
		err = rerr
		link, expires = absoluteURL(q.r, path), exp.UTC().Format("2006-01-02 15:04 UTC")
	}
	if err == nil {
		_, err = c.cfg.Sessions.DeleteSubjectSessions(ctx, o.ID)
	}
	status := http.StatusOK
	if err != nil {
		status = statusOf(novamed.ErrorCode(err))
	}
	if aerr := c.audit(ctx, q, "operator.totp_reset", "operator", "", status, id); aerr != nil {
		return aerr
	}
	if msg, ok := invalid(err); ok {
		return c.showOperators(q, status, func(d *operatorsData) { d.RowError, d.RowErrorID = msg, id })
	}
	if err != nil {
		return err
	}
	return c.showOperators(q, http.StatusOK, func(d *operatorsData) {
		d.Link = &setupLinkShown{Email: o.Email, URL: link, Expires: expires, Reset: true}
	})
}
