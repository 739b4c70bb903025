package websession

import (
	"net/http"
	"strings"
)

// ReadForm limits a posted form to 16 KiB and parses it; false when it
// could not be read (the surface answers 400).
func ReadForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	return r.ParseForm() == nil
}

// LoginData is what the sign-in page ("login-form") shows.
type LoginData struct {
	Email, Next, Reason string
	// CodeRequired makes the code field required.
	CodeRequired bool
	// Errors are shown beside their fields.
	Errors map[string]string
}

// SignOutReason is the sign-in page's sentence for a ?reason= the session
// machinery sends ("idle", "absolute", "ended") or a sign-out ("out");
// more are a surface's own (a disabled account, …), "" for none.
func SignOutReason(reason string, more map[string]string) string {
	switch reason {
	case "idle":
		return "You were signed out after a period without activity."
	case "absolute":
		return "Your session reached its maximum length; sign in again."
	case "ended":
		return "Your session has ended; sign in again."
	case "out":
		return "You are signed out."
	}
	return more[reason]
}

// ReadLogin reads a parsed sign-in form: the page's data, with an error
// beside an empty email or password, and the password and code (never
// shown again).
func ReadLogin(r *http.Request) (d *LoginData, password, code string) {
	d = &LoginData{Email: strings.TrimSpace(r.PostFormValue("email")), Next: r.PostFormValue("next"), Errors: map[string]string{}}
	password, code = r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("code"))
	if d.Email == "" {
		d.Errors["email"] = "Enter your email address."
	}
	if password == "" {
		d.Errors["password"] = "Enter your password."
	}
	return d, password, code
}
