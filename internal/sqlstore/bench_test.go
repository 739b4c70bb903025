package sqlstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// BenchmarkIdempotencyLookup is the replay check every create with an
// Idempotency-Key makes: a remembered answer found, opened and returned.
func BenchmarkIdempotencyLookup(b *testing.B) {
	s := openTestStore(b)
	ctx := context.Background()
	for i := range 1000 {
		rec := &novamed.IdempotencyRecord{Owner: "owner", Key: fmt.Sprintf("key-%d", i), Fingerprint: "fp", Status: 200,
			Body: []byte(`{"success":true,"data":{"patient_id":"x"}}`), CreatedAt: time.Now()}
		if err := s.SaveIdempotency(ctx, rec, nil); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetIdempotency(ctx, "owner", fmt.Sprintf("key-%d", n.Add(1)%1000)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAuditAppend is the durable audit record of a request: chained,
// inserted and committed (fsync'd) through the group committer, from 32
// concurrent requests, so ns/op is the CPU per record when records share
// commits as they do under load.
func BenchmarkAuditAppend(b *testing.B) {
	s := openTestStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := &novamed.AuditRecord{Time: time.Now(), RequestID: "req_bench", KeyID: "f46d17f8-43bc-4335-b0ec-2ccfac457769",
				KeyOwner: "f46d17f8-43bc-4335-b0ec-2ccfac457769", KeyPrefix: "dev_DWlk5HVn", Action: "carrier.list",
				ResourceType: "carrier", ClientAddr: "127.0.0.1", UserAgent: "bench", Status: 200}
			if err := s.AppendAudit(ctx, []*novamed.AuditRecord{rec}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
