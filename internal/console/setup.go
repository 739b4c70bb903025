package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"strings"

	"github.com/pquerna/otp"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
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
	Secret, OTPURL string
	QR             template.URL
	CodeRequired   bool
	Errors         map[string]string
}

// newSetupData makes a fresh TOTP secret to enrol and its QR code (a
// data: PNG, which the CSP's img-src allows).
func (c *Console) newSetupData() (*setupData, error) {
	secret, url, err := operator.NewTOTP("NovaMed "+string(c.cfg.Env), "operator")
	if err != nil {
		return nil, err
	}
	return c.setupDataFor(secret, url)
}

func (c *Console) setupDataFor(secret, url string) (*setupData, error) {
	key, err := otp.NewKeyFromURL(url)
	if err != nil {
		return nil, err
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return &setupData{Secret: secret, OTPURL: url, CodeRequired: c.cfg.Env == novamed.Production, Errors: map[string]string{},
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))}, nil //nolint:gosec // our own PNG
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
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
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
	d, err := c.setupDataFor(secret, otpURL(c.cfg.Env, secret))
	if err != nil || len(secret) < 16 {
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

// otpURL rebuilds the otpauth:// URL of a secret shown earlier.
func otpURL(env novamed.Environment, secret string) string {
	return "otpauth://totp/" + strings.ReplaceAll("NovaMed "+string(env), " ", "%20") + ":operator?algorithm=SHA1&digits=6&issuer=" +
		strings.ReplaceAll("NovaMed "+string(env), " ", "%20") + "&period=30&secret=" + secret
}
