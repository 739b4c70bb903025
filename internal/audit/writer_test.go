package audit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// TestWriterRecordsEveryRequestOnceInOneChain: many concurrent callers, with
// several batches in flight at once; each Record returns only when its
// record is stored, every record is stored once, the chain verifies, and
// Record after Close is refused.
func TestWriterRecordsEveryRequestOnceInOneChain(t *testing.T) {
	ctx := context.Background()
	store := openTrail(t, 0)
	w := audit.NewWriter(store, slog.New(slog.NewJSONHandler(io.Discard, nil)))

	const callers, each = 40, 25
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("req-%d-%d", c, i)
				if err := w.Record(ctx, &novamed.AuditRecord{Time: time.Now(), RequestID: id, Action: "test", Status: 200}); err != nil {
					t.Errorf("Record %s: %v", id, err)
					return
				}
				if i != each-1 {
					continue
				}
				// Answered means stored: the record is readable now.
				found := false
				if err := store.ScanAudit(ctx, time.Now().Add(-time.Minute), time.Time{}, func(r *novamed.AuditRecord) error {
					found = found || r.RequestID == id
					return nil
				}); err != nil {
					t.Error(err)
				}
				if !found {
					t.Errorf("record %s not stored when Record returned", id)
				}
			}
		}(c)
	}
	wg.Wait()
	w.Close()
	if err := w.Record(ctx, &novamed.AuditRecord{Time: time.Now(), RequestID: "late", Action: "test"}); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Record after Close: %v, want ErrClosed", err)
	}
	seen := map[string]int{}
	if err := store.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
		seen[r.RequestID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < callers; c++ {
		for i := 0; i < each; i++ {
			if n := seen[fmt.Sprintf("req-%d-%d", c, i)]; n != 1 {
				t.Errorf("req-%d-%d stored %d times", c, i, n)
			}
		}
	}
	n, err := audit.Verify(ctx, store)
	if err != nil || n < callers*each {
		t.Errorf("verify: %d records, %v", n, err)
	}
}
