package console

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/websession"
)

// signOutReasons are the console's own reasons besides websession's.
var signOutReasons = map[string]string{
	"operator": "Your account can no longer sign in.",
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := c.loadSession(r.Context(), r); err == nil && s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d := &websession.LoginData{Next: r.URL.Query().Get("next"), Reason: websession.SignOutReason(r.URL.Query().Get("reason"), signOutReasons),
		CodeRequired: c.cfg.Env == novamed.Production, Errors: map[string]string{}}
	c.render(w, r, http.StatusOK, "login", c.newView(r, nil, "Sign in", d))
}

func (c *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !websession.ReadForm(w, r) {
		c.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	d, password, code := websession.ReadLogin(r)
	d.CodeRequired = c.cfg.Env == novamed.Production
	if len(d.Errors) == 0 {
		op, err := c.cfg.Accounts.SignIn(r.Context(), d.Email, password, code, c.clientAddr(r))
		var se *SignInError
		if errors.As(err, &se) || err == nil {
			if aerr := c.auditSignIn(r, d.Email, op, se); aerr != nil {
				c.fail(w, r, nil, aerr)
				return
			}
		}
		switch {
		case errors.As(err, &se):
			field := se.Field
			if field == "" {
				field = "password"
			}
			msg := se.Message
			if se.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(se.RetryAfter.Seconds()+0.999)))
			}
			d.Errors[field] = msg
		case err != nil:
			c.fail(w, r, nil, err)
			return
		default:
			if err := c.startSession(r.Context(), w, r, op); err != nil {
				c.fail(w, r, nil, err)
				return
			}
			http.Redirect(w, r, safeNext(d.Next), http.StatusSeeOther)
			return
		}
	}
	c.render(w, r, http.StatusUnprocessableEntity, "login", c.newView(r, nil, "Sign in", d))
}

// auditSignIn records a sign-in and a failed one (issue 22: logins and
// failed logins are in the trail). A success names the operator as actor
// and resource; a failure has no authenticated actor, so it names the
// address it came from and, as its resource, the email that was tried
// (never the password or code), with 401, or 429 while the account or
// address is slowed down.
func (c *Console) auditSignIn(r *http.Request, email string, op *Operator, failed *SignInError) error {
	if c.cfg.Audit == nil {
		return nil
	}
	rec := &novamed.AuditRecord{Time: c.now().UTC(), RequestID: newRequestID(), Action: "operator.sign_in", ResourceType: "operator",
		ClientAddr: c.clientAddr(r), UserAgent: truncate(r.UserAgent(), 200)}
	switch {
	case failed == nil && op != nil:
		rec.Status, rec.ResourceIDs = http.StatusOK, []string{op.ID}
		setActor(rec, "operator:"+op.ID)
	case failed != nil && failed.RetryAfter > 0:
		rec.Status, rec.ResourceIDs = http.StatusTooManyRequests, []string{truncate(operator.NormalizeEmail(email), 254)}
	default:
		rec.Status, rec.ResourceIDs = http.StatusUnauthorized, []string{truncate(operator.NormalizeEmail(email), 254)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	return c.cfg.Audit.Record(ctx, rec)
}

// logout ends this session (if any) and shows the sign-in page. It is
// public so a stale page can still sign out, but it needs the session's
// CSRF token when there is a session to end.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if s, err := c.loadSession(r.Context(), r); err == nil {
		if !checkCSRF(r, s) {
			c.renderError(w, r, s, http.StatusForbidden, "This form has expired or did not come from the console. Reload the page and try again.")
			return
		}
		if err := c.cfg.Sessions.DeleteSession(r.Context(), s.Hash); err != nil {
			c.fail(w, r, s, err)
			return
		}
	}
	c.sessions.SetCookie(w, "", true)
	c.redirect(w, r, Prefix+"/login?reason=out")
}

// logoutEverywhere ends every session of the signed-in operator, on every
// replica: one DELETE by operator id.
func (c *Console) logoutEverywhere(q *req) error {
	if _, err := c.cfg.Sessions.DeleteSubjectSessions(q.r.Context(), q.s.op.ID); err != nil {
		return err
	}
	c.sessions.SetCookie(q.w, "", true)
	c.redirect(q.w, q.r, Prefix+"/login?reason=out")
	return nil
}

type reauthData struct {
	Next   string
	Errors map[string]string
}

func (c *Console) reauthPage(q *req) error {
	d := &reauthData{Next: safeNext(q.r.URL.Query().Get("next")), Errors: map[string]string{}}
	c.render(q.w, q.r, http.StatusOK, "reauth", c.newView(q.r, q.s, "Confirm it is you", d))
	return nil
}

func (c *Console) reauthSubmit(q *req) error {
	d := &reauthData{Next: safeNext(q.r.PostFormValue("next")), Errors: map[string]string{}}
	op, err := c.cfg.Accounts.SignIn(q.r.Context(), q.s.op.Email, q.r.PostFormValue("password"), strings.TrimSpace(q.r.PostFormValue("code")), c.clientAddr(q.r))
	var se *SignInError
	switch {
	case errors.As(err, &se):
		field := se.Field
		if field == "" || field == "email" {
			field = "password"
		}
		d.Errors[field] = se.Message
	case err != nil:
		return err
	case op.ID != q.s.op.ID:
		d.Errors["password"] = "That is not your account."
	default:
		if err := c.sessions.Reauthenticated(q.r.Context(), q.s.Session); err != nil {
			return err
		}
		c.redirect(q.w, q.r, d.Next)
		return nil
	}
	c.render(q.w, q.r, http.StatusUnprocessableEntity, "reauth", c.newView(q.r, q.s, "Confirm it is you", d))
	return nil
}
