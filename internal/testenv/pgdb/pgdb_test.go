package pgdb_test

import (
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/testenv/pgdb"
)

func ring(t *testing.T) *phi.Keyring {
	t.Helper()
	k, err := phi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	r, err := phi.NewKeyring(map[uint32][]byte{1: k})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFreshFromTemplate: copies of the template open without a migration
// under keyrings of their own (the template keeps no key-check value), a
// copy is independent of the others, and the template itself refuses
// connections. It logs what one fresh store costs each way.
func TestFreshFromTemplate(t *testing.T) {
	srv := pgdb.Connect(t)
	ctx := t.Context()
	srv.Fresh(t) // builds the template if this is the first binary to need it

	start := time.Now()
	a, err := sqlstore.OpenPostgres(ctx, srv.Fresh(t), sqlstore.Options{Keyring: ring(t), Schema: sqlstore.SchemaExact})
	if err != nil {
		t.Fatalf("open a copy of the template with a new keyring (no migration allowed): %v", err)
	}
	fromTemplate := time.Since(start)
	defer a.Close()

	start = time.Now()
	b, err := sqlstore.OpenPostgres(ctx, srv.Empty(t), sqlstore.Options{Keyring: ring(t)})
	if err != nil {
		t.Fatal(err)
	}
	migrated := time.Since(start)
	defer b.Close()
	t.Logf("one fresh PostgreSQL store: %v from the template, %v by migrating an empty database", fromTemplate.Round(time.Millisecond), migrated.Round(time.Millisecond))

	if have, want, err := a.SchemaStatus(ctx); err != nil || have != want {
		t.Fatalf("copy's schema %d, want %d (%v)", have, want, err)
	}
	var n int
	if err := srv.Admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'novamed\_tpl\_%' AND datallowconn`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d template databases accept connections (%v)", n, err)
	}
}
