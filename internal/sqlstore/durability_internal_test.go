package sqlstore

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
)

func durabilityStore(t *testing.T, opts Options) *Store {
	t.Helper()
	key, err := phi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Keyring, err = phi.NewKeyring(map[uint32][]byte{1: key}); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "d.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readRecord(id string) []*novamed.AuditRecord {
	return []*novamed.AuditRecord{{Time: time.Now(), RequestID: id, Action: "GET /api/external/patient/{id}", Status: 200}}
}

// TestIncrementalAuditDefersTheSync: in the incremental mode a read's
// record commits (visible, chained) without waiting for an fsync, and the
// flusher syncs it within the window; a write's commit (synchronous=FULL)
// syncs every relaxed commit before it; in the strict mode no relaxed
// commit is made. The chain verifies across relaxed and full batches.
func TestIncrementalAuditDefersTheSync(t *testing.T) {
	ctx := context.Background()
	var syncs atomic.Int32
	s := durabilityStore(t, Options{AuditFlushWindow: time.Hour, AuditFlushFault: func() error { syncs.Add(1); return nil }})
	if err := s.AppendAuditIncremental(ctx, readRecord("r1")); err != nil {
		t.Fatal(err)
	}
	if !s.flusher.pending() || !s.group.normal {
		t.Fatalf("after a read's record: pending %v, connection at NORMAL %v; want a relaxed commit awaiting its flush", s.flusher.pending(), s.group.normal)
	}
	if seq, _, err := s.AuditHead(ctx); err != nil || seq != 1 {
		t.Fatalf("head after the relaxed commit: %d %v", seq, err)
	}
	// A write commits at FULL, which syncs the log: nothing left to flush.
	if err := s.AppendAudit(ctx, readRecord("w1")); err != nil {
		t.Fatal(err)
	}
	if s.flusher.pending() || s.group.normal {
		t.Fatalf("after a FULL commit: pending %v, NORMAL %v", s.flusher.pending(), s.group.normal)
	}
	if syncs.Load() != 0 {
		t.Fatalf("%d flushes with a one-hour window", syncs.Load())
	}

	// A short window: the flusher syncs on its own.
	f := durabilityStore(t, Options{AuditFlushWindow: 4 * time.Millisecond, AuditFlushFault: func() error { syncs.Add(1); return nil }})
	for i := 0; i < 3; i++ {
		if err := f.AppendAuditIncremental(ctx, readRecord("r")); err != nil {
			t.Fatal(err)
		}
	}
	wait.Until(t, 10*time.Second, func() bool { return !f.flusher.pending() }, "the flusher never synced the relaxed commits")
	if syncs.Load() == 0 {
		t.Error("pending cleared without a flush")
	}
	var n int
	if err := f.ScanAudit(ctx, time.Time{}, time.Time{}, func(*novamed.AuditRecord) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("trail: %d records, %v", n, err)
	}

	strict := durabilityStore(t, Options{AuditDurability: DurabilityStrict})
	if err := strict.AppendAuditIncremental(ctx, readRecord("r")); err != nil {
		t.Fatal(err)
	}
	if strict.flusher != nil || strict.group.normal || strict.AuditDurability() != DurabilityStrict {
		t.Error("the strict mode made a relaxed commit")
	}
	if _, err := ParseAuditDurability("async"); err == nil {
		t.Error("an unknown mode was accepted")
	}
}
