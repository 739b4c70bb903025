package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// SchemaMode says what opening a Store does with the database's schema.
type SchemaMode int

const (
	// SchemaMigrate creates the schema in an empty database and applies
	// every pending migration (the default).
	SchemaMigrate SchemaMode = iota
	// SchemaCreate creates the schema in an empty database but leaves an
	// older one as it is: Store.SchemaStatus reports the pending
	// migrations, and the Store is not usable for the API until they are
	// applied (novamed migrate) and Store.FinishMigrated has run.
	SchemaCreate
	// SchemaExact opens only a database whose schema is exactly this
	// binary's: an empty database is ErrNoDatabase, an older or newer
	// schema a *SchemaError. It never writes to the schema.
	SchemaExact
)

// ErrNoDatabase reports a database that holds no NovaMed schema.
var ErrNoDatabase = errors.New("no NovaMed database")

// SchemaError reports a schema other than this binary's.
type SchemaError struct {
	Have, Want int64
	// Compatible is set for a newer schema whose extra migrations are
	// marked backward-compatible (a server of this version may serve it).
	Compatible bool
}

func (e *SchemaError) Error() string {
	if e.Have < e.Want {
		return fmt.Sprintf("the database schema is at version %d and this binary needs %d: run `novamed migrate` first (migrations pending)", e.Have, e.Want)
	}
	return fmt.Sprintf("the database schema is at version %d, newer than this binary's %d: use the newer novamed binary", e.Have, e.Want)
}

// targetVersion is the newest embedded migration of the dialect.
func targetVersion(d Dialect) (int64, error) {
	entries, err := fs.ReadDir(migrations, "migrations/"+string(d))
	if err != nil {
		return 0, err
	}
	var top int64
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		top = max(top, v)
	}
	return top, nil
}

// dbVersion is the highest applied migration, and false when the
// database holds no NovaMed schema. It writes nothing.
func dbVersion(ctx context.Context, db handle) (int64, bool, error) {
	var exists bool
	if err := db.queryRow(ctx, db.syntax.hasSchemaSQL()).Scan(&exists); err != nil {
		return 0, false, fmt.Errorf("sqlstore: schema version: %w", err)
	}
	if !exists {
		return 0, false, nil
	}
	var v sql.NullInt64
	if err := db.queryRow(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&v); err != nil {
		return 0, false, fmt.Errorf("sqlstore: schema version: %w", err)
	}
	return v.Int64, v.Int64 > 0, nil
}

// SchemaStatus reports the database's schema version and this binary's.
func (s *Store) SchemaStatus(ctx context.Context) (have, want int64, err error) {
	want, err = targetVersion(s.dialect)
	if err != nil {
		return 0, 0, err
	}
	have, _, err = dbVersion(ctx, s.write)
	return have, want, err
}

// checkSchema applies mode before the Store is used; pending reports an
// older schema left as it is (SchemaCreate).
func (s *Store) checkSchema(ctx context.Context, mode SchemaMode) (pending bool, err error) {
	want, err := targetVersion(s.dialect)
	if err != nil {
		return false, err
	}
	have, exists, err := dbVersion(ctx, s.write)
	if err != nil {
		return false, err
	}
	if !exists {
		if mode == SchemaExact {
			return false, ErrNoDatabase
		}
		return false, s.migrate(ctx)
	}
	if have > want {
		se := &SchemaError{Have: have, Want: want}
		var from string
		if err := s.write.queryRow(ctx, `SELECT value FROM deployment_meta WHERE name = 'compatible_from'`).Scan(&from); err == nil {
			if f, err := strconv.ParseInt(from, 10, 64); err == nil && f <= want {
				se.Compatible = true
			}
		}
		if mode == SchemaExact || !se.Compatible {
			return false, se
		}
		return false, nil
	}
	if have < want {
		switch mode {
		case SchemaExact:
			return false, &SchemaError{Have: have, Want: want}
		case SchemaCreate:
			return true, nil
		}
		return false, s.migrate(ctx)
	}
	return false, nil
}

// Migrate applies the pending migrations.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx) }

// Environment is the environment recorded for the deployment, "" before
// the first serve or init recorded one.
func (s *Store) Environment(ctx context.Context) (string, error) {
	var v string
	err := s.read.queryRow(ctx, `SELECT value FROM deployment_meta WHERE name = 'environment'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// RecordEnvironment records env as the deployment's environment unless
// one is recorded already, and returns the recorded one.
func (s *Store) RecordEnvironment(ctx context.Context, env string) (string, error) {
	if _, err := s.write.exec(ctx, `INSERT INTO deployment_meta (name, value) VALUES ('environment', ?) ON CONFLICT (name) DO NOTHING`, env); err != nil {
		return "", fmt.Errorf("sqlstore: record the environment: %w", err)
	}
	var v string
	err := s.write.queryRow(ctx, `SELECT value FROM deployment_meta WHERE name = 'environment'`).Scan(&v)
	return v, err
}

// Exists reports whether a clinic, webhook (deleted ones included, as the
// delivery log keeps them) or event (of clinicID) with id exists, so that
// operator commands can refuse an unknown id instead of printing nothing.
func (s *Store) Exists(ctx context.Context, kind, id, clinicID string) (bool, error) {
	var q string
	args := []any{id}
	switch kind {
	case "clinic":
		q = `SELECT COUNT(*) FROM clinics WHERE id = ?`
	case "webhook":
		q = `SELECT COUNT(*) FROM webhooks WHERE id = ?`
	case "event":
		q, args = `SELECT COUNT(*) FROM events WHERE id = ? AND clinic_id = ?`, append(args, clinicID)
	default:
		return false, fmt.Errorf("sqlstore: unknown kind %q", kind)
	}
	var n int
	if err := s.read.queryRow(ctx, q, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlstore: look up %s: %w", kind, err)
	}
	return n > 0, nil
}
