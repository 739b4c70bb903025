package sqlstore

import (
	"database/sql"

	"github.com/pressly/goose/v3"
)

// Dialect names the SQL database behind a Store.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// dialect is what differs in SQL between SQLite (dialect_sqlite.go) and
// PostgreSQL (dialect_postgres.go): placeholders, row locks, transaction
// options, how a uniqueness violation is reported, the schema probe and the
// migration runner. What differs in design — SQLite's one writer with group
// commits, PostgreSQL's audit chainer — is in groupcommit.go and audit.go.
type dialect interface {
	// rebind rewrites the ? placeholders of query for the database.
	rebind(query string) string
	// forUpdate is the suffix of a SELECT that locks the rows it reads
	// until the transaction ends.
	forUpdate() string
	// forUpdateSkipLocked is forUpdate that passes over rows another
	// transaction holds.
	forUpdateSkipLocked() string
	// lockTable is the statement that makes writers of table take turns
	// until the transaction ends, or "" when writers already do.
	lockTable(table string) string
	// txOptions are the options of a write transaction.
	txOptions() *sql.TxOptions
	// isUnique reports whether err is a violated UNIQUE or PRIMARY KEY
	// constraint.
	isUnique(err error) bool
	// hasSchemaSQL selects whether the database holds goose's version
	// table, without writing.
	hasSchemaSQL() string
	// goose is the migration runner's dialect and options.
	goose() (goose.Dialect, []goose.ProviderOption, error)
}

// dialectOf returns the SQL dialect of d.
func dialectOf(d Dialect) dialect {
	if d == Postgres {
		return postgresDialect{}
	}
	return sqliteDialect{}
}
