package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the SQL database behind a Store.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options configure a Store.
type Options struct {
	// Keyring seals and opens PHI columns; required.
	Keyring *phi.Keyring
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ReloadKeyring, when set, is asked for a fresh keyring when a value is
	// sealed under a version this store does not know yet (another process
	// has started a rotation).
	ReloadKeyring func() (*phi.Keyring, error)
	// OnCommit, when set, observes every write transaction: how many writes
	// it carried (SQLite group commits share one) and how long it took.
	OnCommit func(writes int, d time.Duration)
	// OnAuditChainError, when set, hears of a failed background chaining
	// pass (PostgreSQL; the pass is retried, nothing pending is lost).
	OnAuditChainError func(error)
	// Schema says what opening does with the schema (SchemaMigrate when
	// zero).
	Schema SchemaMode
	// AuditDurability is when the audit records of reads must be on stable
	// storage (DurabilityIncremental when empty; see
	// AppendAuditIncremental), AuditFlushWindow the incremental mode's
	// bound (DefaultAuditFlushWindow when zero).
	AuditDurability  AuditDurability
	AuditFlushWindow time.Duration
	// OnAuditFlush, when set, hears that a flush of incremental audit
	// records failed (err set) or succeeded again (nil).
	OnAuditFlush func(err error)
	// AuditFlushFault, when set, runs before every flush; an error it
	// returns fails the flush (fault injection for tests).
	AuditFlushFault func() error
}

// Store is a novamed.Store on database/sql.
type Store struct {
	dialect Dialect
	path    string  // SQLite: the database file
	write   *sql.DB // SQLite: one connection, so writers queue in Go, not on SQLITE_BUSY
	read    *sql.DB
	keys    atomic.Pointer[phi.Keyring]
	now     func() time.Time

	group        *groupCommitter // SQLite: concurrent writes share commits
	flusher      *flusher        // the incremental audit durability mode's flusher
	chainer      *chainer        // PostgreSQL: links pending audit batches into the chain
	stmts        sync.Map        // query → *sql.Stmt prepared on the write pool
	readStmts    sync.Map        // query → *sql.Stmt prepared on the read pool (SQLite)
	readStmtN    atomic.Int32
	onCommit     func(int, time.Duration)
	reload       func() (*phi.Keyring, error)
	reloadMu     sync.Mutex
	lastReloadAt time.Time
	keyring0     *phi.Keyring // the keyring opened with, checked once the schema is current
	opened       atomic.Bool  // the schema is current and opening finished
	openMu       sync.Mutex
}

var _ novamed.Store = (*Store)(nil)

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies the embedded migrations.
func OpenSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Keyring == nil {
		return nil, errors.New("sqlstore: a PHI keyring is required")
	}
	// busy_timeout first, so that every later pragma already waits for locks.
	// temp_store=MEMORY keeps the savepoint journals in memory: each group
	// commit job runs in a savepoint, and with a temporary file every page a
	// job first touched cost a write system call (a tenth of a create's CPU).
	// synchronous=FULL: an acknowledged write (and its audit record)
	// survives power loss, not only a process crash, and no reader sees a
	// commit before it is on disk (see groupCommitter).
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	// As many idle connections as open ones: with database/sql's default of
	// two, busy moments closed and reopened read connections (each reopen
	// runs the pragmas and parses the schema again).
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	s := &Store{dialect: SQLite, path: path, write: write, read: read, now: opts.Now, reload: opts.ReloadKeyring, onCommit: opts.OnCommit}
	writeAudit := func(tx *sql.Tx, recs []*novamed.AuditRecord) error {
		return s.writeAudit(context.Background(), tx, recs)
	}
	if s.group, err = newGroupCommitter(write, 128, opts.OnCommit, writeAudit); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if err := s.startFlusher(opts, s.syncWAL); err != nil {
		s.Close()
		return nil, err
	}
	return s.finishOpen(ctx, opts)
}

// finishOpen completes an opened Store: it installs the keyring and clock,
// applies the migrations and seeds the carrier catalogue of a fresh
// database. On failure it closes s.
func (s *Store) finishOpen(ctx context.Context, opts Options) (*Store, error) {
	s.keys.Store(opts.Keyring)
	if s.now == nil {
		s.now = time.Now
	}
	pending, err := s.checkSchema(ctx, opts.Schema)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.keyring0 = opts.Keyring
	if pending {
		// An older schema left for `novamed migrate`: Ready finishes
		// opening once it has run.
		return s, nil
	}
	if err := s.ready(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Ready reports whether the schema is this binary's (or a compatible newer
// one) and, the first time it is, finishes opening a Store that SchemaCreate
// opened on an older schema. It returns a *SchemaError while migrations are
// pending.
func (s *Store) Ready(ctx context.Context) error {
	if s.opened.Load() {
		return nil
	}
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.opened.Load() {
		return nil
	}
	have, want, err := s.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if have < want {
		return &SchemaError{Have: have, Want: want}
	}
	return s.ready(ctx)
}

// ready completes opening on a current schema: hot statements, the
// keyring check and the carrier catalogue.
func (s *Store) ready(ctx context.Context) error {
	if err := s.prepareHot(ctx); err != nil {
		return err
	}
	if err := s.CheckKeyring(ctx, s.keyring0); err != nil {
		return err
	}
	// A fresh database starts with the published carrier catalogue; one
	// still holding the earlier built-in catalogue gets the published one.
	if err := s.seedCarriers(ctx); err != nil {
		return err
	}
	s.opened.Store(true)
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Replicas starting together take turns (a session advisory lock).
		locker, err := postgresMigrationLocker()
		if err != nil {
			return fmt.Errorf("sqlstore: migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.write, sub, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlstore: apply migrations: %w", err)
	}
	return nil
}

// SetKeyring replaces the PHI keyring (a new master key version was added
// or an old one retired); rows already read are unaffected.
func (s *Store) SetKeyring(k *phi.Keyring) { s.keys.Store(k) }

// reloadKeyring fetches a newer keyring, at most every 100 ms, and returns
// the keyring to use.
func (s *Store) reloadKeyring() *phi.Keyring {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.reload != nil && time.Since(s.lastReloadAt) > 100*time.Millisecond {
		s.lastReloadAt = time.Now()
		if k, err := s.reload(); err == nil && k.CurrentVersion() >= s.keys.Load().CurrentVersion() {
			// Only a keyring that matches this database's key checks.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if s.checkKeyring(ctx, k, false) == nil {
				s.keys.Store(k)
			}
			cancel()
		}
	}
	return s.keys.Load()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.read.PingContext(ctx) }

// Close closes the database handles.
func (s *Store) Close() error {
	if s.flusher != nil {
		s.flusher.stopLoop()
	}
	if s.group != nil {
		s.group.close()
	}
	var flushErr error
	if s.flusher != nil {
		flushErr = s.flusher.finish()
	}
	if s.chainer != nil {
		s.chainer.close()
		// What this process stored is chained now if it can be; if not,
		// the next pass of any process chains it.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.chainPending(ctx) //nolint:errcheck // see above
		cancel()
	}
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	s.readStmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	err := errors.Join(flushErr, s.write.Close())
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	return err
}

// q rewrites ? placeholders for the dialect.
func (s *Store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
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

// maxReadStmts bounds the prepared read statements; the queries are built
// from a small set of shapes, so the bound is only a guard.
const maxReadStmts = 256

// readStmt returns query prepared on the read pool. Preparing is most of a
// small read's cost in the pure-Go SQLite (the parser runs in Go), so each
// query is prepared once and database/sql keeps it per connection. PostgreSQL
// needs none of this: pgx caches prepared statements itself.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, bool) {
	if s.dialect != SQLite {
		return nil, false
	}
	if st, ok := s.readStmts.Load(query); ok {
		return st.(*sql.Stmt), true
	}
	if s.readStmtN.Load() >= maxReadStmts {
		return nil, false
	}
	st, err := s.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, false // the plain query reports the error
	}
	if prev, loaded := s.readStmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), true
	}
	s.readStmtN.Add(1)
	return st, true
}

// readQuery runs a query on the read pool.
func (s *Store) readQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = s.q(query)
	if st, ok := s.readStmt(ctx, query); ok {
		return st.QueryContext(ctx, args...)
	}
	return s.read.QueryContext(ctx, query, args...)
}

// readRow runs a single-row query on the read pool.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	query = s.q(query)
	if st, ok := s.readStmt(ctx, query); ok {
		return st.QueryRowContext(ctx, args...)
	}
	return s.read.QueryRowContext(ctx, query, args...)
}

// forUpdate is the row-lock suffix of the dialect (SQLite's writers are
// already serialised by BEGIN IMMEDIATE).
func (s *Store) forUpdate() string {
	if s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// inTx runs fn in a write transaction and commits it; on SQLite the
// transaction may be shared with concurrent writers (group commit), fn then
// running inside its own savepoint.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.group != nil {
		return s.group.run(ctx, fn)
	}
	start := time.Now()
	tx, err := s.write.BeginTx(ctx, s.txOptions())
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	if s.onCommit != nil {
		s.onCommit(1, time.Since(start))
	}
	return nil
}

// isUnique reports whether err is a uniqueness violation.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func optMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// writeEffects stores the idempotent response and the audit record of a
// write inside its transaction.
func (s *Store) writeEffects(ctx context.Context, tx *sql.Tx, eff novamed.Effects) error {
	if eff.Idempotency != nil {
		if err := s.insertIdempotency(ctx, tx, eff.Idempotency); err != nil {
			return err
		}
	}
	if eff.Audit != nil {
		if err := s.appendAudit(ctx, tx, []*novamed.AuditRecord{eff.Audit}); err != nil {
			return err
		}
	}
	return nil
}

// hotStatements are the writes of nearly every request; they are prepared
// once when the store opens, because SQLite's single write connection is
// held by the transaction while they run (a lazy prepare would wait for it).
var hotStatements = []string{
	insertIdempotencySQL,
	`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`,
	selectAuditHeadSQL,
	insertPatientSQL,
	insertPractitionerSQL,
	selectIndexVersionsSQL,
}

func (s *Store) prepareHot(ctx context.Context) error {
	hot := slices.Clone(hotStatements)
	for _, n := range auditChunks {
		hot = append(hot, insertAuditSQL(n))
	}
	for _, q := range hot {
		st, err := s.write.PrepareContext(ctx, s.q(q))
		if err != nil {
			return fmt.Errorf("sqlstore: prepare: %w", err)
		}
		s.stmts.Store(s.q(q), st)
	}
	return nil
}

// txRow runs a single-row query inside tx, through its prepared statement
// when it is a hot one.
func (s *Store) txRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	query = s.q(query)
	if st, ok := s.stmts.Load(query); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// exec runs a write statement inside tx, through its prepared statement when
// it is a hot one: parsing the same SQL for every request was a fifth of a
// create's CPU on SQLite.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	query = s.q(query)
	if st, ok := s.stmts.Load(query); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// withExistingID fills the ExistingID of a create's *novamed.DuplicateError
// by reading the committed record that holds the unique value (query selects
// its id). It reads after the write's transaction has ended: on PostgreSQL
// the failed insert has aborted that transaction. Any other err is returned
// as it is; a record not yet visible leaves ExistingID empty.
func (s *Store) withExistingID(ctx context.Context, err error, query string, args ...any) error {
	var dup *novamed.DuplicateError
	if !errors.As(err, &dup) {
		return err
	}
	var id string
	if s.readRow(ctx, query, args...).Scan(&id) == nil {
		dup.ExistingID = id
	}
	return err
}
