package sqlstore_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestPartnersMigration: migration 00015 gives every existing clinic a
// partner. Clinics that share a key (directly or through a chain of keys)
// share one; any other clinic gets its own; every migrated partner is
// approved without a BAA, and each key belongs to its clinics' partner.
func TestPartnersMigration(t *testing.T) {
	ring := testKeyring(t)
	path := filepath.Join(t.TempDir(), "novamed.db")
	testPartnersMigration(t, goose.DialectSQLite3, "migrations/sqlite",
		func() (*sqlstore.Store, error) {
			return sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: ring})
		},
		func() (*sql.DB, error) { return sql.Open("sqlite", path) })
}

// TestPostgresPartnersMigration is TestPartnersMigration on PostgreSQL.
func TestPostgresPartnersMigration(t *testing.T) {
	dsn := postgresServer(t).emptyDatabase(t)
	ring := testKeyring(t)
	testPartnersMigration(t, goose.DialectPostgres, "migrations/postgres",
		func() (*sqlstore.Store, error) {
			return sqlstore.OpenPostgres(t.Context(), dsn, sqlstore.Options{Keyring: ring})
		},
		func() (*sql.DB, error) { return sql.Open("pgx", dsn) })
}

func testPartnersMigration(t *testing.T, dialect goose.Dialect, dir string, openStore func() (*sqlstore.Store, error), openDB func() (*sql.DB, error)) {
	ctx := t.Context()
	db, err := openDB()
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, db, os.DirFS(dir), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 13); err != nil {
		t.Fatalf("up to 13: %v", err)
	}
	// Clinics a..f. Keys: k1 {a, b}, k2 {b, c} (a, b, c: one partner
	// through a chain), k3 {d}, k4 {e, e2}; f has no key.
	// c is created before b, so the a–b–c partner takes c's name (its
	// oldest clinic) and a's id (the smallest).
	clinics := []struct {
		key, name string
		created   int64
	}{
		{"a", "A clinic", 3}, {"b", "B clinic", 2}, {"c", "C clinic", 1}, {"d", "D clinic", 4},
		{"e", "E clinic", 6}, {"e2", "E2 clinic", 5}, {"f", "F clinic", 7},
	}
	id := func(key string) string { return fmt.Sprintf("00000000-0000-4000-8000-%012s", key) }
	q := func(s string) string {
		if dialect != goose.DialectPostgres {
			return s
		}
		for n := 1; strings.Contains(s, "?"); n++ {
			s = strings.Replace(s, "?", fmt.Sprintf("$%d", n), 1)
		}
		return s
	}
	for _, c := range clinics {
		if _, err := db.ExecContext(ctx, q(`INSERT INTO clinics (id, name, created_at) VALUES (?, ?, ?)`), id(c.key), c.name, c.created); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string][]string{"k1": {"a", "b"}, "k2": {"b", "c"}, "k3": {"d"}, "k4": {"e", "e2"}}
	for k, cs := range keys {
		if _, err := db.ExecContext(ctx, q(`INSERT INTO api_keys (id, owner, name, environment, prefix, hash, rate_limit, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, 1)`),
			k, k, k, "production", "prod_x", "hash-"+k); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if _, err := db.ExecContext(ctx, q(`INSERT INTO api_key_clinics (key_id, clinic_id) VALUES (?, ?)`), k, id(c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := openStore()
	if err != nil {
		t.Fatalf("open (migrating): %v", err)
	}
	defer s.Close()
	partners, err := s.ListPartners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*novamed.Partner{}
	for _, p := range partners {
		byID[p.ID] = p
		if p.Status != novamed.PartnerApproved || p.BAA != nil {
			t.Errorf("migrated partner %s: status %s, BAA %+v; want approved without BAA", p.Name, p.Status, p.BAA)
		}
	}
	if len(partners) != 4 {
		t.Errorf("migrated partners: %d, want 4 ({a,b,c}, {d}, {e,e2}, {f})", len(partners))
	}
	wantPartner := map[string]string{"a": id("a"), "b": id("a"), "c": id("a"), "d": id("d"), "e": id("e"), "e2": id("e"), "f": id("f")}
	for c, want := range wantPartner {
		got, err := s.GetClinic(ctx, id(c))
		if err != nil {
			t.Fatal(err)
		}
		if got.PartnerID != want {
			t.Errorf("clinic %s: partner %q, want %q", c, got.PartnerID, want)
		}
	}
	if p := byID[id("a")]; p == nil || p.Name != "C clinic" {
		t.Errorf("the a–b–c partner: %+v, want the name of its oldest clinic (C clinic)", p)
	} else if got := p.CreatedAt.UnixMicro(); got != 1 {
		t.Errorf("the a–b–c partner was created at %d µs, want its oldest clinic's 1", got)
	}
	if p := byID[id("e")]; p == nil || p.Name != "E2 clinic" {
		t.Errorf("the e–e2 partner: %+v, want the name E2 clinic", p)
	}
	for k, cs := range keys {
		got, err := s.GetAPIKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if got.PartnerID != wantPartner[cs[0]] || got.Partner == nil || got.Partner.Status != novamed.PartnerApproved || got.Partner.HasBAA {
			t.Errorf("key %s: partner %q %+v, want %q approved without BAA", k, got.PartnerID, got.Partner, wantPartner[cs[0]])
		}
	}
}
