// Package sqlstore implements the novamed store interfaces on database/sql.
// SQLite (modernc.org/sqlite, pure Go) is the embedded default; the SQL is
// kept portable so that PostgreSQL can run the same code through a dialect
// that rebinds placeholders and adds row locks. Migrations are embedded and
// applied with goose on open.
//
// PHI columns are sealed with the phi.Keyring before they reach the database;
// equality lookups (duplicate patients, NPIs) use keyed blind indexes.
package sqlstore
