// Package pgdb gives tests PostgreSQL databases of their own on the test
// server (NOVAMED_TEST_POSTGRES, default the local trust-auth server): a
// fresh database with NovaMed's schema costs one CREATE DATABASE … TEMPLATE
// of a template migrated once per set of migrations, not a migration run.
// Every database is dropped when its test ends. It imports only sqlstore
// and the standard library, so the tests of most packages may use it.
package pgdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the maintenance connection

	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// DefaultDSN is the maintenance database used when NOVAMED_TEST_POSTGRES
// is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// templateLock is the advisory lock key under which a template is built:
// test binaries run in parallel, and only one may build it.
const templateLock = 0x6e6f76615f74706c // "nova_tpl"

// Server is a reachable PostgreSQL server on which tests create and drop
// databases.
type Server struct {
	Admin *sql.DB // the maintenance database
	DSN   string  // its DSN
}

// DSN is the maintenance database's DSN: NOVAMED_TEST_POSTGRES, else
// DefaultDSN.
func DSN() string {
	if dsn := os.Getenv("NOVAMED_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// Connect connects to the test server. When it cannot be reached the test
// is skipped, loudly, or fails when CI=true.
func Connect(t testing.TB) *Server {
	t.Helper()
	dsn := DSN()
	admin, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err != nil {
			admin.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("POSTGRES NOT AVAILABLE: %s: %v -- the PostgreSQL tests did NOT run. "+
			"Start PostgreSQL or point NOVAMED_TEST_POSTGRES at one (CI=true makes this a failure).", Redact(dsn), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { admin.Close() })
	return &Server{Admin: admin, DSN: dsn}
}

// Fresh returns the DSN of a new database with NovaMed's current schema
// (and no key-check value: it takes the keyring of the first store opened
// on it), dropped when t ends.
func Fresh(t testing.TB) string {
	t.Helper()
	return Connect(t).Fresh(t)
}

// Empty returns the DSN of a new, empty database, dropped when t ends.
func Empty(t testing.TB) string {
	t.Helper()
	return Connect(t).Empty(t)
}

// Fresh is the package's Fresh on p.
func (p *Server) Fresh(t testing.TB) string {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	tpl, err := p.template(ctx)
	if err != nil {
		t.Fatalf("PostgreSQL template database: %v", err)
	}
	return p.create(t, "TEMPLATE "+tpl)
}

// Empty is the package's Empty on p.
func (p *Server) Empty(t testing.TB) string {
	t.Helper()
	return p.create(t, "")
}

// create creates a database with the CREATE DATABASE options opts and
// drops it when t ends.
func (p *Server) create(t testing.TB, opts string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "novamed_test_" + hex.EncodeToString(b)
	// CREATE and DROP DATABASE cannot run in a transaction nor outlive a
	// cancelled test context.
	ctx := context.WithoutCancel(t.Context())
	if _, err := p.Admin.ExecContext(ctx, `CREATE DATABASE `+name+` `+opts); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := p.Admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	dsn, err := WithDatabase(p.DSN, name)
	if err != nil {
		t.Fatalf("DSN for %s: %v", name, err)
	}
	return dsn
}

// template returns the name of the migrated template database of this
// binary's migrations, building it first if no test binary has. It is
// built under a different name and renamed when complete, so a template
// that exists is whole; it allows no connections, so copying it never
// meets one (CREATE DATABASE … TEMPLATE refuses a template in use).
func (p *Server) template(ctx context.Context) (string, error) {
	digest, err := sqlstore.MigrationsDigest(sqlstore.Postgres)
	if err != nil {
		return "", err
	}
	name := "novamed_tpl_" + digest[:16]
	if ok, err := p.exists(ctx, name); ok || err != nil {
		return name, err
	}
	conn, err := p.Admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(templateLock)); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(templateLock)) //nolint:errcheck // the session ends with conn anyway
	if ok, err := p.exists(ctx, name); ok || err != nil {
		return name, err // another binary built it while this one waited
	}
	building := name + "_building"
	// A builder that died left this; under the lock nobody else builds it.
	if _, err := conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+building+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+building); err != nil {
		return "", err
	}
	if err := p.migrate(ctx, building); err != nil {
		conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+building+` WITH (FORCE)`) //nolint:errcheck // best effort
		return "", err
	}
	for _, stmt := range []string{
		`ALTER DATABASE ` + building + ` WITH ALLOW_CONNECTIONS false IS_TEMPLATE true`,
		// PostgreSQL waits (up to 5 s) for the closed pool's backends
		// to exit before it renames.
		`ALTER DATABASE ` + building + ` RENAME TO ` + name,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return "", fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return name, nil
}

// migrate applies the migrations to database name by opening a store on
// it, then removes what belongs to that store's throw-away keyring (its
// key-check values), so each copy takes the keyring of its first store.
func (p *Server) migrate(ctx context.Context, name string) error {
	dsn, err := WithDatabase(p.DSN, name)
	if err != nil {
		return err
	}
	key, err := phi.GenerateKey()
	if err != nil {
		return err
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		return err
	}
	s, err := sqlstore.OpenPostgres(ctx, dsn, sqlstore.Options{Keyring: ring})
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `DELETE FROM key_checks`)
	return err
}

func (p *Server) exists(ctx context.Context, name string) (bool, error) {
	var n int
	err := p.Admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n)
	return n > 0, err
}

// WithDatabase returns dsn naming database name instead.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// keyword/value form: a later setting overrides an earlier one
	return dsn + " dbname=" + name, nil
}

// Redact hides a password in a URL DSN.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "NOVAMED_TEST_POSTGRES"
}
