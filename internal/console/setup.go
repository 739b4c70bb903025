package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/websession"
)

// Enrolment is what the console needs to turn a one-time setup link into
// a usable account: the operator service of issue 22.
type Enrolment interface {
	// UseSetupLink spends the link's secret and sets the password.
	UseSetupLink(ctx context.Context, raw, password string) (*operator.Operator, error)
	// ConfirmTOTP keeps a TOTP secret once a code proves the app holds it.
	ConfirmTOTP(ctx context.Context, o *operator.Operator, secret, code string) error
}

type setupData struct {
	*websession.Enrolment
	CodeRequired bool
	Errors       map[string]string
}

// totpIssuer names the deployment in the authenticator app.
func (c *Console) totpIssuer() string { return "NovaMed " + string(c.cfg.Env) }

// newSetupData makes a fresh TOTP secret to enrol and its QR code.
func (c *Console) newSetupData() (*setupData, error) {
	e, err := websession.NewEnrolment(c.totpIssuer(), "operator")
	if err != nil {
		return nil, err
	}
	return &setupData{Enrolment: e, CodeRequired: c.cfg.Env == novamed.Production, Errors: map[string]string{}}, nil
}

// setupPage shows the one-time setup link's form: a password, and the
// second factor to enrol (QR code and the typed secret).
func (c *Console) setupPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	d, err := c.newSetupData()
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.render(w, r, http.StatusOK, "setup", c.newView(r, nil, "Set up your account", d))
}

// setupSubmit checks the code against the secret shown (before spending
// the link, so a mistyped code costs nothing), spends the link with the
// new password, keeps the second factor and signs the operator in.
func (c *Console) setupSubmit(w http.ResponseWriter, r *http.Request) {
	if !websession.ReadForm(w, r) {
		c.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if c.cfg.Enrolment == nil {
		c.renderError(w, r, nil, http.StatusNotFound, "Account setup is not available here.")
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("totp_secret"))
	code := strings.TrimSpace(r.PostFormValue("code"))
	password := r.PostFormValue("password")
	var d *setupData
	if e, ok := websession.EnrolmentFor(c.totpIssuer(), "operator", secret); ok {
		d = &setupData{Enrolment: e, CodeRequired: c.cfg.Env == novamed.Production, Errors: map[string]string{}}
	} else {
		var err error
		if d, err = c.newSetupData(); err != nil {
			c.fail(w, r, nil, err)
			return
		}
	}
	switch {
	case len(password) < operator.MinPasswordLen || len(password) > operator.MaxPasswordLen:
		d.Errors["password"] = operator.ErrWeakPassword.Error() + "."
	case password != r.PostFormValue("password2"):
		d.Errors["password2"] = "The two passwords differ."
	}
	if code == "" && d.CodeRequired {
		d.Errors["code"] = "Enter the 6-digit code your authenticator app shows."
	} else if code != "" {
		if _, ok := operator.MatchTOTP(d.Secret, code, c.now()); !ok {
			d.Errors["code"] = "That code does not match: scan the QR code again and enter the current code."
		}
	}
	if len(d.Errors) > 0 {
		c.render(w, r, http.StatusUnprocessableEntity, "setup", c.newView(r, nil, "Set up your account", d))
		return
	}
	o, err := c.cfg.Enrolment.UseSetupLink(r.Context(), r.PathValue("secret"), password)
	var de *novamed.Error
	if errors.As(err, &de) && de.Code == novamed.CodeNotFound {
		c.renderError(w, r, nil, http.StatusNotFound, "This setup link is not valid: it was used already or has expired. Ask an admin for a new one.")
		return
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if code != "" {
		if err := c.cfg.Enrolment.ConfirmTOTP(r.Context(), o, d.Secret, code); err != nil {
			c.fail(w, r, nil, err)
			return
		}
	}
	if err := c.startSession(r.Context(), w, r, &Operator{ID: o.ID, Email: o.Email, Name: o.Name, Role: string(o.Role), HasTOTP: o.HasTOTP()}); err != nil {
		c.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, Prefix+"/?welcome=1", http.StatusSeeOther)
}
