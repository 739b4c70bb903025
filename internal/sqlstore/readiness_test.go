package sqlstore_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestCheckWritable: the readiness probe commits a write on a healthy store
// and reports ErrMigrationsPending when a migration of this binary is not
// applied (another replica is migrating, or a migration failed).
func TestCheckWritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "novamed.db")
	s, err := sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: testKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CheckWritable(t.Context()); err != nil {
		t.Fatalf("healthy store: %v", err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var before int64
	if err := raw.QueryRow(`SELECT checks FROM readiness_probe WHERE id = 1`).Scan(&before); err != nil || before < 1 {
		t.Fatalf("the probe committed no write: %d %v", before, err)
	}
	if _, err := raw.Exec(`UPDATE goose_db_version SET is_applied = 0 WHERE version_id = 11`); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckWritable(t.Context()); !errors.Is(err, sqlstore.ErrMigrationsPending) {
		t.Fatalf("with migration 11 unapplied: %v, want ErrMigrationsPending", err)
	}
	if _, err := raw.Exec(`UPDATE goose_db_version SET is_applied = 1 WHERE version_id = 11`); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckWritable(t.Context()); err != nil {
		t.Fatalf("after the migration is applied again: %v", err)
	}
}
