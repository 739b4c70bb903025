package sqlstore_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// bothStores runs fn on a fresh SQLite store and a fresh PostgreSQL one.
func bothStores(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "novamed.db")
		s, err := sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: testKeyring(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		srv := postgresServer(t)
		fn(t, openPostgres(t, t.Context(), srv.freshDatabase(t), testKeyring(t)))
	})
}

// TestSecurityEventAcknowledge: an open event is acknowledged once, with
// its audit record in the same transaction; a second acknowledgement and
// an unknown id change nothing (and write no record); the filter and the
// open count follow the state.
func TestSecurityEventAcknowledge(t *testing.T) {
	bothStores(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		var ids []string
		for i, rule := range []string{novamed.RuleNewNetwork, novamed.RuleRateSpike, novamed.RuleRevokedKeyUse} {
			ev := &novamed.SecurityEvent{ID: uuid.NewString(), At: base.Add(time.Duration(i) * time.Minute), Rule: rule, KeyID: "k1",
				ClientAddr: "192.0.2.9", Detail: map[string]any{"n": float64(i)}}
			if err := s.RecordSecurityEvent(ctx, ev, nil); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ev.ID)
		}
		if n, err := s.CountOpenSecurityEvents(ctx, base, 1000); err != nil || n != 3 {
			t.Fatalf("open before: %d %v", n, err)
		}
		if n, err := s.CountOpenSecurityEvents(ctx, base, 1); err != nil || n != 2 {
			t.Fatalf("open, capped at 1: %d %v, want 2 (max+1)", n, err)
		}
		audited := func() int {
			n := 0
			if err := s.ScanAudit(ctx, time.Time{}, time.Time{}, func(r *novamed.AuditRecord) error {
				if r.Action == "security_event.acknowledge" {
					n++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return n
		}
		rec := func(id string) *novamed.AuditRecord {
			return &novamed.AuditRecord{Time: base.Add(time.Hour), RequestID: uuid.NewString(), Actor: "operator:op1",
				Action: "security_event.acknowledge", ResourceType: "security_event", ResourceIDs: []string{id}, Status: 200}
		}
		at := base.Add(time.Hour)
		ev, err := s.AcknowledgeSecurityEvent(ctx, ids[1], "operator:op1", at, rec(ids[1]))
		if err != nil {
			t.Fatal(err)
		}
		if ev.AcknowledgedAt == nil || !ev.AcknowledgedAt.Equal(at) || ev.AcknowledgedBy != "operator:op1" {
			t.Fatalf("acknowledged: %+v", ev)
		}
		if audited() != 1 {
			t.Fatalf("audit records after acknowledging: %d", audited())
		}
		var de *novamed.Error
		_, err = s.AcknowledgeSecurityEvent(ctx, ids[1], "operator:op2", at.Add(time.Minute), rec(ids[1]))
		if !errors.As(err, &de) || de.Code != novamed.CodeInvalidTransition {
			t.Fatalf("acknowledging twice: %v", err)
		}
		_, err = s.AcknowledgeSecurityEvent(ctx, "no-such-event", "operator:op2", at, rec("no-such-event"))
		if !errors.As(err, &de) || de.Code != novamed.CodeNotFound {
			t.Fatalf("unknown id: %v", err)
		}
		if audited() != 1 {
			t.Fatalf("audit records after two refusals: %d, want still 1", audited())
		}
		if n, _ := s.CountOpenSecurityEvents(ctx, base, 1000); n != 2 {
			t.Fatalf("open after: %d", n)
		}
		got, err := s.FindSecurityEvents(ctx, novamed.SecurityEventFilter{Since: base, State: "acknowledged"})
		if err != nil || len(got) != 1 || got[0].ID != ids[1] || got[0].AcknowledgedBy != "operator:op1" {
			t.Fatalf("acknowledged filter: %v %+v", err, got)
		}
		got, err = s.FindSecurityEvents(ctx, novamed.SecurityEventFilter{Since: base, State: "open", Limit: 1})
		if err != nil || len(got) != 1 || got[0].ID != ids[2] {
			t.Fatalf("open, newest first, limit 1: %v %+v", err, got)
		}
		got, err = s.FindSecurityEvents(ctx, novamed.SecurityEventFilter{Since: base, State: "open", Before: got[0].ID})
		if err != nil || len(got) != 1 || got[0].ID != ids[0] {
			t.Fatalf("open, next page: %v %+v", err, got)
		}
		got, err = s.FindSecurityEvents(ctx, novamed.SecurityEventFilter{Since: base, Rule: novamed.RuleRateSpike, KeyID: "k1"})
		if err != nil || len(got) != 1 || got[0].ID != ids[1] {
			t.Fatalf("rule filter: %v %+v", err, got)
		}
		if _, err = s.FindSecurityEvents(ctx, novamed.SecurityEventFilter{Before: "nonsense"}); !errors.As(err, &de) || de.Code != novamed.CodeInvalid {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}
