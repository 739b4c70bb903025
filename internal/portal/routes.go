package portal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/websession"
)

// Route is one portal route, so that tests walk every route (the
// isolation matrix) instead of a hand-kept list.
type Route struct {
	Method, Path string
	// Public routes need no session (sign-in, setup, assets).
	Public bool
	// AdminOnly routes need the partner_admin role.
	AdminOnly bool
}

// Routes lists every portal route.
func (p *Portal) Routes() []Route { return append([]Route(nil), p.routes...) }

// req is one signed-in request: the session, its user and their partner.
type req struct {
	w       http.ResponseWriter
	r       *http.Request
	s       *websession.Session
	u       *partneruser.User
	partner *novamed.Partner
}

type handler func(*req) error

func (p *Portal) register() {
	p.public("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, Prefix+"/", http.StatusSeeOther) })
	p.public("GET "+Prefix+"/assets/{version}/{name}", p.web.Assets.ServeHTTP)
	p.public("GET "+Prefix+"/login", p.loginPage)
	p.public("POST "+Prefix+"/login", p.loginSubmit)
	p.public("POST "+Prefix+"/logout", p.logout)
	p.public("GET "+Prefix+"/setup/{secret}", p.setupPage)
	p.public("POST "+Prefix+"/setup/{secret}", p.setupSubmit)

	p.signedIn("GET "+Prefix+"/{$}", false, p.overview)
	p.signedIn("GET "+Prefix+"/users", false, p.users)
	p.signedIn("POST "+Prefix+"/users", true, p.inviteUser)
	p.signedIn("POST "+Prefix+"/users/{id}/disable", true, p.userStatus(partneruser.Disabled))
	p.signedIn("POST "+Prefix+"/users/{id}/enable", true, p.userStatus(partneruser.Active))
	p.signedIn("GET "+Prefix+"/keys", false, p.keys)
	p.signedIn("POST "+Prefix+"/keys", true, p.createKey)
	p.signedIn("POST "+Prefix+"/keys/{id}/roll", false, p.rollKey)
	p.signedIn("POST "+Prefix+"/keys/{id}/revoke", true, p.revokeKey)
	p.signedIn("POST "+Prefix+"/keys/{id}/roll-request", true, p.requestRoll)
	p.signedIn("GET "+Prefix+"/key-requests", false, p.keyRequests)
	p.signedIn("POST "+Prefix+"/key-requests", true, p.requestKey)
	p.signedIn("POST "+Prefix+"/key-requests/{id}/collect", true, p.collectKey)
	p.signedIn("GET "+Prefix+"/start", false, p.start)
	p.signedIn("GET "+Prefix+"/requests", false, p.requests)
	p.signedIn("GET "+Prefix+"/usage", false, p.usage)
	p.signedIn("GET "+Prefix+"/usage.csv", false, p.usageCSV)
	p.signedIn("GET "+Prefix+"/webhooks", false, p.webhooks)
	p.signedIn("POST "+Prefix+"/webhooks", true, p.createWebhook)
	p.signedIn("POST "+Prefix+"/webhooks/{id}/delete", true, p.deleteWebhook)
	p.signedIn("POST "+Prefix+"/webhooks/{id}/test", true, p.testWebhook)
	p.signedIn("POST "+Prefix+"/webhooks/{id}/rotate", true, p.rotateWebhook)
	p.signedIn("POST "+Prefix+"/webhooks/{id}/deliveries/{delivery}/replay", true, p.replayDelivery)
}

func (p *Portal) public(pattern string, h http.HandlerFunc) {
	m, path := p.web.Handle(pattern, h)
	p.routes = append(p.routes, Route{Method: m, Path: path, Public: true})
}

// signedIn registers a route behind the session, account, role and CSRF
// checks. The handler gets the user's partner: everything it reads goes
// through that partner.
func (p *Portal) signedIn(pattern string, adminOnly bool, h handler) {
	m, path := p.web.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := p.load(r.Context(), r)
		var out *websession.SignedOut
		if errors.As(err, &out) {
			p.toSignIn(w, r, out.Reason)
			return
		}
		if err != nil {
			p.fail(w, r, nil, err)
			return
		}
		q.w = w
		if adminOnly && q.u.Role != partneruser.Admin {
			p.renderError(w, r, q, http.StatusForbidden, "Only a partner admin of "+q.partner.Name+" may do this.")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !websession.CheckCSRF(r, q.s) {
			p.renderError(w, r, q, http.StatusForbidden, "This form has expired or did not come from the portal. Reload the page and try again.")
			return
		}
		if err := p.sessions.Touch(r.Context(), q.s); errors.Is(err, websession.ErrNoSession) {
			p.toSignIn(w, r, "ended")
			return
		} else if err != nil {
			p.fail(w, r, q, err)
			return
		}
		if err := h(q); err != nil {
			p.fail(w, r, q, err)
		}
	}))
	p.routes = append(p.routes, Route{Method: m, Path: path, AdminOnly: adminOnly})
}

// load finds the session, its active user and their partner.
func (p *Portal) load(ctx context.Context, r *http.Request) (*req, error) {
	s, err := p.sessions.Load(ctx, r)
	if err != nil {
		return nil, err
	}
	u, err := p.cfg.Users.Store.GetPartnerUser(ctx, s.Rec.Subject)
	if err == nil && u.Status != partneruser.Active {
		err = errors.New("portal: user not active")
	}
	if err != nil {
		p.cfg.Sessions.DeleteSubjectSessions(ctx, s.Rec.Subject) //nolint:errcheck // best effort; the lookup fails again
		return nil, &websession.SignedOut{Reason: "account"}
	}
	partner, err := p.cfg.Store.GetPartner(ctx, u.PartnerID)
	if err != nil {
		return nil, err
	}
	if partner.Status == novamed.PartnerSuspended {
		// A suspended partner's users keep their accounts but no session:
		// every one of this user's sessions ends, and sign-in is refused
		// until staff approve the partner again.
		p.cfg.Sessions.DeleteSubjectSessions(ctx, s.Rec.Subject) //nolint:errcheck // best effort; the next request is refused again
		return nil, &websession.SignedOut{Reason: "suspended"}
	}
	return &req{r: r, s: s, u: u, partner: partner}, nil
}

// toSignIn sends a signed-out request to the sign-in page.
func (p *Portal) toSignIn(w http.ResponseWriter, r *http.Request, reason string) {
	p.web.ToSignIn(w, r, reason)
}

// errNotFound is the one answer for an id that does not exist and for an
// id of another partner: the same status and the same bytes.
var errNotFound = novamed.NotFound("Resource")

// fail answers a handler's error: a domain error with its status and
// message, anything else a 500 whose cause goes to the log only.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, q *req, err error) {
	var de *novamed.Error
	if errors.As(err, &de) {
		status := http.StatusBadRequest
		switch de.Code {
		case novamed.CodeNotFound, novamed.CodeClinicNotFound:
			p.renderError(w, r, q, http.StatusNotFound, "Not found.")
			return
		case novamed.CodeInvalidTransition:
			status = http.StatusConflict
		case novamed.CodeForbidden:
			status = http.StatusForbidden
		}
		p.renderError(w, r, q, status, de.Message)
		return
	}
	p.log.Error("portal request failed", "route", r.Pattern, "err", err)
	p.renderError(w, r, q, http.StatusInternalServerError, "Something went wrong on our side. Try again; if it persists, contact NovaMed support.")
}

// actor is the partner-user actor of a request, for actions that audit in
// their own transaction.
func (p *Portal) actor(q *req) partneruser.Actor {
	return partneruser.Actor{ID: q.u.Actor(), RequestID: newRequestID(), Addr: p.clientAddr(q.r), Via: "portal"}
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand never fails on supported platforms
	return "por_" + hex.EncodeToString(b)
}

// audit records a portal action with actor partner_user:<id> (or, for a
// sign-in, the user who signed in), in the same hash chain as the API.
func (p *Portal) audit(ctx context.Context, r *http.Request, actor, action, resourceType, clinicID, keyPrefix string, status int, ids ...string) error {
	if p.cfg.Audit == nil {
		return nil
	}
	rec := &novamed.AuditRecord{Time: p.now().UTC(), RequestID: newRequestID(), Actor: actor, Action: action, ResourceType: resourceType,
		ResourceIDs: ids, ClinicID: clinicID, KeyPrefix: keyPrefix, ClientAddr: p.clientAddr(r), UserAgent: websession.Truncate(r.UserAgent(), 200), Status: status}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return p.cfg.Audit.Record(ctx, rec)
}
