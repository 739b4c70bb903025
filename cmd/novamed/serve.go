package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/logbuf"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/server"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/usage"
	"github.com/novamed/partner-api/internal/webhook"
)

type prefixList []netip.Prefix

func (p *prefixList) String() string { return fmt.Sprint([]netip.Prefix(*p)) }
func (p *prefixList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return err
			}
			part = netip.PrefixFrom(a, a.BitLen()).String()
		}
		pf, err := netip.ParsePrefix(part)
		if err != nil {
			return err
		}
		*p = append(*p, pf.Masked())
	}
	return nil
}

// checkPublicURL accepts an absolute http(s) URL without query, fragment
// or credentials (or nothing).
func checkPublicURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(v, "\"<>&'` \t\r\n") {
		return fmt.Errorf("--public-url %q: want http(s)://host[:port][/prefix]", v)
	}
	return nil
}

// serveConfig is serve's configuration: its flags and NOVAMED_* variables,
// parsed and checked. Making it has no side effect (nothing is created,
// bound or opened), so a bad flag is reported before anything exists.
type serveConfig struct {
	c                 common
	env               novamed.Environment
	useTLS            bool
	certFile, keyFile string
	metricsAddr       string
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration
	checkpointKeyFile string
	migrate           *autoBool
	server            server.Config // Checkpoint.Key and the keyring source are added once the store is open
	warnings          []string      // said at start, once the log exists
}

// parseServeConfig reads serve's flags and environment into a checked
// serveConfig.
func parseServeConfig(args []string, getenv func(string) string) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	sc := &serveConfig{c: common{serving: true}}
	c := &sc.c
	c.register(fs, getenv)
	addr := fs.String("addr", envOr(getenv, "NOVAMED_ADDR", "127.0.0.1:8080"), "listen address")
	certFile := fs.String("tls-cert", getenv("NOVAMED_TLS_CERT"), "TLS certificate (PEM); with --tls-key serves HTTPS")
	keyFile := fs.String("tls-key", getenv("NOVAMED_TLS_KEY"), "TLS private key (PEM)")
	behindProxy := fs.Bool("behind-tls-proxy", getenv("NOVAMED_BEHIND_TLS_PROXY") == "true", "plain HTTP behind a TLS-terminating proxy")
	var proxies prefixList
	if v := getenv("NOVAMED_TRUSTED_PROXIES"); v != "" {
		if err := proxies.Set(v); err != nil {
			return nil, fmt.Errorf("NOVAMED_TRUSTED_PROXIES: %w", err)
		}
	}
	fs.Var(&proxies, "trusted-proxy", "CIDR whose X-Forwarded-For is trusted (repeatable)")
	publicURL := fs.String("public-url", getenv("NOVAMED_PUBLIC_URL"), "the URL partners reach this server at, named by the served OpenAPI document (default: the URL each request used)")
	keyTTL := fs.Duration("key-cache-ttl", time.Second, "how long a verified key is cached (bounds revocation delay)")
	sandboxMode := fs.String("sandbox", envOr(getenv, "NOVAMED_SANDBOX", ""), "on|off: simulate the pharmacy (default on in development; never in production)")
	sandboxStep := fs.Duration("sandbox-step", 5*time.Second, "how long a sandbox order rests in each status")
	retrySchedule := fs.String("webhook-retry-schedule", envOr(getenv, "NOVAMED_WEBHOOK_RETRY_SCHEDULE", webhook.FormatSchedule(webhook.DefaultSchedule)), "delay before each webhook attempt; the delivery fails after the last")
	webhookPoll := fs.Duration("webhook-poll", 250*time.Millisecond, "how often the delivery worker looks for due deliveries")
	readHeaderTimeout := fs.Duration("read-header-timeout", 10*time.Second, "how long a client may take to send its headers (slowloris guard)")
	idleTimeout := fs.Duration("idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	webhookLease := fs.Duration("webhook-lease", 30*time.Second, "how long a claimed delivery is reserved for this replica (must exceed the 5 s send timeout)")
	requestTimeout := fs.Duration("request-timeout", 20*time.Second, "deadline of each request's store calls; a stalled database answers 503 within it")
	shutdownTimeout := fs.Duration("shutdown-timeout", 15*time.Second, "how long a graceful shutdown waits for in-flight requests")
	metricsAddr := fs.String("metrics-addr", getenv("NOVAMED_METRICS_ADDR"), "serve Prometheus /metrics on this loopback address (default off)")
	anomalyWindow := fs.Duration("anomaly-window", time.Minute, "time unit of the rate and auth-failure anomaly rules")
	rateFactor := fs.Float64("anomaly-rate-factor", 10, "a key above this multiple of its baseline rate is a spike")
	rateMinimum := fs.Int("anomaly-rate-minimum", 100, "…and at least this many requests in one window")
	prefixFailures := fs.Int("anomaly-prefix-failures", 5, "401s with a real key's prefix in one window that raise an event")
	checkpointKeyFile := registerCheckpointKey(fs, getenv)
	checkpointInterval := fs.Duration("checkpoint-interval", durationEnv(getenv, "NOVAMED_CHECKPOINT_INTERVAL", time.Hour), "how often the audit chain head is signed (also at start and at shutdown)")
	checkpointWebhook := fs.String("checkpoint-webhook", getenv("NOVAMED_CHECKPOINT_WEBHOOK"), "https URL that each signed audit checkpoint is POSTed to (optional)")
	auditDurability := fs.String("audit-durability", string(sqlstore.DurabilityIncremental), "incremental: a read's audit record is handed to the OS before the answer and on stable storage within --audit-flush-window; strict: fsynced before the answer (writes are always fsynced before theirs)")
	auditFlushWindow := fs.Duration("audit-flush-window", sqlstore.DefaultAuditFlushWindow, "incremental durability: the longest a read's audit record waits for stable storage")
	var consoleCfg consoleFlags
	consoleCfg.register(fs, getenv)
	var archiveFlags auditArchiveFlags
	archiveFlags.register(fs, getenv)
	archiveInterval := fs.Duration("audit-archive-interval", time.Minute, "how often the background audit pass checks for a segment to seal, archive, prune or expire")
	sc.migrate = &autoBool{value: "auto"}
	fs.Var(sc.migrate, "migrate", "apply pending schema migrations at start (default: on for SQLite, off for PostgreSQL, where replicas roll; then run `novamed migrate`)")
	if _, err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := applyServeEnv(fs, getenv, set); err != nil {
		return nil, err
	}

	env, err := c.environment()
	if err != nil {
		return nil, err
	}
	sandboxOn := env == novamed.Development
	switch *sandboxMode {
	case "":
	case "on":
		if env == novamed.Production {
			return nil, errors.New("--sandbox on: the sandbox never runs in production")
		}
		sandboxOn = true
	case "off":
		sandboxOn = false
	default:
		return nil, fmt.Errorf("--sandbox must be on or off, not %q", *sandboxMode)
	}
	schedule, err := webhook.ParseSchedule(*retrySchedule)
	if err != nil {
		return nil, err
	}
	if *webhookLease <= 5*time.Second {
		return nil, errors.New("--webhook-lease must be longer than the 5 s delivery timeout")
	}
	if *sandboxStep <= 0 {
		return nil, errors.New("--sandbox-step must be positive")
	}
	if err := checkPublicURL(*publicURL); err != nil {
		return nil, err
	}
	if err := consoleCfg.check(); err != nil {
		return nil, err
	}
	useTLS := *certFile != "" || *keyFile != ""
	if err := checkTransport(env, *addr, useTLS, *behindProxy); err != nil {
		return nil, err
	}
	if *behindProxy && len(proxies) == 0 {
		// Not refused (a proxy on the same host may be the only client),
		// but said at every start: every client then shares the proxy's
		// address, so one caller's failed authentications slow them all
		// and the audit trail cannot tell clients apart.
		sc.warnings = append(sc.warnings, "--behind-tls-proxy without --trusted-proxy: X-Forwarded-For is not believed, so every client shares the proxy's address (one failed-authentication budget, one client address in the audit trail); name the proxy with --trusted-proxy CIDR")
	}
	if *checkpointInterval < time.Second {
		return sc, errors.New("--checkpoint-interval must be at least 1s")
	}
	if err := checkCheckpointWebhook(env, *checkpointWebhook); err != nil {
		return sc, err
	}
	if env == novamed.Production && *checkpointKeyFile == "" {
		// A missing master key is the first thing to say. (In production
		// keySource only looks: it never creates a key.)
		if _, _, err := c.keySource(getenv, env); err != nil {
			return sc, err
		}
	}
	if err := checkMetricsAddr(*metricsAddr); err != nil {
		return sc, err
	}
	if c.auditDurability, err = sqlstore.ParseAuditDurability(*auditDurability); err != nil {
		return sc, fmt.Errorf("--audit-durability: %w", err)
	}
	if *auditFlushWindow < 2*time.Millisecond || *auditFlushWindow > 10*time.Second {
		return sc, errors.New("--audit-flush-window must be between 2ms and 10s")
	}
	c.auditFlushWindow = *auditFlushWindow
	if *archiveInterval < time.Second {
		return sc, errors.New("--audit-archive-interval must be at least 1s")
	}
	sc.env, sc.useTLS, sc.certFile, sc.keyFile = env, useTLS, *certFile, *keyFile
	sc.metricsAddr, sc.readHeaderTimeout, sc.idleTimeout, sc.shutdownTimeout = *metricsAddr, *readHeaderTimeout, *idleTimeout, *shutdownTimeout
	sc.checkpointKeyFile = *checkpointKeyFile
	sc.server = server.Config{
		Env: env, Addr: *addr, UseTLS: useTLS, BehindProxy: *behindProxy, TrustedProxies: proxies, PublicURL: *publicURL,
		KeyCacheTTL: *keyTTL, RequestTimeout: *requestTimeout, Version: currentBuild(),
		Sandbox: sandboxOn, SandboxStep: *sandboxStep,
		WebhookSchedule: schedule, WebhookPoll: *webhookPoll, WebhookLease: *webhookLease,
		Anomaly:    usage.Rules{Window: *anomalyWindow, RateFactor: *rateFactor, RateMinimum: *rateMinimum, PrefixFailures: *prefixFailures},
		Console:    server.ConsoleConfig{IdleTimeout: consoleCfg.idle, SessionLimit: consoleCfg.absolute, ReauthWindow: consoleCfg.reauth},
		Checkpoint: server.CheckpointConfig{File: server.CheckpointFile(c.dataDir), Webhook: *checkpointWebhook, Interval: *checkpointInterval},
		Archive:    server.ArchiveConfig{Flags: archiveFlags.flags(), DataDir: c.dataDir, Interval: *archiveInterval},
		SeedDemo:   true, RedisPrefix: c.redisPrefix,
	}
	return sc, nil
}

// serveGCPercent is serve's garbage collection target unless GOGC is set:
// the heap may grow to three times what is live before a collection.
const serveGCPercent = 200

// serveMemoryLimit is the server's soft memory limit unless GOMEMLIMIT is
// set (serveMemoryDefault): the collector runs sooner than serveGCPercent
// asks once the Go runtime holds this much. A request's live heap is a few
// megabytes, far below it; the audit archive pass adds up to ~70 MB live
// at its peak (a 64 MB segment; the pass's kept zstd encoder and decoder
// and its columns), which GOGC=200 alone let grow to a heap of over
// 150 MB. Below ~80 MiB the collector would run without pause through
// the pass (docs/performance.md, sixth round).
const serveMemoryLimit = 80 << 20

// serveMemoryDefault sets serveMemoryLimit for the process of
// `novamed serve` unless GOMEMLIMIT is set. It is called by main, not by
// serve: a limit is the whole process's, and tests run servers inside
// their own process. The limit is soft: above a live heap this large the
// collector runs at most half the CPU (Go's limiter), not without end; a
// deployment with a larger live heap (a key cache of 100,000 keys) sets
// GOMEMLIMIT.
func serveMemoryDefault(args []string, getenv func(string) string) {
	if len(args) > 0 && args[0] == "serve" && getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
}

// serve runs the server until ctx ends: configuration (parseServeConfig),
// then the listener, the store and the wiring (server.New), then
// http.Server until a graceful shutdown.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sc, err := parseServeConfig(args, getenv)
	if sc == nil {
		return err
	}
	// Request lines are written in batches every 100 ms (one write system
	// call per batch instead of per line); warnings and errors at once.
	logOut := logbuf.New(stderr, 100*time.Millisecond, 64<<10)
	defer logOut.Close()
	log := slog.New(logbuf.NewHandler(slog.NewJSONHandler(logOut, nil), logOut))
	for _, w := range sc.warnings {
		log.Warn(w)
	}
	if err != nil {
		return err
	}
	c, env, cfg := &sc.c, sc.env, sc.server
	cfg.Now = serveClock(ctx) // nil (time.Now) but in tests
	if getenv("GOGC") == "" {
		// A request allocates tens of kilobytes (a list of 25 patients
		// ~120 KB) over a live heap of a few megabytes, so at Go's default
		// (GOGC=100) the collector ran tens of times a second: in-process,
		// GOGC=400 took a read from ~134 to ~98 µs of CPU, but the server's
		// RSS reached 100 MB; 200 keeps most of the gain
		// (docs/performance.md, fifth round). GOGC in the environment
		// still decides.
		debug.SetGCPercent(serveGCPercent)
	}
	// Flags are checked and the address bound before anything is created
	// or seeded: a failed first start must not consume the one-time demo key.
	var tlsConf *tls.Config
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if sc.useTLS {
		cert, err := tls.LoadX509KeyPair(sc.certFile, sc.keyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsConf = tlsConfig(cert)
		ln = tls.NewListener(ln, tlsConf)
		scheme = "https"
	}
	defer ln.Close()
	c.warn = func(msg string) { log.Warn(msg) }
	if err := c.secureDataDir(); err != nil {
		return err
	}
	if cfg.Checkpoint.Key, err = c.checkpointKey(env, sc.checkpointKeyFile, true); err != nil {
		return err
	}
	c.autoMigrate = sc.migrate.on(c.db == "" || strings.HasPrefix(c.db, "sqlite:"))
	metrics := usage.NewMetrics()
	metrics.SetBuildInfo(buildVersion())
	c.onCommit = metrics.Commit
	c.onChainError = func(err error) { log.Error("audit chaining failed; retrying", "err", err) }
	c.onAuditFlush = func(err error) {
		if err != nil {
			log.Error("audit flush to stable storage failed: reads and /readyz answer 503 until a flush succeeds", "err", err)
			return
		}
		log.Warn("audit flush to stable storage succeeded again: reads are answered")
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	rdb, err := c.redisClient()
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}
	if c.keyPath != "" {
		cfg.KeyringFile = c.keyPath
		cfg.LoadKeyring = func() (*phi.Keyring, error) { return loadKeyring(getenv, c.keyPath) }
	}
	// Registered after store.Close, so it runs before it: the closing
	// checkpoint signs the head after the audit writer has flushed.
	srvParts, err := server.New(ctx, cfg, server.Deps{Store: store, Log: log, AccessLog: logOut, Metrics: metrics, Redis: rdb,
		Resolver: webhookResolver(ctx), Stdout: stdout})
	if err != nil {
		return err
	}
	defer srvParts.Close()
	announceServed(ctx, srvParts)
	srv := &http.Server{
		Handler:           srvParts.Handler,
		ReadHeaderTimeout: sc.readHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       sc.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConf,
	}
	if sc.metricsAddr != "" {
		stopMetrics, err := serveMetrics(ctx, sc.metricsAddr, metrics, store, log, stdout)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	log.Info("listening", "addr", ln.Addr().String(), "env", string(env), "tls", sc.useTLS)
	fmt.Fprintf(stdout, "novamed: listening on %s://%s (%s)\n", scheme, ln.Addr(), env)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// In-flight requests get --shutdown-timeout (15 s) to finish; then the
	// deferred stops run: srvParts.Close stops the webhook worker (an
	// attempt in flight is abandoned without using up a retry and re-sent
	// after its lease) and the store commits what is queued.
	// docs/operations.md states the total (about 20 s).
	shutdownCtx, cancel := context.WithTimeout(context.Background(), sc.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// autoBool is a boolean flag whose default depends on the configuration
// ("auto" until set).
type autoBool struct{ value string }

func (a *autoBool) String() string   { return a.value }
func (a *autoBool) IsBoolFlag() bool { return true }
func (a *autoBool) Set(v string) error {
	switch v {
	case "true", "1", "false", "0", "auto":
		a.value = v
		return nil
	}
	return fmt.Errorf("want true, false or auto, not %q", v)
}

// on is the flag's value, def when it was left at auto.
func (a *autoBool) on(def bool) bool {
	if a.value == "auto" {
		return def
	}
	return a.value == "true" || a.value == "1"
}

// tlsConfig allows TLS 1.2 and 1.3 only, with forward-secret AEAD suites.
func tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
}

// checkTransport refuses plain HTTP in production unless the address is
// loopback or the operator says a TLS proxy sits in front.
func checkTransport(env novamed.Environment, addr string, useTLS, behindProxy bool) error {
	if env != novamed.Production || useTLS || behindProxy {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return nil
	}
	return fmt.Errorf("production refuses plain HTTP on %s: PHI must travel over TLS 1.2+; give --tls-cert and --tls-key, or --behind-tls-proxy when a TLS-terminating proxy is in front", addr)
}

// checkMetricsAddr keeps /metrics off public interfaces: it must listen on
// loopback (put a scraper next to it or tunnel).
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %q: %w", addr, err)
	}
	if a, err := netip.ParseAddr(host); (err == nil && a.IsLoopback()) || host == "localhost" {
		return nil
	}
	return fmt.Errorf("--metrics-addr must be a loopback address (metrics describe traffic), not %q", addr)
}

// serveMetrics serves /metrics and keeps the webhook queue gauge current.
func serveMetrics(ctx context.Context, addr string, m *usage.Metrics, store *sqlstore.Store, log *slog.Logger, stdout io.Writer) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	// Profiles for operators investigating performance, on the same
	// loopback-only listener.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stopServing := server.Owned(ctx, func(context.Context) { srv.Serve(ln) }) //nolint:errcheck // ends with Close
	fmt.Fprintf(stdout, "novamed: metrics on http://%s/metrics\n", ln.Addr())
	stopGauge := server.Owned(ctx, func(ctx context.Context) {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			if n, err := store.PendingDeliveries(ctx); err == nil {
				m.QueueDepth(n)
			} else if ctx.Err() == nil {
				log.Warn("counting pending deliveries failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() {
		stopGauge()
		srv.Close()
		stopServing()
	}, nil
}

// durationEnv reads a duration from the environment, or def.
func durationEnv(getenv func(string) string, name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(name)); err == nil {
		return d
	}
	return def
}

// checkCheckpointWebhook accepts an absolute http(s) URL; production wants
// https.
func checkCheckpointWebhook(env novamed.Environment, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("--checkpoint-webhook must be an absolute http(s) URL")
	}
	if env == novamed.Production && u.Scheme != "https" {
		return errors.New("--checkpoint-webhook must be https in production")
	}
	return nil
}
