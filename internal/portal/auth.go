package portal

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/websession"
)

// suspendedMessage is the sign-in page's answer to a user of a suspended
// partner, whose password and code were right.
const suspendedMessage = "Your organisation's access to NovaMed is suspended, so the portal is closed to its users. Contact NovaMed to have it restored."

// signOutReasons are the portal's own reasons besides websession's.
var signOutReasons = map[string]string{
	"account":   "Your account can no longer sign in.",
	"suspended": suspendedMessage,
}

func (p *Portal) loginPage(w http.ResponseWriter, r *http.Request) {
	if q, err := p.load(r.Context(), r); err == nil && q != nil {
		http.Redirect(w, r, websession.SafeNext(Prefix, r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d := &websession.LoginData{Next: r.URL.Query().Get("next"), Reason: websession.SignOutReason(r.URL.Query().Get("reason"), signOutReasons), Errors: map[string]string{}}
	p.render(w, r, http.StatusOK, "login", p.newView(r, nil, "Sign in", d))
}

func (p *Portal) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !websession.ReadForm(w, r) {
		p.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	d, password, code := websession.ReadLogin(r)
	if len(d.Errors) == 0 {
		u, err := p.cfg.Users.Login(r.Context(), d.Email, password, code, p.clientAddr(r))
		var te *operator.ThrottledError
		switch {
		case errors.As(err, &te):
			w.Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds()+0.999)))
			d.Errors["password"] = "Too many failed sign-ins: wait " + te.RetryAfter.Round(1e9).String() + " and try again."
		case errors.Is(err, operator.ErrBadCredentials):
			d.Errors["password"] = "The email, password or authenticator code is wrong."
		case errors.Is(err, partneruser.ErrTOTPRequired):
			d.Errors["code"] = "Your account needs an authenticator code and has none: ask your partner admin for a new invitation."
		case err != nil:
			p.fail(w, r, nil, err)
			return
		default:
			partner, err := p.cfg.Store.GetPartner(r.Context(), u.PartnerID)
			if err != nil {
				p.fail(w, r, nil, err)
				return
			}
			if partner.Status == novamed.PartnerSuspended {
				d.Errors["email"] = suspendedMessage
				break
			}
			if err := p.sessions.Start(r.Context(), w, r, u.ID, p.clientAddr(r)); err != nil {
				p.fail(w, r, nil, err)
				return
			}
			if err := p.audit(r.Context(), r, u.Actor(), "portal.sign_in", "partner_user", "", "", http.StatusOK, u.ID); err != nil {
				p.fail(w, r, nil, err)
				return
			}
			http.Redirect(w, r, websession.SafeNext(Prefix, d.Next), http.StatusSeeOther)
			return
		}
	}
	p.render(w, r, http.StatusUnprocessableEntity, "login", p.newView(r, nil, "Sign in", d))
}

// logout ends this session (if any); with a session it needs the CSRF
// token.
func (p *Portal) logout(w http.ResponseWriter, r *http.Request) {
	if q, err := p.load(r.Context(), r); err == nil {
		if !websession.CheckCSRF(r, q.s) {
			p.renderError(w, r, q, http.StatusForbidden, "This form has expired or did not come from the portal. Reload the page and try again.")
			return
		}
		if err := p.sessions.End(r.Context(), w, q.s); err != nil {
			p.fail(w, r, q, err)
			return
		}
		if err := p.audit(r.Context(), r, q.u.Actor(), "portal.sign_out", "partner_user", "", "", http.StatusOK, q.u.ID); err != nil {
			p.fail(w, r, nil, err)
			return
		}
	}
	p.sessions.SetCookie(w, "", true)
	websession.Redirect(w, r, Prefix+"/login?reason=out")
}

type setupData struct {
	*websession.Enrolment
	Email, Partner string
	CodeRequired   bool
	Errors         map[string]string
}

func (p *Portal) totpIssuer() string { return "NovaMed portal " + string(p.cfg.Env) }

// invalidInvitation is the one answer for a malformed, unknown, used or
// expired invitation link.
const invalidInvitation = "This invitation link is not valid: it was used already or has expired. Ask your partner admin or NovaMed for a new one."

// setupPage shows an invitation's form: a password and the second factor
// to enrol (required for a partner admin).
func (p *Portal) setupPage(w http.ResponseWriter, r *http.Request) {
	u, ok := p.invitee(w, r)
	if !ok {
		return
	}
	e, err := websession.NewEnrolment(p.totpIssuer(), u.Email)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	d, err := p.setupData(r, u, e)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	p.render(w, r, http.StatusOK, "setup", p.newView(r, nil, "Set up your portal account", d))
}

// invitee is the user of the request's invitation link; false when the
// answer is written (the one 404 of an invalid link, or a failure).
func (p *Portal) invitee(w http.ResponseWriter, r *http.Request) (*partneruser.User, bool) {
	u, err := p.cfg.Users.Invitee(r.Context(), r.PathValue("secret"))
	if errors.Is(err, partneruser.ErrInvitationInvalid) {
		p.renderError(w, r, nil, http.StatusNotFound, invalidInvitation)
		return nil, false
	}
	if err != nil {
		p.fail(w, r, nil, err)
		return nil, false
	}
	return u, true
}

func (p *Portal) setupData(r *http.Request, u *partneruser.User, e *websession.Enrolment) (*setupData, error) {
	partner, err := p.cfg.Store.GetPartner(r.Context(), u.PartnerID)
	if err != nil {
		return nil, err
	}
	return &setupData{Enrolment: e, Email: u.Email, Partner: partner.Name, CodeRequired: u.Role.NeedsTOTP(), Errors: map[string]string{}}, nil
}

// setupSubmit spends the invitation (password, second factor) and signs
// the user in.
func (p *Portal) setupSubmit(w http.ResponseWriter, r *http.Request) {
	if !websession.ReadForm(w, r) {
		p.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	raw := r.PathValue("secret")
	u, ok := p.invitee(w, r)
	if !ok {
		return
	}
	var err error
	secret := strings.TrimSpace(r.PostFormValue("totp_secret"))
	e, ok := websession.EnrolmentFor(p.totpIssuer(), u.Email, secret)
	if !ok {
		if e, err = websession.NewEnrolment(p.totpIssuer(), u.Email); err != nil {
			p.fail(w, r, nil, err)
			return
		}
	}
	d, err := p.setupData(r, u, e)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	password, code := r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("code"))
	if password != r.PostFormValue("password2") {
		d.Errors["password2"] = "The two passwords differ."
	}
	enrol := ""
	if code != "" || u.Role.NeedsTOTP() {
		enrol = e.Secret
	}
	if len(d.Errors) == 0 {
		u, err = p.cfg.Users.Accept(r.Context(), partneruser.Actor{RequestID: newRequestID(), Addr: p.clientAddr(r), Via: "portal"}, raw, password, enrol, code)
		var fe *partneruser.FieldError
		switch {
		case errors.As(err, &fe):
			d.Errors[fe.Field] = fe.Message
		case errors.Is(err, partneruser.ErrInvitationInvalid):
			p.renderError(w, r, nil, http.StatusNotFound, invalidInvitation)
			return
		case err != nil:
			p.fail(w, r, nil, err)
			return
		}
	}
	if len(d.Errors) > 0 {
		p.render(w, r, http.StatusUnprocessableEntity, "setup", p.newView(r, nil, "Set up your portal account", d))
		return
	}
	if err := p.sessions.Start(r.Context(), w, r, u.ID, p.clientAddr(r)); err != nil {
		p.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, Prefix+"/?welcome=1", http.StatusSeeOther)
}
