package websession

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"image/png"
	"strings"

	"github.com/pquerna/otp"

	"github.com/novamed/partner-api/internal/operator"
)

// Enrolment is a TOTP secret offered on a setup page: the secret to type,
// its otpauth:// URL and the URL as a QR code (a data: PNG, which the
// CSP's img-src allows).
type Enrolment struct {
	Secret, OTPURL string
	QR             template.URL
}

// NewEnrolment makes a fresh TOTP secret (operator.NewTOTP) for issuer and
// account.
func NewEnrolment(issuer, account string) (*Enrolment, error) {
	secret, url, err := operator.NewTOTP(issuer, account)
	if err != nil {
		return nil, err
	}
	return enrolmentFor(secret, url)
}

// EnrolmentFor rebuilds the enrolment of a secret shown earlier (a form
// sent back with a mistake shows the same QR code again); ok is false for
// a secret that is not one NewEnrolment made.
func EnrolmentFor(issuer, account, secret string) (e *Enrolment, ok bool) {
	if len(secret) < 16 || len(secret) > 64 {
		return nil, false
	}
	esc := func(s string) string { return strings.ReplaceAll(s, " ", "%20") }
	url := "otpauth://totp/" + esc(issuer) + ":" + esc(account) + "?algorithm=SHA1&digits=6&issuer=" + esc(issuer) + "&period=30&secret=" + secret
	e, err := enrolmentFor(secret, url)
	return e, err == nil
}

func enrolmentFor(secret, url string) (*Enrolment, error) {
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
	return &Enrolment{Secret: secret, OTPURL: url,
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))}, nil //nolint:gosec // our own PNG
}
