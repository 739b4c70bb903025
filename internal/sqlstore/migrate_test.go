package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
)

// TestAuditRowidMigrationKeepsTheChain: a database whose trail was written
// under migration 4 (seq a separate unique index) is rebuilt by migration 5
// with seq as the rowid; the trail still verifies record for record, the
// extra index is gone, and new records continue the same chain.
func TestAuditRowidMigrationKeepsTheChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatalf("migrate to 4: %v", err)
	}
	const old = 40
	prev := ""
	for seq := int64(1); seq <= old; seq++ {
		rec := &novamed.AuditRecord{Time: time.Unix(1795764094, seq*1000).UTC(), RequestID: fmt.Sprintf("req_%d", seq),
			Action: "GET /api/external/carriers", Status: 200}
		b, err := audit.Chain(rec, seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO audit_log (seq, at, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?)`,
			seq, rec.Time.UnixMicro(), string(b), rec.PrevHash, rec.Hash); err != nil {
			t.Fatal(err)
		}
		prev = rec.Hash
	}
	if _, err := db.Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, old, prev); err != nil {
		t.Fatal(err)
	}
	indexes := func(db *sql.DB) []string {
		t.Helper()
		rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return names
	}
	if got := indexes(db); len(got) != 2 {
		t.Fatalf("before migration 5: indexes %v, want the seq autoindex and audit_log_at", got)
	}
	db.Close()

	key, _ := phi.GenerateKey()
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(ctx, path, Options{Keyring: ring})
	if err != nil {
		t.Fatalf("open (migrate to 5): %v", err)
	}
	defer s.Close()
	if got := indexes(s.read); len(got) != 1 || got[0] != "audit_log_at" {
		t.Fatalf("after migration 5: indexes %v, want only audit_log_at", got)
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != old {
		t.Fatalf("Verify after migration = %d, %v; want %d, nil", n, err, old)
	}
	if err := s.AppendAudit(ctx, []*novamed.AuditRecord{{Time: time.Now(), RequestID: "req_new", Action: "GET /me", Status: 200}}); err != nil {
		t.Fatal(err)
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != old+1 {
		t.Fatalf("Verify after a new record = %d, %v; want %d, nil", n, err, old+1)
	}
	// A since/until export still finds records by time through audit_log_at.
	var got []int64
	err = s.ScanAudit(ctx, time.Unix(1795764094, 10*1000), time.Unix(1795764094, 13*1000), func(r *novamed.AuditRecord) error {
		got = append(got, r.Seq)
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[10 11 12]" {
		t.Fatalf("ScanAudit by time = %v, %v; want [10 11 12]", got, err)
	}
}
