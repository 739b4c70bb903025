package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestFormat1RecordsVerifyAsWritten: a trail written before record format
// 2 (hex hashes, long keys, the previous hash inside the record) gains
// format 2 records after it; both verify, the old rows are left byte for
// byte as they were, and an edit of a new row is still named.
func TestFormat1RecordsVerifyAsWritten(t *testing.T) {
	ctx := context.Background()
	key, _ := phi.GenerateKey()
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f.db")
	open := func() *sqlstore.Store {
		s, err := sqlstore.OpenSQLite(ctx, path, sqlstore.Options{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	open().Close()

	// Three records as the previous release wrote them.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	prev := ""
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 123456000, time.UTC)
	var old [][]byte
	for i := int64(1); i <= 3; i++ {
		rec := &novamed.AuditRecord{Seq: i, Time: t0.Add(time.Duration(i) * time.Second), RequestID: "req_old", Action: "patient.read",
			ResourceType: "patient", ResourceIDs: []string{"p1"}, Status: 200, PrevHash: prev}
		b, err := audit.Canonical(rec)
		if err != nil {
			t.Fatal(err)
		}
		h := audit.Link(prev, b)
		if _, err := db.Exec(`INSERT INTO audit_log (seq, at, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?)`, i, rec.Time.UnixMicro(), string(b), prev, h); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, i, h); err != nil {
			t.Fatal(err)
		}
		old, prev = append(old, b), h
	}

	s := open()
	defer s.Close()
	for range 3 {
		if err := s.AppendAudit(ctx, []*novamed.AuditRecord{{Time: time.Now(), RequestID: "req_new", Action: "patient.read", Status: 200, LatencyUS: 42}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != 6 {
		t.Fatalf("Verify of 3 format-1 and 3 format-2 records = %d, %v; want 6, nil", n, err)
	}
	var recs []*novamed.AuditRecord
	if err := s.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if i > 0 && r.PrevHash != recs[i-1].Hash {
			t.Errorf("record %d: PrevHash %q, want the previous record's hash %q", r.Seq, r.PrevHash, recs[i-1].Hash)
		}
		wantFormat := 1
		if i >= 3 {
			wantFormat = 2
		}
		if r.Format != wantFormat {
			t.Errorf("record %d: format %d, want %d", r.Seq, r.Format, wantFormat)
		}
	}
	if recs[3].LatencyUS != 42 {
		t.Errorf("record 4: latency %d, want 42", recs[3].LatencyUS)
	}
	for i := int64(1); i <= 6; i++ {
		var rec, ph, h string
		var hb []byte
		if err := db.QueryRow(`SELECT record, prev_hash, hash, hash_bytes FROM audit_log WHERE seq = ?`, i).Scan(&rec, &ph, &h, &hb); err != nil {
			t.Fatal(err)
		}
		if i <= 3 {
			if !bytes.Equal([]byte(rec), old[i-1]) || len(h) != 64 || hb != nil {
				t.Errorf("format-1 record %d was rewritten: %s (hash %q, bytes %x)", i, rec, h, hb)
			}
			continue
		}
		if !bytes.HasPrefix([]byte(rec), []byte(`{"v":2,`)) || len(hb) != 32 || h != "" || ph != "" {
			t.Errorf("record %d: %s, hash %q, prev %q, %d hash bytes; want format 2 with the hash as 32 bytes only", i, rec, h, ph, len(hb))
		}
	}

	// An edited format-2 record, and an edited hash, are named.
	var broken *audit.BrokenError
	if _, err := db.Exec(`UPDATE audit_log SET record = replace(record, '"st":200', '"st":201') WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(ctx, s); !errors.As(err, &broken) || broken.Seq != 5 {
		t.Fatalf("Verify after editing record 5 = %v; want broken at 5", err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET record = replace(record, '"st":201', '"st":200') WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET hash_bytes = zeroblob(32) WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(ctx, s); !errors.As(err, &broken) || broken.Seq != 4 {
		t.Fatalf("Verify after editing the hash of record 4 = %v; want broken at 4", err)
	}
}
