package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/novamed/partner-api/internal/sqlstore"
)

// initCmd creates the database (and, in development, the data folder's
// master key) so that scripts can prepare a deployment before its first
// serve. On an existing database it only checks it.
func initCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	c := common{initializing: true}
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	have, _, err := store.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	where := c.dbLocation()
	return emit(stdout, c.json, map[string]any{"database": where, "environment": env, "schema_version": have},
		fmt.Sprintf("NovaMed database ready at %s (%s, schema version %d)\n", where, env, have))
}

// dbLocation names the database for people (no password).
func (c *common) dbLocation() string {
	if c.db == "" {
		return filepath.Join(c.dataDir, "novamed.db")
	}
	return redactDSN(c.db)
}

// migrateCmd applies pending migrations (the only operator command that
// changes the schema of an existing database), or lists them.
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	dryRun := fs.Bool("dry-run", false, "only say which migrations are pending")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	c.migrating = !*dryRun
	store, _, err := c.openStore(ctx, getenv)
	var se *sqlstore.SchemaError
	if *dryRun && errors.As(err, &se) && se.Have < se.Want {
		return emit(stdout, c.json, map[string]any{"schema_version": se.Have, "target_version": se.Want, "pending": true},
			fmt.Sprintf("schema version %d; this binary's is %d: migrations pending (run `novamed migrate`)\n", se.Have, se.Want))
	}
	if err != nil {
		return err
	}
	defer store.Close()
	have, want, err := store.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if have > want {
		return fmt.Errorf("the database schema is at version %d, newer than this binary's %d: nothing to migrate with this binary", have, want)
	}
	return emit(stdout, c.json, map[string]any{"schema_version": have, "target_version": want, "pending": false},
		fmt.Sprintf("schema version %d: up to date\n", have))
}

// backupCmd writes a consistent copy of the SQLite database while the
// server may be running.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	to := fs.String("to", "", "file to write the backup to (must not exist)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("backup needs --to FILE")
	}
	if st, err := os.Stat(*to); err == nil && st.Size() > 0 {
		return fmt.Errorf("--to %s exists; refusing to overwrite a file", *to)
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := createPrivate(*to); err != nil {
		return err
	}
	if err := store.Backup(ctx, *to); err != nil {
		os.Remove(*to)
		return err
	}
	have, _, _ := store.SchemaStatus(ctx)
	// The audit archive in a folder (SQLite's default) goes with the
	// database: after it, so every segment the copy names as archived is
	// there (segments are written before they are marked, and never change).
	archiveCopy, copied, err := backupAuditArchive(ctx, store, *to)
	if err != nil {
		return err
	}
	return emit(stdout, c.json, map[string]any{"backup": *to, "schema_version": have, "audit_archive": archiveCopy, "audit_archive_objects": copied},
		fmt.Sprintf("backup written to %s (schema version %d; audit archive: %d objects in %s; it holds no key material: keep the keyring's escrow separately)\n", *to, have, copied, or(archiveCopy, "-")))
}

// restoreCmd puts a backup into an empty data folder. It needs no keyring:
// the operator brings the keyring back separately.
func restoreCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	from := fs.String("from", "", "backup file written by novamed backup")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" {
		return errors.New("restore needs --from FILE")
	}
	target := filepath.Join(c.dataDir, "novamed.db")
	if c.db != "" {
		file, ok := strings.CutPrefix(c.db, "sqlite:")
		if !ok {
			return errors.New("restore writes SQLite databases; for PostgreSQL use pg_restore (docs/operations.md)")
		}
		target = file
	}
	if st, err := os.Stat(target); err == nil && st.Size() > 0 {
		return fmt.Errorf("%s already holds a database: restore only into an empty data folder", target)
	}
	version, err := sqlstore.InspectSQLite(ctx, *from)
	if err != nil {
		return err
	}
	if err := c.secureDataDir(); err != nil {
		return err
	}
	data, err := os.ReadFile(*from)
	if err != nil {
		return err
	}
	tmp := target + ".restore"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return err
	}
	return emit(stdout, c.json, map[string]any{"database": target, "schema_version": version},
		fmt.Sprintf("restored %s to %s (schema version %d); bring back the keyring (master.key or NOVAMED_MASTER_KEY) before serving, then run `novamed audit verify`\n", *from, target, version))
}
