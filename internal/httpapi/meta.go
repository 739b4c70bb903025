package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// healthz is liveness: the process accepts requests.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: the database answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Error("readiness: database unavailable", "err", err)
		s.writeError(w, r, &novamed.Error{Code: novamed.CodeUnavailable, Message: "The database is not reachable."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": "ok"})
}

type meJSON struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Prefix      string              `json:"prefix"`
	Environment novamed.Environment `json:"environment"`
	Clinics     []string            `json:"clinics"`
	CreatedAt   time.Time           `json:"created_at"`
	ExpiresAt   *time.Time          `json:"expires_at"`
	RateLimit   rateLimitJSON       `json:"rate_limit"`
}

type rateLimitJSON struct {
	Limit     int   `json:"limit"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"`
}

// getMe describes the calling key (never the key itself).
func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	k := stateOf(r).key
	d, err := s.limiter.Peek(r.Context(), "key:"+k.ID, k.EffectiveRateLimit(), time.Minute)
	if err != nil {
		return err
	}
	return s.ok(w, r, meJSON{
		ID: k.ID, Name: k.Name, Prefix: k.Prefix, Environment: k.Environment, Clinics: k.Clinics,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		RateLimit: rateLimitJSON{Limit: d.Limit, Remaining: d.Remaining, Reset: resetUnix(d.ResetAt)},
	}, "")
}

// ok sends a 200 success envelope.
func (s *Server) ok(w http.ResponseWriter, r *http.Request, data any, message string) error {
	b, err := marshalSuccess(data, message)
	if err != nil {
		return err
	}
	s.send(w, r, http.StatusOK, b)
	return nil
}
