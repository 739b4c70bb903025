package webhook

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for creating test databases

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
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
		dsn := freshPostgres(t)
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
		s, err := sqlstore.OpenPostgres(t.Context(), freshPostgres(t), sqlstore.Options{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		withClinic(t, s)
	})
}

// freshPostgres creates a database dropped when t ends and returns its DSN.
func freshPostgres(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("NOVAMED_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	admin, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		msg := fmt.Sprintf("POSTGRES NOT AVAILABLE: %v -- the PostgreSQL webhook tests did NOT run", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "novamed_webhook_" + hex.EncodeToString(b)
	ctx := context.WithoutCancel(t.Context())
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("NOVAMED_TEST_POSTGRES must be a URL here: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
