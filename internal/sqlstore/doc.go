// Package sqlstore implements the novamed store interfaces on database/sql.
// SQLite (modernc.org/sqlite, pure Go, OpenSQLite) is the embedded default;
// PostgreSQL (pgx, OpenPostgres) runs the same code through a dialect that
// rebinds placeholders and adds row locks. Migrations are embedded, one set
// per dialect with the same numbers, and applied with goose on open.
//
// PHI columns are sealed with the phi.Keyring before they reach the database;
// equality lookups (duplicate patients, NPIs) use keyed blind indexes.
package sqlstore
