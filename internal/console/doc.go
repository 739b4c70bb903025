// Package console is the staff console served at /console: server-rendered
// pages (html/template, htmx for partial updates, every asset embedded) on
// the same services and role table as the admin API.
//
// Security of a PHI-bearing web application lives here: server-side
// sessions (only a hash of the token is stored, beside the operator id),
// automatic log-off after an idle and an absolute limit, cookies that are
// HttpOnly, SameSite=Strict, Secure and __Host- under TLS, cross-origin
// protection plus a per-session CSRF token on every state change, a strict
// Content-Security-Policy without inline script, and a recent
// re-authentication before the most sensitive actions.
package console
