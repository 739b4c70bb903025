package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// postgresDialect is PostgreSQL's SQL: $n placeholders, row locks, READ
// COMMITTED write transactions.
type postgresDialect struct{}

// rebind rewrites ? placeholders as $1, $2, …; the package's SQL holds no
// ? other than placeholders (no ? operators, no ? in literals).
func (postgresDialect) rebind(query string) string {
	n := strings.Count(query, "?")
	if n == 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 2*n)
	n = 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (postgresDialect) forUpdate() string           { return " FOR UPDATE" }
func (postgresDialect) forUpdateSkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// lockTable lets readers on: EXCLUSIVE conflicts only with writers.
func (postgresDialect) lockTable(table string) string {
	return `LOCK TABLE ` + table + ` IN EXCLUSIVE MODE`
}

// txOptions: READ COMMITTED whatever the server's default, since the row
// locks of the write transactions are designed for it (a stricter level
// would fail locked reads with serialisation errors instead of waiting).
func (postgresDialect) txOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

// isUnique reads the SQLSTATE: 23505 is unique_violation.
func (postgresDialect) isUnique(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505"
}

func (postgresDialect) hasSchemaSQL() string {
	return `SELECT to_regclass('goose_db_version') IS NOT NULL`
}

// goose: replicas starting together take turns (a session advisory lock,
// polled every second for up to five minutes: another replica may be
// migrating).
func (postgresDialect) goose() (goose.Dialect, []goose.ProviderOption, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return "", nil, err
	}
	return goose.DialectPostgres, []goose.ProviderOption{goose.WithSessionLocker(locker)}, nil
}

// postgresMaxConns bounds one Store's PostgreSQL connection pool.
const postgresMaxConns = 20

// OpenPostgres connects to the PostgreSQL database named by dsn (a URL or
// keyword/value connection string, as pgx parses it) and applies the
// embedded migrations. Replicas may open the same database at once: the
// migrations run under a session advisory lock and the carrier catalogue is
// seeded under a table lock.
//
// One pool serves reads and writes. Write transactions run at READ
// COMMITTED and take row locks (SELECT … FOR UPDATE) where they read before
// they write, so concurrent writers on other connections or other replicas
// serialise on the rows they share.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Keyring == nil {
		return nil, errors.New("sqlstore: a PHI keyring is required")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	boundWaits(cfg)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: connect to postgres: %w", err)
	}
	s := newStore(Postgres, db, db, opts)
	if s, err = s.finishOpen(ctx, opts); err != nil {
		return nil, err
	}
	s.chainer = startChainer(s, chainInterval, opts.OnAuditChainError)
	if err := s.startFlusher(opts, s.syncPostgres); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Bounded waits (issue 21): a stalled or unreachable PostgreSQL answers
// within these, so a request becomes a 503 STORAGE_UNAVAILABLE instead of
// holding its connection. A DSN that sets one of them (e.g.
// ?statement_timeout=0 for a long manual migration) wins.
var postgresTimeouts = map[string]string{
	"statement_timeout":                   "15s",
	"lock_timeout":                        "5s",
	"idle_in_transaction_session_timeout": "60s",
}

// postgresConnectTimeout bounds opening a connection when the DSN does not
// (connect_timeout): a server that does not answer at all.
const postgresConnectTimeout = 5 * time.Second

// boundWaits adds the default timeouts to cfg where the DSN left them
// unset, and READ COMMITTED as the session's isolation.
func boundWaits(cfg *pgx.ConnConfig) {
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	for k, v := range postgresTimeouts {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	// A statement committed on its own (the one-statement patient create)
	// runs at the session's default isolation; the write transactions set
	// READ COMMITTED explicitly (txOptions), and so must the session, or a
	// server configured serializable would fail those statements with
	// serialisation errors under concurrency.
	cfg.RuntimeParams["default_transaction_isolation"] = "read committed"
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
}

// chainInterval is how often a replica chains pending audit batches even
// when none of its own writes nudged it.
const chainInterval = 200 * time.Millisecond
