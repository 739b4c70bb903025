// Package sqlstore implements the novamed store interfaces on database/sql.
//
// How to issue SQL (issue 17): write ? placeholders and run every statement
// with exec/query/queryRow on s.read (read pool), s.write (write pool,
// outside a transaction) or the *txn of s.inTx(ctx, func(tx *txn) error
// {…}); they rebind for the dialect themselves, so there is no s.q any more.
// Helpers that run on either take a querier. Dialect SQL lives in
// dialect_sqlite.go / dialect_postgres.go (s.syntax.forUpdate(),
// s.syntax.isUnique(err)); TestOneQueryPath rejects direct database/sql calls.
//
// SQLite (modernc.org/sqlite, pure Go, OpenSQLite) is the embedded default;
// PostgreSQL (pgx, OpenPostgres) runs the same code through a dialect that
// rebinds placeholders and adds row locks. Migrations are embedded, one set
// per dialect with the same numbers, and applied with goose on open.
//
// PHI columns are sealed with the phi.Keyring before they reach the database;
// equality lookups (duplicate patients, NPIs) use keyed blind indexes.
package sqlstore
