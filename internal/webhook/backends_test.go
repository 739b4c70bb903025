package webhook

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv/pgdb"
)

// onBothReplicas runs fn with two stores on one fresh database, as two
// replicas would use it, and a clinic in it: on SQLite and on PostgreSQL.
func onBothReplicas(t *testing.T, fn func(t *testing.T, a, b *sqlstore.Store, clinic string)) {
	key, _ := phi.GenerateKey()
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, open func() (*sqlstore.Store, error)) {
		a, err := open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := open()
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		c := &novamed.Clinic{ID: uuid.NewString(), Name: "W", CreatedAt: time.Now()}
		if err := a.CreateClinic(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		fn(t, a, b, c.ID)
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		run(t, func() (*sqlstore.Store, error) {
			return sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: ring})
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgdb.Fresh(t)
		run(t, func() (*sqlstore.Store, error) {
			return sqlstore.OpenPostgres(t.Context(), dsn, sqlstore.Options{Keyring: ring})
		})
	})
}

// onBothBackends runs fn with a fresh store and a clinic in it, on SQLite
// and on PostgreSQL (a fresh database on NOVAMED_TEST_POSTGRES or the local
// server; skipped loudly when absent, a failure with CI=true).
func onBothBackends(t *testing.T, fn func(t *testing.T, s *sqlstore.Store, clinic string)) {
	key, _ := phi.GenerateKey()
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	withClinic := func(t *testing.T, s *sqlstore.Store) {
		t.Cleanup(func() { s.Close() })
		c := &novamed.Clinic{ID: uuid.NewString(), Name: "W", CreatedAt: time.Now()}
		if err := s.CreateClinic(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		fn(t, s, c.ID)
	}
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"), sqlstore.Options{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		withClinic(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := sqlstore.OpenPostgres(t.Context(), pgdb.Fresh(t), sqlstore.Options{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		withClinic(t, s)
	})
}
