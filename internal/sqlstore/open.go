package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
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
	syntax  dialect
	path    string // SQLite: the database file
	// The pools, reached only through the handles below, in transactions
	// (inTx) and when opening and closing. SQLite's write pool has one
	// connection, so writers queue in Go, not on SQLITE_BUSY.
	writeDB, readDB *sql.DB
	// write and read run statements outside a transaction (statements.go).
	write, read handle
	keys        atomic.Pointer[phi.Keyring]
	now         func() time.Time

	group        *groupCommitter // SQLite: concurrent writes share commits
	flusher      *flusher        // the incremental audit durability mode's flusher
	chainer      *chainer        // PostgreSQL: links pending audit batches into the chain
	hot          sync.Map        // rebound query → *sql.Stmt prepared on the write pool
	readStmts    *stmtCache      // SQLite: reads run prepared
	onCommit     func(int, time.Duration)
	reload       func() (*phi.Keyring, error)
	reloadMu     sync.Mutex
	lastReloadAt time.Time
	keyring0     *phi.Keyring // the keyring opened with, checked once the schema is current
	opened       atomic.Bool  // the schema is current and opening finished
	// indexVersion is 1 + the master key version the blind indexes were
	// last seen keyed with while no re-index ran, 0 when unknown or a
	// re-index was running (PostgreSQL's one-statement create; the
	// statement checks it).
	indexVersion atomic.Int64
	openMu       sync.Mutex
}

// Store implements every consumer's interface.
var (
	_ novamed.Store              = (*Store)(nil)
	_ novamed.ServerStore        = (*Store)(nil)
	_ novamed.UsageRecorderStore = (*Store)(nil)
	_ novamed.DeliveryQueue      = (*Store)(nil)
	_ novamed.SandboxStore       = (*Store)(nil)
	_ novamed.AuditStore         = (*Store)(nil)
)

// newStore returns a Store on the pools write and read (the same pool
// on PostgreSQL), not yet open: finishOpen completes it.
func newStore(d Dialect, write, read *sql.DB, opts Options) *Store {
	s := &Store{dialect: d, syntax: dialectOf(d), writeDB: write, readDB: read, now: opts.Now, reload: opts.ReloadKeyring, onCommit: opts.OnCommit}
	s.write = handle{raw: write, syntax: s.syntax}
	s.read = handle{raw: read, syntax: s.syntax}
	return s
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
	if err := s.prepareHot(ctx, s.writeDB); err != nil {
		return fmt.Errorf("sqlstore: prepare: %w", err)
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
func (s *Store) Ping(ctx context.Context) error { return s.readDB.PingContext(ctx) }

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
	closeStmts(&s.hot)
	if s.readStmts != nil {
		closeStmts(&s.readStmts.stmts)
	}
	err := errors.Join(flushErr, s.writeDB.Close())
	if s.readDB != s.writeDB {
		err = errors.Join(err, s.readDB.Close())
	}
	return err
}
