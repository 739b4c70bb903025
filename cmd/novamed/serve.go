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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/logbuf"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/ratelimit"
	"github.com/novamed/partner-api/internal/sandbox"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/usage"
	"github.com/novamed/partner-api/internal/webhook"
)

// demoClinicID is the clinic id of the authentication guide's examples, so
// they work unchanged against a fresh development server.
const demoClinicID = "550e8400-e29b-41d4-a716-446655440000"

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

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c := common{serving: true}
	c.register(fs, getenv)
	addr := fs.String("addr", envOr(getenv, "NOVAMED_ADDR", "127.0.0.1:8080"), "listen address")
	certFile := fs.String("tls-cert", getenv("NOVAMED_TLS_CERT"), "TLS certificate (PEM); with --tls-key serves HTTPS")
	keyFile := fs.String("tls-key", getenv("NOVAMED_TLS_KEY"), "TLS private key (PEM)")
	behindProxy := fs.Bool("behind-tls-proxy", getenv("NOVAMED_BEHIND_TLS_PROXY") == "true", "plain HTTP behind a TLS-terminating proxy")
	var proxies prefixList
	if v := getenv("NOVAMED_TRUSTED_PROXIES"); v != "" {
		if err := proxies.Set(v); err != nil {
			return fmt.Errorf("NOVAMED_TRUSTED_PROXIES: %w", err)
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
	migrateFlag := &autoBool{value: "auto"}
	fs.Var(migrateFlag, "migrate", "apply pending schema migrations at start (default: on for SQLite, off for PostgreSQL, where replicas roll; then run `novamed migrate`)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := applyServeEnv(fs, getenv, set); err != nil {
		return err
	}
	// Request lines are written in batches every 100 ms (one write system
	// call per batch instead of per line); warnings and errors at once.
	logOut := logbuf.New(stderr, 100*time.Millisecond, 64<<10)
	defer logOut.Close()
	log := slog.New(logbuf.NewHandler(slog.NewJSONHandler(logOut, nil), logOut))

	env, err := c.environment()
	if err != nil {
		return err
	}
	sandboxOn := env == novamed.Development
	switch *sandboxMode {
	case "":
	case "on":
		if env == novamed.Production {
			return errors.New("--sandbox on: the sandbox never runs in production")
		}
		sandboxOn = true
	case "off":
		sandboxOn = false
	default:
		return fmt.Errorf("--sandbox must be on or off, not %q", *sandboxMode)
	}
	schedule, err := webhook.ParseSchedule(*retrySchedule)
	if err != nil {
		return err
	}
	if *webhookLease <= 5*time.Second {
		return errors.New("--webhook-lease must be longer than the 5 s delivery timeout")
	}
	if *sandboxStep <= 0 {
		return errors.New("--sandbox-step must be positive")
	}
	if err := checkPublicURL(*publicURL); err != nil {
		return err
	}
	if err := consoleCfg.check(); err != nil {
		return err
	}
	useTLS := *certFile != "" || *keyFile != ""
	if err := checkTransport(env, *addr, useTLS, *behindProxy); err != nil {
		return err
	}
	if *behindProxy && len(proxies) == 0 {
		// Not refused (a proxy on the same host may be the only client),
		// but said at every start: every client then shares the proxy's
		// address, so one caller's failed authentications slow them all
		// and the audit trail cannot tell clients apart.
		log.Warn("--behind-tls-proxy without --trusted-proxy: X-Forwarded-For is not believed, so every client shares the proxy's address (one failed-authentication budget, one client address in the audit trail); name the proxy with --trusted-proxy CIDR")
	}
	if *checkpointInterval < time.Second {
		return errors.New("--checkpoint-interval must be at least 1s")
	}
	if err := checkCheckpointWebhook(env, *checkpointWebhook); err != nil {
		return err
	}
	if env == novamed.Production && *checkpointKeyFile == "" {
		// A missing master key is the first thing to say.
		if _, _, err := c.keySource(getenv, env); err != nil {
			return err
		}
	}
	// Flags are checked and the address bound before anything is created
	// or seeded: a failed first start must not consume the one-time demo key.
	if err := checkMetricsAddr(*metricsAddr); err != nil {
		return err
	}
	var tlsConf *tls.Config
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if useTLS {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
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
	cpKey, err := c.checkpointKey(env, *checkpointKeyFile, true)
	if err != nil {
		return err
	}
	c.autoMigrate = migrateFlag.on(c.db == "" || strings.HasPrefix(c.db, "sqlite:"))
	metrics := usage.NewMetrics()
	metrics.SetBuildInfo(buildVersion())
	c.onCommit = metrics.Commit
	c.onChainError = func(err error) { log.Error("audit chaining failed; retrying", "err", err) }
	if c.auditDurability, err = sqlstore.ParseAuditDurability(*auditDurability); err != nil {
		return fmt.Errorf("--audit-durability: %w", err)
	}
	if *auditFlushWindow < 2*time.Millisecond || *auditFlushWindow > 10*time.Second {
		return errors.New("--audit-flush-window must be between 2ms and 10s")
	}
	c.auditFlushWindow = *auditFlushWindow
	c.onAuditFlush = func(err error) {
		if err != nil {
			log.Error("audit flush to stable storage failed: reads and /readyz answer 503 until a flush succeeds", "err", err)
			return
		}
		log.Warn("audit flush to stable storage succeeded again: reads are answered")
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	// Registered after store.Close, so it runs before it: the closing
	// checkpoint signs the head after the audit writer has flushed.
	cp := &checkpointer{
		store: store, key: cpKey, file: filepath.Join(c.dataDir, checkpointFileName), webhook: *checkpointWebhook, log: log, interval: *checkpointInterval,
		client: &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	defer owned(ctx, cp.run)()
	if *archiveInterval < time.Second {
		return errors.New("--audit-archive-interval must be at least 1s")
	}
	stopArchive, archiver, err := startAuditArchive(ctx, &c, &archiveFlags, store, cpKey, log, *archiveInterval)
	if err != nil {
		return err
	}
	defer stopArchive()
	pending := store.Ready(ctx) != nil
	if pending {
		have, want, _ := store.SchemaStatus(ctx)
		log.Warn("migrations pending: not ready (503) until `novamed migrate` has run", "schema", have, "binary", want)
		fmt.Fprintf(stdout, "novamed: the database schema is at version %d and this binary needs %d: migrations pending; /readyz and the API answer 503 until `novamed migrate` has run\n", have, want)
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
	if env == novamed.Development && !pending {
		if err := seedDemo(ctx, store, stdout, *addr, useTLS); err != nil {
			return err
		}
	}

	if c.keyPath != "" {
		defer owned(ctx, func(ctx context.Context) { watchKeyring(ctx, c.keyPath, getenv, store, log) })()
	}
	aw := audit.NewWriter(store, log)
	defer aw.Close()
	recorder := usage.NewRecorder(store, log, metrics, time.Now, usage.Rules{Window: *anomalyWindow,
		RateFactor: *rateFactor, RateMinimum: *rateMinimum, PrefixFailures: *prefixFailures})
	defer recorder.Close()
	if sandboxOn {
		defer owned(ctx, func(ctx context.Context) { sandbox.Run(ctx, store, *sandboxStep, time.Now, log) })()
		log.Info("sandbox pharmacy on", "step", sandboxStep.String())
	}
	var limiter ratelimit.Limiter = ratelimit.NewMemory(nil)
	rdb, err := c.redisClient()
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
		limiter = &ratelimit.Fallback{Shared: ratelimit.NewRedis(rdb, c.redisPrefix+"rl:"), Local: ratelimit.NewMemory(nil), Log: log}
		readyChecks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	policy := webhook.URLPolicy{AllowInsecure: env == novamed.Development, Resolver: webhookResolver(ctx)}
	api := httpapi.New(httpapi.Config{
		Env: env, Store: store, Audit: aw, Limiter: limiter, Logger: log, ReadyChecks: readyChecks,
		KeyCacheTTL: *keyTTL, TrustedProxies: proxies, HSTS: useTLS || *behindProxy, WebhookPolicy: policy,
		Usage: recorder, Metrics: metrics, AccessLog: logOut, RequestTimeout: *requestTimeout, FingerprintKey: store.IdempotencyFingerprintKey(),
		Version: currentBuild(),
		Gate: func(ctx context.Context) error {
			if store.Ready(ctx) != nil {
				return errors.New("migrations pending")
			}
			return nil
		},
		PublicURL: *publicURL,
		Operators: operatorService(store, env), Admin: store,
		AnnounceKeyChange: func(ctx context.Context) { c.announceKeyChange(ctx, io.Discard) },
	})
	defer api.Close()
	defer owned(ctx, func(ctx context.Context) { api.WatchReadiness(ctx, 2*time.Second) })()
	worker := &webhook.Worker{
		Store: store, Client: webhook.NewClient(&webhook.Dialer{Policy: policy}), Schedule: schedule,
		ID: workerID(), Log: log, Now: time.Now, Poll: *webhookPoll, Lease: *webhookLease, Parallel: 8,
		OnAttempt: metrics.Delivery,
	}
	if rdb != nil {
		defer owned(ctx, func(ctx context.Context) { followKeyChanges(ctx, rdb, c.keysChannel(), api, log) })()
	}
	defer owned(ctx, worker.Run)()

	con, err := newConsole(consoleCfg, consoleDeps{env: env, store: store, audit: aw, log: log, metrics: metrics, api: api,
		checkpointKey: cpKey, archiver: archiver,
		addr: *addr, useTLS: useTLS, behindProxy: *behindProxy,
		keysChanged: func(ctx context.Context) {
			// This replica at once; the others through the key-change channel.
			api.PurgeKeyCache()
			if rdb != nil {
				if err := rdb.Publish(ctx, c.keysChannel(), "purge").Err(); err != nil {
					log.Warn("announcing a key change failed; other replicas catch up within the key cache TTL", "err", err)
				}
			}
		}})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           withConsole(api, con, *requestTimeout),
		ReadHeaderTimeout: *readHeaderTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       *idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConf,
	}
	if *metricsAddr != "" {
		stopMetrics, err := serveMetrics(ctx, *metricsAddr, metrics, store, log, stdout)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	log.Info("listening", "addr", ln.Addr().String(), "env", string(env), "tls", useTLS)
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
	// deferred stops run: the webhook worker stops (an attempt in flight is
	// abandoned without using up a retry and re-sent after its lease) and
	// the store commits what is queued. docs/operations.md states the total
	// (about 20 s).
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
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

// seedDemo creates the demo clinic, a development key and the development
// data (seedDevelopmentData) on an empty development database and prints
// them: the only time that key is shown.
func seedDemo(ctx context.Context, store novamed.Store, stdout io.Writer, addr string, useTLS bool) error {
	clinics, err := store.ListClinics(ctx)
	if err != nil {
		return err
	}
	if len(clinics) > 0 {
		return remindDemoKey(ctx, store, stdout)
	}
	clinic := &novamed.Clinic{ID: demoClinicID, Name: "Demo Clinic", PartnerID: novamed.DevPartnerID, CreatedAt: time.Now().UTC()}
	if err := store.EnsureDevPartner(ctx, clinic.CreatedAt); err != nil {
		return err
	}
	if err := store.CreateClinic(ctx, clinic); errors.Is(err, novamed.ErrConflict) {
		return nil // another replica seeded it a moment ago
	} else if err != nil {
		return err
	}
	k, raw, err := onboarding.NewKey(novamed.Development, "Development key", []string{clinic.ID}, nil, 0, clinic.CreatedAt)
	if err != nil {
		return err
	}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	if err := seedDevelopmentData(ctx, store, clinic.ID, clinic.CreatedAt); err != nil {
		return err
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	fmt.Fprintf(stdout, `
NovaMed Partner API — development environment, first start
  Demo clinic id:   %s
  Practitioner id:  %s (active test prescriber)
  Patient id:       %s (fictitious, Alabama)
  Formulary:        the built-in test formulary (novamed formulary list --clinic %s)
  Development key:  %s
  (the key is shown only now and stored only as a hash; issue more with: novamed keys create --clinic %s)

  export NOVAMED_API_KEY=%s
  curl %s://%s/api/external/practitioner -H "x-api-key: $NOVAMED_API_KEY" -H "Accept: application/json"
  curl "%s://%s/api/external/carriers/se-3818360/services?patientId=%s" -H "x-api-key: $NOVAMED_API_KEY"

`, clinic.ID, devPractitionerID, devPatientID, clinic.ID, raw, clinic.ID, raw, scheme, addr, scheme, addr, devPatientID)
	return nil
}

// remindDemoKey says, at each start while the demo key has never been
// used, that it was shown only once and how to issue a new one.
func remindDemoKey(ctx context.Context, store novamed.Store, stdout io.Writer) error {
	keys, err := store.ListAPIKeys(ctx, demoClinicID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Name == "Development key" && k.LastUsedAt == nil && k.RevokedAt == nil {
			fmt.Fprintf(stdout, "novamed: the development key %s… printed at the first start has never been used; it is not shown again. Lost it? Issue a new one: novamed keys create --clinic %s\n", k.Prefix, demoClinicID)
		}
	}
	return nil
}

// watchKeyring reloads the PHI keyring when its file changes, so that a
// rotation (novamed crypto rotate) reaches a running server within seconds.
func watchKeyring(ctx context.Context, path string, getenv func(string) string, store *sqlstore.Store, log *slog.Logger) {
	stamp := func() string {
		st, err := os.Stat(path)
		if err != nil {
			return ""
		}
		return fmt.Sprint(st.ModTime().UnixNano(), st.Size())
	}
	last := stamp()
	t := time.NewTicker(keyringPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := stamp(); now != last && now != "" {
			ring, err := loadKeyring(getenv, path)
			if err != nil {
				log.Error("reloading the PHI keyring failed; keeping the old one", "err", err)
				continue
			}
			if err := store.CheckKeyring(ctx, ring); err != nil {
				log.Error("the changed PHI keyring does not fit this database; keeping the old one", "err", err)
				continue
			}
			last = now
			store.SetKeyring(ring)
			log.Info("PHI keyring reloaded", "current_version", ring.CurrentVersion())
		}
	}
}

// workerID names this process as a delivery lease holder.
func workerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
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
	stopServing := owned(ctx, func(context.Context) { srv.Serve(ln) }) //nolint:errcheck // ends with Close
	fmt.Fprintf(stdout, "novamed: metrics on http://%s/metrics\n", ln.Addr())
	stopGauge := owned(ctx, func(ctx context.Context) {
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

// owned runs fn in a goroutine that its caller owns: the returned stop
// cancels fn's context and waits for fn to return. It is serve's one
// shutdown idiom: every background loop is started with it and stopped by
// a defer, so the loops stop in the reverse order of their start (the
// checkpointer, started before the audit writer, signs after it flushed)
// and none outlives serve.
func owned(ctx context.Context, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// followKeyChanges purges the key cache whenever an operator command
// announces a revocation, roll or limit change. While Redis is unreachable
// it keeps retrying; the 1 s key cache expiry bounds the delay meanwhile.
func followKeyChanges(ctx context.Context, rdb *redis.Client, channel string, api *httpapi.Server, log *slog.Logger) {
	for ctx.Err() == nil {
		sub := rdb.Subscribe(ctx, channel)
		if _, err := sub.Receive(ctx); err != nil {
			sub.Close()
			if ctx.Err() == nil {
				log.Warn("key change subscription failed; retrying", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		api.PurgeKeyCache() // changes may have been missed while disconnected
		ch := sub.Channel()
	listen:
		for {
			select {
			case <-ctx.Done():
				break listen
			case _, ok := <-ch:
				if !ok {
					break listen
				}
				api.PurgeKeyCache()
			}
		}
		sub.Close()
	}
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
