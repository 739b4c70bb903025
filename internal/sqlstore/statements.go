package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The package's one way to run SQL. Every statement is written with ?
// placeholders and runs through handle.exec, handle.query or
// handle.queryRow — on s.read, s.write or a transaction's *txn — which
// rebind the placeholders for the dialect and use a prepared statement
// where there is one. Nothing else in the package calls database/sql's
// Exec/Query/Prepare methods (TestOneQueryPath enforces it), so a
// statement cannot reach PostgreSQL with SQLite's placeholders.

// driverConn is what a statement runs on: a pool, a connection or a
// transaction. Only handles hold one.
type driverConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// handle runs statements on a pool, a connection or (as part of a txn) a
// transaction.
type handle struct {
	raw    driverConn
	syntax dialect
	// prepared, when set, returns the prepared statement to run query
	// (already rebound) with, or nil to run it as text.
	prepared func(ctx context.Context, query string) *sql.Stmt
}

// exec runs a statement that returns no rows.
func (h handle) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query = h.syntax.rebind(query)
	if st := h.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return h.raw.ExecContext(ctx, query, args...)
}

// query runs a statement that returns rows.
func (h handle) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = h.syntax.rebind(query)
	if st := h.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return h.raw.QueryContext(ctx, query, args...)
}

// queryRow runs a statement that returns at most one row.
func (h handle) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	query = h.syntax.rebind(query)
	if st := h.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return h.raw.QueryRowContext(ctx, query, args...)
}

func (h handle) stmt(ctx context.Context, query string) *sql.Stmt {
	if h.prepared == nil {
		return nil
	}
	return h.prepared(ctx, query)
}

// querier is a handle or a transaction, for helpers that run on either.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	queryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// txn is a write transaction (see Store.inTx). Its hot statements run
// prepared.
type txn struct {
	handle
	tx *sql.Tx
}

// newTxn wraps tx, a transaction on the write pool.
func (s *Store) newTxn(tx *sql.Tx) *txn {
	return &txn{tx: tx, handle: handle{raw: tx, syntax: s.syntax, prepared: func(ctx context.Context, query string) *sql.Stmt {
		if st, ok := s.hot.Load(query); ok {
			return tx.StmtContext(ctx, st.(*sql.Stmt))
		}
		return nil
	}}}
}

// hotStatements are the writes of nearly every request; they are prepared
// once when the store opens, because SQLite's single write connection is
// held by the transaction while they run (a lazy prepare would wait for it).
// Parsing the same SQL for every request was a fifth of a create's CPU on
// SQLite.
var hotStatements = []string{
	insertIdempotencySQL,
	`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`,
	selectAuditHeadSQL,
	insertPatientSQL,
	insertPractitionerSQL,
	selectIndexVersionsSQL,
}

// prepareHot prepares the hot statements on the write pool.
func (s *Store) prepareHot(ctx context.Context, writeDB *sql.DB) error {
	hot := append([]string(nil), hotStatements...)
	for _, n := range auditChunks {
		hot = append(hot, insertAuditSQL(n))
	}
	for _, q := range hot {
		q = s.syntax.rebind(q)
		if _, ok := s.hot.Load(q); ok {
			continue
		}
		st, err := writeDB.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		s.hot.Store(q, st)
	}
	return nil
}

// maxReadStmts bounds the prepared read statements; the queries are built
// from a small set of shapes, so the bound is only a guard.
const maxReadStmts = 256

// stmtCache prepares each query once on a pool. Preparing is most of a
// small read's cost in the pure-Go SQLite (the parser runs in Go), so each
// query is prepared once and database/sql keeps it per connection.
// PostgreSQL needs none of this: pgx caches prepared statements itself.
type stmtCache struct {
	db    *sql.DB
	stmts sync.Map // rebound query → *sql.Stmt
	n     atomic.Int32
}

// get returns query prepared, or nil when it cannot be (the plain query
// then reports the error) or the cache is full.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if st, ok := c.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	if c.n.Load() >= maxReadStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := c.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	c.n.Add(1)
	return st
}

func closeStmts(m *sync.Map) {
	m.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
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
