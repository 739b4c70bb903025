package httpapi

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/reencrypt"
	"github.com/novamed/partner-api/internal/usage"
	"github.com/novamed/partner-api/internal/webhook"
)

// Config holds the dependencies and settings of a Server.
type Config struct {
	Env     novamed.Environment
	Store   novamed.ServerStore
	Audit   *audit.Writer
	Limiter ratelimit.Limiter
	Logger  *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// KeyCacheTTL bounds how long a verified key is trusted without asking
	// the store again, and so how long a revocation takes to arrive (default 1s).
	KeyCacheTTL time.Duration
	// AuthFailuresPerMinute limits failed authentications per client address (default 20).
	AuthFailuresPerMinute int
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// HSTS adds Strict-Transport-Security (set when serving TLS or behind a TLS proxy).
	HSTS bool
	// WebhookPolicy decides which webhook URLs partners may register.
	WebhookPolicy webhook.URLPolicy
	// Usage counts per-key use and watches for anomalies (nil: off).
	Usage *usage.Recorder
	// Metrics are the Prometheus metrics (nil: off).
	Metrics *usage.Metrics
	// ReadyChecks are optional dependencies /readyz checks besides the
	// database (e.g. "redis"); a failing one is reported "degraded" and
	// the replica stays ready.
	ReadyChecks map[string]func(context.Context) error
	// FingerprintKey keys the fingerprints of Idempotency-Key requests
	// (phi.Keyring.IdempotencyFingerprintKey); every replica of one
	// database needs the same. Nil: a random key of this process (tests).
	FingerprintKey []byte
	// PublicURL is the URL partners reach this server at (scheme, host and
	// optional path prefix), named as the server of the served OpenAPI
	// document; empty: the URL each request reached the server at.
	PublicURL string
	// RequestTimeout bounds each request's context, and so every store call
	// it makes: a stalled database answers 503 STORAGE_UNAVAILABLE within
	// it (default 20s; PostgreSQL's statement and lock timeouts and
	// SQLite's busy_timeout are shorter).
	RequestTimeout time.Duration
	// AccessLog, when set, receives the per-request log lines directly
	// (the same JSON lines Logger would write, encoded without slog's
	// overhead); it should be the writer behind Logger. If it has a Flush
	// method, it is called after lines at warning level.
	AccessLog io.Writer
	// Gate, when set, is asked before every /api/ request: while it
	// returns an error (migrations pending) the API answers 503.
	Gate func(context.Context) error
	// Version names the running build in /healthz ("dev" when empty).
	Version BuildVersion
	// Operators and Admin enable the admin API (/api/admin/, issue 22):
	// operator tokens are verified by Operators, and Admin is the store's
	// operator view. Both nil: no admin routes.
	Operators *operator.Service
	Admin     AdminStore
	// AnnounceKeyChange tells the other replicas that keys changed (the
	// Redis fan-out); nil: none (the key cache expiry bounds the delay).
	AnnounceKeyChange func(context.Context)
	// Reencrypt starts and follows master-key re-encryptions (nil: the
	// admin routes answer that this server does not run them).
	Reencrypt *reencrypt.Service
	// CheckpointKey signs the audit checkpoints POST
	// /api/admin/audit/checkpoints answers (nil: that route and the
	// checkpoint key route answer 503).
	CheckpointKey ed25519.PrivateKey
	// AuditArchive verifies a trail with sealed segments for POST
	// /api/admin/audit/verify (nil: only a trail without segments is
	// verified there).
	AuditArchive *auditarchive.Archiver
}

// BuildVersion is what /healthz says of the running build.
type BuildVersion struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	CommitTime string `json:"commit_time"`
}

// Server is the partner API as an http.Handler.
type Server struct {
	env       novamed.Environment
	store     novamed.ServerStore
	audit     *audit.Writer
	limiter   ratelimit.Limiter
	log       *slog.Logger
	accessLog io.Writer
	// logScratch recycles request log lines' working memory (*logScratch).
	logScratch sync.Pool
	now        func() time.Time
	health     []byte // the /healthz answer, encoded once
	keys       *apikey.Cache[*novamed.APIKey]
	authFail   int
	proxies    []netip.Prefix
	hsts       bool
	mux        *routeTable

	webhookPolicy webhook.URLPolicy
	carrierCache  carrierCache
	usage         *usage.Recorder
	metrics       *usage.Metrics
	readyChecks   map[string]func(context.Context) error
	gate          func(context.Context) error
	inflight      sync.Map   // idempotency keys being processed here: owner+"\x00"+key
	warnings      warningLog // recent ignored-field warnings per key lineage
	publicBase    string     // Config.PublicURL without a trailing slash
	docs          docsAssets // the /docs page, its scripts and the served document
	ready         readiness
	reqTimeout    time.Duration
	// fingerprintKey keys idempotency fingerprints; fingerprintMACs
	// recycles HMACs under it (a reset HMAC skips the key schedule).
	fingerprintKey  []byte
	fingerprintMACs sync.Pool

	operators     *operator.Service
	admin         AdminStore
	reencrypt     *reencrypt.Service
	announceKeys  func(context.Context)
	checkpointKey ed25519.PrivateKey
	auditArchive  *auditarchive.Archiver

	stop chan struct{}
	done chan struct{}
}

// New returns a Server and starts its background purge of expired
// idempotency records; Close stops it.
func New(cfg Config) *Server {
	s := &Server{
		env: cfg.Env, store: cfg.Store, audit: cfg.Audit, limiter: cfg.Limiter, log: cfg.Logger, now: cfg.Now,
		authFail: cfg.AuthFailuresPerMinute, proxies: cfg.TrustedProxies, hsts: cfg.HSTS, webhookPolicy: cfg.WebhookPolicy,
		usage: cfg.Usage, metrics: cfg.Metrics, readyChecks: cfg.ReadyChecks, gate: cfg.Gate, accessLog: cfg.AccessLog,
		stop: make(chan struct{}), done: make(chan struct{}),
		logScratch: sync.Pool{New: newLogScratch}, publicBase: strings.TrimRight(cfg.PublicURL, "/"),
		reqTimeout: cfg.RequestTimeout, operators: cfg.Operators, admin: cfg.Admin, reencrypt: cfg.Reencrypt, announceKeys: cfg.AnnounceKeyChange,
		checkpointKey: cfg.CheckpointKey, auditArchive: cfg.AuditArchive,
	}
	s.health = healthBody(cfg.Version)
	if s.now == nil {
		s.now = time.Now
	}
	ttl := cfg.KeyCacheTTL
	if ttl <= 0 {
		ttl = time.Second
	}
	if s.reqTimeout <= 0 {
		s.reqTimeout = 20 * time.Second
	}
	if s.authFail <= 0 {
		s.authFail = 20
	}
	s.fingerprintKey = append([]byte(nil), cfg.FingerprintKey...)
	if len(s.fingerprintKey) == 0 {
		s.fingerprintKey = make([]byte, 32)
		rand.Read(s.fingerprintKey) //nolint:errcheck // crypto/rand never fails on supported platforms
	}
	s.keys = apikey.NewCache[*novamed.APIKey](ttl, 100_000, s.now)
	s.mux = s.routes()
	go s.flushLoop()
	return s
}

// ServeHTTP answers one request: the outer middleware runs for every
// request, matched or not, so even unknown routes get the envelope, a
// request id, security headers and a log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{requestID: newRequestID(), clientRequestID: clientRequestID(r), start: s.now(), clientAddr: s.clientAddr(r)}
	ctx, cancel := context.WithTimeout(r.Context(), s.reqTimeout)
	defer cancel()
	r = withState(r.WithContext(ctx), st)
	rw := &recorder{ResponseWriter: w}
	s.securityHeaders(rw.Header(), st.requestID)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "request_id", st.requestID, "route", r.Pattern, "panic", panicText(v))
			if !rw.wrote {
				s.writeError(rw, r, errPanic)
			}
		}
		s.logRequest(r, rw.status, rw.bytes, st)
	}()
	// A path with ".." or "//" would be redirected to its cleaned form; an
	// API answers such a request as unknown instead.
	if p := r.URL.Path; p != "/" && (path.Clean(p) != p && path.Clean(p)+"/" != p) {
		s.writeError(rw, r, &novamed.Error{Code: novamed.CodeRouteNotFound, Message: "No route matches this request."})
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unmatched(rw, r)
		return
	}
	if s.gate != nil && strings.HasPrefix(r.URL.Path, "/api/") {
		if err := s.gate(r.Context()); err != nil {
			rw.Header().Set("Retry-After", "5")
			s.writeError(rw, r, &novamed.Error{Code: novamed.CodeUnavailable, Message: novamed.MsgMigrationsPending,
				Details: map[string]any{"retry_after": 5}})
			return
		}
	}
	s.mux.ServeHTTP(rw, r)
}

// unmatched answers 404 or 405 in the envelope, asking the mux which it is.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	probe := &probeWriter{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.writeError(w, r, &novamed.Error{Code: novamed.CodeMethodNotAllowed, Message: "Method " + r.Method + " is not allowed on this route."})
		return
	}
	s.writeError(w, r, &novamed.Error{Code: novamed.CodeRouteNotFound, Message: "No route matches this request."})
}

// PurgeKeyCache forgets every verified key, so the next request of each is
// checked against the store (a revocation or roll was announced).
func (s *Server) PurgeKeyCache() { s.keys.Purge() }

// Close stops the background work.
func (s *Server) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *Server) flushLoop() {
	defer close(s.done)
	purge := time.NewTicker(10 * time.Minute)
	defer purge.Stop()
	for {
		select {
		case <-purge.C:
			if n, err := s.store.PurgeIdempotency(context.Background(), s.now().Add(-idempotencyTTL)); err != nil {
				s.log.Error("purge idempotency records failed", "err", err)
			} else if n > 0 {
				s.log.Info("purged idempotency records", "count", n)
			}
		case <-s.stop:
			return
		}
	}
}
