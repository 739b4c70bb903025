package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/ratelimit"
)

// errUnauthorized is the one answer to every authentication failure; the
// cases are deliberately indistinguishable.
var errUnauthorized = &novamed.Error{Code: novamed.CodeUnauthorized, Message: novamed.MsgUnauthorized}

// partnerRoute is a route of the partner stack, which the route table
// knows by what its audit record must name.
type partnerRoute struct {
	http.Handler
	names  auditNames
	action string
	// keyInWrite: the route's write stores an Idempotency-Key's answer
	// first in its own transaction (writesKeyFirst).
	keyInWrite bool
}

// writesKeyFirst marks a route whose store write inserts the request's
// Idempotency-Key answer as the first statement of its own transaction, so
// that a retry fails there (novamed.ErrIdempotencyConflict) before anything
// is written: such a request skips the lookup for a remembered answer
// before its handler, and looks only when the handler fails (idempotent).
func (p *partnerRoute) writesKeyFirst() *partnerRoute {
	p.keyInWrite = true
	return p
}

// partner wraps h in the partner stack: content negotiation and body limit,
// authentication (with the brute-force guard), the per-key rate limit,
// idempotency, then the handler. Every response of an authenticated request
// (and every failed authentication) is audited before it is sent, naming
// the facts h returned; a success must name what names requires.
func (s *Server) partner(action, resourceType string, names auditNames, h handlerFunc) *partnerRoute {
	route := &partnerRoute{names: names, action: action}
	route.Handler = s.negotiate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		st.action, st.resourceType = action, resourceType
		if err := s.authenticate(w, r, st); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.rateLimit(w, r, st); err != nil {
			s.writeError(w, r, err)
			return
		}
		if s.idempotent(w, r, st, names, route.keyInWrite, h) {
			return
		}
		rep, err := h(w, r, st)
		s.answer(w, r, st, names, rep, err)
	}))
	return route
}

// answer sends a handler's reply or error, with the handler's facts as what
// the request's audit record names.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, st *reqState, names auditNames, rep reply, err error) {
	st.facts = rep.facts
	if err == nil {
		if err = names.check(rep.facts); err != nil {
			s.log.Error("audit facts incomplete; refusing the answer", "request_id", st.requestID, "route", r.Pattern)
		}
	}
	if err != nil {
		s.writeError(w, r, s.withIgnoredFields(w, r, err))
		return
	}
	s.deliver(w, r, rep.status, rep.body, rep.recorded)
}

// authenticate resolves the x-api-key header to a usable key of this
// environment. Malformed keys are refused by their checksum without touching
// the store; verified keys are cached for KeyCacheTTL.
//
// The failed-authentication guard is consulted only after the key failed: a
// valid key is always served (within its own rate limit), however many bad
// keys arrive from its address — a shared NAT, or every partner behind a
// proxy that is not a --trusted-proxy. The guard slows failing attempts only.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, st *reqState) error {
	ctx := r.Context()
	var raw string
	var key *novamed.APIKey
	var outcome string
	var err error
	switch values := r.Header.Values("X-Api-Key"); len(values) {
	case 0, 1:
		if len(values) == 1 {
			raw = values[0]
		}
		key, outcome, err = s.verifyKey(ctx, raw)
	default:
		// Two keys in one request: which one is meant is a guess, and a
		// proxy that adds its own key must not let the caller's one win.
		outcome, err = "duplicate", errUnauthorized
	}
	s.metrics.Auth(outcome)
	if outcome == "revoked" {
		s.usage.RevokedKeyUsed(key, st.clientAddr)
	}
	if outcome == "error" {
		// The store failed (or the client went away): not the caller's
		// fault, so not a failed authentication to count against them.
		return err
	}
	if err != nil {
		return s.authFailed(w, r, st, raw, err)
	}
	st.key = key
	st.keyPrefix = key.Prefix
	s.usage.KeyUsed(key, st.clientAddr)
	return nil
}

// authFailed counts a failed authentication against the caller's address
// and answers 401, or 429 once the address has spent its budget. Either way
// the rate-limit headers describe that budget.
func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, st *reqState, raw string, err error) error {
	ctx := r.Context()
	guard := authFailSubject(st.clientAddr)
	if d, perr := s.limiter.Peek(ctx, guard, s.authFail, time.Minute); perr == nil && !d.Allowed {
		setRateHeaders(w.Header(), d)
		st.action = "auth.blocked"
		st.securityEvent = "auth_failures_limited"
		secs := retryAfterSeconds(d.RetryAfter)
		return &novamed.Error{Code: novamed.CodeTooManyAuthFails,
			Message: "Too many failed authentications from this address. " + retryAfterSentence(secs),
			Details: map[string]any{"retry_after": secs}}
	}
	st.action = "auth.failed"
	st.keyPrefix = apikey.DisplayPrefix(raw)
	if len(raw) > 64 || !saneID(st.keyPrefix) {
		st.keyPrefix = ""
	}
	if st.keyPrefix != "" {
		s.usage.AuthFailure(st.keyPrefix, st.clientAddr)
	}
	d, lerr := s.limiter.Allow(ctx, guard, s.authFail, time.Minute)
	if lerr != nil {
		s.log.Warn("auth failure limiter unavailable", "err", lerr)
	} else {
		setRateHeaders(w.Header(), d)
	}
	return err
}

// authFailSubject is the limiter subject of an address's failed authentications.
func authFailSubject(addr string) string { return "authfail:" + addr }

// rateSubject is the limiter subject of a key: its lineage, so that the old
// and the new key of a roll share one limit during the grace period.
func rateSubject(k *novamed.APIKey) string {
	if k.Owner != "" {
		return "key:" + k.Owner
	}
	return "key:" + k.ID
}

// retryAfterSentence is the contract's "Please retry after N seconds."
// with "1 second" in the singular.
func retryAfterSentence(secs int) string {
	if secs == 1 {
		return "Please retry after 1 second."
	}
	return "Please retry after " + strconv.Itoa(secs) + " seconds."
}

// setRateHeaders writes a limiter decision as the X-RateLimit headers.
func setRateHeaders(h http.Header, d ratelimit.Decision) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(resetUnix(d.ResetAt), 10))
}

// budgetHeaders sets the X-RateLimit headers on an /api/external answer
// that has none yet (an error before or without the rate limit: 401, 404,
// 405, 406, 413, 415 …): the verified key's state, or else the caller's
// failed-authentication budget. Nothing is consumed.
func (s *Server) budgetHeaders(w http.ResponseWriter, r *http.Request, st *reqState) {
	if p := r.URL.Path; p != "/api/external" && !strings.HasPrefix(p, "/api/external/") {
		return
	}
	h := w.Header()
	if h.Get("X-RateLimit-Limit") != "" {
		return
	}
	var d ratelimit.Decision
	var err error
	if st.key != nil {
		d, err = s.limiter.Peek(r.Context(), rateSubject(st.key), st.key.EffectiveRateLimit(), time.Minute)
	} else {
		d, err = s.limiter.Peek(r.Context(), authFailSubject(st.clientAddr), s.authFail, time.Minute)
	}
	if err != nil {
		return // the limiter is down: availability over headers, as in rateLimit
	}
	setRateHeaders(h, d)
}

// verifyKey is the hot path of every request. It also names the outcome
// (for metrics and the revoked-key rule; never for the client, which sees
// one 401 for all of them): ok, missing, malformed, wrong_environment,
// unknown, revoked, expired, partner_suspended (or another partner status
// than approved), baa_expired or error.
func (s *Server) verifyKey(ctx context.Context, raw string) (*novamed.APIKey, string, error) {
	if raw == "" {
		return nil, "missing", errUnauthorized
	}
	env, err := apikey.Parse(raw)
	if err != nil {
		return nil, "malformed", errUnauthorized
	}
	if novamed.Environment(env) != s.env {
		return nil, "wrong_environment", errUnauthorized
	}
	h := apikey.HashKey(raw)
	key, ok := s.keys.Get(h)
	if !ok {
		key, err = s.store.FindAPIKeyByHash(ctx, h.Hex())
		if novamed.ErrorCode(err) == novamed.CodeNotFound {
			return nil, "unknown", errUnauthorized
		}
		if err != nil {
			return nil, "error", err
		}
		stored, perr := apikey.ParseHash(key.HashHex)
		if perr != nil || !apikey.Equal(stored, h) {
			return nil, "unknown", errUnauthorized
		}
		s.keys.Put(h, key)
	}
	now := s.now()
	switch {
	case key.Environment != s.env:
		return nil, "wrong_environment", errUnauthorized
	case key.RevokedAt != nil && !now.Before(*key.RevokedAt):
		return key, "revoked", errUnauthorized
	case !key.Usable(now):
		return nil, "expired", errUnauthorized
	}
	// The key's partner, read with the key (so a cached key carries it,
	// and a suspension's cache purge reaches it within the key cache
	// expiry): a suspended partner's keys, and on production the keys of
	// a partner whose BAA has expired, are refused.
	if why := key.Partner.Refused(s.env, now); why != "" {
		return nil, why, errUnauthorized
	}
	return key, "ok", nil
}

// rateLimit applies the key's per-minute limit and sets the X-RateLimit
// headers. If the limiter itself fails (a shared store is down) the request
// is let through and the fault logged: availability over strictness.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, st *reqState) error {
	limit := st.key.EffectiveRateLimit()
	d, err := s.limiter.Allow(r.Context(), rateSubject(st.key), limit, time.Minute)
	if err != nil {
		s.log.Warn("rate limiter unavailable; request allowed", "request_id", st.requestID, "err", err)
		return nil
	}
	setRateHeaders(w.Header(), d)
	if d.Allowed {
		return nil
	}
	secs := retryAfterSeconds(d.RetryAfter) // the error writer sets Retry-After
	s.usage.RateLimited(st.key.ID)
	st.action = "ratelimit.exceeded"
	return &novamed.Error{Code: novamed.CodeRateLimited,
		Message: "Rate limit exceeded. " + retryAfterSentence(secs),
		Details: map[string]any{"retry_after": secs}}
}

func resetUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}
