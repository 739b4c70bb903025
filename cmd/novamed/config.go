package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// common are the flags every command shares, with NOVAMED_* fallbacks.
type common struct {
	dataDir       string
	db            string
	env           string
	masterKeyFile string
	json          bool
	redis         string
	redisPrefix   string
	server        string // --server: client mode through the admin API
	credentials   string // --credentials: the file holding client mode's operator token
	serving       bool   // set by serve: production then refuses the data folder's key
	initializing  bool   // set by init: may create the database, and in development the key
	migrating     bool   // set by migrate: may create or update the schema of an existing database
	autoMigrate   bool   // serve --migrate: apply pending migrations at start
	keyPath       string // where the keyring was read from ("" for the environment)
	onCommit      func(int, time.Duration)
	onChainError  func(error) // PostgreSQL: a failed background audit chaining pass
	// serve: when reads' audit records reach stable storage (sqlstore.Options)
	auditDurability  sqlstore.AuditDurability
	auditFlushWindow time.Duration
	onAuditFlush     func(error)
	warn             func(string) // start-up warnings (serve: the log); nil: stderr
}

func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.dataDir, "data-dir", envOr(getenv, "NOVAMED_DATA_DIR", "./novamed-data"), "data folder (SQLite database, development master key)")
	fs.StringVar(&c.db, "db", getenv("NOVAMED_DB"), "database: sqlite:PATH (default: DATA_DIR/novamed.db)")
	fs.StringVar(&c.env, "env", envOr(getenv, "NOVAMED_ENV", "development"), "environment: development or production")
	fs.StringVar(&c.masterKeyFile, "master-key-file", getenv("NOVAMED_MASTER_KEY_FILE"), "file holding the base64 PHI master key")
	fs.BoolVar(&c.json, "json", false, "print one JSON object")
	fs.StringVar(&c.redis, "redis", getenv("NOVAMED_REDIS"), "redis://… shared by replicas: rate limits and key revocation fan-out")
	fs.StringVar(&c.server, "server", getenv("NOVAMED_SERVER"), "run through this server's admin API (token: NOVAMED_OPERATOR_TOKEN or --credentials) instead of the database")
	fs.StringVar(&c.credentials, "credentials", getenv("NOVAMED_CREDENTIALS"), "with --server: a 0600 file holding the operator token (default $XDG_CONFIG_HOME/novamed/credentials)")
	fs.StringVar(&c.redisPrefix, "redis-prefix", envOr(getenv, "NOVAMED_REDIS_PREFIX", "novamed:"), "prefix of every Redis key and channel")
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// parseFlags parses flags that may stand before or after positional
// arguments (novamed keys revoke KEY_ID --data-dir D).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return nil, &helpRequest{fs: fs}
		} else if err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *common) environment() (novamed.Environment, error) {
	e := novamed.Environment(c.env)
	if !e.Valid() {
		return "", fmt.Errorf("--env must be development or production, not %q", c.env)
	}
	return e, nil
}

// keySource says where the PHI keyring comes from: NOVAMED_MASTER_KEY,
// else the key file, else (development only) DATA_DIR/master.key. Only
// serve in development creates that file, when it does not exist
// (generated reports it): the store then accepts the new key only on a
// database without key-check values and sealed data (openStore). path is
// "" when the keys come from the environment.
func (c *common) keySource(getenv func(string) string, env novamed.Environment) (path string, generated bool, err error) {
	switch {
	case getenv("NOVAMED_MASTER_KEY") != "":
		return "", false, nil
	case c.masterKeyFile != "":
		return c.masterKeyFile, false, nil
	case env == novamed.Production && (c.serving || c.initializing):
		return "", false, errors.New("production needs a PHI master key: set NOVAMED_MASTER_KEY (base64 of 32 bytes) or --master-key-file; refusing to start without encryption at rest")
	}
	// Operator commands may use the development key of the data folder;
	// only serve and init in production insist on an explicit key, and
	// only they, in development, create one.
	path = filepath.Join(c.dataDir, "master.key")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if env == novamed.Production {
			return "", false, errors.New("production needs a PHI master key: set NOVAMED_MASTER_KEY (base64 of 32 bytes) or --master-key-file")
		}
		if !c.serving && !c.initializing {
			return "", false, fmt.Errorf("no PHI master key: %s does not exist and only `novamed serve` creates a development key; give the database's key with --master-key-file or NOVAMED_MASTER_KEY, or point --data-dir at the server's data folder", path)
		}
		key, err := phi.GenerateKey()
		if err != nil {
			return "", false, err
		}
		if err := phi.WriteKeyFile(path, key); err != nil {
			return "", false, fmt.Errorf("development master key: %w", err)
		}
		return path, true, nil
	}
	return path, false, nil
}

// loadKeyring reads the keyring from its source.
func loadKeyring(getenv func(string) string, path string) (*phi.Keyring, error) {
	var keys map[uint32][]byte
	var err error
	if path == "" {
		keys, err = phi.ParseKeyringText(getenv("NOVAMED_MASTER_KEY"))
		if err != nil {
			return nil, fmt.Errorf("NOVAMED_MASTER_KEY: %w", err)
		}
	} else if keys, err = phi.LoadKeyringFile(path); err != nil {
		return nil, err
	}
	return phi.NewKeyring(keys)
}

// openStore opens the configured database.
func (c *common) openStore(ctx context.Context, getenv func(string) string) (*sqlstore.Store, novamed.Environment, error) {
	if c.server != "" && !c.serving {
		return nil, "", errServerUnsupported
	}
	env, err := c.environment()
	if err != nil {
		return nil, "", err
	}
	dsn := c.db
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(c.dataDir, "novamed.db")
	}
	if !strings.HasPrefix(dsn, "sqlite:") && !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, "", fmt.Errorf("--db must be sqlite:PATH or postgres://…")
	}
	creates := c.serving || c.initializing
	if file, ok := strings.CutPrefix(dsn, "sqlite:"); ok && !creates {
		// Only serve and init create a database: a mistyped --data-dir
		// or --db fails here, before anything is created.
		if st, err := os.Stat(file); err != nil || st.Size() == 0 {
			return nil, "", fmt.Errorf("no NovaMed database at %s (run `novamed init` or `novamed serve` to create one, or check --data-dir/--db)", file)
		}
	}
	if _, err := os.Stat(c.dataDir); creates || err == nil {
		if err := c.secureDataDir(); err != nil {
			return nil, "", err
		}
	}
	path, generated, err := c.keySource(getenv, env)
	if err != nil {
		return nil, "", err
	}
	c.keyPath = path
	ring, err := loadKeyring(getenv, c.keyPath)
	if err != nil {
		return nil, "", err
	}
	opts := sqlstore.Options{Keyring: ring, OnCommit: c.onCommit, OnAuditChainError: c.onChainError, Schema: sqlstore.SchemaExact,
		AuditDurability: c.auditDurability, AuditFlushWindow: c.auditFlushWindow, OnAuditFlush: c.onAuditFlush}
	if !c.serving {
		// Commands append few records and exit: every one fsynced.
		opts.AuditDurability = sqlstore.DurabilityStrict
	}
	switch {
	case c.migrating || c.initializing || (c.serving && c.autoMigrate):
		opts.Schema = sqlstore.SchemaMigrate
	case c.serving:
		opts.Schema = sqlstore.SchemaCreate
	}
	if c.keyPath != "" {
		opts.ReloadKeyring = func() (*phi.Keyring, error) { return loadKeyring(getenv, c.keyPath) }
	}
	var s *sqlstore.Store
	if file, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		s, err = c.openSQLite(ctx, file, opts)
	} else {
		s, err = sqlstore.OpenPostgres(ctx, dsn, opts)
	}
	var mismatch *sqlstore.KeyringError
	if generated && err != nil {
		// The key made a moment ago protects nothing yet; leave no stray
		// key behind for the next start to pick up.
		os.Remove(c.keyPath)
		if errors.As(err, &mismatch) {
			err = fmt.Errorf("%w\nthis server generated a new development master key because %s did not exist, but the database already holds key-check values or sealed data of another key (another replica's, or a deleted key file); the new key was removed: give this server the database's key (copy the other server's master.key, or set --master-key-file / NOVAMED_MASTER_KEY)", err, c.keyPath)
		}
	}
	if errors.Is(err, sqlstore.ErrNoDatabase) {
		err = fmt.Errorf("no NovaMed database at %s (run `novamed init` or `novamed serve` to create one, or check --db)", redactDSN(dsn))
	}
	if err != nil {
		return nil, "", err
	}
	if err := c.checkEnvironment(ctx, s, env); err != nil {
		s.Close()
		return nil, "", err
	}
	if !c.serving && !c.initializing && !c.migrating {
		announceDirect(ctx, getenv)
	}
	return s, env, nil
}

// checkEnvironment holds a deployment to one environment (contract §8):
// serve and init record it in a database that has none, and every process
// whose --env differs refuses.
func (c *common) checkEnvironment(ctx context.Context, s *sqlstore.Store, env novamed.Environment) error {
	if s.Ready(ctx) != nil {
		return nil // an older schema without the record; checked once migrated
	}
	recorded, err := s.Environment(ctx)
	if err != nil {
		return err
	}
	if recorded == "" && (c.serving || c.initializing) {
		if recorded, err = s.RecordEnvironment(ctx, string(env)); err != nil {
			return err
		}
	}
	if recorded != "" && recorded != string(env) {
		return fmt.Errorf("this database belongs to a %s deployment and --env is %s: each deployment is one environment; refusing (check --env/NOVAMED_ENV, --data-dir and --db)", recorded, env)
	}
	return nil
}

// redactDSN drops the password of a database URL.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "sqlite" {
		return strings.TrimPrefix(dsn, "sqlite:")
	}
	return u.Redacted()
}

// openSQLite opens the SQLite database at file with private files: the
// database is created 0600 before SQLite opens it (SQLite gives its -wal
// and -shm files the database's mode), and all three are set to 0600 once
// open, whatever the umask.
func (c *common) openSQLite(ctx context.Context, file string, opts sqlstore.Options) (*sqlstore.Store, error) {
	for _, f := range sqliteFiles(file) {
		if err := securePath(f, 0o600, c.warnf, os.Chmod); err != nil {
			return nil, err
		}
	}
	if err := createPrivate(file); err != nil {
		return nil, err
	}
	s, err := sqlstore.OpenSQLite(ctx, file, opts)
	if err != nil {
		return nil, err
	}
	for _, f := range sqliteFiles(file) {
		if err := os.Chmod(f, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.Close()
			return nil, fmt.Errorf("database file %s: could not make it private (%v); refusing to start", f, err)
		}
	}
	return s, nil
}

// secureDataDir creates the data folder private, or tightens it (see
// secureDataDir in datadir.go).
func (c *common) secureDataDir() error {
	return secureDataDir(c.dataDir, c.warnf, os.Chmod)
}

// warnf reports a start-up warning: to the log for serve, to stderr for
// operator commands.
func (c *common) warnf(msg string) {
	if c.warn != nil {
		c.warn(msg)
		return
	}
	fmt.Fprintln(os.Stderr, "novamed: warning: "+msg)
}

// emit prints v as one JSON object, or text for people.
func emit(w io.Writer, asJSON bool, v any, text string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(v)
	}
	_, err := fmt.Fprint(w, text)
	return err
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// redisClient connects to --redis, or returns nil when none is configured.
func (c *common) redisClient() (*redis.Client, error) {
	if c.redis == "" {
		return nil, nil
	}
	opt, err := redis.ParseURL(c.redis)
	if err != nil {
		// The parse error quotes the URL, which may hold a password.
		return nil, errors.New("--redis is not a valid redis:// URL")
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
	opt.MaxRetries = 1
	return redis.NewClient(opt), nil
}

// keysChannel is where revocations, rolls and limit changes are announced.
func (c *common) keysChannel() string { return c.redisPrefix + "keys" }

// announceKeyChange tells running replicas to drop cached keys. It is a
// speed-up: without it (or without Redis) the 1 s key cache expiry still
// bounds the delay, so a failure here is reported but not fatal.
func (c *common) announceKeyChange(ctx context.Context, stderr io.Writer) {
	client, err := c.redisClient()
	if err != nil || client == nil {
		return
	}
	defer client.Close()
	if err := client.Publish(ctx, c.keysChannel(), "purge").Err(); err != nil {
		fmt.Fprintf(stderr, "novamed: warning: could not announce the key change through Redis (%v); servers notice it within their key cache expiry\n", err)
	}
}
