package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// healthz is liveness: the process accepts requests. It names the build,
// as `novamed version` and the novamed_build_info metric do.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(s.health) //nolint:errcheck // the client went away
}

// healthBody encodes the /healthz answer for a build.
func healthBody(v BuildVersion) []byte {
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.CommitTime == "" {
		v.CommitTime = "unknown"
	}
	b, err := json.Marshal(struct {
		Status string `json:"status"`
		BuildVersion
	}{"ok", v})
	if err != nil {
		panic("httpapi: encoding /healthz: " + err.Error()) // plain strings always encode
	}
	return append(b, '\n')
}

// NotReadyError is a readiness check's expected answer while the replica
// is not ready yet: /readyz shows State ("migrations pending") instead of
// "unavailable", and logs nothing.
type NotReadyError struct{ State string }

func (e *NotReadyError) Error() string { return e.State }

// readyz is readiness: the database can commit a write now (a cached
// probe, see storeReady) and every check that answers *NotReadyError (the
// migrations) passes. Any other failing check is an optional dependency
// (Redis): it is reported "degraded" and the replica stays ready, since
// requests are served without it (per-replica rate limits, key-cache expiry).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out := map[string]string{"status": "ready", "database": "ok"}
	var failed []string
	for name, fn := range s.readyChecks {
		if err := fn(ctx); err != nil {
			var nr *NotReadyError
			if errors.As(err, &nr) {
				out[name], failed = nr.State, append(failed, name+" "+nr.State)
				continue
			}
			s.log.Warn("optional dependency degraded", "dependency", name, "err", err)
			out[name] = "degraded"
			continue
		}
		out[name] = "ok"
	}
	if fe, ok := s.store.(interface{ AuditFlushErr() error }); ok {
		// The incremental audit durability mode could not flush the
		// records of earlier reads to stable storage: reads are refused
		// until a flush succeeds, so this replica is not ready.
		out["audit_flush"] = "ok"
		if fe.AuditFlushErr() != nil {
			out["audit_flush"], failed = "failing", append(failed, "audit flush failing")
		}
	}
	if err := s.storeReady(ctx); err != nil {
		switch {
		case errors.Is(err, sqlstore.ErrMigrationsPending):
			if !slices.Contains(failed, "migrations pending") {
				failed = append(failed, "migrations pending")
			}
		case sqlstore.FaultOf(err) == sqlstore.Full:
			failed = append(failed, "database out of space")
		case len(failed) == 0:
			// With migrations pending the probe's table may not exist
			// yet: that is said above, not as an unavailable database.
			failed = append(failed, "database unavailable")
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		s.writeError(w, r, &novamed.Error{Code: novamed.CodeUnavailable, Message: "Not ready: " + strings.Join(failed, ", ") + ".",
			Details: map[string]any{"retry_after": retryAfterStorageUnavailable}})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// readyProbeTTL is how long a readiness probe's answer is reused: load
// balancers polling /readyz cost at most one small write a second.
const readyProbeTTL = time.Second

// readiness is the cached result of the store probe and the last state
// reported, so that each transition is logged and counted once.
type readiness struct {
	mu        sync.Mutex
	checkedAt time.Time
	err       error
	state     int8 // 0 unknown, 1 ready, -1 not ready
}

// storeReady probes the store (CheckWritable if it has one, else Ping), at
// most once per readyProbeTTL, and records transitions.
func (s *Server) storeReady(ctx context.Context) error {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	if !s.ready.checkedAt.IsZero() && s.now().Sub(s.ready.checkedAt) < readyProbeTTL {
		return s.ready.err
	}
	var err error
	if p, ok := s.store.(interface{ CheckWritable(context.Context) error }); ok {
		err = p.CheckWritable(ctx)
	} else {
		err = s.store.Ping(ctx)
	}
	s.ready.checkedAt, s.ready.err = s.now(), err
	state := int8(1)
	if err != nil {
		state = -1
	}
	prev := s.ready.state
	changed := state != prev
	if changed && state == 1 {
		s.log.Info("readiness changed: ready", "dependency", "database")
	} else if changed {
		s.log.Error("readiness changed: not ready", "dependency", "database", "err", err.Error())
	}
	s.ready.state = state
	s.metrics.Ready(state == 1, changed && prev != 0)
	return err
}

// WatchReadiness probes the store every interval until ctx ends, so that
// the readiness metric and log lines follow the store even when nobody
// polls /readyz.
func (s *Server) WatchReadiness(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s.storeReady(pctx) //nolint:errcheck // recorded as the state
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
func (s *Server) getMe(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	k := st.key
	d, err := s.limiter.Peek(r.Context(), rateSubject(k), k.EffectiveRateLimit(), time.Minute)
	if err != nil {
		return reply{}, err
	}
	return s.ok(facts{}, meJSON{
		ID: k.ID, Name: k.Name, Prefix: k.Prefix, Environment: k.Environment, Clinics: k.Clinics,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt,
		RateLimit: rateLimitJSON{Limit: d.Limit, Remaining: d.Remaining, Reset: resetUnix(d.ResetAt)},
	}, "")
}

// ok sends a 200 success envelope.

// usageJSON is a key's usage: counts by day, route and status class, and
// totals by status class.
type usageJSON struct {
	KeyID  string               `json:"key_id"`
	Since  string               `json:"since"`
	Counts []novamed.UsageCount `json:"counts"`
	Totals map[string]int64     `json:"totals"`
}

// myUsageJSON is a partner's own usage: the report and its recent
// warnings (fields its bodies sent that the API ignored), newest first,
// as seen by the replica answering (kept in memory, at most 20).
type myUsageJSON struct {
	usageJSON
	RecentWarnings []Warning `json:"recent_warnings"`
}

// UsageReport summarises a key's counters since a day (shared by the API
// and the operator command).
func UsageReport(keyID, since string, counts []novamed.UsageCount) any {
	totals := map[string]int64{}
	for _, c := range counts {
		switch c.Route {
		case novamed.RouteRateLimited, novamed.RouteAuthFailure:
			totals[c.Route] += c.Count
		default:
			totals[c.StatusClass] += c.Count
		}
	}
	return usageJSON{KeyID: keyID, Since: since, Counts: counts, Totals: totals}
}

// getMyUsage gives a partner its own key's figures for the last days
// (default 30, at most 90). Pending counters are flushed first.
func (s *Server) getMyUsage(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	k := st.key
	days := 30
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 90 {
			return reply{}, novamed.ValidationError([]novamed.FieldError{{Field: "days", Message: "days must be a whole number from 1 to 90."}})
		}
		days = n
	}
	if err := s.usage.Flush(r.Context()); err != nil {
		return reply{}, err
	}
	since := s.now().UTC().AddDate(0, 0, -(days - 1)).Format(time.DateOnly)
	counts, err := s.store.Usage(r.Context(), k.ID, since)
	if err != nil {
		return reply{}, err
	}
	rep := myUsageJSON{usageJSON: UsageReport(k.ID, since, counts).(usageJSON), RecentWarnings: s.warnings.recent(k.Owner)}
	return s.ok(facts{}, rep, "")
}
