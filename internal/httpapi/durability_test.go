package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestReadsRefusedWhileAuditFlushFails: in the incremental audit
// durability mode, once a flush of earlier read records to stable storage
// fails (injected), PHI reads and /readyz answer 503 and a security event
// is stored; the first flush that succeeds lifts both, without a restart.
func TestReadsRefusedWhileAuditFlushFails(t *testing.T) {
	var fault atomic.Pointer[error]
	s, key, clinic := newTestServerWith(t, 1_000_000, sqlstore.Options{AuditFlushWindow: 4 * time.Millisecond,
		AuditFlushFault: func() error {
			if e := fault.Load(); e != nil {
				return *e
			}
			return nil
		}})
	store := s.store.(*sqlstore.Store)
	if store.AuditDurability() != sqlstore.DurabilityIncremental {
		t.Fatalf("default durability %q, want incremental", store.AuditDurability())
	}
	body := fmt.Sprintf(`{"clinic_id":%q,"first_name":"Flora","last_name":"Flush","dob":"1970-01-01"}`, clinic)
	req := httptest.NewRequest("POST", "/api/external/patient", strings.NewReader(body))
	req.Header.Set("x-api-key", key)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	list := "/api/external/patient?clinic_id=" + clinic
	if w := get(s, list, key); w.Code != 200 || !strings.Contains(w.Body.String(), "Flora") {
		t.Fatalf("read before the fault: %d %s", w.Code, w.Body)
	}
	injected := fmt.Errorf("fsync: %w", syscall.EIO)
	fault.Store(&injected)
	// This read leaves a record to flush if the one above was flushed
	// already (its flush then fails); if not, that record's flush fails
	// and this read may already be refused.
	if w := get(s, list, key); w.Code != 200 && w.Code != 503 {
		t.Fatalf("read as the fault begins: %d %s", w.Code, w.Body)
	}
	waitFor(t, "the flush failure to be noticed", func() bool { return store.AuditFlushErr() != nil })
	w = get(s, list, key)
	if w.Code != 503 || !strings.Contains(w.Body.String(), novamed.CodeStorageUnavailable) || w.Header().Get("Retry-After") == "" {
		t.Errorf("PHI read while the flush fails: %d %s, want 503 STORAGE_UNAVAILABLE with Retry-After", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "Flora") || strings.Contains(w.Body.String(), "fsync") {
		t.Errorf("the refused answer shows PHI or the cause: %s", w.Body)
	}
	if w := get(s, "/readyz", ""); w.Code != 503 || !strings.Contains(w.Body.String(), "audit flush failing") {
		t.Errorf("/readyz while the flush fails: %d %s", w.Code, w.Body)
	}
	if err := store.AppendAuditIncremental(context.Background(), []*novamed.AuditRecord{{Time: time.Now(), RequestID: "r", Action: "test", Status: 200}}); !errors.Is(err, sqlstore.ErrAuditFlushFailing) || sqlstore.FaultOf(err) != sqlstore.Unavailable {
		t.Errorf("an incremental append while failing: %v, want ErrAuditFlushFailing (Unavailable)", err)
	}
	fault.Store(nil)
	waitFor(t, "a flush to succeed again", func() bool { return store.AuditFlushErr() == nil })
	if w := get(s, list, key); w.Code != 200 || !strings.Contains(w.Body.String(), "Flora") {
		t.Errorf("read after the flush recovered: %d %s", w.Code, w.Body)
	}
	waitFor(t, "/readyz to answer 200", func() bool { return get(s, "/readyz", "").Code == 200 })
	// One event at the failure (the database still took writes here), one
	// at the recovery.
	var evs []*novamed.SecurityEvent
	waitFor(t, "the security events", func() bool {
		all, err := store.ListSecurityEvents(context.Background(), time.Time{}, 100)
		evs = evs[:0]
		for _, ev := range all {
			if err == nil && ev.Rule == sqlstore.RuleAuditFlushFailed {
				evs = append(evs, ev)
			}
		}
		return len(evs) == 2
	})
	if evs[0].Detail["error"] == nil || evs[1].Detail["recovered_at"] == nil || evs[0].Detail["failing_since"] != evs[1].Detail["failing_since"] {
		t.Errorf("events: %+v %+v", evs[0].Detail, evs[1].Detail)
	}
}

// waitFor polls cond until it holds (or fails the test after 10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 10*time.Second, cond, "timed out waiting for %s", what)
}
