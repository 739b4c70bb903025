package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Backup writes a consistent copy of a SQLite database to path (which must
// not exist or be empty) with VACUUM INTO, on a read connection: it sees
// one snapshot of the database (WAL), so writers keep committing while it
// runs and the copy holds every write committed before it began, the audit
// chain head included. The copy holds no key material.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.dialect != SQLite {
		return errors.New("backup copies SQLite databases; for PostgreSQL use pg_dump or point-in-time recovery (docs/operations.md)")
	}
	if strings.ContainsRune(path, 0) {
		return errors.New("backup: invalid path")
	}
	raw, err := s.readDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	defer raw.Close()
	conn := handle{raw: raw, syntax: s.syntax}
	// query_only forbids changes to this connection's database; VACUUM
	// INTO writes only the new file, but SQLite counts it as a change.
	if _, err := conn.exec(ctx, `PRAGMA query_only = 0`); err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	defer conn.exec(context.Background(), `PRAGMA query_only = 1`) //nolint:errcheck // the connection is discarded on error
	if _, err := conn.exec(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("sqlstore: backup: %w", err)
	}
	return nil
}

// InspectSQLite checks that the SQLite file at path is an intact NovaMed
// database no newer than this binary, without a keyring and without
// writing to it, and returns its schema version.
func InspectSQLite(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	h := handle{raw: db, syntax: sqliteDialect{}}
	var check string
	if err := h.queryRow(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return 0, fmt.Errorf("%s is not a SQLite database: %w", path, err)
	}
	if check != "ok" {
		return 0, fmt.Errorf("%s fails SQLite's integrity check: %s", path, check)
	}
	have, exists, err := dbVersion(ctx, h)
	if err != nil {
		return 0, err
	}
	if !exists {
		return 0, fmt.Errorf("%s: %w", path, ErrNoDatabase)
	}
	want, err := targetVersion(SQLite)
	if err != nil {
		return 0, err
	}
	if have > want {
		return have, &SchemaError{Have: have, Want: want}
	}
	return have, nil
}
