package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// liveStore is a trail on a real store that another writer appends to
// while it is read: after each walk of the trail, one more record.
type liveStore struct {
	*sqlstore.Store
	n int
}

func (l *liveStore) ScanAuditRows(ctx context.Context, fn func(*novamed.AuditRow) error) error {
	if err := l.Store.ScanAuditRows(ctx, fn); err != nil {
		return err
	}
	l.n++
	return l.AppendAudit(ctx, []*novamed.AuditRecord{{Time: time.Now(), RequestID: "req_during_walk", Action: "test", Status: 200}})
}

// rewoundHead names an earlier record as the newest, with its true hash.
type rewoundHead struct{ *sqlstore.Store }

func (r rewoundHead) AuditHead(ctx context.Context) (int64, string, error) {
	var hash string
	err := r.ScanAudit(ctx, time.Time{}, time.Time{}, func(rec *novamed.AuditRecord) error {
		if rec.Seq == 2 {
			hash = rec.Hash
		}
		return nil
	})
	return 2, hash, err
}

func openTrail(t *testing.T, records int) *sqlstore.Store {
	t.Helper()
	key, _ := phi.GenerateKey()
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "v.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := 0; i < records; i++ {
		if err := s.AppendAudit(context.Background(), []*novamed.AuditRecord{{Time: time.Now(), RequestID: "req", Action: "test", Status: 200}}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestVerifyWhileRecordsAreAppended: a record appended while the trail is
// walked (a live server) is not tampering; a head moved back still is.
func TestVerifyWhileRecordsAreAppended(t *testing.T) {
	ctx := context.Background()
	live := &liveStore{Store: openTrail(t, 5)}
	n, err := audit.Verify(ctx, live)
	if err != nil || n != 5 || live.n != 1 {
		t.Fatalf("Verify during an append = %d, %v (walks %d); want 5, nil", n, err, live.n)
	}
	if n, err := audit.Verify(ctx, live.Store); err != nil || n != 6 {
		t.Fatalf("Verify afterwards = %d, %v; want 6, nil", n, err)
	}
	var broken *audit.BrokenError
	if _, err := audit.Verify(ctx, rewoundHead{openTrail(t, 5)}); !errors.As(err, &broken) {
		t.Fatalf("Verify with the head moved back to record 2 = %v; want a BrokenError", err)
	}
}
