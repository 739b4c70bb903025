// Package server builds the whole NovaMed server from a validated
// configuration: the audit writer, usage recorder, rate limiter, partner
// API, staff console, webhook worker, sandbox, audit checkpointer and
// archive pass, keyring watcher and key-change follower. `novamed serve`
// and the tests (internal/testenv) build it through New, so the tests run
// the wiring that production runs.
//
// What New does not do is what only a process does: parse flags, open the
// store (shared with every operator command), listen, print the listening
// line and wait for a signal (cmd/novamed).
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/console"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/portal"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/reencrypt"
	"github.com/novamed/partner-api/internal/sandbox"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/usage"
	"github.com/novamed/partner-api/internal/webhook"
)

// Config is what a server is built from. It is plain data, checked by
// whoever made it (cmd/novamed's serve flags, or testenv); New adds no
// defaults beyond those of the components it builds.
type Config struct {
	Env novamed.Environment
	// Addr is the listen address as configured: named in the first-start
	// banner, and a non-loopback one makes console cookies Secure.
	Addr string
	// UseTLS: the server itself terminates TLS. BehindProxy: a
	// TLS-terminating proxy is in front. Either turns on HSTS and
	// __Host- console cookies.
	UseTLS, BehindProxy bool
	TrustedProxies      []netip.Prefix
	PublicURL           string
	KeyCacheTTL         time.Duration
	RequestTimeout      time.Duration
	Version             httpapi.BuildVersion

	// Sandbox runs the simulated pharmacy, each order resting SandboxStep
	// in each status.
	Sandbox     bool
	SandboxStep time.Duration

	WebhookSchedule []time.Duration
	WebhookPoll     time.Duration
	WebhookLease    time.Duration
	// WorkerID names this process as a delivery lease holder (default:
	// host, pid and a random suffix).
	WorkerID string

	Anomaly usage.Rules
	Console ConsoleConfig

	// Checkpoint signs the audit chain head; a nil Key turns the
	// checkpointer off (serve always has one).
	Checkpoint CheckpointConfig
	// Archive runs the audit archive pass; a zero Interval turns it off
	// (serve always runs it).
	Archive ArchiveConfig

	// SeedDemo: on an empty development database, create the demo clinic,
	// key and data and print them to Stdout (serve in development).
	SeedDemo bool
	// KeyringFile, when set, is watched: a change is loaded with
	// LoadKeyring and, if it fits the database, replaces the keyring.
	KeyringFile string
	LoadKeyring func() (*phi.Keyring, error)
	// RedisPrefix prefixes the key-change channel (with Deps.Redis).
	RedisPrefix string
	// ReadinessPoll is how often the readiness watch asks the store
	// (default 2 s).
	ReadinessPoll time.Duration
	// Now is the clock of the recorder, sandbox, worker, API and console;
	// time.Now when nil.
	Now func() time.Time
}

// ConsoleConfig are the staff console's session settings.
type ConsoleConfig struct {
	IdleTimeout, SessionLimit, ReauthWindow time.Duration
}

// CheckpointConfig is the audit checkpointer's configuration.
type CheckpointConfig struct {
	Key      ed25519.PrivateKey
	File     string // appended with each checkpoint (DATA_DIR/checkpoints.jsonl)
	Webhook  string // POSTed each checkpoint when set
	Interval time.Duration
}

// ArchiveConfig is the background audit archive pass's configuration.
type ArchiveConfig struct {
	Flags    ArchiveFlags
	DataDir  string // where the SQLite default archive folder lives
	Interval time.Duration
}

// Deps are the already-made things a server is built on. The caller made
// them and closes them after Server.Close.
type Deps struct {
	// Store is the opened database.
	Store *sqlstore.Store
	// Log is the server's logger; AccessLog, when set, is the writer
	// behind it that receives the request lines directly.
	Log       *slog.Logger
	AccessLog io.Writer
	// Metrics are the Prometheus metrics (made before the store, whose
	// commits they count); nil: a fresh set.
	Metrics *usage.Metrics
	// Redis is the client shared by replicas (rate limits, key-change
	// fan-out); nil: none.
	Redis *redis.Client
	// Resolver looks webhook hosts up (default: the system's).
	Resolver webhook.Resolver
	// Stdout receives what serve prints for people: the first-start banner
	// and the migrations-pending line (default: discarded).
	Stdout io.Writer
}

// Server is a built server: Handler serves everything (the partner API and
// every mounted sub-handler), Close stops what New started.
type Server struct {
	Handler http.Handler
	API     *httpapi.Server
	Console *console.Console
	Portal  *portal.Portal
	// Reencrypt runs master-key re-encryptions for the console and the
	// admin API.
	Reencrypt *reencrypt.Service
	Store     *sqlstore.Store
	Audit     *audit.Writer
	Metrics   *usage.Metrics
	// Usage is the per-key usage recorder and anomaly rules (its Sync
	// lets a test look at what they stored).
	Usage *usage.Recorder
	Log   *slog.Logger
	// Pending is true when the database waits for migrations: the API
	// answers 503 until `novamed migrate` has run.
	Pending bool

	redis       *redis.Client
	keysChannel string
	closers     []func()
}

// New builds the server on d from cfg and starts its background work,
// which runs until Close (or until ctx ends: Close must still be called).
// On error, what was started is stopped again.
func New(ctx context.Context, cfg Config, d Deps) (srv *Server, err error) {
	if d.Store == nil || d.Log == nil {
		return nil, errors.New("server: Deps.Store and Deps.Log are required")
	}
	if d.Metrics == nil {
		d.Metrics = usage.NewMetrics()
	}
	if d.Stdout == nil {
		d.Stdout = io.Discard
	}
	if d.Resolver == nil {
		d.Resolver = net.DefaultResolver
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.WorkerID == "" {
		cfg.WorkerID = workerID()
	}
	if cfg.ReadinessPoll <= 0 {
		cfg.ReadinessPoll = 2 * time.Second
	}
	store, log := d.Store, d.Log
	s := &Server{Store: store, Log: log, Metrics: d.Metrics, redis: d.Redis, keysChannel: cfg.RedisPrefix + "keys"}
	defer func() {
		if err != nil {
			s.Close()
			srv = nil
		}
	}()
	// Each component is started and its stop pushed at once: Close stops
	// them in the reverse order (the closing checkpoint signs the head
	// after the audit writer flushed).
	if cfg.Checkpoint.Key != nil {
		cp := &checkpointer{
			store: store, key: cfg.Checkpoint.Key, file: cfg.Checkpoint.File, webhook: cfg.Checkpoint.Webhook, log: log, interval: cfg.Checkpoint.Interval,
			client: &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		}
		s.push(Owned(ctx, cp.run))
	}
	var archiver *auditarchive.Archiver
	if cfg.Archive.Interval > 0 {
		stop, a, err := startAuditArchive(ctx, cfg.Archive.Flags, cfg.Archive.DataDir, store, cfg.Checkpoint.Key, log, cfg.Archive.Interval)
		if err != nil {
			return nil, err
		}
		s.push(stop)
		archiver = a
	}
	s.Pending = store.Ready(ctx) != nil
	if s.Pending {
		have, want, _ := store.SchemaStatus(ctx)
		log.Warn("migrations pending: not ready (503) until `novamed migrate` has run", "schema", have, "binary", want)
		fmt.Fprintf(d.Stdout, "novamed: the database schema is at version %d and this binary needs %d: migrations pending; /readyz and the API answer 503 until `novamed migrate` has run\n", have, want)
	} else if have, want, err := store.SchemaStatus(ctx); err == nil && have > want {
		log.Warn("the database schema is newer than this binary; its newer migrations are marked backward-compatible, so this server keeps serving", "schema", have, "binary", want)
	}
	readyChecks := map[string]func(context.Context) error{
		"migrations": func(ctx context.Context) error {
			if store.Ready(ctx) != nil {
				return &httpapi.NotReadyError{State: "pending"}
			}
			return nil
		},
	}
	if cfg.SeedDemo && cfg.Env == novamed.Development && !s.Pending {
		if err := seedDemo(ctx, store, d.Stdout, cfg.Addr, cfg.UseTLS); err != nil {
			return nil, err
		}
	}
	if cfg.KeyringFile != "" && cfg.LoadKeyring != nil {
		s.push(Owned(ctx, func(ctx context.Context) { watchKeyring(ctx, cfg.KeyringFile, cfg.LoadKeyring, store, log) }))
	}
	s.Audit = audit.NewWriter(store, log)
	s.push(func() { s.Audit.Close() })
	recorder := usage.NewRecorder(store, log, s.Metrics, now, cfg.Anomaly)
	s.Usage = recorder
	s.push(recorder.Close)
	if cfg.Sandbox {
		s.push(Owned(ctx, func(ctx context.Context) { sandbox.Run(ctx, store, cfg.SandboxStep, now, log) }))
		log.Info("sandbox pharmacy on", "step", cfg.SandboxStep.String())
	}
	var limiter ratelimit.Limiter = ratelimit.NewMemory(nil)
	if d.Redis != nil {
		limiter = &ratelimit.Fallback{Shared: ratelimit.NewRedis(d.Redis, cfg.RedisPrefix+"rl:"), Local: ratelimit.NewMemory(nil), Log: log}
		readyChecks["redis"] = func(ctx context.Context) error { return d.Redis.Ping(ctx).Err() }
	}
	policy := webhook.URLPolicy{AllowInsecure: cfg.Env == novamed.Development, Resolver: d.Resolver}
	// Re-encryptions (console and admin API): this replica advertises its
	// keyring versions now and every reencrypt.AdvertiseEvery, so a job
	// started anywhere checks every running replica holds its target.
	s.Reencrypt = &reencrypt.Service{Store: store, Versions: store.KeyVersions, Replica: cfg.WorkerID, Log: log, Now: now}
	s.push(s.Reencrypt.Close)
	if !s.Pending {
		s.push(Owned(ctx, func(ctx context.Context) { advertiseKeyring(ctx, store, cfg.WorkerID, now, log) }))
	}
	s.API = httpapi.New(httpapi.Config{
		Env: cfg.Env, Store: store, Audit: s.Audit, Limiter: limiter, Logger: log, ReadyChecks: readyChecks, Now: cfg.Now,
		KeyCacheTTL: cfg.KeyCacheTTL, TrustedProxies: cfg.TrustedProxies, HSTS: cfg.UseTLS || cfg.BehindProxy, WebhookPolicy: policy,
		Usage: recorder, Metrics: s.Metrics, AccessLog: d.AccessLog, RequestTimeout: cfg.RequestTimeout, FingerprintKey: store.IdempotencyFingerprintKey(),
		Version: cfg.Version,
		Gate: func(ctx context.Context) error {
			if store.Ready(ctx) != nil {
				return errors.New("migrations pending")
			}
			return nil
		},
		PublicURL: cfg.PublicURL,
		Operators: &operator.Service{Store: store, Env: cfg.Env}, Admin: store,
		AnnounceKeyChange: s.announceKeyChange, Reencrypt: s.Reencrypt,
		CheckpointKey: cfg.Checkpoint.Key, AuditArchive: archiver,
	})
	s.push(s.API.Close)
	s.push(Owned(ctx, func(ctx context.Context) { s.API.WatchReadiness(ctx, cfg.ReadinessPoll) }))
	worker := &webhook.Worker{
		Store: store, Client: webhook.NewClient(&webhook.Dialer{Policy: policy}), Schedule: cfg.WebhookSchedule,
		ID: cfg.WorkerID, Log: log, Now: now, Poll: cfg.WebhookPoll, Lease: cfg.WebhookLease, Parallel: 8,
		OnAttempt: s.Metrics.Delivery,
	}
	if d.Redis != nil {
		s.push(Owned(ctx, func(ctx context.Context) { followKeyChanges(ctx, d.Redis, s.keysChannel, s.API, log) }))
	}
	s.push(Owned(ctx, worker.Run))
	if s.Console, err = s.newConsole(cfg, archiver); err != nil {
		return nil, err
	}
	if s.Portal, err = s.newPortal(cfg, policy); err != nil {
		return nil, err
	}
	s.Handler = s.routes(cfg.RequestTimeout)
	return s, nil
}

// routes is the one place where sub-handlers are mounted beside the
// partner API: each mount claims the paths its Handles accepts and runs
// under the request timeout; everything else is the API's. A new
// sub-handler (a partner portal, more console pages) is one more line
// here.
func (s *Server) routes(timeout time.Duration) http.Handler {
	mounts := []struct {
		handles func(path string) bool
		h       http.Handler
	}{
		{console.Handles, s.Console},
		{portal.Handles, s.Portal},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range mounts {
			if m.handles(r.URL.Path) {
				if timeout > 0 {
					ctx, cancel := context.WithTimeout(r.Context(), timeout)
					defer cancel()
					r = r.WithContext(ctx)
				}
				m.h.ServeHTTP(w, r)
				return
			}
		}
		s.API.ServeHTTP(w, r)
	})
}

// push adds a stop to run at Close.
func (s *Server) push(stop func()) { s.closers = append(s.closers, stop) }

// Close stops everything New started, newest first, and waits for it: the
// webhook worker stops (an attempt in flight is abandoned without using up
// a retry), the API and the recorder flush, the audit writer flushes, the
// checkpointer signs a closing checkpoint. The store, Redis client and
// logger stay open: they are the caller's. Close is idempotent.
func (s *Server) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// workerID names this process as a delivery lease holder.
func workerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}

// CheckpointFile is the checkpoint file of a data folder.
func CheckpointFile(dataDir string) string { return filepath.Join(dataDir, CheckpointFileName) }
