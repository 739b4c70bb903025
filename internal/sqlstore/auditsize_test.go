package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// typicalAuditRecord is the record of one partner read as the HTTP layer
// writes it: random request id, key, clinic and resource ids.
func typicalAuditRecord(at time.Time) *novamed.AuditRecord {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return &novamed.AuditRecord{
		Time: at, RequestID: "req_" + hex.EncodeToString(b[:]), KeyID: "3f0c1a52-1d8e-4b8f-9d55-0b6f2f1e7c11",
		KeyOwner: "Acme Telehealth", KeyPrefix: "nm_live_ab12", ClinicID: "9b2d7c1e-4f5a-4c3b-8e2d-1a0f9e8d7c6b",
		Action: "patient.read", ResourceType: "patient", ResourceIDs: []string{uuid.NewString()},
		ClientAddr: "203.0.113.7", UserAgent: "acme-client/2.3 (+go)", Status: 200, LatencyUS: 1843,
	}
}

// appendTypical appends n typical records in batches of 64, one millisecond
// apart from start.
func appendTypical(tb testing.TB, ctx context.Context, s novamed.AuditStore, start time.Time, n int) {
	tb.Helper()
	for i := 0; i < n; {
		batch := make([]*novamed.AuditRecord, 0, 64)
		for ; i < n && len(batch) < 64; i++ {
			batch = append(batch, typicalAuditRecord(start.Add(time.Duration(i)*time.Millisecond)))
		}
		if err := s.AppendAudit(ctx, batch); err != nil {
			tb.Fatalf("AppendAudit: %v", err)
		}
	}
}

// BenchmarkAuditBytesPerRecord reports what one typical audit record costs
// the live database: the audit_log table and its indexes, on SQLite (dbstat
// pages) and PostgreSQL (pg_total_relation_size, when a server is there).
func BenchmarkAuditBytesPerRecord(b *testing.B) {
	const n = 20000
	b.Run("sqlite", func(b *testing.B) {
		for range b.N {
			ctx := b.Context()
			path := filepath.Join(b.TempDir(), "novamed.db")
			s, err := sqlstore.OpenSQLite(ctx, path, sqlstore.Options{Keyring: testKeyring(b)})
			if err != nil {
				b.Fatal(err)
			}
			before, err := s.AuditTableBytes(ctx)
			if err != nil {
				b.Fatal(err)
			}
			appendTypical(b, ctx, s, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), n)
			after, err := s.AuditTableBytes(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after-before)/n, "bytes/record")
			s.Close()
		}
	})
	b.Run("postgres", func(b *testing.B) {
		srv := postgresServer(b)
		for range b.N {
			ctx := b.Context()
			s := openPostgres(b, ctx, srv.freshDatabase(b), testKeyring(b))
			appendTypical(b, ctx, s, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), n)
			if _, _, err := s.AuditHead(ctx); err != nil {
				b.Fatal(err)
			}
			after, err := s.AuditTableBytes(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after)/n, "bytes/record")
		}
	})
	_ = fmt.Sprint
}
