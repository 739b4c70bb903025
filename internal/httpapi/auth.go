package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/novamed"
)

// errUnauthorized is the one answer to every authentication failure; the
// cases are deliberately indistinguishable.
var errUnauthorized = &novamed.Error{Code: novamed.CodeUnauthorized, Message: novamed.MsgUnauthorized}

// handlerFunc is a partner handler: it writes a success itself and returns
// any error for the one error writer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// partner wraps h in the partner stack: content negotiation and body limit,
// authentication (with the brute-force guard), the per-key rate limit,
// idempotency, then the handler. Every response of an authenticated request
// (and every failed authentication) is audited before it is sent.
func (s *Server) partner(action, resourceType string, h handlerFunc) http.Handler {
	inner := s.idempotent(h)
	return s.negotiate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		st.action, st.resourceType = action, resourceType
		if err := s.authenticate(r, st); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.rateLimit(w, r, st); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := inner(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// authenticate resolves the x-api-key header to a usable key of this
// environment. Malformed keys are refused by their checksum without touching
// the store; verified keys are cached for KeyCacheTTL.
func (s *Server) authenticate(r *http.Request, st *reqState) error {
	ctx := r.Context()
	guard := "authfail:" + st.clientAddr
	if d, err := s.limiter.Peek(ctx, guard, s.authFail, time.Minute); err == nil && !d.Allowed {
		st.action = "auth.blocked"
		st.securityEvent = "auth_failures_limited"
		return &novamed.Error{Code: novamed.CodeTooManyAuthFails,
			Message: "Too many failed authentications from this address. Please retry after " + strconv.Itoa(retryAfterSeconds(d.RetryAfter)) + " seconds.",
			Details: map[string]any{"retry_after": retryAfterSeconds(d.RetryAfter)}}
	}
	raw := r.Header.Get("X-Api-Key")
	key, outcome, err := s.verifyKey(ctx, raw)
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
		st.action = "auth.failed"
		st.keyPrefix = apikey.DisplayPrefix(raw)
		if len(raw) > 64 || !saneID(st.keyPrefix) {
			st.keyPrefix = ""
		}
		if st.keyPrefix != "" {
			s.usage.AuthFailure(st.keyPrefix, st.clientAddr)
		}
		if _, lerr := s.limiter.Allow(ctx, guard, s.authFail, time.Minute); lerr != nil {
			s.log.Warn("auth failure limiter unavailable", "err", lerr)
		}
		return err
	}
	st.key = key
	st.keyPrefix = key.Prefix
	s.usage.KeyUsed(key, st.clientAddr)
	return nil
}

// verifyKey is the hot path of every request. It also names the outcome
// (for metrics and the revoked-key rule; never for the client, which sees
// one 401 for all of them): ok, missing, malformed, wrong_environment,
// unknown, revoked, expired or error.
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
	return key, "ok", nil
}

// rateLimit applies the key's per-minute limit and sets the X-RateLimit
// headers. If the limiter itself fails (a shared store is down) the request
// is let through and the fault logged: availability over strictness.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, st *reqState) error {
	limit := st.key.EffectiveRateLimit()
	d, err := s.limiter.Allow(r.Context(), "key:"+st.key.ID, limit, time.Minute)
	if err != nil {
		s.log.Warn("rate limiter unavailable; request allowed", "request_id", st.requestID, "err", err)
		return nil
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(resetUnix(d.ResetAt), 10))
	if d.Allowed {
		return nil
	}
	secs := retryAfterSeconds(d.RetryAfter) // the error writer sets Retry-After
	s.usage.RateLimited(st.key.ID)
	st.action = "ratelimit.exceeded"
	return &novamed.Error{Code: novamed.CodeRateLimited,
		Message: "Rate limit exceeded. Please retry after " + strconv.Itoa(secs) + " seconds.",
		Details: map[string]any{"retry_after": secs}}
}

func resetUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}
