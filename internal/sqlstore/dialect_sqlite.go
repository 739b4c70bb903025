package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/novamed/partner-api/internal/novamed"
)

// sqliteDialect is SQLite's SQL: ? placeholders, no row locks (BEGIN
// IMMEDIATE and the one write connection already serialise writers).
type sqliteDialect struct{}

func (sqliteDialect) rebind(query string) string  { return query }
func (sqliteDialect) forUpdate() string           { return "" }
func (sqliteDialect) forUpdateSkipLocked() string { return "" }
func (sqliteDialect) lockTable(string) string     { return "" }
func (sqliteDialect) txOptions() *sql.TxOptions   { return nil }
func (sqliteDialect) hasSchemaSQL() string {
	return `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`
}

// isUnique reads the extended result code, which the driver turns on for
// every connection.
func (sqliteDialect) isUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func (sqliteDialect) goose() (goose.Dialect, []goose.ProviderOption, error) {
	return goose.DialectSQLite3, nil, nil
}

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
	// wal_autocheckpoint=10000 pages (~40 MB of WAL; SQLite's default is
	// 1,000) is only the backstop: the group committer checkpoints between
	// batches, after answering, every checkpointJobs jobs (see
	// maybeCheckpoint), so no request waits for a checkpoint inside its
	// COMMIT.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(10000)&_txlock=immediate"
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
	s := newStore(SQLite, write, read, opts)
	s.path = path
	// Reads run prepared (see stmtCache).
	s.readStmts = &stmtCache{db: read}
	s.read.prepared = s.readStmts.get
	writeAudit := func(tx *sql.Tx, recs []*novamed.AuditRecord) error {
		return s.writeAudit(context.Background(), s.newTxn(tx), recs)
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
