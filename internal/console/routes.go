package console

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/websession"
)

// Capabilities a console route needs: the rows of issue 22's role table.
const (
	CapRead      = "read"      // partners, clinics, keys (no secrets), usage, deliveries
	CapChange    = "change"    // partners, BAAs, clinics, formulary, carriers; issue/roll/update keys; retry deliveries
	CapRevoke    = "revoke"    // revoke keys, suspend/reinstate partners
	CapPHI       = "read_phi"  // read patients, practitioners, orders
	CapOrders    = "orders"    // order lifecycle, activate practitioners
	CapAudit     = "audit"     // audit search/verify/checkpoint, security events, crypto
	CapOperators = "operators" // operators and partner users
)

// Route is one console route: what it needs, so that tests can walk every
// route (the viewer matrix) instead of a hand-kept list.
type Route struct {
	Method string
	Path   string
	// Capability is what the signed-in operator's role must have; empty
	// for the public routes (sign-in, setup, assets).
	Capability string
	// PHI says the page shows protected health information (each view is
	// audited).
	PHI bool
	// Reauth says the action needs a password and second-factor check
	// within the re-authentication window.
	Reauth bool
}

// Routes lists every console route.
func (c *Console) Routes() []Route { return append([]Route(nil), c.routes...) }

// RouteTable lists every console route of a server in env without
// building one (tests walk it: every page, every role).
func RouteTable(env novamed.Environment) []Route {
	c := &Console{cfg: Config{Env: env}, web: &websession.Surface{Mux: http.NewServeMux()}}
	c.register()
	return c.routes
}

// req is one signed-in request.
type req struct {
	w http.ResponseWriter
	r *http.Request
	s *session
}

type handler func(*req) error

// register lists the whole console on one screen.
func (c *Console) register() {
	c.public("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, Prefix+"/", http.StatusSeeOther) })
	c.public("GET "+Prefix+"/assets/{version}/{name}", c.web.Assets.ServeHTTP)
	c.public("GET "+Prefix+"/login", c.loginPage)
	c.public("POST "+Prefix+"/login", c.loginSubmit)
	c.public("POST "+Prefix+"/logout", c.logout)
	c.public("GET "+Prefix+"/setup/{secret}", c.setupPage)
	c.public("POST "+Prefix+"/setup/{secret}", c.setupSubmit)

	c.signedIn("GET "+Prefix+"/{$}", Route{Capability: CapRead}, c.overview)
	c.signedIn("POST "+Prefix+"/logout-everywhere", Route{Capability: CapRead}, c.logoutEverywhere)
	c.signedIn("GET "+Prefix+"/reauth", Route{Capability: CapRead}, c.reauthPage)
	c.signedIn("POST "+Prefix+"/reauth", Route{Capability: CapRead}, c.reauthSubmit)

	c.signedIn("GET "+Prefix+"/partners", Route{Capability: CapRead}, c.partners)
	c.signedIn("GET "+Prefix+"/partners/new", Route{Capability: CapChange}, c.newPartnerPage)
	c.signedIn("POST "+Prefix+"/partners", Route{Capability: CapChange}, c.createPartner)
	c.signedIn("GET "+Prefix+"/partners/{id}", Route{Capability: CapRead}, c.partner)
	c.signedIn("POST "+Prefix+"/partners/{id}/baa", Route{Capability: CapChange}, c.recordBAA)
	c.signedIn("POST "+Prefix+"/partners/{id}/approve", Route{Capability: CapChange}, c.partnerStatus("approve"))
	c.signedIn("POST "+Prefix+"/partners/{id}/suspend", Route{Capability: CapRevoke}, c.partnerStatus("suspend"))
	c.signedIn("POST "+Prefix+"/partners/{id}/reinstate", Route{Capability: CapRevoke}, c.partnerStatus("reinstate"))
	c.signedIn("POST "+Prefix+"/partners/{id}/clinics", Route{Capability: CapChange}, c.createClinic)
	c.signedIn("POST "+Prefix+"/partners/{id}/portal-users", Route{Capability: CapOperators}, c.invitePartnerUser)
	// A production key needs a recent password and code check.
	c.signedIn("POST "+Prefix+"/partners/{id}/keys", Route{Capability: CapChange, Reauth: c.cfg.Env == novamed.Production}, c.issueKey)
	c.signedIn("GET "+Prefix+"/keys/{id}", Route{Capability: CapRead}, c.key)
	c.signedIn("POST "+Prefix+"/keys/{id}/roll", Route{Capability: CapChange, Reauth: c.cfg.Env == novamed.Production}, c.rollKey)
	c.signedIn("POST "+Prefix+"/keys/{id}/revoke", Route{Capability: CapRevoke}, c.revokeKey)
	// The production key-request queue: who may issue keys decides, an
	// approval after a recent password and code check.
	c.signedIn("GET "+Prefix+"/key-requests", Route{Capability: CapChange}, c.keyRequestsPage)
	c.signedIn("POST "+Prefix+"/key-requests/{id}/approve", Route{Capability: CapChange, Reauth: true}, c.approveKeyRequest)
	c.signedIn("POST "+Prefix+"/key-requests/{id}/reject", Route{Capability: CapChange}, c.rejectKeyRequest)
	c.signedIn("GET "+Prefix+"/security", Route{Capability: CapAudit}, c.securityEvents)
	c.signedIn("POST "+Prefix+"/security/{id}/acknowledge", Route{Capability: CapAudit}, c.acknowledgeEvent)
	c.signedIn("GET "+Prefix+"/audit", Route{Capability: CapAudit}, c.auditPage)
	c.signedIn("POST "+Prefix+"/audit/verify", Route{Capability: CapAudit}, c.verifyAudit)
	c.signedIn("POST "+Prefix+"/audit/checkpoints", Route{Capability: CapAudit}, c.checkpoint)
	c.signedIn("GET "+Prefix+"/crypto", Route{Capability: CapAudit}, c.cryptoPage)
	// Rotating the master key needs a recent password and code check in
	// every environment.
	c.signedIn("POST "+Prefix+"/crypto/reencryptions", Route{Capability: CapAudit, Reauth: true}, c.startReencryption)
	c.signedIn("GET "+Prefix+"/crypto/reencryptions/{id}", Route{Capability: CapAudit}, c.reencryptionPage)
	c.signedIn("GET "+Prefix+"/deliveries", Route{Capability: CapRead}, c.deliveries)
	c.signedIn("POST "+Prefix+"/deliveries/{id}/retry", Route{Capability: CapChange}, c.retryDelivery)

	// Orders are PHI: their list and pages are audited reads behind read_phi;
	// the lifecycle actions need the orders capability.
	c.signedIn("GET "+Prefix+"/orders", Route{Capability: CapPHI, PHI: true}, c.orders)
	c.signedIn("GET "+Prefix+"/orders/{id}", Route{Capability: CapPHI, PHI: true}, c.order)
	c.signedIn("POST "+Prefix+"/orders/{id}/advance", Route{Capability: CapOrders}, c.advanceOrder)
	c.signedIn("POST "+Prefix+"/orders/{id}/cancel", Route{Capability: CapOrders}, c.cancelOrder)
	c.signedIn("POST "+Prefix+"/orders/{id}/cancel-shipment", Route{Capability: CapOrders}, c.cancelShipment)
	c.signedIn("GET "+Prefix+"/formulary", Route{Capability: CapRead}, c.formulary)
	c.signedIn("POST "+Prefix+"/formulary/{clinic}", Route{Capability: CapChange}, c.setFormularyEntry)
	c.signedIn("POST "+Prefix+"/formulary/{clinic}/remove", Route{Capability: CapChange}, c.removeFormularyEntry)
	c.signedIn("GET "+Prefix+"/carriers", Route{Capability: CapRead}, c.carriers)
	c.signedIn("GET "+Prefix+"/operators", Route{Capability: CapOperators}, c.operators)
	c.signedIn("POST "+Prefix+"/operators", Route{Capability: CapOperators}, c.inviteOperator)
	c.signedIn("POST "+Prefix+"/operators/{id}/role", Route{Capability: CapOperators}, c.operatorChange("role"))
	c.signedIn("POST "+Prefix+"/operators/{id}/disable", Route{Capability: CapOperators}, c.operatorChange("disable"))
	c.signedIn("POST "+Prefix+"/operators/{id}/enable", Route{Capability: CapOperators}, c.operatorChange("enable"))
	c.signedIn("POST "+Prefix+"/operators/{id}/reset-second-factor", Route{Capability: CapOperators}, c.resetSecondFactor)
}

// public registers a route that needs no session.
func (c *Console) public(pattern string, h http.HandlerFunc) {
	m, p := c.web.Handle(pattern, h)
	c.routes = append(c.routes, Route{Method: m, Path: p})
}

// signedIn registers a route behind the session, role, CSRF and
// re-authentication checks.
func (c *Console) signedIn(pattern string, rt Route, h handler) {
	if rt.Capability == "" {
		panic("console: signed-in route without capability: " + pattern)
	}
	rt.Method, rt.Path = c.web.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.loadSession(r.Context(), r)
		var out *websession.SignedOut
		if errors.As(err, &out) {
			c.toSignIn(w, r, out.Reason)
			return
		}
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if !c.cfg.Accounts.Can(s.op.Role, rt.Capability) {
			c.renderError(w, r, s, http.StatusForbidden, "Your role ("+s.op.Role+") does not allow this page or action.")
			return
		}
		state := r.Method != http.MethodGet && r.Method != http.MethodHead
		if state && !checkCSRF(r, s) {
			c.renderError(w, r, s, http.StatusForbidden, "This form has expired or did not come from the console. Reload the page and try again.")
			return
		}
		if rt.Reauth && c.now().Sub(s.Rec.ReauthAt) > c.cfg.ReauthWindow {
			next := r.URL.RequestURI()
			if state {
				next = refererPath(r)
			}
			c.redirect(w, r, Prefix+"/reauth?next="+url.QueryEscape(safeNext(next)))
			return
		}
		if err := c.sessions.Touch(r.Context(), s.Session); errors.Is(err, websession.ErrNoSession) {
			c.toSignIn(w, r, "ended")
			return
		} else if err != nil {
			c.fail(w, r, s, err)
			return
		}
		if err := h(&req{w: w, r: r, s: s}); err != nil {
			c.fail(w, r, s, err)
		}
	}))
	c.routes = append(c.routes, rt)
}

// redirect sends the browser to target: a 303, or for an htmx request an
// HX-Redirect header (htmx would otherwise swap the target page into the
// current one).
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, target string) {
	websession.Redirect(w, r, target)
}

// toSignIn sends a signed-out request to the sign-in page, saying why and
// where to come back to.
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request, reason string) {
	c.web.ToSignIn(w, r, reason)
}

// fail answers a handler's error: a domain error with its status and
// message, anything else a 500 whose cause goes to the log only.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var de *novamed.Error
	if errors.As(err, &de) {
		c.renderError(w, r, s, statusOf(de.Code), de.Message)
		return
	}
	c.log.Error("console request failed", "route", r.Pattern, "err", err)
	c.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong on our side. Try again; if it persists, tell the on-call engineer.")
}

// statusOf maps a domain error code to the page's status (the partner
// API's table for the codes the console meets).
func statusOf(code string) int {
	switch code {
	case novamed.CodeNotFound, novamed.CodeClinicNotFound, novamed.CodeRouteNotFound:
		return http.StatusNotFound
	case novamed.CodeInvalidTransition, novamed.CodeIdempotencyInUse:
		return http.StatusConflict
	case novamed.CodeUnauthorized:
		return http.StatusUnauthorized
	case novamed.CodeRateLimited, novamed.CodeTooManyAuthFails:
		return http.StatusTooManyRequests
	case novamed.CodeInternal:
		return http.StatusInternalServerError
	case novamed.CodeUnavailable, novamed.CodeStorageUnavailable, novamed.CodeStorageFull:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}
